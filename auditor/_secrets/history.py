"""Git history: every blob, commit message and annotated tag, each scanned once, ever.

One `git log --all --reflog --reverse --topo-order --raw` pass lists each commit's message and
the blobs it adds or changes (commits of every ref, and those a reflog still holds: `REACHED`),
oldest first, so a blob's introducing commit is the first one that lists it; `git cat-file
--batch` then streams the blobs that were never scanned, in one process. What the repository
holds beyond that (`gitrepo.objects`, listed again only when `gitrepo.object_store` changed) is
read too: commits no ref nor reflog names are walked from themselves (`dangling`), blobs no
commit adds are read as `LOST_PATH` (`lost`), until `git gc` prunes them. Annotated tags are
read from `git show-ref` and scanned with their messages.
A blob is read at the oldest path that adds it and is not excluded (an excluded first path
must not hide the same bytes committed elsewhere), and once more at the oldest path of the
other kind when it was added both as source code and not (the detectors read code
differently). A blob added at several paths has each finding (a secret both readings find is
one) reported once, at the oldest of them that no allowlist entry or baseline accepts
(`_placed`): accepting a secret in one file never accepts it in another. A secret that several
versions of one file hold is one finding, at the oldest of them (`_first_versions`).

What was scanned is remembered per repository, ruleset and excluded paths under the user's
cache folder (`<cache>/secrets-git/`): the ref tips walked, the ids of the blobs, commits and
tags read (and which way each blob was read), their (redacted) findings, where each blob
with findings was added, and the times of the commits whose versions of a file hold one secret
(`_first_versions`). A later run walks only the commits added since (`--not` the old
tips) and reads only new blobs, unless history was rewritten (an old tip is no longer
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
import shutil
import stat
import subprocess
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import msgspec

from auditor._cache import read_sealed, write_sealed
from auditor._secrets.gitrepo import (
    GIT,
    boundary,
    cache_folder,
    clean_files,
    is_object_id,
    object_store,
    objects,
    refs,
)
from auditor._secrets.gitrepo import git as _git
from auditor._secrets.model import FileResult, Leak, Tally, alike_in_versions
from auditor._secrets.run import ScanReport
from auditor._secrets.scanner import (
    _OPEN_FLAGS,
    WINDOW,
    Scanner,
    is_code,
    is_log,
)
from auditor._secrets.suppress import Suppressions
from auditor._secrets.unpack import read_up_to as _read_from
from auditor.errors import ConfigError

CACHE_VERSION = 31
"""Bumped whenever what the scanner finds in the same bytes may change without a ruleset change
(9: packing inside packing, zstd and packed blobs over 8 MiB are unpacked; 10: PKCS#12 keys;
11: gzip encoded in base64; 12: 7z and RAR archives, through bsdtar)."""
MAX_CACHE_BYTES = 512 << 20
"""The most read of a cache file (about 400 bytes per commit of history): a larger one, or one
that is not a regular file (a FIFO would block the open), is ignored like a missing one."""


Row = tuple[str, str, str, int, int, str, str, str, dict[str, Any], str, bool, bool, int, list[int]]
"""A cached finding: these `Leak` fields (engine `auditor`, no file mode: a git object)."""


class _History(msgspec.Struct, forbid_unknown_fields=True):
    """A history cache file's body (see HistoryCache)."""

    tips: list[str]
    bounds: str
    seen: str
    code: str
    both: str
    found: dict[str, list[Row]]
    places: dict[str, list[tuple[str, str]]]
    store: str
    dangling: str
    lost: str
    skipped: str
    unread: dict[str, str]
    times: dict[str, tuple[int, int]] = msgspec.field(default_factory=dict)


class _Tree(msgspec.Struct, forbid_unknown_fields=True):
    """A working-tree cache file's body: display path -> (SHA-256 of the bytes, findings)."""

    files: dict[str, tuple[str, list[Row]]]


SEALS = {_History: b"secrets-git history", _Tree: b"secrets-git tree"}
"""What each kind of cache file is sealed with (auditor._cache.write_sealed): one is never read as the other."""

