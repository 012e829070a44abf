"""Our scanning engine: files and buffers in, confirmed leaks out.

One prefilter pass per buffer finds every detector's anchor; each detector then runs its
full expression only in a window around its own hits and confirms what it finds. Files are
read whole up to `WINDOW` bytes and streamed in overlapping windows beyond, so memory stays
bounded. Nothing a file says about itself makes it skipped: lock files, generated, minified
and binary files are scanned like any other (the prefilter is linear in bytes and the work
after it linear in hits). Only regular files are opened; a size limit comes only from the
scan configuration, and a file over it is reported as not scanned.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor._redact import fingerprinter
from auditor._secrets import encoded, snmp, structure
from auditor._secrets.detectors import (
    KEY_WALK,
    NOT_SECRET_ANCHOR,
    SOPS_ANCHOR,
    Detector,
    FileContext,
    Hit,
    assigned_value_is_secret,
    builtin_detectors,
    reading_of,
)
from auditor._secrets.model import LINES_SHOWN, FileResult, Leak, collapse, held_inside
from auditor._secrets.prefilter import Prefilter, make_prefilter
from auditor._secrets.suppress import Suppressions, inline_ignored
from auditor._secrets.unpack import (
    BLOCK,
    Budget,
    Fed,
    Once,
    TarWatch,
    kind_of,
    members,
)
from auditor._secrets.unpack import read_up_to as _read_from
from auditor._secrets.walk import special_kind
from pki.containers import TooSlow, looks_pkcs12

WINDOW = 8 * 1024 * 1024
"""Files up to this size are scanned in one buffer; larger ones in windows of this size."""
OVERLAP = 96 * 1024
"""A streamed window sees this much on either side of the part it owns: more than any detector
reads before or after an anchor (a test checks), so no window boundary hides a key or a secret."""
ALIGNMENT = 16 * 1024
"""The most blanks read between a key, its operator and its value (`password      = ...`): a
config file's column alignment, however wide, is one assignment still."""
KEY_FILE_MAX = 64 * 1024
SOPS_MAX = 4 * 1024 * 1024
"""The largest sops file whose values are checked for plaintext (parsed whole); a larger one is
reported as not scanned whole."""

CODE_SUFFIXES = frozenset(
    ".py .pyi .js .mjs .cjs .ts .tsx .jsx .go .rs .java .kt .kts .scala .c .h .cc .cpp .hpp .cs .rb "
    ".php .swift .m .lua .pl .pm .r .dart .ex .exs .erl .hs .ml .clj .groovy .vue .svelte .nix".split()
)
LOG_NAMES = re.compile(r"(\.log(\.\d+)?|_history|\.history|\.journal|\.out|\.err)(\.gz|\.xz|\.bz2|\.zst)?$", re.IGNORECASE)
SHELL_NAMES = re.compile(
    r"\.(sh|bash|zsh|ksh)$|^\.(bashrc|bash_profile|bash_login|bash_logout|profile|zshrc|zshenv|zprofile|zlogin|kshrc|mkshrc)$"
    r"|^\.?[a-z]*sh_history(\.\d+)?(\.gz|\.xz|\.bz2|\.zst)?$|^(Dockerfile|Containerfile)(\..+)?$|\.(dockerfile|containerfile)$",
    re.IGNORECASE)
_OPERATOR = frozenset(b"=:>?+.")
_TYPES = (b"string", b"String", b"str")
"""Type names that may stand between a key and its operator (`var token string = ...`)."""
_BLANK_QUOTE = frozenset(b" \t\"'\\")
_BLANK = frozenset(b" \t")
_QUOTES = frozenset(b"\"'`|>\\")
"""What may open a value in source code: a quote (escaped too: JSON inside a string), a block."""
_TRIVIAL_LINE = re.compile(rb"^\s*(#|//|;|\*|$)|^[^A-Za-z0-9]*$")
_CONTINUATION = bytes(range(0x80, 0xC0))
"""UTF-8 continuation bytes: a column counts the bytes that are not one of these."""
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


_START = operator.attrgetter("start")


def _chars(data: bytes) -> int:
    """Characters in UTF-8 bytes (invalid bytes count one each)."""
    return len(data.translate(None, _CONTINUATION))


def findings_limit() -> int:
    """The secret-findings limit in force."""
    from auditor import _limits as limits

    return limits.get("secret-findings")


def over_findings(unfinished: str = "") -> str:
    """`unfinished` (what else of a file was left unread), and that its findings past the
    secret-findings limit were not kept."""
    from auditor import _limits as limits

    note = limits.exceeded("secret-findings", "its findings were kept up to the limit")
    return unfinished if note in unfinished else f"{unfinished}; {note}" if unfinished else note


