"""The last report of `auditor secrets scan REPO --git`, printed again while nothing it was
made from has moved.

A second scan of an unchanged repository reads nothing (the caches of
`auditor._secrets.history` know every object and file), yet rebuilding its report from them
(every cached finding read, sorted and encoded) was most of its time. So the report is kept
as it was printed, in `<cache>/secrets-git/<repository>/report-<digest of the folder>.memo`
(0600, written atomically; one per repository folder, replaced by the next run that keeps
one), beside two digests:

- `key`, what decides the output the same way every time: auditor's version and Python's, the
  working folder (paths are shown relative to it), the paths, --format, --exclude, --jobs and
  --engine, the fingerprint key's id, the AUDITOR_* and GIT_* variables and the HOME/XDG
  folders git and auditor read; and, checked apart, the size and modification time of every
  auditor and pki module the run had loaded and of the shipped data (an edited detector misses);
- `state`, what the report was made from: the refs (`git show-ref`) and the commits the
  reflogs name, the shallow boundary and grafts (`gitrepo.boundary`: a history deepened moves
  no ref), the names of the object stores' files (`gitrepo.object_store`: a blob staged and
  unstaged moves nothing else), git's judgement of the working tree against the index
  (`clean_files`: which files hold their index blob), every
  entry of the working tree as the scan walks it (name, kind, size, mode; a repository inside
  it, whose history the scan reads too, keeps no report), the SHA-256 of the
  bytes of every file git does not vouch for (untracked, changed, `.git/config`), and the
  SHA-256 of each cache file of the repository (what was scanned before decides the figures a
  report shows). Nothing is trusted to a file's time.

A run whose key and state equal a kept report's prints it (checked against its length and a
SHA-256 of it, its key, state and exit code) and exits with its code. Any other run scans as
usual and keeps what it printed if the state did not move while it ran. A run that moved it (a first run, or one after new
commits, writes the caches; or a file was edited meanwhile) printed figures the next run's
will not repeat: it scans once more from the state it left, in the same process, as the next
run would (from the caches, reading nothing new: a second run's work), and keeps that report.

Kept only for one repository scanned with --git and the history cache, without --config,
--baseline, --rules, --write-baseline, --no-git-cache or another engine, and never a report
with unreadable files. A memo that cannot be used (missing, not a regular file, larger than
MAX_MEMO_BYTES, torn, of another key or state) is a miss; deleting it changes only speed.
Imports only the standard library and git plumbing: a hit loads nothing of the scanner, nor json
(the first line of a kept report is tab-separated ASCII; the digests are of `repr`s).
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from auditor._cache import write_cache
from auditor._secrets.gitrepo import boundary, cache_folder, clean_files, object_store, refs
from auditor._secrets.walk import iter_files
from auditor.errors import AuditorError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (see auditor._cli._replay)

if TYPE_CHECKING:
    from typing import Any

MEMO_VERSION = 2
MAX_MEMO_BYTES = 512 << 20
"""The most read of a kept report or of a cache file digested (a larger one, or one that is
not a regular file, is a miss)."""
MAX_HASHED_BYTES = 64 << 20
"""The most read of working-tree files git does not vouch for, to digest them; beyond it no
report is kept or used (the scan reads them anyway)."""
_ENVIRONMENT = ("HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class Unsettled(Exception):
    """The state cannot be told (a file that cannot be read, too many bytes to digest)."""


def code_files() -> list[str]:
    """The files of auditor's and pki's loaded modules and of auditor's shipped secrets data."""
    roots = tuple(str(Path(str(m.__file__)).parent) + os.sep for m in (sys.modules["auditor"], sys.modules["pki"]))
    files = {f for name, m in list(sys.modules.items()) if name.partition(".")[0] in ("auditor", "pki")
             and isinstance(f := getattr(m, "__file__", None), str) and f.startswith(roots)}
    data = Path(str(sys.modules["auditor"].__file__)).parent / "_secrets" / "data"
    files.update(str(p) for p in data.glob("*") if p.is_file())
    return sorted(files)


