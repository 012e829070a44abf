"""Packed content the leak scan reads: what a file or git blob holds compressed (gzip, xz,
bzip2, zstd) or archived (zip, tar; 7z and RAR through bsdtar: auditor._secrets.bsdtar), level
after level (a rotated log in a zip in a `.tar.gz`);
gzip data encoded in base64 is found by auditor._secrets.encoded (gzip_in_base64).

Each kind is recognised by its magic, whatever the name. `members` gives what one level holds,
each as a reader of its content from its start; the scanner reads each member as a file's
content and unpacks what it packs in turn, up to the archive-depth limit, every level's
content counted against one gunzip-bytes limit (`Budget`), so a nested bomb stays bounded.
Damaged or cut data gives what could be read of it, never an exception.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, cast

GZIP_MAGIC = b"\x1f\x8b\x08"
"""How gzip data starts (its magic and deflate)."""
XZ_MAGIC = b"\xfd7zXZ\x00"
BZIP2_MAGIC = b"BZh"
"""bzip2's magic, then a block size digit and a block's (or the end of stream's) magic."""
_BZIP2_NEXT = (b"1AY&SY", b"\x17rE8P\x90")
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
"""How a Zstandard frame starts (logrotate's `compresscmd zstd`, `.zst`)."""
ZIP_MAGIC = b"PK\x03\x04"
"""How a zip archive starts (its first member's local header)."""
BLOCK = 512
"""A tar header's (and record's) size: a packed member is recognised by this much of its start."""
_TAR_FILES = frozenset({b"0", b"\0", b"7"})
"""Tar member types whose data is a file's content."""
_TAR_NO_DATA = frozenset({b"1", b"2", b"3", b"4", b"5", b"6"})
"""Tar member types with no data after their header (links, devices, folders, FIFOs)."""


def compression_of(data: bytes) -> str | None:
    """'gzip', 'xz', 'bzip2' or 'zstd' for data so compressed (by its magic), else None."""
    if data.startswith(GZIP_MAGIC):
        return "gzip"
    if data.startswith(XZ_MAGIC):
        return "xz"
    if data.startswith(ZSTD_MAGIC):
        return "zstd"
    if data.startswith(BZIP2_MAGIC) and data[3:4].isdigit() and data[3:4] != b"0" and data[4:10] in _BZIP2_NEXT:
        return "bzip2"
    return None


def kind_of(head: bytes) -> str | None:
    """'zip', 'gzip', 'xz', 'bzip2', 'zstd', 'tar', '7z' or 'rar' for data so packed (its first bytes: a
    tar needs its first 512, a valid header with ustar's magic), else None."""
    if head.startswith(ZIP_MAGIC):
        return "zip"
    if head[:1] in (b"7", b"R"):
        from auditor._secrets.bsdtar import kind_of as archive_kind

        archived = archive_kind(head)
        if archived is not None:
            return archived
    compression = compression_of(head)
    if compression is not None:
        return compression
    if head[257:262] == b"ustar" and _tar_header(head[:BLOCK]) is not None:
        return "tar"
    return None


def read_up_to(read: Callable[[int], bytes], n: int) -> bytes:
    """Up to `n` bytes, fewer only at the end (raw reads may return short)."""
    chunk = read(n)
    if not chunk or len(chunk) == n:
        return chunk or b""
    parts = [chunk]
    got = len(chunk)
    while got < n:
        more = read(n - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


DEEPEST = 100
"""The archive-depth limit's ceiling, whatever it is set to: each level is a few frames of
Python's stack (a zip that holds itself would reach its recursion limit)."""


@dataclass
class Budget:
    """What one file's unpacking may still do, every level together: `left` bytes of content
    (the gunzip-bytes limit), `depth` levels (archive-depth); and what it left unread."""

    left: int
    depth: int
    top: str = ""
    """The kind of the file's own packing (for the words of a note)."""
    over: bool = False
    """A read was cut by the gunzip-bytes limit with more to read."""
    deep: bool = False
    """Packing nested past the archive-depth limit was left packed."""
    unread: str = ""
    """Packed content that could not be unpacked where it lay (a zip inside a stream)."""

    @classmethod
    def new(cls, top: str) -> Budget:
        from auditor import _limits as limits

        return cls(limits.get("gunzip-bytes"), min(limits.get("archive-depth"), DEEPEST), top)

    def opened_again(self) -> None:
        """Packed content read straight from its container (once) was asked for again, to unpack
        what it packs after its windows were read: noted, not unpacked."""
        from auditor._limits import size_text
        from auditor._secrets.scanner import WINDOW

        self.unread = f"it holds packed content over {size_text(WINDOW)} inside packed content, not unpacked"

    def notes(self) -> list[str]:
        """Why the file was not read whole, if it was not (the file's not-scanned entry)."""
        from auditor import _limits as limits

        what = {"zip": "its zip members' content", "tar": "its tar members' packed content"}.get(
            self.top, f"its {self.top} content")
        return [*([limits.exceeded("gunzip-bytes", f"{what} was read up to the limit")] if self.over else []),
                *([limits.exceeded("archive-depth", "it holds packing nested deeper, not unpacked")] if self.deep else []),
                *([self.unread] if self.unread else [])]


class Limited:
    """`read(n)` of another reader within the budget: each byte read is taken from `budget.left`
    (or, for a reader opened again over content counted already, `cap` bytes in all, taking
    nothing). A read the limit cuts with more to read sets `budget.over`. An error of one of
    the `broken` types ends it quietly, after what was read (a damaged zip member: zipfile
    finds a bad CRC only at its end)."""

    PIECE = 1 << 14
    """Read in pieces, so that an error keeps what the pieces before it gave."""

    def __init__(self, read: Callable[[int], bytes], budget: Budget, broken: tuple[type[Exception], ...] = (),
                 cap: int | None = None) -> None:
        self._read, self._budget, self._broken, self._cap = read, budget, broken, cap
        self._ended = False
        self.taken = 0
        """The bytes it gave."""

    def seekable(self) -> bool:
        return False

    def _room(self) -> int:
        return self._budget.left if self._cap is None else self._cap - self.taken

    def read(self, n: int) -> bytes:
        parts: list[bytes] = []
        want = min(n, self._room())
        while want > 0 and not self._ended:
            part = self._piece(min(want, self.PIECE))
            if not part:
                break
            parts.append(part)
            want -= len(part)
        out = b"".join(parts)
        self.taken += len(out)
        if self._cap is None:
            self._budget.left -= len(out)
        if n > len(out) and self._room() <= 0 and self._cap is None and not self._ended and self._piece(1):
            self._budget.over = True  # used up, with more to read
        return out

    def _piece(self, n: int) -> bytes:
        try:
            return self._read(n)
        except self._broken:
            self._ended = True
            return b""


class Inflate:
    """The content of gzip, xz, bzip2 or zstd data, read as a file (`read(n)`): every member or
    stream of it (`cat a.gz b.gz`), inflated 16 KiB at a time (the same content however it is
    asked for), its input read from `source` as needed. Damage or a cut ends it quietly, after
    what could be inflated (a piece that runs into damage is lost: nothing could read more of
    it). zstd frames are read through `zstandard`'s stream reader (its default window limit,
    128 MiB, the zstd tool's own: a frame needing more is damage to both)."""

    PIECE = 1 << 14
    INPUT = 1 << 16

    def __init__(self, source: Callable[[int], bytes], compression: str) -> None:
        self._source = source
        self._compression = compression
        self._todo = b""
        self._input_ended = False
        self._inflater = self._new()
        self._buf = b""
        self._done = False

    def _new(self) -> Any:
        import bz2
        import lzma
        import zlib

        if self._compression == "zstd":
            import zstandard

            source = cast("IO[bytes]", _Source(self._source))  # the stream reader calls read(n) alone
            return zstandard.ZstdDecompressor().stream_reader(source, read_size=self.INPUT, read_across_frames=True)
        if self._compression == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        return lzma.LZMADecompressor() if self._compression == "xz" else bz2.BZ2Decompressor()

    def _more(self, need: int = 1) -> None:
        """At least `need` bytes of input waiting, unless the input has ended."""
        while len(self._todo) < need and not self._input_ended:
            more = self._source(self.INPUT)
            if not more:
                self._input_ended = True
            self._todo += more

    def _piece(self) -> bytes:
        """The next piece of the content; b"" once there is none."""
        import lzma
        import zlib

        while not self._done:
            inflater = self._inflater
            if getattr(inflater, "needs_input", True):
                self._more()
            try:  # the inflater may hold output of input it took already: asked again with none left
                part: bytes = inflater.decompress(self._todo, self.PIECE)
            except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError):
                self._done = True
                return b""
            # zlib hands back the input it did not take; lzma and bz2 keep it (needs_input)
            self._todo = inflater.unconsumed_tail if self._compression == "gzip" else b""
            if inflater.eof:  # a member or stream ends; another may follow
                self._todo = inflater.unused_data
                self._more(10)
                self._done = compression_of(self._todo) != self._compression
                self._inflater = self._new()
            elif not part and not self._todo and self._input_ended and getattr(inflater, "needs_input", True):
                self._done = True  # cut short
            if part:
                return part
        return b""

    def read(self, n: int) -> bytes:
        if self._compression == "zstd":
            return self._zstd(n)
        parts, have = [self._buf], len(self._buf)
        while have < n and not self._done:
            part = self._piece()
            parts.append(part)
            have += len(part)
        joined = b"".join(parts)
        out, self._buf = joined[:n], joined[n:]
        return out

    def _zstd(self, n: int) -> bytes:
        import zstandard

        parts: list[bytes] = []
        while n > 0 and not self._done:
            try:
                part: bytes = self._inflater.read(min(n, self.PIECE))
            except (zstandard.ZstdError, OSError, ValueError):
                part = b""
            if not part:
                self._done = True
            parts.append(part)
            n -= len(part)
        return b"".join(parts)


class Once:
    """A reader of `head` then of what `rest` gives, to be opened once (packed content read
    straight from its container, which cannot be read again): opened again, it is empty and
    the budget notes what was left unread."""

    def __init__(self, head: bytes, rest: Callable[[int], bytes], budget: Budget) -> None:
        self._head, self._rest, self._budget, self._opened = head, rest, budget, False

    def __call__(self) -> Once:
        if self._opened:
            self._budget.opened_again()
            self._head, self._rest = b"", lambda n: b""
        self._opened = True
        return self

    def seekable(self) -> bool:
        return False

    def read(self, n: int) -> bytes:
        if not self._head:
            return self._rest(n)
        out, self._head = self._head[:n], self._head[n:]
        return out if len(out) == n else out + read_up_to(self._rest, n - len(out))


class _Source:
    """A `read(n)` function as the file zstandard's stream reader reads."""

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self.read = read


@dataclass(frozen=True)
class Member:
    """One thing a level of packing holds: its name ('' for a compressed stream's content),
    `reader(cap)` a reader of its content from its start (with `cap`, opened again over content
    read already: at most `cap` bytes, taking nothing from the budget), and whether its bytes lay
    in the container as they are (a tar's members, a zip's stored ones): read with it already,
    so only what it packs in turn is new."""

    name: str
    reader: Callable[[int | None], Limited]
    seen: bool = False


def members(kind: str, data: bytes | None, reopen: Callable[[], Any] | None, budget: Budget) -> Iterator[Member]:
    """What packed data of `kind` holds: `data` when it is whole in memory, else `reopen()`, a
    reader of it from its start (seekable for a zip)."""
    def source() -> Any:
        if data is not None:
            return io.BytesIO(data)
        assert reopen is not None, "packed data whole, or a way to read it"
        return reopen()

    if kind == "zip":
        yield from _zip_members(source(), budget)
    elif kind == "tar":
        yield from _tar_members(source(), budget)
    elif kind in ("7z", "rar"):
        yield from _bsdtar_members(kind, source(), budget)
    else:
        yield Member("", lambda cap: Limited(Inflate(source().read, kind).read, budget, cap=cap))


def _zip_members(fh: Any, budget: Budget) -> Iterator[Member]:
    import lzma
    import zipfile
    import zlib

    broken = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, OSError, EOFError, ValueError, NotImplementedError,
              RuntimeError)
    if not fh.seekable():
        from auditor._limits import size_text
        from auditor._secrets.scanner import WINDOW

        budget.unread = f"it holds a zip archive over {size_text(WINDOW)} inside packed content, not unpacked"
        return
    try:
        listed = _central_directory_size(fh)
        if listed > ZIP_LISTING:
            from auditor._limits import size_text

            budget.unread = (f"it holds a zip archive whose member list is {size_text(listed)}, over "
                             f"{size_text(ZIP_LISTING)} (about 100,000 members): not unpacked")
            return
        archive = zipfile.ZipFile(fh)
        infos = [i for i in archive.infolist() if not i.is_dir() and not i.flag_bits & 0x1]  # encrypted: unreadable
    except broken:
        return
    for info in infos:
        def opened(cap: int | None, info: zipfile.ZipInfo = info) -> Limited:
            try:
                member = archive.open(info)
            except broken:  # an unsupported method (deflate64), a damaged header: nothing of it can be read
                return Limited(lambda n: b"", budget, cap=cap)
            return Limited(member.read, budget, broken, cap=cap)
        yield Member(info.filename, opened, seen=info.compress_type == zipfile.ZIP_STORED)