MESSAGE_PATH = "(commit message)"
LOST_PATH = "(blob in no commit)"
"""Where a finding in a blob no commit adds is (its `commit` is the blob's id, as a tag's is the tag's)."""
_ZERO = frozenset({"0" * 40, "0" * 64})
_NOT_BLOBS = frozenset({"160000"})  # submodule commits


# ------------------------------------------------------------------ the walk


@dataclass
class Walk:
    """What one `git log` pass found: blobs (first path, introducing commit), the other paths
    they were added at, and messages."""

    blobs: dict[str, tuple[str, str]] = field(default_factory=dict)
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    more: dict[str, dict[str, str]] = field(default_factory=dict)
    """Blobs also added at other paths later (copied, renamed, moved): path -> the oldest commit
    that adds the blob there, oldest first. An excluded first path must not hide the others, nor
    the way a first path is read (as code or not) the way another is."""

    def places(self, sha: str) -> list[tuple[str, str]]:
        """Every (path, commit) the blob `sha` is added at, the oldest first."""
        first = self.blobs[sha]
        more = self.more.get(sha)
        return [first, *more.items()] if more else [first]


def parse_log(out: bytes, walk: Walk | None = None) -> Walk:
    """Parse `git log -z --raw --format=%x01%H%x00%B` output (oldest commit first)."""
    walk = walk or Walk()
    blobs, more = walk.blobs, walk.more
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
                if sha not in _ZERO and meta[1].decode("ascii") not in _NOT_BLOBS:
                    path = out[end + 1:stop].decode("utf-8", "replace")
                    first = blobs.get(sha)
                    if first is None:
                        blobs[sha] = (path, commit)
                    elif first[0] != path:
                        more.setdefault(sha, {}).setdefault(path, commit)
            pos = stop + 1
        else:  # the newline between a message and its raw lines
            pos += 1
    return walk


REACHED = ("--all", "--reflog")
"""Where the walk starts: every ref, and every commit a reflog still holds. A commit amended,
reset or rebased away (the usual way to "remove" a committed secret) is out of every branch
but still in the repository, its reflog and its clones' object stores' reach: it is read too."""


def walk_history(repo: Path, since: Sequence[str] = (), also: Sequence[str] = (), *, reached: bool = True,
                 walk: Walk | None = None) -> Walk:
    """Commits reachable from any ref or reflog (not with `reached`: False) or from the commits
    `also`, minus those reachable from `since`, oldest first (added to `walk`, if given)."""
    args = ["log", *(REACHED if reached else ()), "--reverse", "--topo-order", "--raw", "--no-renames",
            "--no-abbrev", "--diff-merges=first-parent", "-z", "--format=%x01%H%x00%B"]
    stdin = None
    if since or also:
        args.append("--stdin")
        stdin = "".join([*(f"^{sha}\n" for sha in since), *(f"{sha}\n" for sha in also)]).encode()
    return parse_log(_git(repo, *args, stdin=stdin), walk)


def _unreachable(repo: Path, old: Sequence[str], dangling: Iterable[str] = ()) -> bool:
    """Whether some commit reachable from the old tips is no longer reachable from any ref or
    reflog, nor from the commits `dangling` (those no ref or reflog reaches: `objects`)."""
    if not old:
        return False
    try:
        out = _git(repo, "rev-list", "--not", *REACHED, "--not", "--stdin",
                   stdin="".join([*(f"{s}\n" for s in old), *(f"^{s}\n" for s in dangling)]).encode())
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
    proc = subprocess.Popen([*GIT, "-C", str(repo), "cat-file", "--batch"],
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
    from auditor import _limits as limits
    from auditor._redact import key_id
    from auditor._secrets import encoded

    parts = [str(CACHE_VERSION), __version__, key_id(), str(scanner.max_file_bytes), str(scanner.max_findings),
             str(scanner.sops_check), str(scanner.inline),
             repr((encoded.BACK, encoded.REACH, encoded.TAIL, encoded.DEPTH, encoded.VALUE_KEYS)),  # how far, where base64 is decoded
             repr((limits.get("gunzip-bytes"), limits.get("archive-depth"))),  # how much packed content is read
             str(shutil.which("bsdtar") is not None)]  # whether 7z and RAR archives can be read
    for det in scanner.detectors:
        parts.extend([det.id, det.category, det.source, det.anchor.decode("latin-1"),
                      str(det.priority), getattr(det.confirm, "__qualname__", ""),
                      repr(det.starts), repr(det.words)])
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]