def stamps(files: Sequence[str]) -> list[list[Any]]:
    """[file, size, modification time in ns] of each file (-1, -1 for one that is gone)."""
    out: list[list[Any]] = []
    for f in files:
        try:
            st = os.stat(f)
            out.append([f, st.st_size, st.st_mtime_ns])
        except OSError:
            out.append([f, -1, -1])
    return out


def _digest(path: str, budget: list[int]) -> str:
    """SHA-256 of the regular file `path` (a link is not followed), charged to `budget`."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise Unsettled(path) from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > budget[0]:
            raise Unsettled(path)
        h = hashlib.sha256()
        while chunk := os.read(fd, 1 << 20):
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise Unsettled(path)
            h.update(chunk)
        return h.hexdigest()
    except OSError as exc:
        raise Unsettled(path) from exc
    finally:
        os.close(fd)


def _seal(key: str, state: str, code: int, document: bytes) -> str:
    """The digest a kept report is checked against: of its key, state, exit code and bytes."""
    return hashlib.sha256(repr([key, state, code]).encode() + b"\n" + document).hexdigest()


def _head(key: str, state: str, code: int, seal: str, size: int, files: Sequence[Sequence[Any]]) -> bytes:
    """The first line of a kept report: fields apart by tabs, each code file as `size mtime
    <its path's bytes in hex>` (ASCII throughout: read back without the json module, whose
    import a hit would pay)."""
    fields = [f"auditor-secrets-memo {MEMO_VERSION}", key, state, str(code), str(size), seal,
              *(f"{n} {t} {os.fsencode(f).hex()}" for f, n, t in files)]
    return "\t".join(fields).encode("ascii")


def _read_head(head: bytes) -> tuple[str, str, int, int, str, list[list[Any]]]:
    """(key, state, exit code, size, seal, code files) of a first line written by `_head`;
    ValueError for any other."""
    magic, key, state, code, size, seal, *files = head.decode("ascii").split("\t")
    if magic != f"auditor-secrets-memo {MEMO_VERSION}":
        raise ValueError("another memo format")
    stamped = []
    for entry in files:
        n, t, name = entry.split(" ")
        stamped.append([os.fsdecode(bytes.fromhex(name)), int(n), int(t)])
    return key, state, int(code), int(size), seal, stamped


class Memo:
    """The kept report of one repository folder scanned with given options (see the module)."""

    def __init__(self, repo: Path, folder: Path, key: str, exclude: Sequence[str], base: Path) -> None:
        self.repo, self.folder, self.key, self.exclude, self.base = repo, folder, key, tuple(exclude), base
        where = hashlib.sha256(os.path.realpath(repo).encode()).hexdigest()[:16]
        self.path = folder / f"report-{where}.memo"
        self.before: str | None = None
        """The state when this run began ("" for no cache folder yet; None if it could not be told)."""

    @classmethod
    def open(cls, repo: Path, *, base: Path, options: Sequence[object], exclude: Sequence[str]) -> Memo | None:
        """The memo of `repo` scanned with `options` (everything of the command line that
        decides the output), or None when none can be kept."""
        if not (repo / ".git").exists():
            return None
        folder = cache_folder(repo)
        if folder is None:
            return None
        from auditor import __version__
        from auditor._redact import key_id

        env = sorted((k, v) for k, v in os.environ.items() if k.startswith(("AUDITOR_", "GIT_")) or k in _ENVIRONMENT)
        parts = [MEMO_VERSION, __version__, sys.version, str(base), key_id(), env, list(options)]
        key = hashlib.sha256(repr(parts).encode()).hexdigest()
        return cls(repo, folder, key, exclude, base)

    # ------------------------------------------------------------ the state

    def state(self) -> str | None:
        """The digest of what a report of the repository is made from (see the module), or
        None when it cannot be told."""
        h = hashlib.sha256()
        try:
            tips, tags = refs(self.repo)
            bounds = boundary(self.repo)
            store = object_store(self.repo)
            if bounds is None or store is None:
                raise Unsettled("shallow boundary or object store")
            clean = clean_files(self.repo)
            h.update(repr([tips, tags, bounds, store, sorted(clean.items())]).encode())
            budget = [MAX_HASHED_BYTES]
            prefix = "" if str(self.repo) == "." else str(self.repo).rstrip("/") + "/"
            own = os.path.realpath(self.repo)
            rows: list[list[Any]] = []
            met: list[tuple[str, str, str]] = []
            for path, shown, skip, size, mode in iter_files(self.repo, self.base, self.exclude, repositories=met):
                while met:  # each repository the walk meets, looked at once
                    if os.path.realpath(met.pop()[0]) != own:
                        raise Unsettled(path)  # a repository inside: its history is read too, its state not told here
                row: list[Any] = [path, shown, skip, size]
                if not skip:
                    row.append(mode)
                    if not path.startswith(prefix) or path[len(prefix):] not in clean:
                        row.append(_digest(path, budget))
                rows.append(row)
            h.update(repr(rows).encode())
            try:
                with os.scandir(self.folder) as it:
                    names = sorted(e.name for e in it if e.name.endswith(".json") and not e.name.startswith("."))
            except FileNotFoundError:  # nothing was scanned here before
                names = []
            caches = [[name, _digest(str(self.folder / name), [MAX_MEMO_BYTES])] for name in names]
            h.update(repr(caches).encode())
        except (Unsettled, OSError, ValueError, AuditorError):  # a ConfigError from git: the scan says it
            return None
        return h.hexdigest()

    # ------------------------------------------------------------ reading and keeping

    def lookup(self) -> tuple[int, bytes] | None:
        """The kept (exit code, report) if it was made with this key from the present state."""
        if not os.path.isdir(self.folder):  # nothing was scanned here: no report, and the scan moves the state
            self.before = ""
            return None
        self.before = self.state()
        if self.before is None:
            return None
        from pki.fsutil import ReadError, read_regular

        try:
            raw = read_regular(self.path, MAX_MEMO_BYTES, follow_symlinks=False)
        except ReadError:
            return None
        head, newline, body = raw.partition(b"\n")
        try:
            key, state, code, size, seal, files = _read_head(head)
            ok = (newline == b"\n" and key == self.key and state == self.before and size == len(body)
                  and seal == _seal(self.key, self.before, code, body) and stamps([f for f, _, _ in files]) == files)
        except ValueError:
            return None
        return (code, body) if ok else None

    def keep(self, state: str, code: int, document: bytes) -> None:
        """Keep `document` as the report of `state` (nothing when it cannot be written)."""
        head = _head(self.key, state, code, _seal(self.key, state, code, document), len(document),
                     stamps(code_files()))
        from pki.fsutil import unsynced

        with unsynced():  # lost or torn by a crash, it is a miss (the seal): worth no fsync
            write_cache(self.path, [head, b"\n", document])

    def settle(self, code: int, document: bytes, again: Callable[[], tuple[int, bytes] | None]) -> None:
        """After a scan that printed `document` and exited `code`: keep them if the state did not
        move meanwhile; if it did, scan once more with `again()` (None: a report not to keep)
        and keep that if the state held still for it. An error of that second scan keeps
        nothing and is not raised: the command's report is printed already."""
        if self.before is None:  # the state could not be told (an unreadable file, too much to digest)
            return
        after = self.state()
        if after is None:
            return
        if after != self.before:
            try:
                rerun = again()
            except (AuditorError, OSError):  # the state is moving (git failing meanwhile): nothing kept,
                return  # and the report printed keeps its exit code
            if rerun is None or self.state() != after:
                return
            code, document = rerun
        self.keep(after, code, document)


__all__ = ["MAX_HASHED_BYTES", "MAX_MEMO_BYTES", "Memo", "code_files", "stamps"]