ZIP_LISTING = 8 << 20
"""The largest zip member list (central directory) read: zipfile holds an object for each
member, about 600 bytes; a list of millions in a large archive would take gigabytes."""


def _central_directory_size(fh: Any) -> int:
    """The size of a zip's central directory as its end record gives it (0 when none is found:
    zipfile then says what is wrong). Reads at most the last 64 KiB and a zip64 record."""
    import struct

    end = fh.seek(0, 2)
    fh.seek(max(0, end - (1 << 16) - 22))
    tail = read_up_to(fh.read, (1 << 16) + 22)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 22:
        return 0
    size = struct.unpack_from("<I", tail, at + 12)[0]
    locator = at - 20
    if locator >= 0 and tail.startswith(b"PK\x06\x07", locator):  # zip64: its record holds the true figures
        fh.seek(struct.unpack_from("<Q", tail, locator + 8)[0])
        record = read_up_to(fh.read, 56)
        if len(record) == 56 and record.startswith(b"PK\x06\x06"):
            size = struct.unpack_from("<Q", record, 40)[0]
    fh.seek(0)
    return int(size)


def _bsdtar_members(kind: str, source: Any, budget: Budget) -> Iterator[Member]:
    """A 7z or RAR archive's members, read from the tar stream bsdtar makes of it (see
    auditor._secrets.bsdtar): each member's content unpacked, so counted against the budget
    and read as new (not `seen`), and read once (a tar stream cannot be read again)."""
    from auditor._secrets.bsdtar import tar_stream

    def note(text: str) -> None:
        budget.unread = budget.unread or text

    stream = tar_stream(kind, source, note)
    read = next(stream, None)
    if read is None:
        return
    whole = False
    try:
        yield from _tar_members(_Source(read), budget, packed=True)
        whole = not budget.over
    finally:
        if whole:
            next(stream, None)  # the rest of the stream drained, bsdtar's exit status read
        stream.close()


