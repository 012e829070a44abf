"""What a leakage scan reports. Nothing here holds a secret: only a redacted preview and a fingerprint."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from auditor._redact import fingerprint as _fingerprint
from auditor._redact import legacy_fingerprint, redact


def secret_fingerprint(rule: str, secret: bytes, fingerprint_of: Callable[[bytes], str] = _fingerprint) -> str:
    """Stable for the same secret under the same rule, wherever it is found (survives line moves);
    an HMAC under the installation's key (`auditor._redact`), so it cannot be reversed
    (`fingerprint_of`: a `fingerprinter()` made for many secrets)."""
    return fingerprint_of(rule.encode() + b":" + secret)


def legacy_secret_fingerprint(rule: str, secret: bytes) -> str:
    """The fingerprint written before HMAC, to match old baselines and allowlists in memory."""
    return legacy_fingerprint(rule.encode() + b":" + secret)


_SCALARS = (str, int, float, bool)
"""What a finding's details may show (other values stay in memory only)."""
KEY_MATERIAL = frozenset({"nkey-seed", "nats-creds", "private-key", "age-identity"})
"""Categories of secrets that belong in key files: a private key file is where they are kept."""


@dataclass(frozen=True)
class Leak:
    """One finding: a secret, where it was found, never the secret itself (a preview and a fingerprint)."""

    rule: str
    """The detector that found it (nkey-seed, private-key, password, ...), or a custom rule id."""
    category: str
    path: str
    line: int
    column: int
    preview: str
    """`auditor._redact.redact` of the secret: a short prefix and a hash."""
    fingerprint: str
    confidence: str = "high"
    details: Mapping[str, Any] = field(default_factory=dict)
    engine: str = "auditor"
    commit: str = ""
    """For findings in git history: the first commit found to hold the blob (an annotated tag's own id for its
    message; a blob's own id for a blob no commit holds, at `history.LOST_PATH`)."""
    file_mode: str = ""
    key_file: bool = False
    """The file holds nothing but key material (and comments): a dedicated key or .creds file."""
    log: bool = False
    """The file is a log or a shell history."""
    occurrences: int = 1
    """How many times the file (or blob) holds this secret, found alike (`collapsed`)."""
    lines: tuple[int, ...] = ()
    """The lines of its first LINES_SHOWN occurrences, ascending; empty for one occurrence (at `line`)."""
    legacy: str = field(default="", repr=False, compare=False)
    """The old-form fingerprint, computed only to match old baselines; never printed or stored."""

    @property
    def private(self) -> bool:
        """The file is readable by its owner only (no group or other bits)."""
        return bool(self.file_mode) and int(self.file_mode, 8) & 0o077 == 0

    @property
    def encrypted(self) -> bool:
        """A private key that is encrypted (with a passphrase)."""
        return bool(self.details.get("encrypted", False))

    @property
    def protected(self) -> bool:
        """Key material kept as it should be: not in a log or shell history, and either an
        encrypted private key or alone in a dedicated key file only its owner can read.

        The one judgement of key files: `auditor secrets scan` does not count a protected key as
        a leak (it lists it, and exits 0 for it), and the secrets rules (SEC-001 to SEC-004)
        pass it, through the evidence field of the same name. Tokens, passwords and other
        secrets are never protected by where they lie."""
        if self.category not in KEY_MATERIAL or self.log:
            return False
        return (self.category == "private-key" and self.encrypted) or (self.key_file and self.private)

    @property
    def first_lines(self) -> tuple[int, ...]:
        """The lines of its first LINES_SHOWN occurrences (`lines`, or `line` for the one)."""
        return self.lines or (self.line,)

    @property
    def location(self) -> str:
        """path:line:column (the line and column in the member of an archive, named after a `!`:
        `conf.zip!etc/agent.env:2:14`), after the commit's id in git history."""
        member = self.details.get("member")
        where = f"{self.path}{f'!{member}' if member else ''}:{self.line}:{self.column}"
        return f"{self.commit[:12]}:{where}" if self.commit else where

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "category": self.category,
            "file": self.path,
            "line": self.line,
            "column": self.column,
            "location": self.location,
            "preview": self.preview,
            "fingerprint": self.fingerprint,
            "confidence": self.confidence,
            "engine": self.engine,
            "commit": self.commit,
            "file_mode": self.file_mode,
            "private": self.private,
            "key_file": self.key_file,
            "log": self.log,
            "encrypted": self.encrypted,
            "protected": self.protected,
            "occurrences": self.occurrences,
            "lines": list(self.first_lines),
            "details": {k: v for k, v in self.details.items() if isinstance(v, _SCALARS)} if self.details else {},
        }

    @classmethod
    def from_secret(cls, rule: str, category: str, path: str, line: int, column: int, secret: bytes,
                    *, legacy: bool = False, fingerprint_of: Callable[[bytes], str] | None = None, **kw: Any) -> Leak:
        """The leak of `secret` (`fingerprint_of`: a `fingerprinter()` made for many secrets)."""
        old = legacy_secret_fingerprint(rule, secret) if legacy else ""
        made = fingerprint_of or _fingerprint
        return cls(rule, category, path, line, column, redact(secret, fingerprint_of=made),
                   secret_fingerprint(rule, secret, made), legacy=old, **kw)


