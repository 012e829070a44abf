"""Git history: every blob, commit message and annotated tag, each scanned once, ever.

One `git log --all --reverse --topo-order --raw` pass lists each commit's message and the
blobs it adds or changes, oldest first, so a blob's introducing commit is the first one that
lists it; `git cat-file --batch` then streams the blobs that were never scanned, in one
process. Annotated tags are read from `git show-ref` and scanned with their messages.

What was scanned is remembered per repository and ruleset under the user's cache folder
(`<cache>/secrets-git/`): the ref tips walked, the ids of the blobs, commits and tags read,
and their (redacted) findings. A later run walks only the commits added since (`--not` the
old tips) and reads only new blobs, unless history was rewritten (an old tip is no longer
reachable) or the shallow boundary or grafts changed (`git fetch --unshallow` brings older
commits in without moving a ref), when it walks everything again but still reads only blobs
it has not seen.
The cache holds no secret: findings are stored as reported (previews and fingerprints).
Deleting it changes only speed, and so does damaging it: each cache file is sealed and read
against one typed definition (`_History`, `_Tree`: auditor._cache.read_sealed); a file whose
seal or shape does not match is ignored whole, as if missing, so a torn or edited cache never
drops a finding (a row that could not be read used to leave its blob "seen" with no findings).

The working tree benefits too: a tracked file that git reports unchanged from its index entry
(`git ls-files -m`) holds exactly the index's blob, so when the history scan has read that blob
(as source code or not, like the file's name says) the file's findings are the blob's, at the
file's path and mode, without reading it (`KnownBlobs`). A working-tree file no blob answers
for (untracked, changed, `.git/config`) is scanned, and its findings kept beside the cache
with a digest of its bytes (`<ruleset>.tree.json`): while its bytes have that digest, a later
run takes them instead of scanning it again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import hashlib
import os
import stat
import subprocess
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import msgspec

from auditor._cache import read_sealed, write_sealed
from auditor._secrets.gitrepo import boundary, cache_folder, clean_files, is_object_id, refs
from auditor._secrets.gitrepo import git as _git
from auditor._secrets.model import FileResult, Leak
from auditor._secrets.run import ScanReport
from auditor._secrets.scanner import _OPEN_FLAGS, WINDOW, Scanner, _read_from, is_code, is_log
from auditor._secrets.suppress import Suppressions
from auditor.errors import ConfigError

CACHE_VERSION = 3
"""Bumped whenever what the scanner finds in the same bytes may change without a ruleset change."""
MAX_CACHE_BYTES = 512 << 20
"""The most read of a cache file (about 400 bytes per commit of history): a larger one, or one
that is not a regular file (a FIFO would block the open), is ignored like a missing one."""


Row = tuple[str, str, str, int, int, str, str, str, dict[str, Any], str, bool, bool]
"""A cached finding: these `Leak` fields (engine `auditor`, no file mode: a git object)."""


class _History(msgspec.Struct, forbid_unknown_fields=True):
    """A history cache file's body (see HistoryCache)."""

    tips: list[str]
    bounds: str
    seen: str
    code: str
    found: dict[str, list[Row]]


class _Tree(msgspec.Struct, forbid_unknown_fields=True):
    """A working-tree cache file's body: display path -> (SHA-256 of the bytes, findings)."""

    files: dict[str, tuple[str, list[Row]]]


SEALS = {_History: b"secrets-git history", _Tree: b"secrets-git tree"}
"""What each kind of cache file is sealed with (auditor._cache.write_sealed): one is never read as the other."""

MESSAGE_PATH = "(commit message)"
_ZERO = frozenset({"0" * 40, "0" * 64})
_NOT_BLOBS = frozenset({"160000"})  # submodule commits


# ------------------------------------------------------------------ the walk


@dataclass
class Walk:
    """What one `git log` pass found: blobs (first path, introducing commit) and messages."""

    blobs: dict[str, tuple[str, str]] = field(default_factory=dict)
    messages: list[tuple[str, bytes]] = field(default_factory=list)


