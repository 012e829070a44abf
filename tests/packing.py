"""Packed test data: gzip, zip and tar made in memory, 7z made by the real 7-Zip (Debian 7zip),
as the leak scan's tests, the probe and the benchmarks build it."""

from __future__ import annotations

import gzip
import io
import subprocess
import tarfile
import tempfile
import zipfile
from pathlib import Path


def gzipped(data: bytes) -> bytes:
    """`data` gzipped, the same bytes every time (no time in the header)."""
    return gzip.compress(data, mtime=0)


def zipped(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip archive of `members` (name: content), each stored with `method`."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def tarred(members: dict[str, bytes], fmt: int = tarfile.GNU_FORMAT) -> bytes:
    """A tar archive of `members` (name: content), regular files, in format `fmt`."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def seven_zipped(members: dict[str, bytes], *options: str) -> bytes:
    """A 7z archive of `members` (name: content) made by 7-Zip's `7zz a` with `options` (e.g.
    `-pPASSWORD`, `-mhe=on`, `-ms=off`); folders in the names are made."""
    from tests.servers import tool

    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch, "tree")
        for name, data in members.items():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            (tree / name).write_bytes(data)
        subprocess.run([tool("7zz", "Debian 7zip"), "a", "-bd", "-bso0", *options, str(Path(scratch, "out.7z")), "."],
                       cwd=tree, check=True, capture_output=True, timeout=120)
        return Path(scratch, "out.7z").read_bytes()