def cache_file(repo: Path, scanner: Scanner, skipped: Iterable[str] = (), prefix: str = "",
               within: str = "") -> Path | None:
    """The history cache of `repo` for this ruleset and these path patterns never read (--exclude,
    path-only allowlist entries): what a run skipped is in no cache, so a run that skips less
    must not take another's for its own (it would never read what that one skipped). With a
    `prefix` put before its paths, or read `within` a folder (scan_history), the repository has
    a cache of its own for each."""
    folder = cache_folder(repo)
    if folder is None:
        return None
    patterns = sorted(set(skipped))
    named = [*patterns, f"\0prefix\0{prefix}\0within\0{within}"] if prefix or within else patterns
    tail = "-" + hashlib.sha256("\0".join(named).encode()).hexdigest()[:12] if named else ""
    return folder / f"{ruleset_key(scanner)}{tail}.json"


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
    """Of those, the blobs read as source code (`is_code` of their path); the others as text."""
    found: dict[str, list[Row]] = field(default_factory=dict)
    """Object id -> its findings (before suppressions), each at the path it was read at."""
    both: set[str] = field(default_factory=set)
    """Of the blobs, those added at paths of both kinds, read both ways (else as `code` says)."""
    places: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """Blob with findings added at several places -> every (path, commit) it was added at and is
    read at, the oldest first: where else its findings are (what an allowlist or baseline
    accepts at one place it does not accept at another). A blob added at one place is where
    its findings say."""

    store: str = ""
    """The object stores' digest (gitrepo.object_store) when `dangling` and `lost` were listed."""
    dangling: set[str] = field(default_factory=set)
    """Commits no ref nor reflog reaches, walked from themselves (they are among `tips`)."""
    lost: set[str] = field(default_factory=set)
    """Blobs no commit adds (staged and unstaged, or left by a dropped stash's index), read as
    `LOST_PATH`: not in `seen`, so that a commit adding one later reads it at its path."""
    skipped: set[str] = field(default_factory=set)
    """Blobs the walk listed but never read: every path excluded, or too large."""
    unread: dict[str, str] = field(default_factory=dict)
    """Blob -> what of it was not read and where (over max_file_bytes; gzip content past the
    gunzip-bytes limit): every run that takes this cache says so again, as the run that read it
    did (the files not scanned leave the secrets rules undecided)."""
    times: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Commit -> its committer and author times, for the commits of findings that several
    versions of a file hold (`_first_versions`): a commit's times never change, so git is asked
    once."""

    def has_read(self, sha: str, code: bool) -> bool:
        """Whether the blob `sha` was read as source code (`code`) or as text."""
        return sha in self.seen and (sha in self.both or (sha in self.code) == code)

    def read(self, sha: str, code: bool) -> None:
        """Remember that the blob `sha` was read as source code (`code`) or as text."""
        if sha in self.seen and (sha in self.code) != code:
            self.both.add(sha)
        elif code:
            self.code.add(sha)
        self.seen.add(sha)

    @classmethod
    def load(cls, path: Path | None) -> HistoryCache:
        """The cache file `path` (None: no cache), or an empty cache when it cannot be used."""
        body = None if path is None else read_sealed(path, _History, made_from=SEALS[_History],
                                                             max_bytes=MAX_CACHE_BYTES)
        if body is None or not all(is_object_id(tip.encode()) for tip in body.tips):  # given back to git
            return cls()
        return cls(tips=body.tips, bounds=body.bounds, found=body.found, places=body.places, store=body.store,
                   seen=_ids(body.seen), code=_ids(body.code), both=_ids(body.both), dangling=_ids(body.dangling),
                   lost=_ids(body.lost), skipped=_ids(body.skipped), unread=body.unread, times=body.times)

    def save(self, path: Path | None) -> None:
        if path is not None:
            body = _History(tips=self.tips, bounds=self.bounds, found=self.found, places=self.places, store=self.store,
                            seen=_text(self.seen), code=_text(self.code), both=_text(self.both),
                            dangling=_text(self.dangling), lost=_text(self.lost), skipped=_text(self.skipped),
                            unread=self.unread, times=self.times)
            write_sealed(path, body, made_from=SEALS[_History])


def _ids(text: str) -> set[str]:
    """Object ids as a cache file holds them: one space-separated string (quick to read)."""
    return set(text.split())


def _text(ids: set[str]) -> str:
    return " ".join(sorted(ids))


def _to_cache(leaks: Iterable[Leak]) -> list[Row]:
    return [(x.rule, x.category, x.path, x.line, x.column, x.preview, x.fingerprint, x.confidence, dict(x.details),
             x.commit, x.key_file, x.log, x.occurrences, list(x.lines)) for x in leaks]


_FIELDS = tuple(f.name for f in dataclasses.fields(Leak))
_new_leak = object.__new__


def _from_cache(rows: Iterable[Row]) -> list[Leak]:
    """The cached findings as `Leak`s, made without the generated `__init__` (which sets each
    field of a frozen instance through `object.__setattr__`: most of a second run's time here);
    rows of the shape `Row` (read_sealed holds every row it reads to it)."""
    out = []
    for r in rows:
        leak = _new_leak(Leak)
        leak.__dict__.update(zip(_FIELDS, (*r[:9], "auditor", r[9], "", r[10], r[11], r[12], tuple(r[13]), ""), strict=True))
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
    history: HistoryCache
    """What the history scan read, and the cache's findings (every object read, also those this
    run did not report)..."""
    found: Mapping[str, list[Leak]]
    """...and findings by object id as this run reported them."""
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
        changed, or its blob was never read the way the file's name says to read it (as source
        code or not: the detectors read source code differently)."""
        blob = self.clean.get(relative)
        code = is_code(display)
        if blob is None or size >= WINDOW or not self.history.has_read(blob, code):
            return self._from_tree(path, display, size)
        rows = self.found.get(blob)
        if rows is None:
            rows = _from_cache(self.history.found.get(blob, ()))
        rows = [x for x in rows if is_code(x.path) == code]  # read the file's way (a blob read both ways has both)
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
    prefix: str = "",
    within: str = "",
    tally: Tally | None = None,
) -> HistoryScan:
    """Scan every blob, commit message and annotated tag in the history of `repo` once.

    A finding names the oldest commit that adds its blob at a path not excluded, and that path
    (of the reading that found it: see the module docstring). `seen` carries object ids across
    calls (library use: they are not read again, either way); `cache` keeps them, with their
    findings, across runs (see the module docstring).
    With `tree` (and the cache), the report says which working-tree files it knows (`known`).
    `prefix` goes before every path the history names, in findings and where `exclude` and the
    allowlist are matched: a repository met inside a folder scanned is shown at its place there.
    With `within` (a folder of the repository, `etc/nats/`: a folder scanned inside its working
    tree) only the blobs added under it are read, shown as `prefix` and the rest of their path;
    the commit messages, tags and blobs in no commit are the whole repository's, read when it is
    scanned itself. `tally` counts the objects read and their bytes as the scan goes.
    """
    scanner = scanner or Scanner()
    suppress = suppress or Suppressions()
    report = HistoryScan()
    stats = report.stats

    def skip_path(path: str) -> bool:
        return any(fnmatch.fnmatchcase(path, pat) for pat in exclude) or suppress.path_excluded(path)

    use_cache = cache and seen is None and not scanner.legacy_fingerprints
    where = cache_file(repo, scanner, [*exclude, *suppress.skipped_paths()], prefix, within) if use_cache else None
    if where is None:
        _git(repo, "rev-parse", "--git-dir")  # a clear error for a folder that is not a repository
    clean: dict[str, str] = {}
    lister = threading.Thread(target=lambda: clean.update(clean_files(repo)), daemon=True)
    if tree:  # git lists the working tree's unchanged files meanwhile
        lister.start()
    state = HistoryCache(seen=seen) if seen is not None else HistoryCache.load(where)
    known = state.seen
    has_read = (lambda sha, code: sha in known) if seen is not None else state.has_read  # library use: not again
    tips, tags = refs(repo)
    bounds = boundary(repo) if where is not None else ""
    # every object is listed (git cat-file --batch-all-objects) unless no object was added or
    # pruned since the last run: commits and blobs nothing reaches are in the repository too
    store = object_store(repo) if where is not None else None
    listing = None if store is not None and store == state.store else objects(repo)
    dangling = set(state.dangling) if listing is None else state.dangling & listing["commit"]
    tips = sorted({*tips, *dangling})
    # the same shallow boundary and grafts as the tips were walked with (a history deepened
    # or grafted moves no ref): else everything is walked again, reading only unseen objects
    walked_alike = bounds is not None and bounds == state.bounds
    unchanged = walked_alike and bool(state.tips) and tips == state.tips  # nothing to walk: no commit is new
    incremental = walked_alike and (unchanged or (bool(state.tips) and not _unreachable(repo, state.tips, dangling)))
    if listing is None and not incremental:  # a ref or reflog deleted may leave commits nothing else reaches
        listing = objects(repo)
    walk = Walk() if unchanged else walk_history(repo, since=state.tips if incremental else (),
                                                 also=() if incremental else sorted(dangling))
    if listing is not None:  # commits no ref, reflog nor earlier walk reached: walked from themselves
        walked = {c for c, _ in walk.messages}
        orphans = sorted(c for c in listing["commit"] if c not in walked and c not in dangling
                         and not (incremental and c in known))
        if orphans:
            walk_history(repo, since=tips, also=orphans, reached=False, walk=walk)
            dangling.update(orphans)
            tips = sorted({*tips, *orphans})
    found: dict[str, list[Leak]] = {}
    fresh: set[str] = set()  # objects whose findings this run read
    gone: set[str] = set()  # blobs in no commit before, whose findings are no longer theirs
    if incremental:  # everything found before is still in the history
        for obj, rows in state.found.items():
            found[obj] = _from_cache(rows)
    skipped = set(state.skipped) if incremental else set()
    unread = dict(state.unread)  # blob -> what of it was not read (see HistoryCache.unread)

    todo: list[tuple[str, str, str, str]] = []  # (object id, kind, display path, commit)
    ways: dict[str, dict[bool, tuple[str, str]]] = {}  # blob -> read as code or not -> first place read so
    added = dict(state.places) if incremental else {}  # blob -> every place read (of those with several)
    for sha in walk.blobs:
        if sha in state.lost:  # a blob in no commit before, added by one since: read at its path
            state.lost.discard(sha)
            found.pop(sha, None)
            gone.add(sha)
        shown = ((prefix + path[len(within):], commit) for path, commit in walk.places(sha) if path.startswith(within))
        places = [place for place in shown if not skip_path(place[0])]
        if not places:
            skipped.add(sha)
            continue
        before = added.get(sha)
        if before is None and incremental and sha in state.found and sha not in gone:  # one place: its findings
            before = list(dict.fromkeys((row[2], row[9]) for row in state.found[sha]))
        if before is not None:  # a blob with findings added at new places since
            had = {path for path, _ in before}
            added[sha] = [*before, *(place for place in places if place[0] not in had)]
        elif len(places) > 1:
            added[sha] = places
        way = ways[sha] = {}
        for path, commit in places:
            way.setdefault(is_code(path), (path, commit))
        reused = True
        for code, (path, commit) in way.items():
            if not has_read(sha, code):
                todo.append((sha, "blob", path, commit))
                reused = False
            elif sha in state.found and not incremental:  # attribution as this walk sees it
                found.setdefault(sha, []).extend(dataclasses.replace(x, path=path, commit=commit)
                                                 for x in _from_cache(state.found[sha]) if is_code(x.path) == code)
        stats.blobs_reused += reused
    for commit, message in walk.messages if not within else ():
        if commit in known:
            if commit in state.found and not incremental:
                found[commit] = _from_cache(state.found[commit])
            continue
        stats.commits_scanned += 1
        known.add(commit)
        in_message = scanner.scan_blob(message, MESSAGE_PATH, commit=commit).leaks
        if in_message:
            found[commit] = list(in_message)
            fresh.add(commit)
    if incremental:  # a tag deleted since is no longer reported
        current = {sha for sha, _ in tags}
        for obj in [k for k, v in found.items() if v and v[0].path.startswith("(tag ") and k not in current]:
            del found[obj]
    for sha, name in tags if not within else ():
        if sha in known:
            if sha in state.found and not incremental:
                found[sha] = _from_cache(state.found[sha])
            continue
        todo.append((sha, "tag", f"(tag {name})", sha))
    if listing is not None and not within:  # blobs no commit adds: read once, forgotten when pruned
        placed = walk.blobs.keys()
        now = {b for b in listing["blob"] if b not in placed and not (incremental and (b in known or b in skipped))}
        for sha in state.lost - now:  # pruned
            found.pop(sha, None)
            gone.add(sha)
        for sha in sorted(now - state.lost):
            todo.append((sha, "lost", LOST_PATH, sha))
        state.lost &= now
    if not incremental:
        for sha in state.lost:
            if sha in state.found:
                found[sha] = _from_cache(state.found[sha])

    def on_object(i: int, size: int, stream: _Limited) -> None:
        sha, kind, path, commit = todo[i]
        if kind != "tag" and scanner.max_file_bytes and size > scanner.max_file_bytes:
            unread[sha] = FileResult(f"{commit[:12]}:{path}", size=size, skipped="too-large").unread
            stats.skip("too-large")
            if kind == "blob":
                skipped.add(sha)
            return
        head = stream.read(min(size, WINDOW))
        if tally is not None:
            tally.objects += 1
            tally.bytes += size
        if size <= WINDOW:
            result = scanner.scan_blob(head, path, commit=commit)
            leaks = result.leaks
            if result.unfinished:
                unread[sha] = FileResult(f"{commit[:12]}:{path}", unfinished=result.unfinished).unread
        else:
            result = scanner.scan_stream(stream, head, size, path, commit=commit)
            leaks = result.leaks
            if result.unfinished:
                unread[sha] = FileResult(f"{commit[:12]}:{path}", unfinished=result.unfinished).unread
        if kind == "tag":
            stats.tags_scanned += 1
            known.add(sha)
        elif kind == "lost":
            stats.blobs_scanned += 1
            state.lost.add(sha)
        else:
            stats.blobs_scanned += sha not in known  # a blob read both ways is one blob
            state.read(sha, is_code(path))
        if leaks:
            found.setdefault(sha, []).extend(leaks)
            fresh.add(sha)

    _read_objects(repo, [t[0] for t in todo], scanner, on_object)
    alive = set(walk.blobs) | state.lost  # a full walk: what history still holds
    unread = {sha: note for sha, note in unread.items() if sha not in gone and (incremental or sha in alive)}
    stats.not_scanned.extend(unread[sha] for sha in sorted(unread))
    changed = bool(todo) or stats.commits_scanned > 0 or tips != state.tips or not incremental or listing is not None
    if where is not None and changed:
        state.places = {k: added[k] for k in found if len(added.get(k, ())) > 1}
        state.store, state.dangling, state.skipped, state.unread = store or "", dangling, skipped, unread
        if incremental:
            state.found = {k: v for k, v in state.found.items() if k not in gone}
            state.found.update({k: _to_cache(found[k]) for k in fresh})
        else:  # history was rewritten: forget what is no longer in it, so what is known is found
            reached = {*ways, *(c for c, _ in walk.messages), *(t for t, _ in tags)}
            state.seen &= reached
            state.code = {sha for sha in state.seen & ways.keys() if True in ways[sha]}  # read as its places say
            state.both = {sha for sha in state.code if False in ways[sha]}
            state.found = {k: _to_cache(v) for k, v in found.items()}
        state.tips = tips
        state.bounds = "?" if bounds is None else bounds  # "?": told by no boundary, walked again next time
    if tree:
        lister.join()
        if where is not None:
            tree_file = where.with_name(where.stem + ".tree.json")
            report.known = KnownBlobs(clean, state, found, KnownBlobs.load_tree(tree_file), tree_file)
    # a blob in no commit that a working-tree file holds as git reports it (staged, unchanged since)
    # is that file: the scan of the working tree reports its findings there, once
    held = {sha for path, sha in clean.items() if not skip_path(prefix + path)} & state.lost
    reported: list[tuple[str, list[Leak]]] = []
    accepted: list[tuple[str, list[Leak]]] = []
    for obj, leaks in found.items():
        if obj in held:
            continue
        places = added.get(obj, [])
        if len(places) > 1:  # a blob added at several places: each finding at the first that does not accept it
            mine, dropped, elsewhere = _placed(leaks, places, suppress)
            report.also.extend(elsewhere)
        else:  # one place, read one way
            mine, dropped = suppress.split(leaks)
        if mine:
            reported.append((obj, mine))
        if dropped:
            accepted.append((obj, dropped))
    stats.suppressed += _folded_count(accepted)  # as many as would be reported were none accepted
    known_times = state.times
    for mine in _first_versions(repo, reported, state):
        report.extend(mine, f"{mine[0].commit[:12]}:{mine[0].path}")
    if where is not None and (changed or state.times != known_times):  # saved once the commits' times are known
        state.save(where)
    stats.not_scanned = list(dict.fromkeys(stats.not_scanned))  # a blob over the limit alone and in all: once
    return report


