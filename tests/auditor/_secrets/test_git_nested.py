"""Repositories inside a folder scanned with `--git` (`git: true` in a target's secrets source):
a node's /etc kept by etckeeper, a vendored checkout, a service's deploy repository. Before,
only a PATH that was itself a repository had its history read: scanning the node's whole tree
found less than scanning its /etc (a bigger input, fewer failures), and Kingfisher, which reads
the history of every repository it meets, found what the scan did not. Now every repository
the walk meets has its history read, its findings shown at their place in the folder."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor._secrets import prepare
from auditor._secrets.engines import run_engines
from auditor._secrets.scanner import Scanner
from auditor.errors import ConfigError
from tests.auditor._secrets.test_run import _commit, git
from tests.secrets_corpus import github_token


def _repo(folder: Path, removed: str, kept: str = "") -> None:
    """A repository at `folder`: `removed` committed in tok.env and deleted by a later commit
    (what `git rm` leaves in history), `kept` still in keep.env."""
    folder.mkdir(parents=True)
    git(folder, "init", "-q", "-b", "main")
    (folder / "tok.env").write_text(f"GH_TOKEN={removed}\n")
    (folder / "keep.env").write_text(f"GH_TOKEN={kept}\n" if kept else "LOG=info\n")
    _commit(folder, "add")
    git(folder, "rm", "-q", "tok.env")
    _commit(folder, "the token taken back")


def _node(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A node's tree holding a repository (etc/, etckeeper's), one inside another's working
    tree (srv/deploy/vendor/lib), a bare one (srv/git/etc.git, a clone of etc/ on the node's
    git server) and a submodule (srv/app/vendor/ui: its git directory in srv/app/.git/modules),
    their tokens by name."""
    rng = random.Random(3)
    tokens = {name: github_token(rng) for name in ("etc", "etc kept", "deploy", "lib", "ui")}
    node = tmp_path / "node"
    _repo(node / "etc", tokens["etc"], tokens["etc kept"])
    _repo(node / "srv" / "deploy", tokens["deploy"])
    _repo(node / "srv" / "deploy" / "vendor" / "lib", tokens["lib"])
    (node / "srv" / "git").mkdir()
    subprocess.run(["git", "clone", "-q", "--bare", str(node / "etc"), str(node / "srv" / "git" / "etc.git")],
                   check=True, capture_output=True, timeout=60)
    _repo(tmp_path / "upstream" / "ui", tokens["ui"])
    (node / "srv" / "app").mkdir()
    git(node / "srv" / "app", "init", "-q", "-b", "main")
    git(node / "srv" / "app", "-c", "protocol.file.allow=always", "submodule", "add", "-q",
        str(tmp_path / "upstream" / "ui"), "vendor/ui")
    _commit(node / "srv" / "app", "the ui as a submodule")
    (node / "home").mkdir()
    (node / "home" / "notes.txt").write_text("nothing here\n")
    return node, tokens


def _found(*paths: Path, base: Path, **kw: object) -> list[tuple[str, str, str, str]]:
    report = run_engines(["auditor"], prepare(list(paths), base=base, git=True, **kw))  # type: ignore[arg-type]
    assert report.stats.not_scanned == []
    return sorted((x.rule, x.path, x.commit, x.fingerprint) for x in report.leaks)


def _fingerprint(token: str) -> str:
    """The fingerprint the token gets in plain text."""
    found = Scanner()._leaks_in(f"GH_TOKEN={token}\n".encode(), "plain.env", "", whole=True)
    assert len(found) == 1
    return found[0].fingerprint


