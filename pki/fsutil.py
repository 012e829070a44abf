"""Atomic file writes for pki (its own: pki never imports auditor)."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from pki.errors import PKIError


class WriteError(PKIError):
    """A file could not be written: `reason` about `path`."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644, sync_folder: bool = True) -> None:
    """Write `data` to `path` via a temporary file in the same folder, then rename.

    The file has `mode` before any byte is written (0o600 for keys), and a failure leaves
    no partial file behind: either the old content or the new, never half of it.
    An existing device, FIFO or socket (`-o /dev/null`, `/dev/stdout`, a pipe) is written to,
    never replaced.
    """
    path = Path(path)
    if _is_special(path):
        try:
            with open(path, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            raise WriteError(path, f"cannot write: {exc.strerror or exc}") from None
        return
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise WriteError(folder, "folder does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except PermissionError:
        raise WriteError(folder, "permission denied: cannot write here") from None
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if sync_folder:
        fsync_folder(folder)


def _is_special(path: Path) -> bool:
    try:
        kind = path.stat().st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(kind) or stat.S_ISDIR(kind))


def fsync_folder(folder: Path) -> None:
    """Make renames in `folder` durable where the platform allows."""
    with contextlib.suppress(OSError):
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


def read_regular_file(path: Path, limit: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most `limit` bytes (a link is followed, a device, FIFO
    or folder refused); LoadError says why not, naming the file and never its content."""
    from pki.errors import LoadError

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise LoadError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise LoadError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # before fdopen, which refuses a folder with its own error
        os.close(fd)
        raise LoadError(f"{path}: not a regular file")
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise LoadError(f"{path}: larger than the {limit}-byte limit for a {what}")
    return data
