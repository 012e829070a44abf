"""Reading a git repository's refs and index: the plumbing the history scan and the report
memo share (`auditor._secrets.history`, `auditor._secrets.memo`). Only the standard library
and git itself: importing this costs next to nothing."""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from auditor.errors import ConfigError


def run(argv: Sequence[str], *, stdin: bytes | None = None, timeout: float = 3600) -> tuple[int, bytes, bytes]:
    """Run the program `argv[0]` (looked up on PATH) and return (exit status, standard output,
    standard error): `subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout)`
    without importing subprocess, and signal, selectors, locale and threading with it (5 ms of
    a kept report's 50, `auditor._secrets.memo`). posix_spawn, a pipe for each stream, one poll
    loop that feeds `stdin` while reading both outputs; the standard input is inherited when
    `stdin` is None, as subprocess does (descriptors Python opened are not inherited, PEP 446;
    nothing else is closed). FileNotFoundError when there is no such program;
    TimeoutError when the streams are still open after `timeout` seconds (the program killed;
    the wait for its exit once it closed both is not bounded)."""
    import select
    import signal
    import time

    deadline = time.monotonic() + timeout
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe() if stdin is not None else (-1, -1)
    actions = [(os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)]
    if stdin is not None:
        actions.append((os.POSIX_SPAWN_DUP2, in_r, 0))
    opened = [fd for fd in (out_r, out_w, err_r, err_w, in_r, in_w) if fd >= 0]
    pid = 0
    try:
        pid = os.posix_spawnp(argv[0], list(argv), os.environ, file_actions=actions,
                              setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))  # as subprocess restores them
        for fd in (out_w, err_w, in_r):
            if fd >= 0:
                os.close(fd)
                opened.remove(fd)
        chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
        poller = select.poll()
        poller.register(out_r, select.POLLIN)
        poller.register(err_r, select.POLLIN)
        pending = memoryview(stdin or b"")
        if in_w >= 0:
            os.set_blocking(in_w, False)
            poller.register(in_w, select.POLLOUT)
        streams = 3 if in_w >= 0 else 2
        while streams:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{argv[0]} ran longer than {timeout}s")
            for fd, _ in poller.poll(left * 1000):
                if fd == in_w:
                    try:
                        pending = pending[os.write(in_w, pending[:1 << 16]):] if pending else pending
                    except BrokenPipeError:  # the program stopped reading: the rest is not wanted
                        pending = pending[:0]
                    except BlockingIOError:
                        continue
                    if not pending:
                        poller.unregister(in_w)
                        os.close(in_w)
                        opened.remove(in_w)
                        streams -= 1
                    continue
                data = os.read(fd, 1 << 16)
                if data:
                    chunks[fd].append(data)
                else:
                    poller.unregister(fd)
                    streams -= 1
        _, status = os.waitpid(pid, 0)
        pid = 0
    finally:
        if pid:  # a timeout or an error: the program does not outlive the call
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
                os.waitpid(pid, 0)
        for fd in opened:
            os.close(fd)
    return os.waitstatus_to_exitcode(status), b"".join(chunks[out_r]), b"".join(chunks[err_r])


UNTRUSTED_CONFIG = ("core.fsmonitor=false", "log.showSignature=false")
"""What every git run here is given over the repository's own settings: a scanned repository is
untrusted input (a node's `/etc` kept by etckeeper, a tree copied from a host), and its
`.git/config` may name programs git runs while it is read: an fsmonitor hook (`core.fsmonitor`,
run by every command that looks at the working tree) and a signature checker (`gpg.program`,
run for each signed commit `git log` shows when `log.showSignature` is set). The filters of
`.gitattributes` (`filter.NAME.clean`) are named per repository: clean_files asks nothing of
the working tree where one is set. No other command run here starts a program (no diff, no
network, no hook)."""


def untrusted_env() -> dict[str, str]:
    """UNTRUSTED_CONFIG as environment variables (git's GIT_CONFIG_COUNT), for a program that
    runs git itself (trufflehog3)."""
    env = {"GIT_CONFIG_COUNT": str(len(UNTRUSTED_CONFIG))}
    for i, setting in enumerate(UNTRUSTED_CONFIG):
        env[f"GIT_CONFIG_KEY_{i}"], _, env[f"GIT_CONFIG_VALUE_{i}"] = setting.partition("=")
    return env