@dataclass
class Scanner:
    """Scans buffers and files with a set of detectors (the built-ins plus any custom rules)."""

    detectors: Sequence[Detector] = field(default_factory=builtin_detectors)
    prefer: str = "auto"
    sops_check: bool = True
    max_file_bytes: int = 0
    """Files larger than this are not scanned (reported as such); 0: no limit (the default)."""
    legacy_fingerprints: bool = False
    """Compute each finding's old-form fingerprint too, in memory, to match old baselines."""
    max_findings: int = field(default_factory=findings_limit)
    """The most findings one file (or blob) keeps: the secret-findings limit (`kept`)."""
    inline: bool = True
    """Whether ignore comments in the scanned text (`auditor:ignore`, trufflehog3's `nosecret`)
    drop the findings they mark. A node's audit sets it False: the files it audits are the
    audited party's, and what they say must not silence the audit."""
    _prefilter: Prefilter | None = field(default=None, init=False, repr=False)
    _anchored: list[int] = field(default_factory=list, init=False, repr=False)
    _encoded: dict[bytes, list[encoded.Form]] | None = field(default=None, init=False, repr=False)

    @property
    def prefilter(self) -> Prefilter:
        """One automaton over every anchor (detectors without one are run over whole buffers)."""
        if self._prefilter is None:
            self._anchored = [i for i, d in enumerate(self.detectors) if d.anchor]
            self._prefilter = make_prefilter(self.anchors(), self.prefer)
        return self._prefilter

    def anchors(self) -> list[bytes]:
        """What the prefilter looks for: each anchored detector's anchor, then the sops MAC line
        (its hits are ignored without sops_check), the keys about a secret, the keys whose value
        is a file encoded whole, and the detectors' starts and words as base64 spells them (see
        encoded.py)."""
        table = self.encoded_forms
        return [*(d.anchor for d in self.detectors if d.anchor), SOPS_ANCHOR, NOT_SECRET_ANCHOR, encoded.VALUE_KEYS,
                *([encoded.anchor(table)] if table else [])]

    @property
    def encoded_forms(self) -> dict[bytes, list[encoded.Form]]:
        """The detectors' starts and words as base64 spells them, by their last four characters."""
        if self._encoded is None:
            self._encoded = encoded.form_table([*(w for d in self.detectors for w in d.starts), *encoded.GZIP_STARTS],
                                                  [w for d in self.detectors for w in d.words])
        return self._encoded

    # ------------------------------------------------------------ buffers

    def hits(self, data: bytes, ctx: FileContext) -> tuple[list[Hit], bool]:
        """Confirmed hits in `data` (overlaps resolved), and whether a sops MAC line was seen."""
        found, sops_seen = self._found(data, ctx, 0)
        return _resolve_overlaps(found), sops_seen

    def _decoded(self, ctx: FileContext) -> encoded.Scan:
        """What scans decoded base64: read as the file it is in is read (in source code, an
        inline source map's sources are code too)."""
        def scan(data: bytes, depth: int) -> list[tuple[Hit, int]]:
            return self._found(data, ctx, depth)[0]
        return scan

    def _found(self, data: bytes, ctx: FileContext, depth: int) -> tuple[list[tuple[Hit, int]], bool]:
        """The confirmed hits in `data` with their priorities, overlaps not yet resolved, `depth`
        encodings deep; whether a sops MAC line was seen."""
        raw = self.prefilter.ends(data)
        unanchored = len(self._anchored) < len(self.detectors)
        if not raw and not unanchored:
            return [], False
        sops_index = len(self._anchored)
        sops_seen = raw.pop(sops_index, None) is not None and self.sops_check
        about = set(raw.pop(sops_index + 1, ()))  # ends of `password_file =`-like keys (see NOT_SECRET_ANCHOR)
        value_ends = raw.pop(sops_index + 2, None)  # ends of `.dockerconfigjson:`-like keys (encoded.VALUE_KEYS)
        form_ends = raw.pop(sops_index + 3, None)
        if form_ends and not depth:
            ctx.gzip_at.extend(end - len(magic) for end in form_ends for magic in encoded.GZIP_BASE64
                               if data.endswith(magic, 0, end))
        anchored = self._anchored
        by_detector = {anchored[ident]: ends for ident, ends in raw.items()}
        if unanchored:  # custom patterns Hyperscan cannot compile: one full search each
            for i, det in enumerate(self.detectors):
                if not det.anchor:
                    by_detector[i] = [m.start() for m in det.regex.finditer(data)]
        found: list[tuple[Hit, int]] = []
        size = len(data)
        taken = ctx.taken  # where secrets of a higher priority start (FileContext.taken)
        taken.clear()
        pending: set[int] = set()  # and those of the priority being confirmed
        level: int | None = None
        for ident, ends in sorted(by_detector.items(), key=lambda item: -self.detectors[item[0]].priority):
            det = self.detectors[ident]
            if det.priority != level:
                taken |= pending
                pending.clear()
                level = det.priority
            ends.sort()
            covered = -1
            seen: set[int] = set()
            walk = det.walk_back
            filtered = det.key_filter is not None
            for end in ends:
                if end <= covered or (filtered and end in about):
                    continue
                if walk:  # the match can only start where the key before the operator starts
                    value = end  # where the value starts, past the blanks after the operator
                    if value < size and data[value] in _BLANK:
                        value = _run_end(data, value, b" \t")
                    if ctx.code and value < size and data[value] not in _QUOTES:
                        continue  # in source code only a quoted literal is a value: skip the rest unread
                    key = end
                    while key > 0 and end - key < 4 and data[key - 1] in _OPERATOR:
                        key -= 1
                    if key > 0 and data[key - 1] in _BLANK_QUOTE:
                        key = _run_start(data, key, b" \t\"'\\")
                    for name in (_TYPES if key > 0 and data[key - 1] in b"gr" else ()):  # `token string =`
                        if data.endswith(name, 0, key) and key - len(name) > 0 \
                                and data[key - len(name) - 1] in b" \t:":
                            key = _run_start(data, key - len(name), b" \t:")
                            break
                    stop = key  # the key: the run of `walk` bytes before, at most KEY_WALK (one C pass, not a loop)
                    key = max(0, stop - KEY_WALK)
                    key += data[key:stop].translate(det.walk_table).rfind(b"\x01") + 1
                    if key in seen:
                        continue
                    seen.add(key)
                    if det.key_filter is not None and not det.key_filter(data[key:stop]):
                        continue  # `password_file`, `token_url`: not a secret's name
                    m = det.regex.match(data, key, min(size, value + det.after))
                    if m is None:
                        continue
                    covered = max(covered, m.end())
                    hit = det.confirm(det, m, ctx)
                    if hit is not None and hit.start not in taken:
                        found.append((hit, det.priority))
                        pending.add(hit.start)
                    continue
                # from where the last match ended: dense anchors (600k `eyJ...` in a row) would
                # otherwise search the same `before` bytes again for each, quadratic in effect
                lo, hi = max(0, end - det.before, covered), min(size, end + det.after)
                for m in det.regex.finditer(data, lo, hi):
                    if m.start() > end:  # belongs to a later anchor hit
                        break
                    if m.start() in seen:
                        continue
                    seen.add(m.start())
                    covered = max(covered, m.end())
                    hit = det.confirm(det, m, ctx)
                    if hit is not None and hit.start not in taken:
                        found.append((hit, det.priority))
                        pending.add(hit.start)
        if form_ends is not None and depth < encoded.DEPTH:
            found.extend(encoded.decoded_hits(data, form_ends, self.encoded_forms, self._decoded(ctx), depth))
        if value_ends is not None and depth < encoded.DEPTH:
            found.extend(encoded.value_hits(data, value_ends, self._decoded(ctx), depth))
        return found, sops_seen

    def scan_bytes(self, data: bytes, path: str = "<buffer>", *, code: bool | None = None) -> list[Hit]:
        ctx = FileContext(path, is_code(path) if code is None else code, is_shell(path), value_reading(path))
        return self.hits(data, ctx)[0]

    def recognise(self, value: str) -> str | None:
        """The rule of the first structural (non-assignment) hit in a value, for sops plaintext checks."""
        for hit in self.scan_bytes(value.encode(), "<value>", code=False):
            if hit.category not in ("password", "generic-secret", "url-credential", "jwt", "example"):
                return hit.rule
        return None

    # ------------------------------------------------------------ files

    def scan_file(self, path: Path | str, display: str, suppress: Suppressions | None = None,
                  st: os.stat_result | None = None, *, whole: Callable[[bytes], object] | None = None) -> FileResult:
        """Scan one file. Only a regular file is opened (a FIFO, socket or device never is).
        `whole` is given the bytes scanned when the file was read whole (under `WINDOW`)."""
        suppress = suppress or Suppressions()
        if suppress.path_excluded(display):
            return FileResult(display, skipped="allowlisted")
        try:
            st = st or os.lstat(path)
            kind = special_kind(st.st_mode)
            if kind:
                return FileResult(display, skipped=kind)
            if self.max_file_bytes and st.st_size > self.max_file_bytes:
                return FileResult(display, size=st.st_size, skipped="too-large")
            fd = os.open(path, _OPEN_FLAGS)
            try:
                now = os.fstat(fd)
                if not stat.S_ISREG(now.st_mode) or now.st_ino != st.st_ino:  # replaced since listed
                    return FileResult(display, skipped=special_kind(now.st_mode) or "changed")
                size = now.st_size
                want = min(size, WINDOW) if size else WINDOW
                head = os.read(fd, want + 1 if want < WINDOW else want)  # one read for most files
                if 0 < len(head) < want:
                    head += _read_from(lambda n: os.read(fd, n), want - len(head))
                mode = f"{stat.S_IMODE(now.st_mode):04o}"
                unfinished = ""
                notes: list[str] = []
                if len(head) < WINDOW:
                    leaks, unfinished = self._kept(*self._whole(head, display, mode, notes=notes), notes)
                    if whole is not None:
                        whole(head)
                else:
                    with os.fdopen(os.dup(fd), "rb", buffering=0) as fh:
                        watch = _tar_watch(head)
                        spelt: list[Spelt] = []

                        def unpack() -> tuple[list[Leak], str]:  # a large tar is read again only to unpack
                            found, unread = self._packed(head, _rewound(fh), display, mode, "") \
                                if watch is None or watch.packed else ([], "")
                            if not spelt:
                                return found, unread
                            more, left = self._spelt_gzip(_rewound(fh), spelt, display, mode)
                            return self._kept([*found, *more], _noted(unread, [left] if left else []))
                        leaks, unfinished = self._streamed(watch.reading(fh) if watch else fh, head, display, mode, "",
                                                           notes, unpack, spelt)
            finally:
                os.close(fd)
        except PermissionError:
            return FileResult(display, error="permission denied")
        except OSError as exc:
            if exc.errno == getattr(os, "ELOOP", -1):
                return FileResult(display, skipped="symlink")
            return FileResult(display, error=f"cannot read: {exc.strerror or exc}")
        kept, accepted = suppress.split(leaks)
        return FileResult(display, tuple(kept), max(size, len(head)), suppressed=len(accepted),
                          unfinished=unfinished)

    def scan_blob(self, data: bytes, display: str, commit: str = "") -> FileResult:
        """A git blob or commit message (whole in memory; callers bound its size)."""
        notes: list[str] = []
        if len(data) < WINDOW:  # as scan_file reads a file whole
            leaks, unfinished = self._whole(data, display, "", commit=commit, notes=notes)
        else:
            at: list[int] = []
            leaks = self._leaks_in(data, display, "", whole=len(data) == WINDOW, commit=commit, notes=notes, gzip_at=at)
            inner, unfinished = self._packed(data, None, display, "", commit, encoded=at)
            leaks = held_inside(leaks, inner)
        leaks, unfinished = self._kept(leaks, unfinished, notes)
        return FileResult(display, tuple(leaks), len(data), unfinished=unfinished)

    def scan_stream(self, stream: Any, head: bytes, size: int, display: str, commit: str = "") -> FileResult:
        """A git blob of `size` bytes over WINDOW, read from `stream` after its first WINDOW
        bytes (`head`): scanned in windows; a packed one (compressed, an archive) is kept in
        memory as it is read, up to the file-bytes limit, and unpacked (a larger one is noted as
        not scanned whole)."""
        from auditor import _limits as limits

        notes: list[str] = []
        packed = kind_of(head) is not None
        kept = [head] if packed and size <= limits.get("file-bytes") else None

        def unpack() -> tuple[list[Leak], str]:
            if kept is None:
                return [], limits.exceeded("file-bytes", "a packed blob held to be unpacked: its content was not read")
            return self._packed(b"".join(kept), None, display, "", commit)
        spelt: list[Spelt] = []
        leaks, unfinished = self._streamed(stream if kept is None else Fed(stream, kept.append), head, display, "", commit,
                                           notes, unpack if packed else None, spelt)
        if spelt:  # a blob is read once: its gzip in base64 is not unpacked, and the blob not judged as read whole
            unfinished = _noted(unfinished, [SPELT_IN_BLOB])
        return FileResult(display, tuple(leaks), size, unfinished=unfinished)

    def _spelt_gzip(self, reopen: Callable[[], Any], spelt: Sequence[Spelt], display: str,
                    mode: str) -> tuple[list[Leak], str]:
        """The leaks in the gzip spelt in base64 where a file streamed in windows holds it
        (`spelt`), each run read again from the start of its line, as far as it goes (64 KiB,
        then four times more while it reaches the end of what is read, up to WINDOW bytes: a
        longer run is noted, not unpacked), and unpacked as a whole file's is (_encoded_gzip),
        placed where the run starts; and what was left unread."""
        budget = Budget.new("base64-encoded gzip")
        found: list[Leak] = []
        long = 0
        fh = reopen()
        for run in spelt:
            if budget.over:
                break
            fh.seek(run.line_start)
            at, data, size = run.start - run.line_start, b"", 1 << 16
            while True:
                data += _read_from(fh.read, size - len(data))
                if len(data) < size or size >= WINDOW or not encoded.reaches_end(data, at):
                    break
                size = min(4 * size, WINDOW)
            if len(data) == WINDOW and encoded.reaches_end(data, at):
                long += 1  # its end is past what is read again: not unpacked
                continue
            found += [dataclasses.replace(x, line=run.line, column=run.column)
                      for x in self._encoded_gzip(data, [at], display, mode, "", budget, 0, "")]
        notes = budget.notes()
        if long:
            notes.append(f"{long:,} run(s) of gzip encoded in base64 longer than {WINDOW >> 20} MiB: not unpacked")
        kept, unfinished = self._kept(found)
        return kept, _noted(unfinished, notes)

    def _streamed(self, fh: Any, head: bytes, display: str, mode: str, commit: str, notes: list[str],
                  unpack: Callable[[], tuple[list[Leak], str]] | None,
                  spelt: list[Spelt] | None = None) -> tuple[list[Leak], str]:
        """A file or blob over WINDOW read in windows from `fh` after its first bytes (`head`),
        and, with `unpack` (called once the windows are read), what it packs and what of that
        was left unread (see _packed): its findings and what was not read. `spelt` is given
        where gzip spelt in base64 starts (see _stream), for `unpack`."""
        room = _Room(self.max_findings)
        leaks, unfinished = self._kept(self._stream(fh, head, display, mode, commit=commit, notes=notes, spelt=spelt,
                                                    room=room), notes=notes, room=room)
        inner, packed = unpack() if unpack is not None else ([], "")
        if not inner and not packed:
            return leaks, unfinished
        return self._kept(held_inside(leaks, inner), _noted(unfinished, [packed] if packed else []))

    def _kept(self, leaks: Iterable[Leak], unfinished: str = "", notes: Sequence[str] = (),
              room: _Room | None = None) -> tuple[list[Leak], str]:
        """The findings of one file or blob, each secret once (model.collapse), at most
        `max_findings` of them; and what was not read or checked: `notes` (filled as `leaks` are
        made, so read after them), `unfinished`, and the findings not kept if any were dropped
        (`room`: the room `leaks` were made in, whose secrets past it were never made)."""
        found, over = collapse(leaks, self.max_findings)
        over = over or (room is not None and room.over)
        unfinished = _noted(unfinished, notes)
        return found, over_findings(unfinished) if over else unfinished

    def _whole(self, data: bytes, display: str, mode: str, commit: str = "",
               notes: list[str] | None = None) -> tuple[list[Leak], str]:
        """The leaks in a buffer read whole and, for packed data (gzip, xz, bzip2, zip, tar),
        in what it packs too (see _packed: with what of it was left unread)."""
        at: list[int] = []
        leaks = self._leaks_in(data, display, mode, whole=True, commit=commit, notes=notes, gzip_at=at)
        inner, unfinished = self._packed(data, None, display, mode, commit, encoded=at)
        return held_inside(leaks, inner), unfinished

    def _packed(self, head: bytes, reopen: Callable[[], Any] | None, display: str, mode: str,
                commit: str, *, encoded: Sequence[int] = ()) -> tuple[list[Leak], str]:
        """The leaks in what a file or blob packs (`head` the data whole, or with `reopen` its
        first bytes, `reopen()` a reader of all of it from its start), and what of it was left
        unread (see Budget.notes); with `encoded` (where the prefilter saw gzip spelt in base64
        in the data, whole), gzip encoded in base64 too. No sops file is noted inside (sops reads
        none)."""
        kind = kind_of(head)
        if kind is None and not encoded:
            return [], ""
        budget = Budget.new(kind or "base64-encoded gzip")
        found = self._unpacked(head, reopen, display, mode, commit, budget, 0, "")
        if encoded:
            found += self._encoded_gzip(head, encoded, display, mode, commit, budget, 0, "")
        kept, unfinished = self._kept(found)
        return kept, _noted(unfinished, budget.notes())

    def _encoded_gzip(self, data: bytes, starts: Sequence[int], display: str, mode: str, commit: str, budget: Budget,
                      depth: int, where: str) -> list[Leak]:
        """The leaks in the gzip data `data` holds base64-encoded where the prefilter saw it
        (`starts`: a Helm release Secret, a ConfigMap's binaryData), each unpacked as one more
        level of packing (`depth` levels down already) and placed where its encoded run starts in
        `data` (lines and columns of the content would point nowhere in the file), `gzip+base64`
        their encoding."""
        found: list[Leak] = []
        for at, gzipped in encoded.gzip_in_base64(data, starts):
            if budget.over:
                break
            line = data.count(b"\n", 0, at) + 1
            column = _chars(data[data.rfind(b"\n", 0, at) + 1:at]) + 1
            found += [dataclasses.replace(x, line=line, column=column, lines=(),
                                          details={**x.details, "encoding": "gzip+base64"})
                      for x in self._unpacked(gzipped, None, display, mode, commit, budget, depth, where)]
        return found

    def _unpacked(self, head: bytes, reopen: Callable[[], Any] | None, display: str, mode: str, commit: str,
                  budget: Budget, depth: int, where: str) -> list[Leak]:
        """The leaks in what one level of packing holds (`head` whole, or its first bytes and
        `reopen`), each member read as a file's content is (whole under WINDOW, else streamed;
        lines counted in it; its name, after those of the levels around it and a `!`, in the
        leak's details as `member`) unless its bytes lay in the container as they are (read
        with it), and what each member packs in turn, `depth` levels down already."""
        kind = kind_of(head)
        if kind is None:
            return []
        if depth >= budget.depth:
            budget.deep = True
            return []
        found: list[Leak] = []
        for member in members(kind, head if reopen is None else None, reopen, budget):
            name = f"{where}!{member.name}" if where and member.name else where or member.name
            reader = member.reader(None)
            content = _read_from(reader.read, BLOCK)
            named = bool(named_form(member.name))  # what its name makes of it: read as a member, even if read already
            if member.seen and kind_of(content) is None and not named:
                continue  # read with its container: nothing packed in it
            content += _read_from(reader.read, WINDOW - len(content))
            whole = len(content) < WINDOW
            watch = _tar_watch(content) if not whole and not member.seen else None
            if not member.seen or (named and whole):
                at: list[int] = []
                spelt: list[Spelt] = []
                leaks = self._leaks_in(content, display, mode, whole=True, commit=commit, gzip_at=at,
                                       member=name) if whole \
                    else list(self._stream(watch.reading(reader) if watch else reader, content, display, mode,
                                           commit=commit, spelt=spelt))
                if spelt and not budget.unread:  # a member is read once: not unpacked, and the file not read whole
                    budget.unread = SPELT_IN_MEMBER
                own = [dataclasses.replace(x, details={**x.details, "member": name}) for x in leaks] if name else leaks
                if at:
                    own += self._encoded_gzip(content, at, display, mode, commit, budget, depth + 1, name)
            else:
                own = []
            if not budget.over and (watch is None or watch.packed):  # a large tar is read again only to unpack
                again = None if whole else Once(content, reader.read, budget) if member.seen \
                    else functools.partial(member.reader, reader.taken)
                own = held_inside(own, self._unpacked(content, again, display, mode, commit, budget, depth + 1, name))
            found += own
            if budget.over:
                break
        return found

    def _stream(self, fh: object, first: bytes, display: str, mode: str, commit: str = "",
                notes: list[str] | None = None, spelt: list[Spelt] | None = None,
                room: _Room | None = None) -> Iterator[Leak]:
        """Windows of WINDOW bytes. Each owns the hits whose secret starts in its middle part and
        sees OVERLAP bytes on either side of it: the key before a value (`password = ...`, up to
        a detector's `before`) and the rest of a long secret after it. So a hit is found in the
        one window that owns it, with the context a whole-file read gives it, wherever the
        window boundaries fall. With `spelt`, where gzip spelt in base64 starts in the part a
        window owns is added to it (its run may go on past the window: read again after). With
        `room`, only the leaks that `_kept` keeps of the stream are made (see _Room)."""
        read = fh.read  # type: ignore[attr-defined]
        buf, lines_before, owned_from = first, 0, 0
        offset = 0  # where the window starts in the file
        columns_before = 0  # characters of the line the window starts in, before its start
        while True:
            more = _read_from(read, WINDOW - 2 * OVERLAP)
            last = not more
            limit = len(buf) if last else len(buf) - OVERLAP
            at: list[int] | None = [] if spelt is not None else None
            yield from self._leaks_in(buf, display, mode, whole=False, line_base=lines_before,
                                      column_base=columns_before, owned=(owned_from, limit), commit=commit,
                                      notes=notes, gzip_at=at, room=room)
            if spelt is not None and at:
                for start in sorted({a for a in at if owned_from <= a < limit}):
                    line_start = buf.rfind(b"\n", 0, start) + 1
                    column = _chars(buf[line_start:start]) + (columns_before if line_start == 0 else 0) + 1
                    spelt.append(Spelt(offset + line_start, offset + start,
                                       lines_before + buf.count(b"\n", 0, start) + 1, column))
            if last:
                return
            keep = limit - OVERLAP  # the next window starts this far back: its context before
            lines = buf.count(b"\n", 0, keep)
            lines_before += lines
            columns_before = _chars(buf[buf.rfind(b"\n", 0, keep) + 1:keep]) + (0 if lines else columns_before)
            buf, owned_from, offset = buf[keep:] + more, OVERLAP, offset + keep

    def _leaks_in(self, data: bytes, display: str, mode: str, *, whole: bool, line_base: int = 0,
                  column_base: int = 0, owned: tuple[int, int] | None = None, commit: str = "",
                  notes: list[str] | None = None, gzip_at: list[int] | None = None, member: str = "",
                  room: _Room | None = None) -> list[Leak]:
        """Leaks with their line and column: linear in the size of `data` plus the number of hits.
        With `owned` (a window of a file streamed), only the hits whose secret starts there;
        `line_base` lines and, on the first line, `column_base` characters come before `data`.
        A whole buffer that opens with a UTF-16 byte-order mark (a file Windows PowerShell
        wrote, `Out-File`, `>`) is read as its bytes and as its text (see _utf16_text).
        A sops file whose values could not be checked for plaintext (too large, or not parsed) is
        noted in `notes`: the file was not scanned whole. `member`: the name of the archive member
        `data` is, where its name says what it is (a libpq password file). `room`: see _Room."""
        if whole and data[:2] in _UTF16_BOMS:
            text = _utf16_text(data)
            if text is not None:
                return [*self._leaks_in(data, display, mode, whole=False, commit=commit, notes=notes),
                        *self._leaks_in(text, display, mode, whole=True, commit=commit, notes=notes)]
        ctx = FileContext(display, is_code(display), is_shell(member or display), value_reading(member or display))
        hits, sops_seen = self.hits(data, ctx)
        if gzip_at is not None:
            gzip_at += ctx.gzip_at
        if whole and looks_pkcs12(data):
            hits += self._pkcs12_hits(data, notes)
        form = named_form(member or display) if whole else ""
        if form:
            hits = _resolve_overlaps([*((h, 0) for h in hits), *self._named_hits(form, data)])
        if owned is not None:
            hits = [h for h in hits if owned[0] <= h.start < owned[1]]
        if sops_seen:
            if whole and len(data) <= SOPS_MAX:
                sops, why = self._sops_hits(data, display)
                hits = _merge_sops(hits, sops)
            else:
                from auditor._limits import size_text

                why = f"holds a sops MAC and is over {size_text(SOPS_MAX)}: its values were not checked for plaintext"
            if why and notes is not None and not is_log(display) and why not in notes:
                notes.append(why)
        if not hits:
            return []
        in_log = is_log(display)
        key_file = whole and len(data) <= KEY_FILE_MAX and _only_key_material(data, hits)
        return self._each_leak(data, display, mode, hits, line_base, column_base, commit, in_log, key_file, room)

    def _each_leak(self, data: bytes, display: str, mode: str, hits: list[Hit], line_base: int, column_base: int,
                   commit: str, in_log: bool, key_file: bool, room: _Room | None = None) -> list[Leak]:
        """The leaks of the hits not ignored by a comment, each secret found alike once, as
        `model.collapsed` makes them (at its first occurrence, with how many there are and their
        first LINES_SHOWN lines), collapsed as the hits come: a repeat makes no leak of its own,
        only a count and maybe a line (a log repeating one token on 300,000 lines made 300,000
        leaks to collapse; its column is not counted, its line not copied unless it holds an
        ignore marker), and each secret's preview and fingerprint are computed once. With
        `room`, a secret past it makes no leak (see _Room)."""
        made: dict[tuple[str, bytes], Leak] = {}  # the first leak of each secret under each rule
        # what collapse compares of two leaks of this buffer (path, commit, mode and the rest are
        # the buffer's; preview and fingerprint are the secret's) -> the first leak, the count,
        # the first lines (the hits come in order of position: lines ascending)
        alike: dict[object, tuple[Leak, list[int], list[int]]] = {}
        fingerprint_of = fingerprinter()
        line, pos = line_base + 1, 0
        line_start = line_end = prev_start = -1
        column = counted = 0  # the column of the line's character at `counted` (counted on as leaks need it)
        this_line = previous = b""
        marked = False
        for hit in sorted(hits, key=_START):
            start = hit.start
            if start >= line_end >= 0 or line_start < 0:  # a new line: find its bounds once
                line += data.count(b"\n", pos, start)
                line_start = data.rfind(b"\n", 0, start) + 1
                found = data.find(b"\n", start)
                line_end = found if found >= 0 else len(data)
                prev_start = data.rfind(b"\n", 0, max(0, line_start - 1)) + 1 if line_start else 0
                counted, column = line_start, 1 + (0 if line_start else column_base)
                # once a line: 60,000 hits on one 3 MB line searched it for a marker 60,000 times;
                # `auditor:ignore` in the line or the one before (no marker spans their newline)
                marked = self.inline and (data.find(b"auditor:ignore", prev_start, line_end) >= 0
                                          or data.find(b"nosecret", line_start, line_end) >= 0)
                if marked:  # the line and the one before, copied once for its hits
                    this_line = data[line_start:line_end]
                    previous = data[prev_start:line_start - 1] if line_start else b""
            pos = start
            if marked and inline_ignored(_without(this_line, start - line_start, hit.end - line_start), previous,
                                         hit.rule):
                continue
            key: object = (hit.rule, hit.secret, hit.category, hit.confidence, tuple(hit.details.items()))
            try:
                group = alike.get(key)
            except TypeError:  # a detail that is not hashable: a finding of its own, as collapse leaves it
                key, group = object(), None
            if group is not None:
                count, lines = group[1], group[2]
                count[0] += 1
                if len(lines) < LINES_SHOWN and lines[-1] != line:
                    lines.append(line)
                continue
            if room is not None and not room.takes(key):
                continue
            column += _chars(data[counted:start])  # counted on from the last leak's place on the line
            counted = start
            details = dict(hit.details)
            known = made.get((hit.rule, hit.secret))
            if known is None:
                leak = made[(hit.rule, hit.secret)] = Leak.from_secret(
                    hit.rule, hit.category, display, line, column, hit.secret,
                    confidence=hit.confidence, details=details, commit=commit, file_mode=mode, key_file=key_file,
                    log=in_log, legacy=self.legacy_fingerprints, fingerprint_of=fingerprint_of,
                )
            else:  # the same secret found otherwise: its preview and fingerprints as made the first time
                leak = Leak(hit.rule, hit.category, display, line, column, known.preview, known.fingerprint,
                            confidence=hit.confidence, details=details, commit=commit, file_mode=mode,
                            key_file=key_file, log=in_log, legacy=known.legacy)
            alike[key] = (leak, [1], [line])
        return [leak if count[0] == 1 else dataclasses.replace(leak, occurrences=count[0], lines=tuple(lines))
                for leak, count, lines in alike.values()]

    def _named_hits(self, form: str, data: bytes) -> list[tuple[Hit, int]]:
        """The secrets a file holds by what its name makes of it (named_form), each with its
        rank against the patterns' hits: the passwords of a password file (_PASSWORD_FILES:
        libpq's, msmtp's, Net-SNMP's) above them (the name says which text is one), a Vault
        token file's token below them (a token a pattern knows keeps its own rule)."""
        reader = _PASSWORD_FILES.get(form)
        if reader is not None:
            return [(h, 5) for h in self._password_hits(reader(data))]
        return [(h, -1) for h in self._vault_file_hits(data)]

    def _vault_file_hits(self, data: bytes) -> list[Hit]:
        """The token of a Vault token file (`.vault-token`, see named_form): its whole text,
        blanks around it aside, as the CLI's token helper reads it back; one word of printable
        ASCII (a file holding more is no token the CLI could use). A legacy token (`s.`,
        `b.`: OpenBao issues `s.` tokens) under vault-token-legacy, any other (an `hvs.` token,
        an id given with `-id`) under vault-token unless it is a placeholder."""
        token = data.strip()
        if not 0 < len(token) <= _VAULT_TOKEN_MAX or not _TOKEN_WORD.fullmatch(token):
            return []
        start = data.find(token)
        legacy = _LEGACY_VAULT_TOKEN.fullmatch(token) is not None
        rule = "vault-token-legacy" if legacy else "vault-token"
        if not any(d.id == rule for d in self.detectors):
            return []
        if legacy:
            confidence = "high"
        else:
            ok, confidence = assigned_value_is_secret("token", token.decode("ascii"), password=False)
            if not ok:
                return []
        return [Hit(rule, "vault-token", start, start + len(token), token, confidence,
                    {"key": ".vault-token", **({"format": f"legacy ({token[:2].decode()})"} if legacy else {})})]

    def _password_hits(self, found: Iterable[tuple[int, int, bytes, str]]) -> list[Hit]:
        """The passwords a file holds by its name's format (`found`: each one's span, value and
        what it is, from the readers of _PASSWORD_FILES), each judged as an assigned password."""
        if not any(d.category == "password" for d in self.detectors):
            return []
        hits = []
        for start, end, value, key in found:
            ok, confidence = assigned_value_is_secret("password", value.decode("utf-8", "replace"), password=True)
            if ok:
                hits.append(Hit("password", "password", start, end, value, confidence, {"key": key}))
        return hits

    def _pkcs12_hits(self, data: bytes, notes: list[str] | None) -> list[Hit]:
        """The private key of a PKCS#12 file (.p12, .pfx: a binary file no pattern reads), as the
        private-key detector reports a PEM key: the whole file its span (a key file). One that
        asks for too much key derivation to be opened is noted in `notes` (not scanned whole)
        and, when a shrouded key bag shows, is an encrypted key."""
        if not any(d.id == "private-key" for d in self.detectors):
            return []
        try:
            found = structure.pkcs12_key(data)
        except TooSlow as exc:
            if notes is not None and str(exc) not in notes:
                notes.append(str(exc))
            found = structure.shrouded_pkcs12_key(data)
        if found is None:
            return []
        secret, facts = found
        return [Hit("private-key", "private-key", 0, len(data), secret, "high", facts)]

    def _sops_hits(self, data: bytes, display: str) -> tuple[list[Hit], str]:
        """The plaintext values of a file holding a sops MAC line; and, where it could not be
        parsed as a sops file (as sops refuses it: a duplicate key, a broken line), why its values
        were not checked (the file is then not scanned whole: no plaintext hides behind a flaw)."""
        from auditor._sops.document import parse
        from auditor._sops.inspect import plaintext_secrets
        from auditor.errors import ConfigError

        try:
            doc = parse(display, data.decode("utf-8", "replace"))
        except ConfigError as exc:
            where = f"line {exc.line}: " if exc.line is not None else ""
            return [], f"holds a sops MAC but could not be parsed ({where}{' '.join(exc.message.split())}): its values were not checked for plaintext"
        if not doc.is_sops:
            return [], ""
        hits = []
        for found in plaintext_secrets(doc, value_check=self.recognise):
            value = str(found.leaf.value).encode()
            start = _locate(data, found.leaf.line, value[:64])
            details = {"key": found.leaf.dotted[-64:], "reason": found.reason}
            hits.append(Hit("sops-plaintext", "sops-plaintext", start, start + len(value), value, "high", details))
        return hits, ""


