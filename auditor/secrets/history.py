"""Git history: every blob, commit message and annotated tag, each scanned once, ever.

One `git log --all --reverse --topo-order --raw` pass lists each commit's message and the
blobs it adds or changes, oldest first, so a blob's introducing commit is the first one that
lists it; `git cat-file --batch` then streams the blobs that were never scanned, in one
process. Annotated tags are read from `git for-each-ref` and scanned with their messages.

What was scanned is remembered per repository and ruleset under the user's cache folder
(`<cache>/secrets-git/`): the ref tips walked, the ids of the blobs, commits and tags read,
and their (redacted) findings. A later run walks only the commits added since (`--not` the
old tips) and reads only new blobs, unless history was rewritten (an old tip is no longer
reachable), when it walks everything again but still reads only blobs it has not seen.
The cache holds no secret: findings are stored as reported (previews and fingerprints).
Deleting it changes only speed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import hashlib
import json
import os
import subprocess
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from auditor.errors import ConfigError
from auditor.secrets.model import FileResult, Leak
from auditor.secrets.run import ScanReport
from auditor.secrets.scanner import WINDOW, Scanner
from auditor.secrets.suppress import Suppressions
from pki.errors import PKIError
from pki.fsutil import make_folder

CACHE_VERSION = 1
"""Bumped whenever what the scanner finds in the same bytes may change without a ruleset change."""
MESSAGE_PATH = "(commit message)"
_ZERO = frozenset({"0" * 40, "0" * 64})
_NOT_BLOBS = frozenset({"160000"})  # submodule commits


def _git(repo: Path, *args: str, stdin: bytes | None = None, timeout: float = 3600) -> bytes:
    try:
        proc = subprocess.run(["git", "-C", str(repo), *args], input=stdin, capture_output=True,
                              timeout=timeout, check=False)
    except FileNotFoundError:
        raise ConfigError("git is not installed; it is needed to read git history") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"git {args[0]} took longer than {timeout:.0f}s", file=repo) from None
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ConfigError(f"git {args[0]} failed: {msg[-1] if msg else proc.returncode}", file=repo)
    return proc.stdout


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


def refs(repo: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """The objects every ref (and HEAD) points at, what `--all` starts from; and (tag object id,
    tag name) of every annotated tag. One `git for-each-ref` (and a `rev-parse` for HEAD)."""
    out = _git(repo, "for-each-ref", "--format=%(objecttype) %(objectname) %(refname)")
    tips, tags = set(), []
    for line in out.decode("utf-8", "replace").splitlines():
        kind, _, rest = line.partition(" ")
        sha, _, name = rest.partition(" ")
        tips.add(sha)
        if kind == "tag" and name.startswith("refs/tags/"):
            tags.append((sha, name.removeprefix("refs/tags/")))
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "-q", "HEAD"], capture_output=True,
                          timeout=60, check=False).stdout.decode("ascii", "replace").split()
    return sorted(tips | set(head)), tags


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
    from auditor.redact import key_id

    parts = [str(CACHE_VERSION), __version__, key_id(), str(scanner.max_file_bytes), str(scanner.sops_check)]
    for det in scanner.detectors:
        parts.extend([det.id, det.category, det.regex.pattern.decode("latin-1"), det.anchor.decode("latin-1"),
                      str(det.priority), getattr(det.confirm, "__qualname__", "")])
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]


def cache_file(repo: Path, scanner: Scanner) -> Path | None:
    from auditor.cache import cache_root

    try:
        common = _git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir").decode().strip()
        where = hashlib.sha256(os.path.realpath(common).encode()).hexdigest()[:20]
        return cache_root() / "secrets-git" / where / f"{ruleset_key(scanner)}.json"
    except (ConfigError, RuntimeError, OSError):
        return None


@dataclass
class HistoryCache:
    tips: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    """Blob, commit and tag ids already scanned."""
    found: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Object id -> its findings (before suppressions), as `Leak` fields."""

    @classmethod
    def load(cls, path: Path | None) -> HistoryCache:
        if path is None:
            return cls()
        try:
            data = json.loads(path.read_bytes())
            return cls(list(data["tips"]), set(data["seen"]), dict(data["found"]))
        except (OSError, ValueError, KeyError, TypeError):
            return cls()

    def save(self, path: Path | None) -> None:
        if path is None:
            return
        from auditor.fsutil import atomic_write

        doc = {"version": CACHE_VERSION, "tips": self.tips, "seen": sorted(self.seen), "found": self.found}
        with contextlib.suppress(OSError, ConfigError, PKIError):
            make_folder(path.parent, parents=True, exist_ok=True)
            atomic_write(path, json.dumps(doc, separators=(",", ":")).encode(), mode=0o600)


def _to_cache(leaks: Iterable[Leak]) -> list[dict[str, Any]]:
    return [{f.name: (dict(getattr(x, f.name)) if f.name == "details" else getattr(x, f.name))
             for f in dataclasses.fields(Leak) if f.name != "legacy"} for x in leaks]


def _from_cache(rows: Iterable[dict[str, Any]]) -> list[Leak]:
    out = []
    for row in rows:
        with contextlib.suppress(TypeError):  # a row of another shape: the cache key changes with the code
            out.append(Leak(**row))
    return out


# ------------------------------------------------------------------ the scan


def scan_history(
    repo: Path,
    *,
    scanner: Scanner | None = None,
    suppress: Suppressions | None = None,
    exclude: Sequence[str] = (),
    seen: set[str] | None = None,
    cache: bool = True,
) -> ScanReport:
    """Scan every blob, commit message and annotated tag in the history of `repo` once.

    A finding names its blob's introducing commit (the oldest that adds it) and the path it
    had there. `seen` carries object ids across calls (library use: they are not read
    again); `cache` keeps them, with their findings, across runs (see the module docstring).
    """
    scanner = scanner or Scanner()
    suppress = suppress or Suppressions()
    report = ScanReport()
    stats = report.stats
    use_cache = cache and seen is None and not scanner.legacy_fingerprints
    where = cache_file(repo, scanner) if use_cache else None
    if where is None:
        _git(repo, "rev-parse", "--git-dir")  # a clear error for a folder that is not a repository
    state = HistoryCache.load(where)
    tips, tags = refs(repo)
    known = seen if seen is not None else state.seen
    unchanged = bool(state.tips) and tips == state.tips  # nothing to walk: no commit is new
    incremental = unchanged or (bool(state.tips) and not _unreachable(repo, state.tips))
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
        if leaks:
            found[sha] = list(leaks)

    _read_objects(repo, [t[0] for t in todo], scanner, on_object)
    changed = bool(todo) or stats.commits_scanned > 0 or tips != state.tips or not incremental
    if where is not None and changed:
        if incremental:
            state.found.update({k: _to_cache(v) for k, v in found.items() if k not in state.found})
        else:
            state.found = {k: _to_cache(v) for k, v in found.items()}
        state.tips = tips
        state.save(where)
    for leaks in found.values():
        kept = [x for x in leaks if not skip_path(x.path)] if incremental else leaks
        mine, dropped = suppress.split(kept)
        report.leaks.extend(mine)
        stats.suppressed += dropped
    return report


__all__ = ["MESSAGE_PATH", "HistoryCache", "Walk", "parse_log", "scan_history", "walk_history"]
