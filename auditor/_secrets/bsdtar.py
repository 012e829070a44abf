"""7z and RAR archives, which the leak scan reads through bsdtar (libarchive; Debian
libarchive-tools) in a child process.

bsdtar re-writes the archive as a tar stream (`bsdtar -cf - --format pax @ARCHIVE`), read here
member by member as a tar's (auditor._secrets.unpack), each member's content counted against
the gunzip-bytes limit as a zip member's is. The child gets the archive as a file descriptor
(the open file itself, or a copy of data held in memory: 7z keeps its member list at the end,
so the archive must be seekable), an argument list (no shell), an environment of PATH and
LC_ALL alone, and limits (`prlimit`): CHILD_MEMORY of address space, CHILD_CPU_SECONDS of CPU
(time spent waiting for the scan to read what it wrote is not counted). It is killed when the
scan stops reading early.

bsdtar missing, or an archive it cannot read whole (encrypted: libarchive decrypts no 7z and
stops at the first encrypted member; damaged; a RAR feature libarchive lacks; its limits
reached): the file is noted as not scanned whole (its SEC rules undecided), never as clean.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Generator
from typing import Any

SEVEN_ZIP_MAGIC = b"7z\xbc\xaf\x27\x1c"
RAR_MAGICS = (b"Rar!\x1a\x07\x00", b"Rar!\x1a\x07\x01\x00")
"""RAR 1.5-4.x and RAR 5's signatures."""
CHILD_MEMORY = 1 << 30
"""bsdtar's address space: room for LZMA2's largest common dictionaries (7-Zip's -mx9: 64 MiB)."""
CHILD_CPU_SECONDS = 120
SPOOLED = 64 << 20
"""The largest 7z or RAR archive inside other packing copied for bsdtar to read (it must seek)."""
NAMES = {"7z": "7z", "rar": "RAR"}


def kind_of(head: bytes) -> str | None:
    """'7z' or 'rar' for an archive of that kind (by its signature), else None."""
    if head.startswith(SEVEN_ZIP_MAGIC):
        return "7z"
    if head.startswith(RAR_MAGICS):
        return "rar"
    return None


def tar_stream(kind: str, source: Any, note: Callable[[str], None]) -> Generator[Callable[[int], bytes], None, None]:
    """Yields once the `read(n)` of the tar stream bsdtar makes of the `kind` archive `source`
    (a BytesIO, a file read from its start, or any reader), unless it cannot be started; what
    keeps the archive from being read whole is given to `note`. The child is stopped once the
    caller is done (closing the generator); resumed after reading the stream to its end, it
    notes a bsdtar that failed."""
    what = f"it is a {NAMES[kind]} archive"
    binary = shutil.which("bsdtar")
    if binary is None:
        note(f"{what}, read with bsdtar (Debian libarchive-tools), which is not installed: not unpacked")
        return
    fd = _descriptor(source)
    if fd is None:
        note(f"{what} over {SPOOLED >> 20} MiB inside other packing: not unpacked")
        return
    try:
        with tempfile.TemporaryFile() as errors:
            try:
                child = _bsdtar(binary, ["-cf", "-", "--format", "pax", f"@/dev/fd/{fd}"], fd, subprocess.PIPE, errors)
            except OSError as exc:
                note(f"{what}: bsdtar could not be started ({exc.strerror or exc}): not unpacked")
                return
            assert child.stdout is not None
            finished = False
            try:
                yield child.stdout.read
                finished = _drained(child.stdout.read)  # read to its end: bsdtar's status says how it ended
            finally:
                if not finished:
                    child.kill()
                child.stdout.close()
                status = child.wait()
            if finished and status != 0:
                why = _reason(errors) or _extraction_error(binary, fd) or f"exit status {status}"
                note(f"{what} that bsdtar could not read whole ({why}): only what it read was scanned")
    finally:
        os.close(fd)


def _bsdtar(binary: str, args: list[str], fd: int, stdout: Any, errors: Any) -> subprocess.Popen[bytes]:
    """bsdtar with `args`, reading the archive at `fd`, within its limits (see the module)."""
    limited = shutil.which("prlimit")
    argv = [*([limited, f"--as={CHILD_MEMORY}", f"--cpu={CHILD_CPU_SECONDS}", "--"] if limited else []), binary, *args]
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=errors, pass_fds=(fd,),
                            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"})


def _reason(errors: Any) -> str:
    """bsdtar's first error in the file `errors` (its archive's path left out), or ''."""
    errors.seek(0)
    for line in errors.read(1 << 16).decode("utf-8", "replace").splitlines():
        said = re.sub(r"Error reading archive /dev/fd/\d+: ?", "", line.removeprefix("bsdtar: ").strip())
        if said and said != "(null)" and "Error exit delayed" not in said:
            return said[:200]
    return ""


def _extraction_error(binary: str, fd: int) -> str:
    """Why bsdtar cannot extract the archive at `fd` (its words for an encrypted member, which
    making a tar of it leaves unsaid), or ''."""
    with tempfile.TemporaryFile() as errors:
        try:
            _bsdtar(binary, ["-xOf", f"/dev/fd/{fd}"], fd, subprocess.DEVNULL, errors).wait()
        except OSError:
            return ""
        return _reason(errors)


def _drained(read: Callable[[int], bytes]) -> bool:
    """Whether what is left of the stream (a tar's end: zero blocks padding its last record)
    ends within 1 MiB."""
    for _ in range(16):
        if not read(1 << 16):
            return True
    return False


def _descriptor(source: Any) -> int | None:
    """A descriptor bsdtar can open the archive through (its own, to close), or None when the
    archive is larger than SPOOLED and not a file: `source` itself when it is a file read from
    its start, else a copy of its bytes in memory (an anonymous file: memfd)."""
    if not isinstance(source, io.BytesIO) and hasattr(source, "fileno"):
        try:
            return os.dup(source.fileno())
        except (OSError, io.UnsupportedOperation):
            pass
    copy = os.memfd_create("auditor-archive", os.MFD_CLOEXEC) if hasattr(os, "memfd_create") else _unlinked()
    try:
        if isinstance(source, io.BytesIO):
            _write(copy, source.getvalue())
            os.lseek(copy, 0, os.SEEK_SET)
            return copy
        held = 0
        while held <= SPOOLED:
            piece = source.read(1 << 16)
            if not piece:
                os.lseek(copy, 0, os.SEEK_SET)
                return copy
            _write(copy, piece)
            held += len(piece)
    except BaseException:
        os.close(copy)
        raise
    os.close(copy)
    return None


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _unlinked() -> int:
    """An anonymous file where memfd_create is missing: a private temporary file, unlinked."""
    fd, name = tempfile.mkstemp(prefix="auditor-archive-")
    os.unlink(name)
    return fd