def test_every_repository_in_a_folder_scanned_has_its_history_read(tmp_path: Path) -> None:
    node, tokens = _node(tmp_path)
    whole = _found(node, base=tmp_path)
    in_history = {(path, fingerprint) for _, path, commit, fingerprint in whole if commit}
    assert in_history == {
        ("node/etc/tok.env", _fingerprint(tokens["etc"])), ("node/etc/keep.env", _fingerprint(tokens["etc kept"])),
        ("node/srv/deploy/tok.env", _fingerprint(tokens["deploy"])),
        ("node/srv/deploy/vendor/lib/tok.env", _fingerprint(tokens["lib"])),
        ("node/srv/git/etc.git/tok.env", _fingerprint(tokens["etc"])),
        ("node/srv/git/etc.git/keep.env", _fingerprint(tokens["etc kept"])),
        ("node/srv/app/vendor/ui/tok.env", _fingerprint(tokens["ui"]))}
    # the bigger input finds all a smaller one finds: each repository scanned on its own
    for repo in (node / "etc", node / "srv" / "deploy", node / "srv" / "deploy" / "vendor" / "lib",
                 node / "srv" / "git" / "etc.git", node / "srv" / "app" / "vendor" / "ui"):
        alone = {(commit, fingerprint) for _, _, commit, fingerprint in _found(repo, base=tmp_path)}
        assert alone <= {(commit, fingerprint) for _, _, commit, fingerprint in whole}, repo
    # a second run (the history caches) reports the same; so does one without them
    assert _found(node, base=tmp_path) == whole == _found(node, base=tmp_path, git_cache=False)


def test_a_path_excluded_in_a_repository_inside_is_not_reported(tmp_path: Path) -> None:
    node, _ = _node(tmp_path)
    paths = {path for _, path, commit, _ in _found(node, base=tmp_path, exclude=["node/srv/deploy/tok.env"])
             if commit}
    assert "node/srv/deploy/tok.env" not in paths and "node/srv/deploy/vendor/lib/tok.env" in paths
    assert not any(path.startswith("node/srv/deploy/vendor/")
                   for _, path, _, _ in _found(node, base=tmp_path, exclude=["node/srv/deploy/vendor"]))


def test_a_repository_inside_that_git_cannot_read_is_not_scanned_whole(tmp_path: Path) -> None:
    """Never clean: the scan says the history was not read, and reports all else."""
    node, tokens = _node(tmp_path)
    (node / "srv" / "deploy" / ".git" / "HEAD").write_text("not a ref\n")
    report = run_engines(["auditor"], prepare([node], base=tmp_path, git=True))
    assert len(report.stats.not_scanned) == 1
    assert report.stats.not_scanned[0].startswith("node/srv/deploy (git history): ")
    assert _fingerprint(tokens["lib"]) in {x.fingerprint for x in report.leaks if x.commit}


@pytest.mark.parametrize(("where", "how"), [("opt/look-alike", "bare"), ("srv/deploy/look-alike", "bare"),
                                           ("srv/deploy/broken", ".git")])
def test_a_folder_that_only_looks_like_a_repository_is_not_scanned_whole(tmp_path: Path, where: str,
                                                                         how: str) -> None:
    """A folder that looks like a bare repository, or a `.git` folder git cannot read: git,
    asked about it, would read the repository above it (srv/deploy's, under another name): it
    is said not scanned whole instead, and nothing is reported under its name."""
    node, _ = _node(tmp_path)
    fake = node / where / (".git" if how == ".git" else "")
    for folder in ("objects", "refs"):
        (fake / folder).mkdir(parents=True)
    (fake / "HEAD").write_text("not git's\n")
    (fake / "config").write_text("[core]\n")
    report = run_engines(["auditor"], prepare([node], base=tmp_path, git=True))
    assert [note.partition(":")[0] for note in report.stats.not_scanned] == [f"node/{where} (git history)"]
    assert not any(x.path.startswith(f"node/{where}/") for x in report.leaks)
    assert {x.path for x in report.leaks if x.commit} >= {"node/srv/deploy/tok.env", "node/etc/tok.env"}


def test_a_worktree_s_history_is_its_repository_s_read_once(tmp_path: Path) -> None:
    """`git worktree add` makes a folder whose `.git` is a file naming the main repository:
    the same history, one finding per secret, not one per worktree."""
    node, _ = _node(tmp_path)
    before = _found(node, base=tmp_path)
    git(node / "etc", "worktree", "add", "-q", str(node / "etc-hotfix"))
    assert [x for x in _found(node, base=tmp_path) if not x[1].startswith("node/etc-hotfix/")] == before
    assert not any(commit for _, path, commit, _ in _found(node, base=tmp_path) if path.startswith("node/etc-hotfix/"))