GIT = ("git", "--no-replace-objects", *(arg for setting in UNTRUSTED_CONFIG for arg in ("-c", setting)))
"""How git is run: the objects as they are, never their replacements (`git replace`, whose refs
would otherwise hide a commit's or a blob's contents from every read of history), and none of
the programs the repository's settings name (UNTRUSTED_CONFIG)."""


def _run_git(repo: Path, args: Sequence[str], stdin: bytes | None, timeout: float) -> tuple[int, bytes, bytes]:
    try:
        return run([*GIT, "-C", str(repo), *args], stdin=stdin, timeout=timeout)
    except FileNotFoundError:
        raise ConfigError("git is not installed; it is needed to read git history") from None
    except TimeoutError:
        raise ConfigError(f"git {args[0]} took longer than {timeout:.0f}s", file=repo) from None


def git(repo: Path, *args: str, stdin: bytes | None = None, timeout: float = 3600,
        ok: Sequence[int] = (0,)) -> bytes:
    code, out, err = _run_git(repo, args, stdin, timeout)
    if code not in ok:
        raise ConfigError(f"git {args[0]} failed: {failure(err, code)}", file=repo)
    return out


def failure(err: bytes, code: int) -> str:
    """What git said went wrong, from its standard error: its `fatal:` (or `error:`) line, not
    the advice it may print after it (for a repository another user owns, a command adding it
    to the user's global `safe.directory`, which auditor neither runs nor asks for: git refuses
    such a repository because its settings could make git run that user's programs); else its
    last line, else the exit code."""
    lines = [line.strip() for line in err.decode("utf-8", "replace").splitlines() if line.strip()]
    said = next((line.partition(": ")[2] for line in lines if line.startswith(("fatal: ", "error: "))), "")
    if "dubious ownership" in said:
        return f"{said}: another user owns it, and git reads such a repository for its owner alone (scan as that user)"
    return said or (lines[-1] if lines else str(code))