def is_code(path: str) -> bool:
    """Source code, by the name's suffix: there only quoted literals count as assigned values."""
    return os.path.splitext(path)[1].lower() in CODE_SUFFIXES


def is_shell(path: str) -> bool:
    """Shell commands, by the name (an archive member's its own, after the last `!`): a
    script (`.sh`, `.bash`, `.zsh`, `.ksh`), a shell's start-up file (`.bashrc`, `.profile`), a
    shell's history (`.bash_history`, `.zsh_history`, rotated or compressed too), a Dockerfile."""
    return bool(SHELL_NAMES.search(_base_name(path)))


def value_reading(path: str) -> str:
    """How the file's format reads an unquoted value (FileContext.values), by the name (an
    archive member's its own): see detectors.reading_of."""
    return reading_of(_base_name(path))


def _base_name(path: str) -> str:
    """A file's own name in a display path, or an archive member's (after the last `!`)."""
    return path.rsplit("/", 1)[-1].rsplit("!", 1)[-1]


def is_log(path: str) -> bool:
    """A log or a shell history, by the name or a `log` folder."""
    return bool(LOG_NAMES.search(path)) or "/log/" in f"/{path}"


def _locate(data: bytes, line: int | None, needle: bytes) -> int:
    if line:
        pos = 0
        for _ in range(line - 1):
            nxt = data.find(b"\n", pos)
            if nxt < 0:
                break
            pos = nxt + 1
        first = needle.split(b"\n", 1)[0]
        found = data.find(first, pos) if first else -1
        return found if found >= 0 else pos
    found = data.find(needle.split(b"\n", 1)[0].replace(b"\\", b"\\\\"))
    return max(found, 0)


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _utf16_text(data: bytes) -> bytes | None:
    """A UTF-16 buffer (byte-order mark first) as UTF-8, the form the detectors read (a secret's
    fingerprint is that of its text, as anywhere else); None when it does not decode as UTF-16
    (a binary that happens to start with those two bytes, still read as its bytes)."""
    try:
        return data.decode("utf-16").encode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return None


