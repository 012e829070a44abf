"""The cache seed shipped with auditor (auditor/_data/cache-seed/, tests/gen_cache_seed.py):
complete for a first demo scan, read only where the user's cache has no file, never written; and
the cache writers, which write a cache file only in a regular file's place."""

from __future__ import annotations

import os
import shutil
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


def _demo_scan(cache: Path) -> tuple[int, str]:
    """A demo scan with the cache folder `cache` and no seed: its exit code and JSON report
    (within a minute: a scan that waits for ever fails here)."""
    env = {**os.environ, "AUDITOR_CACHE_DIR": str(cache), SEED_OFF: "off"}
    run = subprocess.run([sys.executable, "-m", "auditor", "scan", "--target", "cim-prod-001", "--demo", "--format",
                          "json", "--no-store", "--at", "2026-12-05T12:00:00Z"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=False, timeout=60)
    assert "internal error" not in run.stderr, run.stderr[-500:]
    return run.returncode, run.stdout


def test_a_fifo_in_place_of_a_cache_file_is_replaced_never_written_to(tmp_path: Path) -> None:
    """Every cache writer wrote into a FIFO in place of its file (as auditor writes `-o
    /dev/stdout`), and so waited for ever for a reader: the scan never ended. A cache file is
    written only in a regular file's place; the report is the one a run without a cache makes."""
    fresh = _demo_scan(tmp_path / "fresh")
    files = sorted(p.relative_to(tmp_path / "fresh") for part in ("cel", "valid-documents", "yaml-documents", "lint")
                   for p in (tmp_path / "fresh" / part).glob("*"))
    assert {p.parts[0] for p in files} == {"cel", "valid-documents", "yaml-documents", "lint"}
    shutil.copytree(tmp_path / "fresh", tmp_path / "fifos", symlinks=True)  # the same demo node
    for name in files:
        (tmp_path / "fifos" / name).unlink()
        os.mkfifo(tmp_path / "fifos" / name)
    assert _demo_scan(tmp_path / "fifos") == fresh
    assert all((tmp_path / "fifos" / name).is_file() for name in files)