def _first_versions(repo: Path, shown: list[tuple[str, list[Leak]]], state: HistoryCache) -> list[list[Leak]]:
    """The findings of each object (`shown`: its id and its findings, each list one blob's,
    commit message's or tag's) but those an older version of the same file holds: a secret found
    alike (see `model.collapse`: but for its place in the file and how many times) at one path of
    the history is one finding, at the oldest commit whose version of the file holds it.
    Editing a file that still holds an old secret makes a new blob with the same finding; it is
    not a new one: its id (file, commit, fingerprint) stays the first version's, so a waiver or a
    baseline of it still holds and drift sees no new problem. A commit message, a tag and a blob
    in no commit (each a finding's own `commit`) are places of their own, never folded.
    Oldest: by committer time, then author time (a rebase gives many commits one committer
    time, and keeps their author times), then, among commits alike in both, by generation (an
    ancestor's is less than its descendants': `_levels`), then id: what the commits are, not
    what an earlier run read, so a first run and a later one that reads only new blobs agree.
    The commits' times are taken from `state.times` and kept there (those of this run's groups)."""
    keyed: list[tuple[list[Leak], list[tuple[object, ...] | None]]] = []
    commits: dict[tuple[object, ...], set[str]] = {}
    for obj, leaks in shown:
        keys: list[tuple[object, ...] | None] = []
        for leak in leaks:
            if leak.commit == obj:  # a message's, tag's or lost blob's finding (its commit is its own id)
                keys.append(None)
                continue
            key = alike_in_versions(leak)
            keys.append(key)
            found = commits.get(key)
            if found is None:
                commits[key] = {leak.commit}
            else:
                found.add(leak.commit)
        keyed.append((leaks, keys))
    several = {key: found for key, found in commits.items() if len(found) > 1}
    needed: set[str] = set().union(*several.values())
    known = state.times
    when = {c: known[c] for c in needed if c in known}
    if len(when) < len(needed):
        when.update(_commit_times(repo, needed - when.keys()))
    if when != known:
        state.times = when
    if not several:
        return [leaks for _, leaks in shown]
    first = _oldest(repo, several, when)
    out = []
    for leaks, keys in keyed:
        kept = [leak for leak, key in zip(leaks, keys, strict=True)
                if key is None or first.get(key, leak.commit) == leak.commit]
        if kept:
            out.append(kept)
    return out