def test_a_git_file_naming_a_folder_outside_the_paths_is_not_read(tmp_path: Path) -> None:
    """`.git` as a file says where the git directory is; one outside the folders scanned (on a
    node's copy, a path of this machine) is not read, and the scan says so."""
    node, _ = _node(tmp_path)
    _repo(tmp_path / "elsewhere", github_token(random.Random(4)))
    (node / "opt" / "pointer").mkdir(parents=True)
    (node / "opt" / "pointer" / ".git").write_text(f"gitdir: {tmp_path / 'elsewhere' / '.git'}\n")
    report = run_engines(["auditor"], prepare([node], base=tmp_path, git=True))
    assert report.stats.not_scanned == [
        "node/opt/pointer (git history): its git directory lies outside the folders scanned"]
    assert not any(x.path.startswith("node/opt/pointer/") for x in report.leaks)


def test_a_repository_borrowing_objects_from_outside_the_paths_is_not_read(tmp_path: Path) -> None:
    """`git clone --shared` leaves objects/info/alternates naming the source's object store:
    one inside the folders scanned is read as any; one outside (on a node's copy, a path of
    this machine) is not, and the scan says so."""
    node, tokens = _node(tmp_path)
    _repo(tmp_path / "upstream" / "api", github_token(random.Random(12)))
    for source, name in ((node / "etc", "etc-shared"), (tmp_path / "upstream" / "api", "api")):
        subprocess.run(["git", "clone", "-q", "--shared", str(source), str(node / "opt" / name)], check=True,
                       capture_output=True, timeout=60)
    report = run_engines(["auditor"], prepare([node], base=tmp_path, git=True))
    assert report.stats.not_scanned == ["node/opt/api (git history): it borrows objects from a folder outside the "
                                        "folders scanned (objects/info/alternates)"]
    assert ("node/opt/etc-shared/tok.env", _fingerprint(tokens["etc"])) in {
        (x.path, x.fingerprint) for x in report.leaks if x.commit}
    assert not any(x.path.startswith("node/opt/api/") and x.commit for x in report.leaks)


def test_alternates_are_read_as_git_reads_them(tmp_path: Path) -> None:
    """Absolute or relative to `objects`, comments and blank lines left, a C-quoted name
    unquoted, followed in turn: each store listed is one git reads an object from (a blob kept
    in it alone is there for `git cat-file -e`)."""
    from auditor._secrets.gitrepo import alternates

    def bare(name: str) -> Path:
        subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / name)], check=True, capture_output=True)
        return tmp_path / name

    common, first, second, third, fourth = (bare(name) for name in ("repo.git", "a b.git", "c.git", "d\tx.git", "é.git"))
    (common / "objects" / "info" / "alternates").write_text(f"# borrowed\n\n{first}/objects\n../../c.git/objects\n")
    (first / "objects" / "info" / "alternates").write_text(
        '"' + str(third).replace("\t", "\\t") + '/objects"\n"' + str(tmp_path) + '/\\303\\251.git/objects"\n')
    blobs = []
    for store in (first, second, third, fourth):
        blobs.append(subprocess.run(["git", "--git-dir", str(store), "hash-object", "-w", "--stdin"], check=True,
                                    capture_output=True, input=store.name.encode()).stdout.decode().strip())
    for blob in blobs:  # git reads each through the alternates
        subprocess.run(["git", "--git-dir", str(common), "cat-file", "-e", blob], check=True, capture_output=True)
    assert alternates(str(common)) == [str(store / "objects") for store in (first, second, third, fourth)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.binary(max_size=200))
def test_any_alternates_file_is_read_or_refused_with_its_name(tmp_path: Path, text: bytes) -> None:
    from auditor._secrets.gitrepo import alternates

    info = tmp_path / "fuzz.git" / "objects" / "info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "alternates").write_bytes(text)
    try:
        found = alternates(str(tmp_path / "fuzz.git"))
    except ConfigError as exc:
        assert exc.file == str(info / "alternates")
    else:
        assert all(os.path.isabs(path) for path in found)


