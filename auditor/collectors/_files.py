"""Reading evidence files for collectors: bounded in size, so a huge file cannot exhaust memory."""

from __future__ import annotations

from pathlib import Path

MAX_FILE_BYTES = 8 * 1024 * 1024
"""Evidence files larger than this (8 MiB) are not read; the collector reports them."""


class FileTooLarge(Exception):
    pass


def read_bounded(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    with path.open("rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise FileTooLarge(f"larger than the {limit}-byte limit")
    return data