def _without(line: bytes, start: int, end: int) -> bytes:
    """`line` with its bytes from `start` to `end` blanked: an ignore comment is read around a
    secret, never inside it (a password `nosecret-…` does not ignore itself)."""
    start, end = max(0, start), min(len(line), end)
    return line[:start] + b" " * (end - start) + line[end:] if start < end else line


def _run_start(data: bytes, pos: int, chars: bytes) -> int:
    """Where the run of `chars` ending at `pos` starts (at most ALIGNMENT back): one C pass over
    a few bytes, or, for a longer run, over ALIGNMENT."""
    for reach in (32, ALIGNMENT):
        lo = max(0, pos - reach)
        start = lo + len(data[lo:pos].rstrip(chars))
        if start > lo or lo == 0:
            return start
    return start


def _run_end(data: bytes, pos: int, chars: bytes) -> int:
    """Where the run of `chars` starting at `pos` ends (at most ALIGNMENT on)."""
    for reach in (32, ALIGNMENT):
        hi = min(len(data), pos + reach)
        end = hi - len(data[pos:hi].lstrip(chars))
        if end < hi or hi == len(data):
            return end
    return end


def _tar_watch(head: bytes) -> TarWatch | None:
    """A watch over a tar streamed from its start (`head` its first bytes, fed already), to read
    it again only if it holds packed members; None for anything else."""
    if kind_of(head) != "tar":
        return None
    watch = TarWatch()
    watch.feed(head)
    return watch