def test_kingfisher_finds_nothing_in_their_histories_the_scan_does_not(tmp_path: Path) -> None:
    """The outside reader: Kingfisher (PyPI kingfisher-bin) reads the history of every
    repository it meets in a folder. Each token it finds in a commit, the scan finds in that
    commit, with the fingerprint the token gets in plain text."""
    node, tokens = _node(tmp_path)
    exe = shutil.which("kingfisher", path=str(Path(sys.executable).parent))
    assert exe, "kingfisher-bin is not installed"
    out = tmp_path / "kingfisher.json"
    subprocess.run([exe, "scan", "--no-dedup", "--no-validate", "--no-update-check", "--format", "json",
                    "--output", str(out), str(node)], capture_output=True, check=False, timeout=300)
    report = json.loads(out.read_text())
    theirs = {(f["finding"]["git_metadata"]["commit"]["id"], f["finding"]["snippet"])
              for f in report["findings"] if "github" in f["rule"]["id"] and f["finding"].get("git_metadata")}
    assert {token for _, token in theirs} >= {tokens["etc"], tokens["deploy"], tokens["lib"], tokens["ui"]}
    ours = {(commit, fingerprint) for _, _, commit, fingerprint in _found(node, base=tmp_path) if commit}
    assert {(commit, _fingerprint(token)) for commit, token in theirs} <= ours


def test_a_kept_report_is_not_printed_again_for_a_repository_holding_another(tmp_path: Path) -> None:
    """`auditor secrets scan REPO --git` prints its last report again while nothing it was made
    from moved; what moves inside a repository within (a commit there) is not told by the
    outer one's state, so no report is kept for it: a token committed there since is found."""
    outer = tmp_path / "outer"
    _repo(outer, github_token(random.Random(8)))
    _repo(outer / "vendor" / "lib", github_token(random.Random(9)))

    def scan() -> list[str]:
        done = subprocess.run([sys.executable, "-m", "auditor", "secrets", "scan", "outer", "--git", "--format", "json"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])})
        return sorted(f["location"] for f in json.loads(done.stdout)["findings"])

    first = scan()
    assert scan() == first
    token = github_token(random.Random(10))
    (outer / "vendor" / "lib" / "new.env").write_text(f"GH_TOKEN={token}\n")
    _commit(outer / "vendor" / "lib", "new")
    (outer / "vendor" / "lib" / "new.env").unlink()
    commit = git(outer / "vendor" / "lib", "rev-parse", "HEAD")
    assert f"{commit[:12]}:outer/vendor/lib/new.env:1:10" in scan()


def test_a_folder_inside_a_repository_has_its_part_of_the_history_read(tmp_path: Path) -> None:
    """`paths: [etc/nats, etc/cim]` with `git: true`, where /etc is etckeeper's repository: the
    walk meets no `.git` and nothing of the history was read. Now each folder's part of it is:
    the blobs added under it, shown where the folder shows its files; not the rest (another
    folder's secrets, commit messages, the repository's tags), read when the repository is."""
    node = tmp_path / "node"
    etc = node / "etc"
    (etc / "nats").mkdir(parents=True)
    (etc / "cim").mkdir()
    git(etc, "init", "-q", "-b", "main")
    rng = random.Random(13)
    nats, cim, message = github_token(rng), github_token(rng), github_token(rng)
    (etc / "nats" / "old.conf").write_text(f"token: {nats}\n")
    (etc / "cim" / "agent.env").write_text(f"GH_TOKEN={cim}\n")
    for folder in ("nats", "cim"):
        (etc / folder / "kept.conf").write_text("log: info\n")
    _commit(etc, f"add (the token was {message})")
    git(etc, "rm", "-q", "nats/old.conf", "cim/agent.env")
    _commit(etc, "taken back")
    found = {(path, fingerprint) for _, path, commit, fingerprint in _found(etc / "nats", base=node) if commit}
    assert found == {("etc/nats/old.conf", _fingerprint(nats))}
    both = {(path, fingerprint) for _, path, commit, fingerprint in _found(etc / "nats", etc / "cim", base=node)
            if commit}
    assert both == {("etc/nats/old.conf", _fingerprint(nats)), ("etc/cim/agent.env", _fingerprint(cim))}
    whole = {(path, commit) for _, path, commit, _ in _found(etc, base=node) if commit}
    assert ("(commit message)", git(etc, "rev-parse", "HEAD~1")) in whole
    # the search for the repository stops at the node's root: a repository above it is not the node's
    assert _found(etc / "nats", base=node, root=etc / "nats") == []