def _tar_members(fh: Any, budget: Budget, *, packed: bool = False) -> Iterator[Member]:
    """A tar's members whose data may pack more (read in order from `fh`, each header checked;
    the walk ends at the end of the archive, a damaged header or the data's end). With
    `packed`, the tar is one bsdtar made of a packed archive: every member's content is new,
    counted against the budget, and can be read once."""
    read = fh.read
    long_name = b""
    while True:
        header = read_up_to(read, BLOCK)
        parsed = _tar_header(header)
        if parsed is None:
            return
        name, size, kind = parsed
        if kind in _TAR_NO_DATA:
            size = 0
        padded = -size % BLOCK
        if kind in (b"L", b"x"):  # a GNU long name, a pax header: the next member's name
            meta = read_up_to(read, min(size, _TAR_META))  # any size its header claims: memory stays bounded
            _skip(read, size - len(meta) + padded)
            long_name = meta.split(b"\0", 1)[0] if kind == b"L" else _pax_path(meta) or long_name
            continue
        if kind in _TAR_FILES:
            body = Limited(read, budget, cap=size)  # read with the tar already: nothing taken
            shown = (long_name or name).decode("utf-8", "replace")
            if packed:
                yield Member(shown, _once(Limited(body.read, budget), budget))
            else:
                yield Member(shown, _given(body), seen=True)
            _skip(read, size - body.taken)
        else:
            _skip(read, size)
        long_name = b""
        _skip(read, padded)