def _folded_count(shown: Iterable[tuple[str, list[Leak]]]) -> int:
    """How many findings `shown` (as _first_versions takes them) are once the versions of a file
    that hold a secret alike are one: what a baseline or the allowlist accepts is counted as the
    findings it keeps from being reported, not once for each edit of the file that holds it."""
    alike: set[tuple[object, ...]] = set()
    own = 0
    for obj, leaks in shown:
        for leak in leaks:
            if leak.commit == obj:  # a message's, tag's or lost blob's: a place of its own
                own += 1
            else:
                alike.add(alike_in_versions(leak))
    return own + len(alike)


def _oldest(repo: Path, groups: Mapping[tuple[object, ...], set[str]],
            when: Mapping[str, tuple[int, int]]) -> dict[tuple[object, ...], str]:
    """The oldest commit of each group of commits (see `_first_versions`)."""
    def times(commit: str) -> tuple[int, int]:
        return when.get(commit, (0, 0))

    tied = {}
    for key, group in groups.items():
        earliest = min(map(times, group))
        tied[key] = [c for c in group if times(c) == earliest]
    alike = {c for commits in tied.values() if len(commits) > 1 for c in commits}
    levels = _levels(repo, alike) if alike else {}  # the same times: ancestors first
    return {key: min(commits, key=lambda c: (levels.get(c, 0), c)) for key, commits in tied.items()}


