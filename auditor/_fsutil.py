"""Reading and writing files: only regular files are read, never more than a limit; writes are
atomic (a crash or an error never leaves a half-written file behind)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from auditor.errors import ConfigError, LocatedError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (see auditor._cli._replay)

if TYPE_CHECKING:
    from pki.fsutil import ReadError


def atomic_write(path: Path, data: bytes | Iterable[bytes], *, mode: int = 0o644) -> None:
    """Write `data` to `path` via a temporary file in the same folder, then rename.

    The file is created with `mode` (use 0o600 for keys and secrets) before any byte is
    written, so a secret is never readable by others, even for a moment. (One implementation
    serves both packages: pki's, since pki cannot import auditor.)
    """
    from pki.fsutil import WriteError
    from pki.fsutil import atomic_write as write

    try:
        write(Path(path), data, mode=mode)
    except WriteError as exc:
        raise ConfigError(exc.reason, file=exc.path) from None


def read_user_bytes(
    path: Path | str, *, limit: str = "file-bytes", what: str = "file", cls: type[LocatedError] = ConfigError,
    follow_symlinks: bool = True,
) -> bytes:
    """The bytes of a file the user named (or a scanned file), or a located error saying why not.

    The one way auditor opens a file to read it: only a regular file is opened (a FIFO, socket
    or device is refused without blocking) and at most the limit `limit` of
    :mod:`auditor._limits` is read; a larger file is refused (naming the limit and how to raise
    it), never truncated.
    """
    from auditor import _limits as limits
    from pki.fsutil import ReadError, read_regular

    try:
        return read_regular(Path(path), limits.get(limit), follow_symlinks=follow_symlinks)
    except ReadError as exc:
        raise cls(read_error_text(exc, limit, what), file=path_text(path)) from None


def read_error_text(exc: ReadError, limit: str = "file-bytes", what: str = "file") -> str:
    """Why a file could not be read, in words; a file too large names the limit and how to raise it."""
    if exc.why == "folder":
        return f"is a folder, not a {what}"
    if exc.why == "too-large":
        from auditor import _limits as limits

        size = "larger" if exc.size is None else limits.size_text(exc.size)
        return limits.exceeded(limit, f"the {what} is {size}")
    return exc.reason


def read_user_file(
    path: Path | str, *, limit: str = "file-bytes", what: str = "file", cls: type[LocatedError] = ConfigError
) -> str:
    """The UTF-8 text of a file the user named, or a located error saying why not (see
    :func:`read_user_bytes`)."""
    raw = read_user_bytes(path, limit=limit, what=what, cls=cls)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise cls(
            f"not UTF-8 text (byte {exc.start} is {raw[exc.start]:#04x}); is this a {what}?",
            file=path_text(path),
        ) from None


def path_text(path: Path | str) -> str:
    """A path as text that can be shown and stored: bytes of a file name that are not UTF-8
    (kept by Python as surrogate escapes) become `\\xNN`, so that JSON, SQLite and terminals
    can hold the name."""
    text = str(path)
    if text.isascii():
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that no file name decoded to
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
