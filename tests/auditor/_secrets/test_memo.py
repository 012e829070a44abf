"""The kept report of `auditor secrets scan REPO --git` (auditor/_secrets/memo.py): printed again
byte for byte what a fresh run prints, and never when anything it was made from moved."""

from __future__ import annotations

import os
import random
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._cli import main
from auditor._cli import secrets as cli
from auditor._secrets import memo as memo_module
from auditor._secrets.gitrepo import cache_folder
from tests.auditor._secrets.test_run import _commit, git
from tests.conftest import run_cli
from tests.secrets_corpus import PLANTERS


class Runs:
    """`auditor secrets scan REPO --git` in this process, counting the scans made (a kept
    report printed again makes none)."""

    def __init__(self, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.repo, self.scans = repo, 0
        real = cli._scan

        def counting(*a: object) -> tuple[int, bytes, list[str]]:
            self.scans += 1
            return real(*a)  # type: ignore[arg-type]

        monkeypatch.setattr(cli, "_scan", counting)

    def __call__(self, *extra: str, fmt: str = "json") -> tuple[int, bytes, int]:
        """(exit code, report, scans made)."""
        out = self.repo.parent / f"report-{random.random()}.out"
        before = self.scans
        code = main(["secrets", "scan", str(self.repo), "--git", "--format", fmt, "-o", str(out), *extra])
        data = out.read_bytes()
        out.unlink()
        return code, data, self.scans - before

    def memos(self) -> list[Path]:
        folder = cache_folder(self.repo)
        assert folder is not None
        return sorted(folder.glob("report-*.memo"))

    def fresh(self, *extra: str, fmt: str = "json") -> tuple[int, bytes]:
        """What a run prints with no kept report (the caches as they are)."""
        for m in self.memos():
            m.unlink()
        code, data, scans = self(*extra, fmt=fmt)
        assert scans >= 1
        return code, data


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AUDITOR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    rng = random.Random(23)
    (repo / "deploy.env").write_text("LOG=info\n" + PLANTERS["vault-token"](rng).text)
    (repo / "src" / "app.py").write_text("print('hello')\n")
    _commit(repo, "one")
    (repo / "src" / "settings.conf").write_text(PLANTERS["aws-key"](rng).text)
    _commit(repo, "two")
    (repo / "notes.txt").write_text("untracked: " + PLANTERS["github-token"](rng).text)
    return repo


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_a_second_run_prints_what_a_fresh_run_prints(repo: Path, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    runs = Runs(repo, monkeypatch)
    code1, first, scans = runs(fmt=fmt)
    assert code1 == 1 and scans == 2  # the first run scans again from the caches it wrote, and keeps that
    memo = runs.memos()
    assert len(memo) == 1 and stat.S_IMODE(memo[0].stat().st_mode) == 0o600
    code2, second, scans = runs(fmt=fmt)
    assert scans == 0  # printed again
    code3, fresh = runs.fresh(fmt=fmt)
    assert (code2, second) == (code3, fresh)
    assert second != first  # the first run's figures say what it read; a second run's do not
    # a fresh process prints the kept report as this one does
    proc = run_cli("secrets", "scan", str(repo), "--git", "--format", fmt, cwd=repo.parent)
    assert (proc.code, proc.out.encode()) == (code3, fresh)


NOT_ON_A_HIT = ("argparse", "json", "typing", "tempfile", "shutil", "random", "subprocess", "selectors", "threading",
                "auditor._render", "auditor._secrets.history", "auditor._secrets.scanner")
"""Modules a kept report printed again never loads (each costs a second run milliseconds of its
50: the second run must stay under a tenth of the first, issue 23)."""


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_a_kept_report_loads_nothing_it_does_not_need(repo: Path, monkeypatch: pytest.MonkeyPatch, fmt: str,
                                                      tmp_path: Path) -> None:
    runs = Runs(repo, monkeypatch)
    runs(fmt=fmt)
    code, kept, scans = runs(fmt=fmt)
    assert scans == 0
    out = tmp_path / "again.out"
    probe = ("import atexit, sys\n"
             "atexit.register(lambda: sys.stderr.write('loaded: ' + ' '.join(sorted(sys.modules)) + '\\n'))\n"
             "from auditor._cli import run\n"
             "run()\n")
    proc = subprocess.run([sys.executable, "-c", probe, "secrets", "scan", str(repo), "--git", "--format", fmt,
                           "-o", str(out)], capture_output=True, text=True, cwd=repo.parent, timeout=120, check=False)
    assert (proc.returncode, out.read_bytes()) == (code, kept), proc.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o644  # as any report written with -o
    loaded = set(proc.stderr.rpartition("loaded: ")[2].split())
    assert "auditor._secrets.memo" in loaded
    assert sorted(loaded & set(NOT_ON_A_HIT)) == []


def _untracked_same_size_same_time(repo: Path) -> None:
    path = repo / "notes.txt"
    st = path.stat()
    text = path.read_text()
    path.write_text(text[:-2] + ("A" if text[-2] != "A" else "B") + text[-1])
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _tracked_same_size(repo: Path) -> None:
    path = repo / "src" / "app.py"
    path.write_text(path.read_text().replace("hello", "HELLO"))


def _new_secret_untracked(repo: Path) -> None:
    (repo / "more.env").write_text(PLANTERS["nkey-seed"](random.Random(4)).text)


def _staged_and_unstaged(repo: Path) -> None:  # a blob in no commit: nothing but the object store moves
    (repo / "staged.env").write_text(PLANTERS["github-token"](random.Random(7)).text)
    git(repo, "add", "staged.env")
    git(repo, "reset", "-q")
    (repo / "staged.env").unlink()


def _new_commit(repo: Path) -> None:
    (repo / "src" / "late.conf").write_text(PLANTERS["nkey-seed"](random.Random(5)).text)
    _commit(repo, "three")


def _moved_back(repo: Path) -> None:
    git(repo, "reset", "-q", "--hard", "HEAD~1")


def _moved_back_and_pruned(repo: Path) -> None:
    _moved_back(repo)
    git(repo, "reflog", "expire", "--expire=now", "--all")
    git(repo, "gc", "-q", "--prune=now")


def _branch_elsewhere(repo: Path) -> None:  # a commit no reflog names (a branch at one HEAD's reflog holds adds nothing)
    git(repo, "branch", "old", git(repo, "commit-tree", "HEAD~1^{tree}", "-p", "HEAD~1", "-m", "elsewhere"))


def _annotated_tag(repo: Path) -> None:
    git(repo, "tag", "-a", "v1", "-m", "release " + PLANTERS["github-token"](random.Random(6)).text)


def _mode(repo: Path) -> None:
    (repo / "deploy.env").chmod(0o600)


def _cache_deleted(repo: Path) -> None:
    folder = cache_folder(repo)
    assert folder is not None
    for f in folder.glob("*.tree.json"):
        f.unlink()


def _other_key(repo: Path) -> None:
    key = repo.parent / "other.key"
    key.write_text("ab" * 32 + "\n")
    key.chmod(0o600)
    os.environ["AUDITOR_FINGERPRINT_KEY_FILE"] = str(key)


CHANGES: dict[str, Callable[[Path], None]] = {
    "untracked file edited, same size and time": _untracked_same_size_same_time,
    "tracked file edited, same size": _tracked_same_size,
    "new untracked file": _new_secret_untracked,
    "new commit": _new_commit,
    "a blob staged and unstaged": _staged_and_unstaged,
    "ref moved back": _moved_back,
    "ref moved back, reflog expired, pruned": _moved_back_and_pruned,
    "new branch": _branch_elsewhere,
    "annotated tag": _annotated_tag,
    "file mode": _mode,
    "a cache file": _cache_deleted,
    "fingerprint key": _other_key,
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_any_change_is_a_miss(repo: Path, monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    monkeypatch.setenv("AUDITOR_FINGERPRINT_KEY_FILE", os.environ["AUDITOR_FINGERPRINT_KEY_FILE"])
    if change.startswith("ref moved back"):
        _new_commit(repo)
    runs = Runs(repo, monkeypatch)
    runs()
    assert runs()[2] == 0
    CHANGES[change](repo)
    _, after, scans = runs()
    assert scans >= 1
    new = {"new untracked file": b"more.env", "new commit": b"late.conf", "annotated tag": b"(tag v1)",
           "a blob staged and unstaged": b"(blob in no commit)"}.get(change)
    if new is not None:  # the finding the change brought is reported
        assert new in after
    if change == "ref moved back":  # the commit taken off the branch is still in its reflog: read
        assert b"late.conf" in after
    if change == "ref moved back, reflog expired, pruned":  # and once it is gone, it is not
        assert b"late.conf" not in after
    # the run after the change kept its steady state: what a fresh run prints now
    assert runs()[2] == 0
    assert runs()[:2] == runs.fresh()


@pytest.mark.parametrize("extra", [("--exclude", "*notes.txt"), ("--jobs", "1")])
def test_other_options_miss(repo: Path, monkeypatch: pytest.MonkeyPatch, extra: tuple[str, ...]) -> None:
    runs = Runs(repo, monkeypatch)
    runs()
    assert runs()[2] == 0
    assert runs(*extra)[2] >= 1
    assert runs(fmt="text")[2] >= 1
    assert b"notes.txt" not in runs("--exclude", "*notes.txt")[1]
    assert b"notes.txt" in runs()[1]


def test_options_outside_the_memo_are_never_answered_from_it(repo: Path, monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    """Custom rules, baselines, configuration and --no-git-cache change what a scan reports:
    such a scan never prints a kept report (and keeps none)."""
    runs = Runs(repo, monkeypatch)
    runs()
    rules = tmp_path / "rules.yml"
    rules.write_text("- id: custom-hello\n  message: hello\n  pattern: hello\n  severity: LOW\n")
    _, data, scans = runs("--rules", str(rules))
    assert scans == 1 and b"custom-hello" in data
    assert runs("--no-git-cache")[2] == 1
    runs()  # the custom rules' cache beside the others moved the state: a miss, then kept again
    assert runs()[:2] == runs.fresh()


def test_code_that_changed_misses(repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every loaded auditor module (and the shipped data) is stamped: one edited is a miss."""
    module = tmp_path / "detector.py"
    module.write_text("x = 1\n")
    real = memo_module.code_files
    monkeypatch.setattr(memo_module, "code_files", lambda: [*real(), str(module)])
    runs = Runs(repo, monkeypatch)
    runs()
    assert runs()[2] == 0
    module.write_text("x = 2\n")
    assert runs()[2] >= 1
    assert runs()[2] == 0


@pytest.mark.parametrize("damage", ["garbage", "body", "header", "fifo", "symlink", "empty"])
def test_a_damaged_or_foreign_memo_is_ignored(repo: Path, monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    runs = Runs(repo, monkeypatch)
    runs()
    code, good, scans = runs()
    assert scans == 0
    memo = runs.memos()[0]
    raw = memo.read_bytes()
    head, _, body = raw.partition(b"\n")
    memo.unlink()
    if damage == "garbage":
        memo.write_bytes(os.urandom(300))
    elif damage == "body":  # a finding dropped: the length and digest no longer match
        memo.write_bytes(head + b"\n" + body.replace(b"vault-token", b"vault-tokem"))
    elif damage == "header":  # another exit code: the seal no longer matches
        fields = head.split(b"\t")
        assert fields[3] == b"1"
        memo.write_bytes(b"\t".join([*fields[:3], b"0", *fields[4:]]) + b"\n" + body)
        assert memo.read_bytes() != raw
    elif damage == "fifo":
        os.mkfifo(memo)
    elif damage == "symlink":
        other = memo.with_name("elsewhere")
        other.write_bytes(raw)
        memo.symlink_to(other)
    else:
        memo.write_bytes(b"")
    again, data, scans = runs()
    assert scans >= 1 and (again, data) == (code, good)
    assert runs() == (code, good, 0)  # kept anew


def test_the_parser_prints_the_same_kept_report(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A command line outside the plain form (`--format=json`) goes through the parser and
    gets the same kept report; one the plain form reads never builds the parser."""
    runs = Runs(repo, monkeypatch)
    runs()
    code, kept, scans = runs()
    assert scans == 0
    import auditor._cli

    built: list[object] = []
    real = auditor._cli.build_parser

    def building(*a: str | None) -> object:
        built.append(a)
        return real(*a)

    monkeypatch.setattr(auditor._cli, "build_parser", building)
    out = repo.parent / "parsed.json"
    assert main(["secrets", "scan", str(repo), "--git", "--format=json", "--output", str(out)]) == code
    assert out.read_bytes() == kept and runs.scans == 2 and len(built) == 1  # the two scans of the first run
    assert runs()[1:] == (kept, 0) and len(built) == 1


@settings(max_examples=60, deadline=None)
@given(head=st.one_of(st.binary(max_size=200), st.lists(st.one_of(
    st.sampled_from([f"auditor-secrets-memo {memo_module.MEMO_VERSION}", "k" * 64, "1", "0", "-1", "100 5 2f",
                     "1 2 zz", " ", ""]), st.integers().map(str), st.text(max_size=20)), max_size=9).map(
    lambda fields: "\t".join(fields).encode("utf-8", "surrogatepass"))), body=st.binary(max_size=100))
def test_any_memo_file_but_a_sealed_one_is_a_miss(tmp_path_factory: pytest.TempPathFactory, head: bytes,
                                                  body: bytes) -> None:
    """Whatever bytes stand in the memo file, reading it never fails, and only the one sealed
    with the run's key, state and exit code is taken."""
    repo = tmp_path_factory.mktemp("fuzz") / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    memo = memo_module.Memo(repo, repo.parent / "cache", "k" * 64, (), repo.parent)
    memo.folder.mkdir()
    memo.path.write_bytes(head + b"\n" + body)
    assert memo.lookup() is None
    assert memo.before is not None
    memo.keep(memo.before, 1, body)
    assert memo.lookup() == (1, body)


def test_a_history_deepened_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`git fetch --unshallow` moves no ref, no file of the working tree, no cache file: the
    kept report (without the older commits' secret) was printed again."""
    from tests.auditor._secrets.test_run import _shallow_clone_of_a_removed_leak

    monkeypatch.setenv("AUDITOR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    clone, leak = _shallow_clone_of_a_removed_leak(tmp_path)
    runs = Runs(clone, monkeypatch)
    code, report, _ = runs()
    assert code == 0 and b"leak.env" not in report
    assert runs()[2] == 0  # kept, printed again
    git(clone, "fetch", "-q", "--unshallow")
    code, report, scans = runs()
    assert scans >= 1 and code == 1 and leak.encode() in report
    code, kept, scans = runs()
    assert scans == 0 and (code, kept) == runs.fresh()


def test_a_commit_on_another_worktrees_detached_head_is_a_miss(repo: Path, monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    other = tmp_path / "other"
    git(repo, "worktree", "add", "-q", "--detach", str(other))
    runs = Runs(repo, monkeypatch)
    runs()
    assert runs()[2] == 0
    (other / "leak.env").write_text("DB_PASSWORD=Hunter2-Hunter2\n")
    leak = _commit(other, "leak on a detached HEAD")
    code, report, scans = runs()
    assert code == 1
    assert scans >= 1 and leak.encode() in report


def test_a_failing_settle_scan_leaves_the_printed_reports_exit_code(repo: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The first run scans a second time, after its report is printed, only to keep a report:
    git failing then (a gc, a lock: the state is moving) must not turn the printed report's exit
    code (1: findings) into a configuration error (2); nothing is kept."""
    from auditor.errors import ConfigError

    real, calls = cli._scan, []

    def failing_again(*a: object) -> tuple[int, bytes, list[str]]:
        calls.append(1)
        if len(calls) > 1:
            raise ConfigError("git cat-file failed: the repository is being packed")
        return real(*a)  # type: ignore[arg-type]

    monkeypatch.setattr(cli, "_scan", failing_again)
    out = repo.parent / "report.json"
    code = main(["secrets", "scan", str(repo), "--git", "--format", "json", "-o", str(out)])
    assert (code, len(calls)) == (1, 2) and b"vault" in out.read_bytes()
    assert "error" not in capsys.readouterr().err
    folder = cache_folder(repo)
    assert folder is not None and not list(folder.glob("report-*.memo"))