LINES_SHOWN = 10
"""The lines a collapsed finding lists (`Leak.lines`); `occurrences` counts every one."""


def collapsed(leaks: Iterable[Leak]) -> list[Leak]:
    """`leaks` with each secret found alike once (see `collapse`)."""
    return collapse(leaks)[0]


def collapse(leaks: Iterable[Leak], keep: int | None = None) -> tuple[list[Leak], bool]:
    """`leaks` (of one file or blob) with each secret found alike once: occurrences that differ
    only in their place (the same rule, fingerprint, confidence, details, commit and file) are
    one finding, at the first of them, with how many there are and their first LINES_SHOWN lines.
    A log repeating one password 400,000 times is one problem, not 400,000 findings (Kingfisher
    reports it once too), and costs a scan one finding's memory. Occurrences found otherwise
    (another confidence, key name or encoding) stay findings of their own, so no judgement a
    rule makes of one is lost. Collapsing collapsed findings again keeps their counts.

    With `keep`, at most that many findings are kept: the secrets found first (the rest are
    read, and dropped); and whether any was dropped."""
    kept: dict[object, tuple[Leak, int, set[int]]] = {}  # the first found, how many, their first lines
    twice = over = False
    for leak in leaks:
        key: object = (*_alike(leak), tuple(leak.details.items()))
        try:
            known = kept.get(key)
        except TypeError:  # a detail that is not hashable: left as it is
            key, known = object(), None
        lines = leak.first_lines
        if known is None:
            if keep is not None and len(kept) >= keep:
                over = True
                continue
            kept[key] = (leak, leak.occurrences, set(lines))
            continue
        twice = True
        first, count, seen = known
        seen.update(lines)
        if len(seen) > 2 * LINES_SHOWN:  # only the first LINES_SHOWN are shown: memory stays bounded
            seen.difference_update(sorted(seen)[LINES_SHOWN:])
        if (leak.line, leak.column) < (first.line, first.column):
            first = leak
        kept[key] = (first, count + leak.occurrences, seen)
    if not twice:
        return [leak for leak, _, _ in kept.values()], over
    return [leak if count == leak.occurrences else
            replace(leak, occurrences=count, lines=tuple(sorted(seen)[:LINES_SHOWN]))
            for leak, count, seen in kept.values()], over


_ALIKE = ("rule", "category", "path", "preview", "fingerprint", "confidence", "engine", "commit", "file_mode",
          "key_file", "log")
"""What `collapse` compares of two occurrences, but their details."""
_alike: Callable[[Leak], tuple[object, ...]] = operator.attrgetter(*_ALIKE)
_alike_in_any_version: Callable[[Leak], tuple[object, ...]] = operator.attrgetter(*(f for f in _ALIKE if f != "commit"))


def alike_in_versions(leak: Leak) -> tuple[object, ...]:
    """What two findings in versions of one file (git history: blobs of one path) share when they
    are the same secret found alike: what `collapse` compares but the commit, and the details."""
    try:
        details: object = tuple(leak.details.items())
        hash(details)
    except TypeError:  # a detail that is not hashable
        details = repr(sorted(leak.details.items()))
    return (*_alike_in_any_version(leak), details)


def held_inside(outer: Iterable[Leak], inner: list[Leak]) -> list[Leak]:
    """`outer` (found in a container's own bytes) and `inner` (in what it packs) together, each
    hit of `outer` that a hit of `inner` repeats left out: the same secret found alike, the
    inner one in a member inside the outer's (`member` detail), every other detail the same. A
    member an archive keeps as it is (a 7z member stored, or in LZMA2's uncompressed chunks; a
    deflate block left uncompressed) is read in the archive's bytes and again as the member:
    one finding, at the member."""
    if not inner:
        return list(outer)
    within: dict[tuple[object, ...], list[tuple[str, dict[str, Any]]]] = {}
    for leak in inner:
        rest = dict(leak.details)
        member = rest.pop("member", "")
        if isinstance(member, str) and member:
            within.setdefault(_alike(leak), []).append((member, rest))

    def repeated(leak: Leak) -> bool:
        rest = dict(leak.details)
        member = rest.pop("member", "")
        return any(rest == other and isinstance(member, str) and (not member or deeper.startswith(member + "!"))
                   for deeper, other in within.get(_alike(leak), ()))
    return [*[x for x in outer if not repeated(x)], *inner]


