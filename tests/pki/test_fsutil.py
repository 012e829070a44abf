"""Atomic writes: a regular file is replaced whole; a FIFO or device is written to, never replaced."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from pki import fsutil
from pki.fsutil import atomic_write, unsynced


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


def test_writes_are_forced_to_disk_except_in_an_unsynced_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real CA's writes are fsync'ed (files, folders, its log, its inventory's commits); only
    a staging tree built inside `unsynced()` (the demo's) is not, and only within the block."""
    from pki import log
    from pki.inventory import Inventory

    synced: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", counting)

    def writes(name: str) -> tuple[int, int]:
        synced.clear()
        atomic_write(tmp_path / f"{name}.pem", b"x")
        log.append(tmp_path / f"{name}.jsonl", event="init")
        with Inventory(tmp_path / f"{name}.sqlite", create=True) as inv:
            mode = inv.db.execute("PRAGMA synchronous").fetchone()[0]
        return len(synced), mode

    count, mode = writes("durable")
    assert count >= 3 and mode == 2  # FULL: SQLite's default
    with unsynced():
        assert not fsutil.synced()
        assert writes("staged") == (0, 0)  # OFF
    assert fsutil.synced()
    assert writes("again") == (count, 2)
