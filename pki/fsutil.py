"""Reading and writing files safely, for pki and auditor both (pki never imports auditor).

Reading: only regular files are opened (a FIFO, socket or device never blocks nor streams
forever), and never more than a limit. Writing: atomic, with the mode set before any byte.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from pathlib import Path

from pki.errors import PKIError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (see auditor._cli._replay)
if TYPE_CHECKING:
    from typing import BinaryIO

_SYNCED: ContextVar[bool] = ContextVar("pki_fsutil_synced", default=True)


def synced() -> bool:
    """Whether writes are forced to disk (fsync, SQLite's synchronous commits): True except
    within :func:`unsynced`."""
    return _SYNCED.get()


def fsync(fd: int) -> None:
    """`os.fsync`, except within :func:`unsynced`."""
    if _SYNCED.get():
        os.fsync(fd)


@contextlib.contextmanager
def unsynced() -> Iterator[None]:
    """Within this block (in this thread), files are written without forcing them to disk: no
    fsync, and the CA inventory's SQLite commits without syncing. Only for a tree built in a
    staging folder that nothing reads before it is published whole, and that is simply built
    again when lost (the demo's, see auditor._demo), or for a cache file a reader finds out
    when torn (the secrets report memo, sealed by a digest); never for a real CA, whose log,
    keys and certificates must survive a crash as soon as a command returns."""
    token = _SYNCED.set(False)
    try:
        yield
    finally:
        _SYNCED.reset(token)


class WriteError(PKIError):
    """A file could not be written: `reason` about `path`."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class ReadError(PKIError):
    """A file could not be read: `reason` about `path`. `why` is one word for programs:
    missing, denied, folder, fifo, socket, char-device, block-device, symlink, too-large or
    error; `size` is the file's size when it was too large."""

    def __init__(self, path: Path, reason: str, why: str = "error", size: int | None = None) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.why = why
        self.size = size


_KINDS = (
    (stat.S_ISDIR, "folder"), (stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "char-device"), (stat.S_ISBLK, "block-device"), (stat.S_ISLNK, "symlink"),
)


def special_kind(mode: int) -> str | None:
    """None for a regular file; else what the file is (fifo, socket, char-device, ...)."""
    if stat.S_ISREG(mode):
        return None
    return next((kind for test, kind in _KINDS if test(mode)), "special")


_SPECIAL_TEXT = {
    "folder": "is a folder, not a file",
    "fifo": "is a FIFO (named pipe), not a regular file: not opened",
    "socket": "is a socket, not a regular file: not opened",
    "char-device": "is a character device, not a regular file: not opened",
    "block-device": "is a block device, not a regular file: not opened",
    "symlink": "is a symbolic link: not followed",
    "special": "is not a regular file: not opened",
}

MAX_PKI_FILE = 16 << 20
"""The most pki reads of one of its own files (ca.json, a certificate, a CRL, a profile): 16 MiB."""

_READ_FLAGS = (os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))


def read_regular(path: Path | str, limit: int, *, follow_symlinks: bool = True) -> bytes:
    """The bytes of the regular file `path`, at most `limit` of them, or ReadError.

    Anything else (a FIFO, socket or device; with `follow_symlinks` False, a symbolic link)
    is refused without being opened for reading: it is checked before the open, opened
    non-blocking, and checked again on the open descriptor (it may have been swapped in
    between). A file larger than `limit` is refused, never truncated (`why` "too-large",
    `size` its size, or None when it grew past the limit while being read).
    """
    path = Path(path)
    try:
        st = os.stat(path) if follow_symlinks else os.lstat(path)
    except FileNotFoundError:
        raise ReadError(path, "file not found", "missing") from None
    except NotADirectoryError:
        raise ReadError(path, "file not found (a parent is not a folder)", "missing") from None
    except PermissionError:
        raise ReadError(path, "permission denied", "denied") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        raise ReadError(path, f"cannot read: {_why(exc)}") from None
    kind = special_kind(st.st_mode)
    if kind is not None:
        raise ReadError(path, _SPECIAL_TEXT[kind], kind)
    too_large = f"larger than the {limit}-byte limit"
    if st.st_size > limit:
        raise ReadError(path, too_large, "too-large", st.st_size)
    flags = _READ_FLAGS | (0 if follow_symlinks else getattr(os, "O_NOFOLLOW", 0))
    try:
        fd = os.open(path, flags)
    except PermissionError:
        raise ReadError(path, "permission denied", "denied") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks:
            raise ReadError(path, _SPECIAL_TEXT["symlink"], "symlink") from None
        raise ReadError(path, f"cannot read: {_why(exc)}") from None
    try:
        now = os.fstat(fd)
        kind = special_kind(now.st_mode)
        if kind is not None:  # swapped since the first look
            raise ReadError(path, _SPECIAL_TEXT[kind], kind)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(max(now.st_size - size + 1, 65536), limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise ReadError(path, f"cannot read: {_why(exc)}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise ReadError(path, too_large, "too-large")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def open_regular(path: Path | str) -> BinaryIO:
    """The regular file `path` opened for reading (binary, buffered), or ReadError: a FIFO,
    socket or device is refused without blocking, as by :func:`read_regular`. For files read
    piece by piece (a log); the caller bounds what it reads."""
    path = Path(path)
    try:
        st = os.stat(path)
        kind = special_kind(st.st_mode)
        if kind is not None:
            raise ReadError(path, _SPECIAL_TEXT[kind], kind)
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        raise ReadError(path, "file not found", "missing") from None
    except PermissionError:
        raise ReadError(path, "permission denied", "denied") from None
    except (OSError, ValueError) as exc:
        raise ReadError(path, f"cannot read: {_why(exc)}") from None
    kind = special_kind(os.fstat(fd).st_mode)
    if kind is not None:
        os.close(fd)
        raise ReadError(path, _SPECIAL_TEXT[kind], kind)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _why(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)) or type(exc).__name__


def atomic_write(path: Path, data: bytes | Iterable[bytes], *, mode: int = 0o644, sync_folder: bool = True) -> None:
    """Write `data` (bytes, or parts of them written one after the other: a large document
    never whole in memory) to `path` via a temporary file in the same folder, then rename.

    The file has `mode` before any byte is written (0o600 for keys), and a failure leaves
    no partial file behind: either the old content or the new, never half of it.
    An existing device, FIFO or socket (`-o /dev/null`, `/dev/stdout`, a pipe) is written to,
    never replaced.
    """
    path = Path(path)
    if _is_special(path):
        try:
            with open(path, "wb") as fh:
                _write(fh, data)
        except OSError as exc:
            raise WriteError(path, f"cannot write: {exc.strerror or exc}") from None
        return
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise WriteError(folder, "folder does not exist")
    try:
        fd, tmp = _new_temporary(folder, path.name)
    except PermissionError:
        raise WriteError(folder, "permission denied: cannot write here") from None
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            _write(fh, data)
            fh.flush()
            fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if sync_folder:
        fsync_folder(folder)


def _new_temporary(folder: Path, name: str) -> tuple[int, str]:
    """A new empty file `.NAME.<random>.tmp` in `folder`, made by this call (O_EXCL, a link in
    its place never followed) with mode 0600, opened for writing: its descriptor and path.
    What tempfile.mkstemp does, without importing tempfile (and shutil, random and the
    compression modules with it): a second run of `auditor secrets scan --git`, which writes
    its report and little else, loads none of them."""
    for _ in range(100):
        tmp = os.path.join(folder, f".{name}.{os.urandom(4).hex()}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                           | getattr(os, "O_CLOEXEC", 0), 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", str(folder))


def _write(fh: BinaryIO, data: bytes | Iterable[bytes]) -> None:
    for part in (data,) if isinstance(data, bytes) else data:
        fh.write(part)


def _is_special(path: Path) -> bool:
    try:
        kind = path.stat().st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(kind) or stat.S_ISDIR(kind))


def fsync_folder(folder: Path) -> None:
    """Make renames in `folder` durable where the platform allows."""
    with contextlib.suppress(OSError):
        if not _SYNCED.get():
            return
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_files(files: dict[Path, tuple[bytes, int]], *, overwrite: bool = False) -> None:
    """Write several files so that either all of them appear or none does.

    Refuses (before writing anything) to replace an existing file unless `overwrite`.
    Each value is (content, mode).
    """
    if not overwrite:
        existing = [str(p) for p in files if p.exists()]
        if existing:
            raise WriteError(Path(existing[0]), "already exists; refusing to overwrite it")
    written: list[Path] = []
    try:
        for path, (data, mode) in files.items():
            atomic_write(path, data, mode=mode, sync_folder=False)
            written.append(path)
        for folder in {p.parent for p in files}:
            fsync_folder(folder)
    except BaseException:
        if not overwrite:
            for path in written:
                with contextlib.suppress(OSError):
                    path.unlink()
        raise


def make_folder(path: Path | str, *, mode: int = 0o700, parents: bool = False, exist_ok: bool = False) -> Path:
    """Create the folder `path` (and, with `parents`, its missing parents) with exactly `mode`,
    whatever the umask: private (0700) unless said otherwise. An existing folder is left as it
    is (with `exist_ok`); WriteError when it cannot be made."""
    path = Path(path)
    missing: list[Path] = []
    here = path
    while not here.exists():
        missing.append(here)
        if not parents or here.parent == here:
            break
        here = here.parent
    if not missing:
        if not path.is_dir():
            raise WriteError(path, "exists and is not a folder")
        if not exist_ok:
            raise WriteError(path, "already exists")
        return path
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            if not folder.is_dir():
                raise WriteError(folder, "exists and is not a folder") from None
            continue  # made by someone else meanwhile
        except FileNotFoundError:
            raise WriteError(folder, "the folder above it does not exist") from None
        except OSError as exc:
            raise WriteError(folder, f"cannot create the folder: {_why(exc)}") from None
        os.chmod(folder, mode if folder == path else 0o700)
    return path


def read_regular_file(path: Path, limit: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most `limit` bytes (a link is followed, a device, FIFO
    or folder refused), read by :func:`read_regular`; LoadError says why not, naming the file
    and never its content."""
    from pki.errors import LoadError

    try:
        return read_regular(path, limit)
    except ReadError as exc:
        if exc.why == "missing":
            raise LoadError(f"{path}: {what} not found") from None
        if exc.why == "too-large":
            raise LoadError(f"{path}: larger than the {limit}-byte limit for a {what}") from None
        if exc.why in ("denied", "error"):
            raise LoadError(f"{path}: cannot read the {what}: {exc.reason}") from None
        raise LoadError(f"{path}: not a regular file") from None