def refs(repo: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """The objects every ref (and HEAD, and each worktree's detached HEAD: `detached_heads`)
    points at, what `--all` starts from; and (tag object id,
    tag name) of every annotated tag. One `git show-ref --head --dereference`: a ref that
    points at a tag object is listed again peeled (`^{}`)."""
    code, out, err = _run_git(repo, ("show-ref", "--head", "--dereference"), None, 600)
    if code != 0 and (code != 1 or out.strip() or err.strip()):
        raise ConfigError(f"git show-ref failed: {failure(err, code)}", file=repo)
    named: dict[str, str] = {}
    peeled: set[str] = set()
    for line in out.decode("utf-8", "replace").splitlines():  # no refs at all: exit 1, nothing said
        sha, _, name = line.partition(" ")
        if name.endswith("^{}"):
            peeled.add(name[:-3])
        else:
            named[name] = sha
    tags = [(sha, name.removeprefix("refs/tags/")) for name, sha in named.items()
            if name in peeled and name.startswith("refs/tags/")]
    tips = {*named.values(), *detached_heads(repo), *reflog_commits(repo)}
    return sorted(tips), sorted(tags, key=lambda t: t[1])


MAX_REFLOG_BYTES = 64 << 20
"""The most read of one reflog file (a larger one, or one that is not regular, is not read)."""


def reflog_commits(repo: Path) -> set[str]:
    """Every commit the reflogs name (each entry's old and new value), read from their files
    (`logs/` in the common git directory and each linked worktree's `logs/HEAD`): what
    `--reflog` starts from. A tip like a ref's, so that a reflog expired without any ref moving
    (`git reflog expire`, then `git gc` prunes the commit) is a change like a ref's."""
    try:
        common = Path(common_dir(repo))
    except (ConfigError, OSError):
        return set()
    from pki.fsutil import ReadError, read_regular

    files = [os.path.join(path, name) for path, _, names in os.walk(common / "logs") for name in names]
    with contextlib.suppress(OSError), os.scandir(common / "worktrees") as it:
        files.extend(os.path.join(e.path, "logs", "HEAD") for e in it)
    out: set[str] = set()
    for path in files:
        try:
            data = read_regular(path, MAX_REFLOG_BYTES, follow_symlinks=False)
        except ReadError:  # gone, not a regular file or too large: its commits are still walked
            continue
        for line in data.splitlines():
            for sha in line[:129].split(b" ", 2)[:2]:
                if is_object_id(sha) and sha.strip(b"0"):
                    out.add(sha.decode("ascii"))
    return out


_HEX = frozenset(b"0123456789abcdef")


def is_object_id(sha: bytes) -> bool:
    """A full object id (SHA-1 or SHA-256) in lower-case hex."""
    return len(sha) in (40, 64) and set(sha) <= _HEX


def detached_heads(repo: Path) -> set[str]:
    """The commits the repository's worktrees (the main one and each linked one) have checked
    out detached, read from their HEAD files: `--all` walks from them too, while `git show-ref
    --head` lists only this worktree's HEAD. (A HEAD naming a branch adds nothing: the branch
    is a ref.) Without linked worktrees, nothing is read."""
    try:
        common = Path(common_dir(repo))
    except (ConfigError, OSError):
        return set()
    try:
        with os.scandir(common / "worktrees") as it:
            linked = [e.path for e in it]
    except OSError:  # no linked worktree
        return set()
    # the linked worktrees git lists: those whose folder holds a `gitdir` file
    heads = [str(common / "HEAD"), *(os.path.join(w, "HEAD") for w in linked if os.path.isfile(os.path.join(w, "gitdir")))]
    from pki.fsutil import ReadError, read_regular

    out: set[str] = set()
    for head in heads:
        try:
            sha = read_regular(head, 4096, follow_symlinks=False).strip()
        except ReadError:  # gone, or not a regular file (a link names a branch: a ref already)
            continue
        if is_object_id(sha):
            out.add(sha.decode("ascii"))
    return out


MAX_BOUNDARY_BYTES = 64 << 20
"""The most read of a repository's `shallow` and grafts files (larger, or not regular: unknown)."""


def boundary(repo: Path) -> str | None:
    """What besides the refs decides the commits `git log --all` reaches: the shallow boundary
    (`shallow` in the common git directory, which `git fetch --deepen/--unshallow` moves without
    moving a ref) and the grafts file (`info/grafts`, or $GIT_GRAFT_FILE), as a digest of their
    bytes; "" when there is neither. None when it cannot be told (a file that is not regular,
    cannot be read or is too large): then nothing walked before may be taken as known."""
    try:
        common = Path(common_dir(repo))
    except (ConfigError, OSError):
        return None
    grafts = os.environ.get("GIT_GRAFT_FILE") or str(common / "info" / "grafts")
    from pki.fsutil import ReadError, read_regular

    h = hashlib.sha256()
    found = False
    for name, path in (("shallow", str(common / "shallow")), ("grafts", grafts)):
        try:
            data = read_regular(path, MAX_BOUNDARY_BYTES, follow_symlinks=False)
        except ReadError as exc:
            if exc.why == "missing":
                continue
            return None
        found = True
        h.update(f"{name} {len(data)} {hashlib.sha256(data).hexdigest()}\n".encode())
    return h.hexdigest() if found else ""


MAX_ALTERNATES = 5
"""How deep alternate object stores are followed (git's own limit)."""


def object_store(repo: Path) -> str | None:
    """A digest of the names of every file of the repository's object stores: loose objects and
    packs, of the alternates too. Names are content hashes, so it changes whenever an object
    is added or pruned, with no file's time trusted; the listing costs a fraction of git's
    (`objects`), so a run can tell cheaply that nothing was added. None when it cannot be told."""
    try:
        first = Path(common_dir(repo)) / "objects"
    except (ConfigError, OSError):
        return None
    from pki.fsutil import ReadError, read_regular

    h = hashlib.sha256()
    todo, done = [(first, 0)], set()
    while todo:
        folder, depth = todo.pop()
        if folder in done or depth > MAX_ALTERNATES:
            continue
        done.add(folder)
        h.update(f"store {folder}\n".encode("utf-8", "surrogateescape"))
        try:
            with os.scandir(folder) as it:
                fans = sorted(e.name for e in it if len(e.name) == 2 or e.name == "pack")
            for fan in fans:
                with os.scandir(folder / fan) as it:
                    h.update(f"{fan} {' '.join(sorted(e.name for e in it))}\n".encode("utf-8", "surrogateescape"))
        except FileNotFoundError:
            continue
        except OSError:
            return None
        try:
            alternates = read_regular(folder / "info" / "alternates", MAX_BOUNDARY_BYTES, follow_symlinks=False)
        except ReadError as exc:
            if exc.why == "missing":
                continue
            return None
        for line in alternates.decode("utf-8", "surrogateescape").splitlines():
            if line.strip() and not line.startswith("#"):
                todo.append(((folder / line.strip()).resolve(), depth + 1))
    return h.hexdigest()


def objects(repo: Path) -> dict[str, set[str]]:
    """Every commit, blob and annotated tag of the repository (alternates included), reachable
    or not, by type (`commit`, `blob`, `tag` -> ids). One `git cat-file --batch-all-objects`."""
    out = git(repo, "cat-file", "--batch-all-objects", "--unordered", "--batch-check=%(objecttype) %(objectname)")
    found: dict[str, set[str]] = {"commit": set(), "blob": set(), "tag": set()}
    for line in out.decode("ascii", "replace").splitlines():
        kind, _, sha = line.partition(" ")
        if kind in found:
            found[kind].add(sha)
    return found


def common_dir(repo: Path) -> str:
    """The repository's git directory shared by its worktrees (`git rev-parse --git-common-dir`),
    without asking git when `repo/.git` is a plain repository's folder."""
    dot_git = repo / ".git"
    if dot_git.is_dir() and not (dot_git / "commondir").exists() and not {"GIT_DIR", "GIT_COMMON_DIR"} & set(os.environ):
        return str(dot_git.absolute())  # what git would say
    return git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir").decode().strip()


def locations(repo: Path, *, work_tree: bool) -> tuple[str, str, str]:
    """The git directory, the common git directory (a worktree's is its repository's) and, with
    `work_tree`, the working tree ('' without) git reads for `repo`, as real paths, from one
    `git rev-parse`: git looks up the folders above one that holds none it can read."""
    asked = ["--absolute-git-dir", "--git-common-dir", *(["--show-toplevel"] if work_tree else [])]
    lines = git(repo, "rev-parse", "--path-format=absolute", *asked).decode("utf-8", "surrogateescape").splitlines()
    if len(lines) != len(asked):  # a name holding a line break
        raise ConfigError("git names its folders in a way that cannot be read back", file=repo)
    found = [os.path.realpath(line) for line in lines]
    return found[0], found[1], found[2] if work_tree else ""


MAX_ALTERNATES_BYTES = 64 << 10
"""The most read of an `objects/info/alternates` file (a larger one is said unreadable)."""


def alternates(common: str, depth: int = 5) -> list[str]:
    """The object stores the repository whose common git directory is `common` borrows objects
    from (`objects/info/alternates`: one folder a line, absolute or relative to `objects`;
    `git clone --shared`, `--reference`), theirs in turn, as git follows them (five deep),
    each a real path. Read as a file: git is asked nothing. ConfigError when one cannot be read."""
    from pki.fsutil import ReadError, read_regular

    out: list[str] = []
    todo = [(os.path.join(common, "objects"), 0)]
    while todo:
        objects, level = todo.pop()
        listed = os.path.join(objects, "info", "alternates")
        if not os.path.lexists(listed):
            continue
        try:
            text = read_regular(listed, MAX_ALTERNATES_BYTES).decode("utf-8", "surrogateescape")
        except ReadError as exc:
            raise ConfigError(f"its objects/info/alternates cannot be read: {exc}", file=listed) from None
        for line in text.splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            if line.startswith('"'):  # git's C quoting (`\t`, octal bytes): unquoted as git does
                try:
                    raw = codecs.escape_decode(line[1:-1].encode("utf-8", "surrogateescape"))[0]
                except ValueError:
                    raise ConfigError("its objects/info/alternates names a folder git cannot unquote",
                                      file=listed) from None
                line = raw.decode("utf-8", "surrogateescape")
            if "\0" in line:
                raise ConfigError("its objects/info/alternates names a folder with a NUL byte", file=listed)
            found = os.path.realpath(os.path.join(objects, line))
            if found not in out:
                out.append(found)
                if level + 1 < depth:
                    todo.append((found, level + 1))
    return out


def cache_folder(repo: Path) -> Path | None:
    """`<cache>/secrets-git/<digest of the repository's common git directory>`: where what was
    scanned in this repository is remembered (None when git cannot say where that is)."""
    from auditor._cache import cache_root

    try:
        where = hashlib.sha256(os.path.realpath(common_dir(repo)).encode()).hexdigest()[:20]
        return cache_root() / "secrets-git" / where
    except (ConfigError, RuntimeError, OSError):
        return None


def converts(repo: Path, index: bytes) -> bool:
    """Whether git may convert between blobs and working-tree files here (line endings, LFS and
    other filters, encodings): core.autocrlf, or any attributes file that could apply. Then a
    file git calls unchanged need not hold its blob's bytes."""
    config = git(repo, "config", "-z", "--get-regexp", r"^core\.(autocrlf|attributesfile)$", ok=(0, 1))
    settings = dict(item.partition(b"\n")[::2] for item in config.split(b"\0") if item)
    if settings.get(b"core.autocrlf", b"false").lower() not in (b"false", b"no", b"off", b"0", b""):
        return True
    common = Path(common_dir(repo))
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    files = [common / "info" / "attributes", Path(xdg) / "git" / "attributes", Path("/etc/gitattributes")]
    if b"core.attributesfile" in settings:
        files.append(Path(os.path.expanduser(os.fsdecode(settings[b"core.attributesfile"]))))
    return (b"/.gitattributes\0" in index or b"\t.gitattributes\0" in index
            or any(f.is_file() for f in files))


def filters(repo: Path) -> bool:
    """Whether any setting names a content filter's program (`filter.NAME.clean` or `.process`:
    git runs it on a working-tree file to compare it with its blob, wherever an attributes file,
    tracked or not, applies it). Read by `git config`, which runs nothing."""
    names = git(repo, "config", "-z", "--name-only", "--get-regexp", r"^filter\..*\.(clean|process)$", ok=(0, 1))
    return bool(names.strip(b"\0"))


def clean_files(repo: Path) -> dict[str, str]:
    """Path (relative to `repo`, as the file system spells it) -> blob id of each regular file
    in the index that git reports unchanged in the working tree. One `git ls-files --stage
    -c -m -v` lists every entry (tag `H`) and again each modified one (tag `C`), as `git
    status` judges them (contents compared where file times cannot tell); entries marked
    assume-unchanged (`h`) or skip-worktree (`S`) are not trusted, since git does not look
    at their files. Empty when git cannot say, or when git may convert contents on checkout
    (`converts`), or when a filter's program is set (`filters`: git would run it)."""
    try:
        if filters(repo):  # git would run them to compare a file with its blob
            return {}
        index = git(repo, "ls-files", "-z", "-v", "-c", "-m", "--stage")
        if converts(repo, index):
            return {}
    except (ConfigError, OSError):
        return {}
    entries: dict[bytes, bytes] = {}
    changed: set[bytes] = set()
    for entry in index.split(b"\0"):
        meta, _, name = entry.partition(b"\t")
        parts = meta.split(b" ")
        if len(parts) != 4:
            continue
        tag, mode, sha, stage = parts
        if tag == b"C":
            changed.add(name)
        elif tag == b"H" and stage == b"0" and mode in (b"100644", b"100755"):
            entries[name] = sha
    return {os.fsdecode(name): sha.decode("ascii") for name, sha in entries.items() if name not in changed}


__all__ = ["alternates", "boundary", "cache_folder", "clean_files", "common_dir", "converts", "detached_heads", "failure", "filters", "git",
           "is_object_id", "locations", "object_store", "objects", "refs", "run", "untrusted_env"]