SPECIAL = frozenset({"fifo", "socket", "device", "special"})
"""What is not a file with content: never opened, listed."""


@dataclass(frozen=True)
class FileResult:
    """What scanning one file (or blob) gave: its findings, or why it was skipped or not read."""

    path: str
    leaks: tuple[Leak, ...] = ()
    size: int = 0
    skipped: str = ""
    """Why the file was not scanned: symlink, fifo, socket, device (never opened), too-large (over the
    configured limit), allowlisted; empty if scanned."""
    error: str = ""
    suppressed: int = 0
    known: bool = False
    """Scanned without reading it: its findings were known (a working-tree file git reports
    unchanged, whose blob the history scan had read)."""
    unfinished: str = ""
    """Scanned, but not all of it: what was left unread (a gzip file's content past the
    gunzip-bytes limit). Counted with the files not scanned."""

    @property
    def unread(self) -> str:
        """What of the file was not read, as the files not scanned list it; empty if it was read
        whole (or was never meant to be: a FIFO, an excluded path)."""
        if self.skipped == "too-large":
            return f"{self.path}: {self.size} bytes, over the configured max_file_bytes"
        return f"{self.path}: {self.unfinished}" if self.unfinished and not self.skipped else ""


@dataclass
class ScanStats:
    """A scan's figures: files and bytes read, git objects, what was skipped, accepted or unreadable."""

    files_scanned: int = 0
    bytes_scanned: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)
    suppressed: int = 0
    blobs_scanned: int = 0
    blobs_reused: int = 0
    not_scanned: list[str] = field(default_factory=list)
    """Files with content that were not scanned (over the configured size limit), or not whole
    (a gzip file's content past the gunzip-bytes limit)."""
    special: list[str] = field(default_factory=list)
    """FIFOs, sockets and devices: listed, never opened."""
    commits_scanned: int = 0
    tags_scanned: int = 0
    files_known: int = 0
    """Of the files scanned, those whose findings were known without reading them."""

    def add(self, result: FileResult) -> None:
        if result.error:
            self.unreadable.append(f"{result.path}: {result.error}")
        elif result.skipped:
            self.skip(result.skipped)
            if result.skipped in SPECIAL:
                self.special.append(f"{result.path} ({result.skipped})")
        else:
            self.files_scanned += 1
            self.bytes_scanned += result.size
            self.files_known += result.known
        if result.unread and not result.error:
            self.not_scanned.append(result.unread)
        self.suppressed += result.suppressed

    def skip(self, why: str) -> None:
        """Count one file skipped for `why` (symlink, too-large, allowlisted, ...)."""
        self.skipped[why] = self.skipped.get(why, 0) + 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "files_scanned": self.files_scanned,
            "bytes_scanned": self.bytes_scanned,
            "skipped": dict(sorted(self.skipped.items())),
            "unreadable": sorted(self.unreadable),
            "suppressed": self.suppressed,
            "blobs_scanned": self.blobs_scanned,
            "blobs_reused": self.blobs_reused,
            "files_known": self.files_known,
            "not_scanned": sorted(self.not_scanned),
            "special": sorted(self.special),
        }

    def merge(self, other: ScanStats) -> None:
        """Add another scan's figures (git history into the working tree's)."""
        self.files_scanned += other.files_scanned
        self.bytes_scanned += other.bytes_scanned
        for why, n in other.skipped.items():
            self.skipped[why] = self.skipped.get(why, 0) + n
        self.unreadable.extend(other.unreadable)
        self.suppressed += other.suppressed
        self.blobs_scanned += other.blobs_scanned
        self.blobs_reused += other.blobs_reused
        self.not_scanned.extend(other.not_scanned)
        self.special.extend(other.special)
        self.commits_scanned += other.commits_scanned
        self.tags_scanned += other.tags_scanned
        self.files_known += other.files_known


class Tally:
    """What a scan has read so far, for its progress line (`auditor._progress.Waiting`, drawn by
    another thread, which only reads it): files, git objects and their bytes. Counts only grow;
    files scanned in worker processes are counted as their batch comes back."""

    __slots__ = ("bytes", "files", "objects")

    def __init__(self) -> None:
        self.files = self.objects = self.bytes = 0

    def count(self, results: Iterable[FileResult]) -> None:
        """Count the files of `results` that were read (not those skipped or unreadable)."""
        for result in results:
            if not result.skipped and not result.error:
                self.files += 1
                self.bytes += result.size

    def line(self) -> str:
        """`scanning for secrets: 1,204 files, 31 git objects, 52.4 MB read` (a count still 0 left out)."""
        counts = ", ".join(text for n, text in ((self.files, f"{self.files:,} files"),
                                                  (self.objects, f"{self.objects:,} git objects")) if n)
        return "scanning for secrets" + (f": {counts}, {self.bytes / 1e6:,.1f} MB read" if counts else "")