def _levels(repo: Path, commits: set[str]) -> dict[str, int]:
    """Each commit's generation: 1 for a commit without parents (or whose parents a shallow
    clone lacks), else one more than its parents' greatest: less than any descendant's. One
    `git rev-list --topo-order --reverse --parents` of what the commits reach."""
    out = _git(repo, "rev-list", "--topo-order", "--reverse", "--parents", "--ignore-missing", "--stdin",
               stdin="".join(f"{c}\n" for c in sorted(commits)).encode(), ok=(0, 128))
    level: dict[str, int] = {}
    for line in out.decode("ascii", "replace").splitlines():
        sha, *parents = line.split(" ")
        level[sha] = 1 + max((level.get(p, 0) for p in parents), default=0)
    return {c: level[c] for c in commits if c in level}


def _commit_times(repo: Path, commits: set[str]) -> dict[str, tuple[int, int]]:
    """Each commit's committer and author times (seconds since the epoch), from one `git log
    --no-walk`; a commit git cannot read has none (then it sorts first, by its id)."""
    out = _git(repo, "log", "--no-walk=unsorted", "--ignore-missing", "--stdin", "--format=%H %ct %at",
               stdin="".join(f"{c}\n" for c in sorted(commits)).encode(), ok=(0, 128))
    times: dict[str, tuple[int, int]] = {}
    for line in out.decode("ascii", "replace").splitlines():
        parts = line.split(" ")
        if len(parts) == 3 and all(p.lstrip("-").isdigit() for p in parts[1:]):
            times[parts[0]] = (int(parts[1]), int(parts[2]))
    return times


