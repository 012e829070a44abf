"""The cache seed shipped with auditor (auditor/_data/cache-seed/, tests/gen_cache_seed.py):
complete for a first demo scan, read only where the user's cache has no file, never written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from auditor._cache import SEED_OFF, cache_root, read_cached, seed_dir
from pki.fsutil import ReadError

ROOT = Path(__file__).resolve().parents[2]


def test_a_first_demo_scan_with_the_seed_learns_nothing() -> None:
    run = subprocess.run([sys.executable, "-m", "tests.gen_cache_seed", "--check"], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr


def test_the_seed_is_read_only_where_the_cache_has_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDITOR_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv(SEED_OFF, raising=False)
    shipped = sorted(seed_dir().glob("cel/*.msgpack"))
    assert shipped, "no compiled CEL programs in the seed"
    name = shipped[0].relative_to(seed_dir())
    assert read_cached(cache_root() / name) == shipped[0].read_bytes()
    assert not (tmp_path / name).exists()  # reading the seed writes nothing
    (tmp_path / name).parent.mkdir(parents=True)
    (tmp_path / name).write_bytes(b"the user's own")
    assert read_cached(cache_root() / name) == b"the user's own"
    with pytest.raises(ReadError, match="larger than"):
        read_cached(cache_root() / name, max_bytes=3)
    (tmp_path / "fifo").mkdir()
    os.mkfifo(tmp_path / "fifo" / "x.msgpack")
    with pytest.raises(ReadError, match="FIFO"):  # never opened, never blocks
        read_cached(cache_root() / "fifo" / "x.msgpack")
    monkeypatch.setenv(SEED_OFF, "off")
    (tmp_path / name).unlink()
    with pytest.raises(FileNotFoundError):
        read_cached(cache_root() / name)
    monkeypatch.delenv(SEED_OFF)
    with pytest.raises(FileNotFoundError):  # a seed of another version: another name, never found
        read_cached(cache_root() / "cel" / "000000000000000000000000.msgpack")
