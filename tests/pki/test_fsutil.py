"""Atomic writes: a regular file is replaced whole; a FIFO or device is written to, never replaced."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from pki.fsutil import atomic_write


def test_a_regular_file_is_replaced_with_the_mode_given(tmp_path: Path) -> None:
    target = tmp_path / "key.pem"
    target.write_bytes(b"old")
    atomic_write(target, b"new", mode=0o600)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["key.pem"]  # no temporary file left


def test_a_fifo_is_written_to_and_stays_a_fifo(tmp_path: Path) -> None:
    """What `-o /dev/null` or `-o /dev/stdout` needs: renaming over them would replace them."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    atomic_write(fifo, b"findings\n")
    reader.join(timeout=10)
    assert received == [b"findings\n"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]