class TarWatch:
    """Watches a tar stream go by (`feed` each piece, or read through `reading(fh)`) for a member
    whose content is packed (`packed`), reading its headers as `_tar_header` does: a large tar
    is read a second time for its packed members only when it holds one. Keeps at most a header's
    bytes between pieces."""

    def __init__(self) -> None:
        self.packed = False
        self._done = False
        self._at = 0
        """The offset of the next thing to look at: a header, or the data after one."""
        self._pending: tuple[int, bytes] | None = None
        """(size, type) of the member whose data starts at `_at`; None: a header is there."""
        self._carry, self._base, self._pos = b"", 0, 0

    def feed(self, piece: bytes) -> None:
        if self._done or not piece:
            return
        data, base = (self._carry + piece, self._base) if self._carry else (piece, self._pos)
        self._pos += len(piece)
        self._carry = b""
        while not self._done:
            i = self._at - base
            if i >= len(data):
                return
            if self._pending is None:
                need = BLOCK
            else:
                size, kind = self._pending
                need = min(size, BLOCK) if kind in _TAR_FILES else 0
            if i + need > len(data):
                self._carry, self._base = data[i:], self._at
                return
            if self._pending is None:
                parsed = _tar_header(data[i:i + BLOCK])
                if parsed is None:
                    self._done = True
                    return
                _, size, kind = parsed
                self._pending = (0 if kind in _TAR_NO_DATA else size, kind)
                self._at += BLOCK
            else:
                if need and kind_of(data[i:i + need]) is not None:
                    self.packed = self._done = True
                    return
                self._at += size + -size % BLOCK
                self._pending = None

    def reading(self, fh: Any) -> Fed:
        """`fh` read through the watch."""
        return Fed(fh, self.feed)