def test_a_submodule_not_checked_out_has_its_history_and_remote_url_read(tmp_path: Path) -> None:
    """`git submodule deinit` (or a clone never told `--recurse-submodules` after `submodule
    init`) leaves no working tree, and the submodule's history and config in the
    superproject's `.git/modules`: before, a scan with `--git` read neither, and a token the
    submodule's history or its remote URL held was not found (the scan said 0 findings).
    Now both are, shown under `.git/modules`; checked out again, the history is read once, from
    its working tree (git itself, asked, tells the same history there)."""
    node, tokens = _node(tmp_path)
    app = node / "srv" / "app"
    module = app / ".git" / "modules" / "vendor" / "ui"
    url_token = github_token(random.Random(21))
    git(module, "config", "remote.origin.url", f"https://x-access-token:{url_token}@github.com/cim/ui.git")
    checked_out = _found(node, base=tmp_path)
    assert ("node/srv/app/vendor/ui/tok.env", _fingerprint(tokens["ui"])) in {
        (path, fingerprint) for _, path, commit, fingerprint in checked_out if commit}
    assert not any(path.startswith("node/srv/app/.git/modules/") for _, path, commit, _ in checked_out if commit)
    assert "node/srv/app/.git/modules/vendor/ui/config" in {path for _, path, _, _ in checked_out}
    git(app, "submodule", "deinit", "-q", "-f", "vendor/ui")
    assert not (app / "vendor" / "ui" / ".git").exists()
    commits = set(git(module, "rev-list", "--all").split())  # git's own answer: the history is there
    found = _found(node, base=tmp_path)
    in_module = {(path, commit, fingerprint) for _, path, commit, fingerprint in found
                 if path.startswith("node/srv/app/.git/modules/")}
    assert ("node/srv/app/.git/modules/vendor/ui/tok.env", _fingerprint(tokens["ui"])) in {
        (path, fingerprint) for path, commit, fingerprint in in_module if commit}
    assert {commit for _, commit, _ in in_module if commit} <= commits
    assert "node/srv/app/.git/modules/vendor/ui/config" in {path for path, commit, _ in in_module if not commit}
    # what was found before is still found: the other repositories' histories, unmoved
    assert {x for x in checked_out if not x[1].startswith("node/srv/app/")} <= set(found)


@pytest.mark.skipif(os.geteuid() != 0, reason="making a repository another user owns needs root here")
def test_a_repository_another_user_owns_is_said_so_not_answered_with_git_s_advice(tmp_path: Path) -> None:
    """git refuses a repository another user owns ("dubious ownership"), then advises adding it
    to the user's global safe.directory. The scan said only that advice ("git show-ref failed:
    git config --global --add safe.directory ..."), as if telling the user to weaken git for
    every repository; it says what git refused now, and the scan of the rest goes on."""
    node, tokens = _node(tmp_path)
    deploy = node / "srv" / "deploy"
    for folder, _, files in os.walk(deploy):
        for name in (folder, *(os.path.join(folder, f) for f in files)):
            os.lchown(name, 65534, 65534)
    report = run_engines(["auditor"], prepare([node], base=tmp_path, git=True))
    said = [note for note in report.stats.not_scanned if note.startswith("node/srv/deploy")]
    assert len(said) == 2, report.stats.not_scanned  # the repository and the one inside it
    for note in said:
        assert "dubious ownership" in note and "another user owns it" in note
        assert "safe.directory" not in note and "git config" not in note
    assert _fingerprint(tokens["etc"]) in {x.fingerprint for x in report.leaks if x.commit}
    with pytest.raises(ConfigError, match=r"dubious ownership in repository at .*another user owns it"):
        run_engines(["auditor"], prepare([deploy], base=tmp_path, git=True))