def _placed(leaks: list[Leak], where: Sequence[tuple[str, str]],
            suppress: Suppressions) -> tuple[list[Leak], list[Leak], list[Leak]]:
    """The findings of a blob added at the places `where` (the oldest first): each secret (a
    position and fingerprint) once, at the oldest place read the way that found it that no
    allowlist entry or baseline accepts (the same secret in another file is reported); those
    accepted at every place (each at its oldest); and the same findings at their other places
    (`also`)."""
    candidates: dict[tuple[int, int, str], list[tuple[int, Leak]]] = {}
    for leak in leaks:
        code = is_code(leak.path)
        at = candidates.setdefault((leak.line, leak.column, leak.fingerprint), [])
        count = len(at)
        for i, (path, commit) in enumerate(where):
            if is_code(path) == code:
                same = path == leak.path and commit == leak.commit
                at.append((i, leak if same else dataclasses.replace(leak, path=path, commit=commit, log=is_log(path))))
        if len(at) == count:  # no place read its way (never so): where it was found
            at.append((len(where), leak))
    mine: list[Leak] = []
    also: list[Leak] = []
    dropped: list[Leak] = []
    for at in candidates.values():
        at.sort(key=lambda item: item[0])
        shown = next((x for _, x in at if not suppress.accepts(x)), None)
        if shown is None:
            dropped.append(at[0][1])
        else:
            mine.append(shown)
        also.extend(x for _, x in at if x is not shown)
    return mine, dropped, also


__all__ = ["MESSAGE_PATH", "HistoryCache", "HistoryScan", "KnownBlobs", "Walk", "clean_files", "parse_log",
           "scan_history", "walk_history"]