def parse_log(out: bytes, walk: Walk | None = None) -> Walk:
    """Parse `git log -z --raw --format=%x01%H%x00%B` output (oldest commit first)."""
    walk = walk or Walk()
    blobs = walk.blobs
    pos, n = 0, len(out)
    commit = ""
    while pos < n:
        if out[pos] == 1:  # \x01<sha>\0<message>\0
            end = out.index(b"\0", pos)
            commit = out[pos + 1:end].decode("ascii")
            stop = out.find(b"\0", end + 1)
            stop = n if stop < 0 else stop
            walk.messages.append((commit, out[end + 1:stop]))
            pos = stop + 1
        elif out[pos] == 0x3A:  # :<old mode> <new mode> <old sha> <new sha> <status>\0<path>\0
            end = out.index(b"\0", pos)
            meta = out[pos + 1:end].split(b" ")
            stop = out.find(b"\0", end + 1)
            stop = n if stop < 0 else stop
            if len(meta) >= 5:
                sha = meta[3].decode("ascii")
                if sha not in _ZERO and meta[1].decode("ascii") not in _NOT_BLOBS and sha not in blobs:
                    blobs[sha] = (out[end + 1:stop].decode("utf-8", "replace"), commit)
            pos = stop + 1
        else:  # the newline between a message and its raw lines
            pos += 1
    return walk


def walk_history(repo: Path, since: Sequence[str] = ()) -> Walk:
    """Commits reachable from any ref (minus those reachable from `since`), oldest first."""
    args = ["log", "--all", "--reverse", "--topo-order", "--raw", "--no-renames", "--no-abbrev",
            "--diff-merges=first-parent", "-z", "--format=%x01%H%x00%B"]
    stdin = None
    if since:
        args.append("--stdin")
        stdin = "".join(f"^{sha}\n" for sha in since).encode()
    return parse_log(_git(repo, *args, stdin=stdin))


def _unreachable(repo: Path, old: Sequence[str]) -> bool:
    """Whether some commit reachable from the old tips is no longer reachable from any ref."""
    if not old:
        return False
    try:
        out = _git(repo, "rev-list", "--not", "--all", "--not", "--stdin",
                   stdin="".join(f"{s}\n" for s in old).encode())
    except ConfigError:  # an old tip was garbage-collected
        return True
    return bool(out.strip())


# ------------------------------------------------------------------ reading objects


class _Limited:
    """Reads at most `remaining` bytes of a stream (one object of `git cat-file --batch`)."""

    def __init__(self, stream: IO[bytes], size: int) -> None:
        self.stream, self.remaining = stream, size

    def read(self, n: int) -> bytes:
        if self.remaining <= 0:
            return b""
        chunk = self.stream.read(min(n, self.remaining))
        self.remaining -= len(chunk)
        return chunk

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