@dataclass(frozen=True)
class Spelt:
    """Where gzip spelt in base64 starts in a file streamed in windows: the start of its line and
    its own (bytes from the file's start), and its line and column."""

    line_start: int
    start: int
    line: int
    column: int


SPELT_IN_BLOB = "gzip encoded in base64 in a git blob over 8 MiB: not unpacked"
SPELT_IN_MEMBER = "gzip encoded in base64 in an archive member over 8 MiB: not unpacked"


def _rewound(fh: Any) -> Callable[[], Any]:
    """A function giving `fh` back at its start (a file read again: its packed content)."""
    def rewound() -> Any:
        fh.seek(0)
        return fh
    return rewound


@dataclass
class _Room:
    """The findings `Scanner._kept` keeps of a file read in windows (`_streamed`: the leaks of
    its windows in order, collapsed, at most `size` of them, the secrets found first): the
    secrets found alike so far, by what `_each_leak` tells them apart by (within one file that
    is all collapse compares: its path, commit, mode and the rest are the file's). A secret
    past them makes no leak (its preview and fingerprints, what costs) but is noted (`over`),
    and repeats of those kept are still counted: `_kept` keeps what it kept, counted as it
    counted (a log of 300,000 distinct tokens made 300,000 leaks to keep 10,000)."""

    size: int
    made: set[object] = field(default_factory=set)
    over: bool = False

    def takes(self, key: object) -> bool:
        """Whether a leak of `key` is to be made: one made already, or one more there is room for."""
        if key in self.made:
            return True
        if len(self.made) >= self.size:
            self.over = True
            return False
        self.made.add(key)
        return True


