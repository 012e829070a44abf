"""Packed test data made in memory: gzip, zip and tar, as the leak scan's tests, the probe and
the benchmarks build it."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile


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