def _read_objects(repo: Path, shas: Sequence[str], scanner: Scanner,
                  on_object: Any) -> None:
    """Stream `shas` through one `git cat-file --batch`; `on_object(index, size, head, stream)`."""
    if not shas:
        return
    proc = subprocess.Popen(["git", "-C", str(repo), "cat-file", "--batch"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdin is not None and proc.stdout is not None
    stdin = proc.stdin

    def feed() -> None:  # a writer thread: the pipe never fills up while we read
        with contextlib.suppress(BrokenPipeError, OSError):
            for sha in shas:
                stdin.write(sha.encode() + b"\n")
            stdin.close()

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        for i in range(len(shas)):
            header = proc.stdout.readline().split()
            if len(header) < 3:  # "<sha> missing"
                continue
            size = int(header[2])
            stream = _Limited(proc.stdout, size)
            on_object(i, size, stream)
            stream.drain()
            proc.stdout.read(1)  # the newline after each object
    finally:
        writer.join(timeout=60)
        proc.stdout.close()
        proc.wait(timeout=60)


# ------------------------------------------------------------------ the cache


def ruleset_key(scanner: Scanner) -> str:
    """Names what decides the findings in the same bytes: detectors, limits, fingerprint key."""
    from auditor import __version__
    from auditor._redact import key_id

    parts = [str(CACHE_VERSION), __version__, key_id(), str(scanner.max_file_bytes), str(scanner.sops_check)]
    for det in scanner.detectors:
        parts.extend([det.id, det.category, det.source, det.anchor.decode("latin-1"),
                      str(det.priority), getattr(det.confirm, "__qualname__", "")])
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]


def cache_file(repo: Path, scanner: Scanner) -> Path | None:
    folder = cache_folder(repo)
    return None if folder is None else folder / f"{ruleset_key(scanner)}.json"


@dataclass
class HistoryCache:
    """What the cache file holds. On disk (JSON): object ids as one space-separated string,
    findings as `Row`s: quick to read, whatever the size of the history (on disk: `_History`)."""

    tips: list[str] = field(default_factory=list)
    bounds: str = ""
    """The shallow boundary and grafts the tips were walked with (gitrepo.boundary)."""
    seen: set[str] = field(default_factory=set)
    """Blob, commit and tag ids already scanned."""
    code: set[str] = field(default_factory=set)
    """Of those, the blobs scanned as source code (`is_code` of their path)."""
    found: dict[str, list[Row]] = field(default_factory=dict)
    """Object id -> its findings (before suppressions)."""

    @classmethod
    def load(cls, path: Path | None) -> HistoryCache:
        """The cache file `path` (None: no cache), or an empty cache when it cannot be used."""
        body = None if path is None else read_sealed(path, _History, made_from=SEALS[_History],
                                                             max_bytes=MAX_CACHE_BYTES)
        if body is None or not all(is_object_id(tip.encode()) for tip in body.tips):  # given back to git
            return cls()
        return cls(body.tips, body.bounds, set(body.seen.split()), set(body.code.split()), body.found)

    def save(self, path: Path | None) -> None:
        if path is not None:
            body = _History(self.tips, self.bounds, " ".join(sorted(self.seen)), " ".join(sorted(self.code)), self.found)
            write_sealed(path, body, made_from=SEALS[_History])


def _to_cache(leaks: Iterable[Leak]) -> list[Row]:
    return [(x.rule, x.category, x.path, x.line, x.column, x.preview, x.fingerprint, x.confidence, dict(x.details),
             x.commit, x.key_file, x.log) for x in leaks]


_FIELDS = tuple(f.name for f in dataclasses.fields(Leak))
_new_leak = object.__new__


def _from_cache(rows: Iterable[Row]) -> list[Leak]:
    """The cached findings as `Leak`s, made without the generated `__init__` (which sets each
    field of a frozen instance through `object.__setattr__`: most of a second run's time here);
    rows of the shape `Row` (read_sealed holds every row it reads to it)."""
    out = []
    for r in rows:
        leak = _new_leak(Leak)
        leak.__dict__.update(zip(_FIELDS, (*r[:9], "auditor", r[9], "", r[10], r[11], ""), strict=True))
        out.append(leak)
    return out


# ------------------------------------------------------------------ the working tree


@dataclass(frozen=True)
class KnownBlobs:
    """Working-tree files of one repository whose findings are known without scanning them:
    those git reports unchanged whose blob the history scan read, and those whose contents
    an earlier run scanned at the same path (`tree`, checked by a digest of the bytes read)."""

    clean: Mapping[str, str]
    """Path relative to the repository -> blob id, for files git reports unchanged."""
    seen: set[str]
    code: set[str]
    found: Mapping[str, list[Leak]]
    """Findings by object id, as this run reported them..."""
    rows: Mapping[str, list[Row]]
    """...and as the cache holds them (every object read, also those this run did not report)."""
    tree: Mapping[str, tuple[str, list[Row]]] = field(default_factory=dict)
    """Display path -> (sha256 of the bytes, findings), of working-tree files
    that no blob answers for (untracked, changed, `.git/config`), as an earlier run found them."""
    tree_file: Path | None = None
    kept: dict[str, tuple[str, list[Row]]] = field(default_factory=dict)
    """The `tree` entries this run used or learned: what the next run will know."""

    def leaks(self, path: str, relative: str, display: str, size: int) -> list[Leak] | None:
        """The findings of the working-tree file `path` (`relative` to the repository, shown as
        `display`, `size` bytes)
        as a scan of the file would report them, or None when they are not known: the file
        changed, its blob was never read, or it was read as code and the file's name says it
        is not (or the other way round: the detectors read source code differently)."""
        blob = self.clean.get(relative)
        if blob is None or blob not in self.seen or size >= WINDOW or (blob in self.code) != is_code(display):
            return self._from_tree(path, display, size)
        rows = self.found.get(blob)
        if rows is None:
            rows = _from_cache(self.rows.get(blob, ()))
        if not rows:
            return []
        try:
            st = os.lstat(path)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        mode = f"{stat.S_IMODE(st.st_mode):04o}"
        log = is_log(display)
        return [dataclasses.replace(x, path=display, commit="", file_mode=mode, log=log) for x in rows]

    def _from_tree(self, path: str, display: str, size: int) -> list[Leak] | None:
        """What an earlier run found in these very bytes at this path (the same input to the
        scanner: the same findings, with the file's mode as it is now)."""
        entry = self.tree.get(display)
        if entry is None or size >= WINDOW:
            return None
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size >= WINDOW:
                return None
            data = _read_from(lambda n: os.read(fd, n), WINDOW)
        except OSError:
            return None
        finally:
            os.close(fd)
        if len(data) >= WINDOW or hashlib.sha256(data).hexdigest() != entry[0]:
            return None
        self.kept[display] = entry
        mode = f"{stat.S_IMODE(st.st_mode):04o}"
        return [dataclasses.replace(x, path=display, commit="", file_mode=mode) for x in _from_cache(entry[1])]

    def learn(self, display: str, data: bytes, result: FileResult) -> None:
        """Remember what the scan of a file read whole found (before suppressions: only a
        result where none applied is kept)."""
        if self.tree_file is not None and not (result.error or result.skipped or result.suppressed):
            self.kept[display] = (hashlib.sha256(data).hexdigest(), _to_cache(result.leaks))

    @staticmethod
    def load_tree(path: Path | None) -> dict[str, tuple[str, list[Row]]]:
        """The working-tree cache file `path` (None: no cache); empty when it cannot be used."""
        body = None if path is None else read_sealed(path, _Tree, made_from=SEALS[_Tree], max_bytes=MAX_CACHE_BYTES)
        return {} if body is None else body.files

    def save(self) -> None:
        """Keep the entries this run used or learned (files gone or changed are forgotten)."""
        if self.tree_file is None or self.kept == self.tree:
            return
        write_sealed(self.tree_file, _Tree(self.kept), made_from=SEALS[_Tree])


# ------------------------------------------------------------------ the scan


@dataclass
class HistoryScan(ScanReport):
    """A history scan's report, and what it lets a scan of the working tree reuse."""

    known: KnownBlobs | None = None


def scan_history(
    repo: Path,
    *,
    scanner: Scanner | None = None,
    suppress: Suppressions | None = None,
    exclude: Sequence[str] = (),
    seen: set[str] | None = None,
    cache: bool = True,
    tree: bool = False,
) -> HistoryScan:
    """Scan every blob, commit message and annotated tag in the history of `repo` once.

    A finding names its blob's introducing commit (the oldest that adds it) and the path it
    had there. `seen` carries object ids across calls (library use: they are not read
    again); `cache` keeps them, with their findings, across runs (see the module docstring).
    With `tree` (and the cache), the report says which working-tree files it knows (`known`).
    """
    scanner = scanner or Scanner()
    suppress = suppress or Suppressions()
    report = HistoryScan()
    stats = report.stats
    use_cache = cache and seen is None and not scanner.legacy_fingerprints
    where = cache_file(repo, scanner) if use_cache else None
    if where is None:
        _git(repo, "rev-parse", "--git-dir")  # a clear error for a folder that is not a repository
    clean: dict[str, str] = {}
    lister = threading.Thread(target=lambda: clean.update(clean_files(repo)), daemon=True)
    if where is not None and tree:  # git lists the working tree's unchanged files meanwhile
        lister.start()
    state = HistoryCache.load(where)
    tips, tags = refs(repo)
    bounds = boundary(repo) if where is not None else ""
    known = seen if seen is not None else state.seen
    # the same shallow boundary and grafts as the tips were walked with (a history deepened
    # or grafted moves no ref): else everything is walked again, reading only unseen objects
    walked_alike = bounds is not None and bounds == state.bounds
    unchanged = walked_alike and bool(state.tips) and tips == state.tips  # nothing to walk: no commit is new
    incremental = walked_alike and (unchanged or (bool(state.tips) and not _unreachable(repo, state.tips)))
    walk = Walk() if unchanged else walk_history(repo, since=state.tips if incremental else ())
    found: dict[str, list[Leak]] = {}
    if incremental:  # everything found before is still in the history
        for obj, rows in state.found.items():
            found[obj] = _from_cache(rows)

    def skip_path(path: str) -> bool:
        return any(fnmatch.fnmatchcase(path, pat) for pat in exclude) or suppress.path_excluded(path)

    todo: list[tuple[str, str, str, str]] = []  # (object id, kind, display path, commit)
    for sha, (path, commit) in walk.blobs.items():
        if skip_path(path):
            continue
        if sha in known:
            stats.blobs_reused += 1
            if sha in state.found and not incremental:  # attribution as this walk sees it
                found[sha] = [dataclasses.replace(x, path=path, commit=commit) for x in _from_cache(state.found[sha])]
            continue
        todo.append((sha, "blob", path, commit))
    for commit, message in walk.messages:
        if commit in known:
            if commit in state.found and not incremental:
                found[commit] = _from_cache(state.found[commit])
            continue
        stats.commits_scanned += 1
        known.add(commit)
        in_message = scanner.scan_blob(message, MESSAGE_PATH, commit=commit).leaks
        if in_message:
            found[commit] = list(in_message)
    if incremental:  # a tag deleted since is no longer reported
        current = {sha for sha, _ in tags}
        for obj in [k for k, v in found.items() if v and v[0].path.startswith("(tag ") and k not in current]:
            del found[obj]
    for sha, name in tags:
        if sha in known:
            if sha in state.found and not incremental:
                found[sha] = _from_cache(state.found[sha])
            continue
        todo.append((sha, "tag", f"(tag {name})", sha))

    def on_object(i: int, size: int, stream: _Limited) -> None:
        sha, kind, path, commit = todo[i]
        if kind == "blob" and scanner.max_file_bytes and size > scanner.max_file_bytes:
            stats.add(FileResult(f"{commit[:12]}:{path}", size=size, skipped="too-large"))
            return
        head = stream.read(min(size, WINDOW))
        if size <= WINDOW:
            leaks = scanner.scan_blob(head, path, commit=commit).leaks
        else:
            leaks = tuple(scanner._stream(stream, head, path, "", commit=commit))
        known.add(sha)
        if kind == "tag":
            stats.tags_scanned += 1
        else:
            stats.blobs_scanned += 1
            if is_code(path):
                state.code.add(sha)
        if leaks:
            found[sha] = list(leaks)

    _read_objects(repo, [t[0] for t in todo], scanner, on_object)
    changed = bool(todo) or stats.commits_scanned > 0 or tips != state.tips or not incremental
    if where is not None and changed:
        if incremental:
            state.found.update({k: _to_cache(v) for k, v in found.items() if k not in state.found})
        else:  # history was rewritten: forget what is no longer in it, so what is known is found
            reached = {*walk.blobs, *(c for c, _ in walk.messages), *(t for t, _ in tags)}
            state.seen &= reached
            state.code &= state.seen
            remembered = {k: v for k, v in state.found.items() if k in state.seen}  # e.g. blobs excluded now
            state.found = {**remembered, **{k: _to_cache(v) for k, v in found.items()}}
        state.tips = tips
        state.bounds = "?" if bounds is None else bounds  # "?": told by no boundary, walked again next time
        state.save(where)
    if where is not None and tree:
        lister.join()
        tree_file = where.with_name(where.stem + ".tree.json")
        report.known = KnownBlobs(clean, state.seen, state.code, found, state.found, KnownBlobs.load_tree(tree_file),
                                  tree_file)
    for leaks in found.values():
        kept = [x for x in leaks if not skip_path(x.path)] if incremental else leaks
        mine, dropped = suppress.split(kept)
        report.leaks.extend(mine)
        stats.suppressed += dropped
    return report


__all__ = ["MESSAGE_PATH", "HistoryCache", "HistoryScan", "KnownBlobs", "Walk", "clean_files", "parse_log",
           "scan_history", "walk_history"]