def _resolve_overlaps(found: list[tuple[Hit, int]]) -> list[Hit]:
    """Drop hits inside a higher-ranked hit (a .creds block's seed, a key's body), and duplicates.

    A hit ranks by priority, then length, then position; it is dropped when a higher-ranked
    hit covers its span or starts where it starts (the same secret, read two ways), or when
    its span overlaps a higher-ranked hit's of the same secret (a token read as Basic
    credentials' password and again in the base64 decoded: `x-access-token:ghs_...`). One
    sweep in order of position, keeping the hits whose span is still open: linear in hits, as
    spans rarely overlap; and where none overlaps (most buffers), all of them in that order.
    """
    if len(found) < 2:
        return [h for h, _ in found]
    apart = _apart(found)
    return apart if apart is not None else _ranked(found)


_COVER = operator.attrgetter("cover")


def _apart(found: list[tuple[Hit, int]]) -> list[Hit] | None:
    """The hits in order of position when no two spans overlap and no two start alike (what
    _ranked keeps of them then: all, in that order); None otherwise. A sort and a pass, not
    _ranked's three sorts and its sweep (300,000 hits in a hostile log)."""
    hits = sorted([h for h, _ in found], key=_COVER)
    first = end = -1
    for hit in hits:
        start, stop = hit.cover
        if start < end or start == first:
            return None
        first, end = start, stop
    return hits if len({h.start for h in hits}) == len(hits) else None


