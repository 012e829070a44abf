"""Hostile input, time against size: a secrets scan of `eyJhbGciOiJ.` repeated (issue 18
measured 23 s for 600,000 repetitions: a JWT-shaped prefix that never completes) must grow
linearly. Prints seconds per size and the ratio of each to the smallest, per repetition; a
linear scanner keeps that ratio near 1. Asserts nothing about time.

Run: `.venv/bin/python -m pytest tests/benchmarks/test_bench_hostile.py -m benchmark -s`
"""

from __future__ import annotations

import time

import pytest

from auditor._secrets.scanner import Scanner

pytestmark = pytest.mark.benchmark

SIZES = (60_000, 120_000, 600_000)


def test_jwt_prefix_repetitions_scan_in_linear_time() -> None:
    scanner = Scanner()
    per_rep = []
    for n in SIZES:
        data = b"eyJhbGciOiJ." * n
        start = time.perf_counter()
        scanner.scan_bytes(data, "hostile.txt")
        seconds = time.perf_counter() - start
        per_rep.append(seconds / n)
        print(f"eyJhbGciOiJ. x {n:>7,}: {seconds:6.2f} s  ({len(data) / 1e6:.1f} MB)")
    print("time per repetition, relative to the smallest size: "
          + ", ".join(f"{p / per_rep[0]:.2f}" for p in per_rep))
    assert len(per_rep) == len(SIZES)