class Fed:
    """`read(n)` of `fh`, each piece also given to `feed` as it goes by (a watch, a copy kept)."""

    def __init__(self, fh: Any, feed: Callable[[bytes], object]) -> None:
        self._fh, self._feed = fh, feed

    def read(self, n: int) -> bytes:
        piece: bytes = self._fh.read(n)
        self._feed(piece)
        return piece


_TAR_META = 1 << 16
"""The most of a GNU long name or a pax header read (a name is at most a few KiB)."""


def _given(body: Limited) -> Callable[[int | None], Limited]:
    """`body` however it is opened (a member of a tar read in order can be read once)."""
    def opened(cap: int | None) -> Limited:
        return body
    return opened


def _once(body: Limited, budget: Budget) -> Callable[[int | None], Limited]:
    """`body` opened once; opened again (to unpack what a member over 8 MiB packs, after its
    windows were read), nothing, and the budget notes what was not unpacked."""
    opened = [False]

    def reader(cap: int | None) -> Limited:
        if opened[0]:
            budget.opened_again()
            return Limited(lambda n: b"", budget)
        opened[0] = True
        return body
    return reader


def _skip(read: Callable[[int], bytes], n: int) -> None:
    while n > 0:
        got = read(min(n, 1 << 16))
        if not got:
            return
        n -= len(got)


def _tar_header(block: bytes) -> tuple[bytes, int, bytes] | None:
    """(name, size, type) of a tar header block; None at the archive's end or for a block that
    is not a header (its checksum wrong)."""
    if len(block) < BLOCK or not block.strip(b"\0"):
        return None
    try:
        want = int(block[148:156].replace(b"\0", b" ").strip() or b"-1", 8)
        raw = block[124:136]
        size = int.from_bytes(raw[1:], "big") if raw[0] & 0x80 else int(raw.replace(b"\0", b" ").strip() or b"0", 8)
    except ValueError:
        return None
    if want != sum(block[:148]) + 256 + sum(block[156:]) or size < 0:
        return None
    name = block[:100].split(b"\0", 1)[0]
    if block[257:263] == b"ustar\0":  # POSIX: a prefix before the name
        prefix = block[345:500].split(b"\0", 1)[0]
        name = prefix + b"/" + name if prefix else name
    return name, size, block[156:157]


def _pax_path(meta: bytes) -> bytes:
    """The `path` record of a pax header ('' if none)."""
    for line in meta.split(b"\n"):
        _, _, record = line.partition(b" ")
        key, _, value = record.partition(b"=")
        if key == b"path":
            return value
    return b""