def _ranked(found: list[tuple[Hit, int]]) -> list[Hit]:
    """_resolve_overlaps by rank: see there."""
    ranked = sorted(range(len(found)), key=lambda i: (-found[i][1], -(found[i][0].cover[1] - found[i][0].cover[0]),
                                                       found[i][0].cover[0]))
    rank = {i: r for r, i in enumerate(ranked)}
    first_at: dict[int, int] = {}  # the same secret read two ways: the higher-ranked reading only
    for i in ranked:
        first_at.setdefault(found[i][0].start, i)
    order = sorted(first_at.values(), key=lambda i: (found[i][0].cover[0], -found[i][0].cover[1], rank[i]))
    active: list[int] = []
    kept: list[int] = []
    kept_end = -1  # where the kept hits so far end: a kept hit starting before it overlaps one
    overlapping = False
    for i in order:
        hit = found[i][0]
        start, end = hit.cover
        active = [j for j in active if found[j][0].cover[1] > start or found[j][0].cover[0] == start]
        if not any(found[j][0].cover[1] >= end and rank[j] < rank[i] for j in active):
            kept.append(i)
            overlapping = overlapping or start < kept_end
            kept_end = max(kept_end, end)
        active.append(i)
    if not overlapping:
        return [found[i][0] for i in kept]
    by_secret: dict[bytes, list[int]] = {}
    for i in kept:
        by_secret.setdefault(found[i][0].secret, []).append(i)
    worse: set[int] = set()
    for group in by_secret.values():  # in order of position: each run of overlapping spans keeps its best
        run, run_end = [group[0]], found[group[0]][0].cover[1]
        for i in [*group[1:], -1]:
            if i >= 0 and found[i][0].cover[0] < run_end:
                run.append(i)
                run_end = max(run_end, found[i][0].cover[1])
                continue
            if len(run) > 1:
                best = min(run, key=rank.__getitem__)
                worse.update(j for j in run if j != best)
            if i >= 0:
                run, run_end = [i], found[i][0].cover[1]
    return [found[i][0] for i in kept if i not in worse]


