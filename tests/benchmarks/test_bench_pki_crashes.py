"""The kill loop of issue 16 at length: 400 `auditor pki issue` processes killed at random.
Run: .venv/bin/python -m pytest tests/benchmarks/test_bench_pki_crashes.py -m benchmark -s"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pki.crashes import kill_loop

pytestmark = pytest.mark.benchmark


@pytest.mark.timeout(1800)
def test_kill_loop_at_length(tmp_path: Path) -> None:
    figures = kill_loop(tmp_path, 400, workers=4, seed=23)
    print(f"\nkill loop: {figures.line()}")
    for line in figures.ghosts + figures.blocked:
        print(f"  {line}")
    assert figures.ghosts == [] and figures.blocked == []