def _noted(unfinished: str, notes: Sequence[str]) -> str:
    """`unfinished` (what of a file was left unread) with `notes` (what else was not checked)."""
    return "; ".join([*notes, unfinished] if unfinished else notes)


def _merge_sops(hits: list[Hit], sops: list[Hit]) -> list[Hit]:
    """A sops plaintext finding replaces a weaker hit on the same value (e.g. `password`)."""
    if not sops:
        return hits
    taken = [(s.start, s.end) for s in sops]
    kept = [h for h in hits if h.category not in ("password", "generic-secret")
            or not any(a <= h.start < b for a, b in taken)]
    return kept + sops


_PGPASS_FIELD = rb"(?:[^:\\\n]|\\.)*"
_PGPASS_LINE = re.compile(rb"^(?!#)" + (_PGPASS_FIELD + rb":") * 4 + rb"(?P<secret>(?:[^\\\n]|\\.)+)$", re.MULTILINE)


_MSMTP_PASSWORD = re.compile(rb"^[ \t]*password[ \t]+(?P<secret>[^\r\n]*?)[ \t]*\r?$", re.MULTILINE)
"""msmtp's `password` command: a line's first word (msmtp's commands are lower case), its
argument the rest of the line."""


def _pgpass_passwords(data: bytes) -> Iterator[tuple[int, int, bytes, str]]:
    """The passwords of a libpq password file (see named_form): each line
    `host:port:database:user:password` that is no comment, its fields split at the colons no
    backslash escapes, the password the rest of the line with each `\\x` read as `x`, as libpq
    reads it (a trailing carriage return dropped)."""
    for line in _PGPASS_LINE.finditer(data):
        written = line.group("secret").rstrip(b"\r")
        yield line.start("secret"), line.start("secret") + len(written), re.sub(rb"\\(.)", rb"\1", written), "pgpass password"


def _msmtp_passwords(data: bytes) -> Iterator[tuple[int, int, bytes, str]]:
    """The passwords of an msmtp configuration (see named_form): each `password VALUE` line,
    as msmtp reads it: the rest of the line, blanks around it dropped, and the double quotes
    around all of it (no escapes inside, no comment after it: both are the password's)."""
    for line in _MSMTP_PASSWORD.finditer(data):
        start, end = line.span("secret")
        if end - start >= 2 and data[start] == data[end - 1] == 0x22:
            start, end = start + 1, end - 1
        yield start, end, data[start:end], "msmtp password"


_PASSWORD_FILES: dict[str, Callable[[bytes], Iterable[tuple[int, int, bytes, str]]]] = {
    "pgpass": _pgpass_passwords, "msmtprc": _msmtp_passwords, "snmp": snmp.secrets}
"""The named forms whose files hold passwords, and the reader of each (its spans, values and
what each is)."""


_VAULT_TOKEN_MAX = 1024
"""The longest text read as the token of a Vault token file (generated tokens are under 200)."""
_TOKEN_WORD = re.compile(rb"[!-~]+")
_LEGACY_VAULT_TOKEN = re.compile(rb"[sb]\.[A-Za-z0-9_-]{24,}")


def named_form(name: str) -> str:
    """What a file (or archive member) so named is by its name alone: `pgpass`, a libpq
    password file (`.pgpass`, libpq's default, ~/.pgpass, or a name holding `pgpass`,
    PGPASSFILE's own: `pgpass.conf`, `app.pgpass`); `msmtprc`, msmtp's configuration
    (`~/.msmtprc`, `/etc/msmtprc`, `~/.config/msmtp/config`); `snmp`, Net-SNMP's
    (`snmpd.conf`, `snmp.conf`, the others of snmp.NAMES, and snmpd.conf.d's `.conf` files); `vault-token`, the file `vault
    login` and `bao login` keep the token in (`~/.vault-token`, their token helper's); else ''."""
    base = _base_name(name)
    if "pgpass" in base.lower():
        return "pgpass"
    if base in (".msmtprc", "msmtprc") or name.endswith("/msmtp/config"):
        return "msmtprc"
    if base in snmp.NAMES or ("snmpd.conf.d/" in name and base.endswith(".conf")):
        return "snmp"
    return "vault-token" if base == ".vault-token" else ""


def _only_key_material(data: bytes, hits: Iterable[Hit]) -> bool:
    """Every line is blank, a comment, punctuation or inside a hit: a dedicated key file."""
    spans = sorted(h.cover for h in hits if h.category not in ("password", "generic-secret", "url-credential", "jwt"))
    if not spans:
        return False
    merged: list[list[int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    k, pos = 0, 0
    for raw in data.split(b"\n"):
        start, end = pos, pos + len(raw)
        pos = end + 1
        if _TRIVIAL_LINE.match(raw):
            continue
        first, last = start + (len(raw) - len(raw.lstrip())), end - (len(raw) - len(raw.rstrip()))
        while k < len(merged) and merged[k][1] < last:
            k += 1
        if k == len(merged) or not merged[k][0] <= first:
            return False
    return True
