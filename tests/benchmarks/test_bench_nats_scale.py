"""Issue 18, scale: a scan of a nats.conf with 1,000, 10,000 and 100,000 users; prints the wall
and CPU time, peak RSS and report size of each (target: under 1 GB and linear time: the seconds
per 1,000 users stay flat). Run:

    .venv/bin/python -m pytest tests/benchmarks/test_bench_nats_scale.py -m benchmark -s

AUDITOR_BENCH_USERS=1000,10000 picks other sizes. Each scan is a whole `auditor scan` process
(interpreter start included) on a one-source inventory; nothing about time is asserted.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.benchmarks.conftest import Recorder
from tests.benchmarks.peak import measured

pytestmark = pytest.mark.benchmark

SIZES = tuple(int(n) for n in os.environ.get("AUDITOR_BENCH_USERS", "1000,10000,100000").split(","))


def nats_conf(users: int) -> str:
    rows = ",\n".join(
        f'    {{user: u{i}, password: "p{i}-not-a-real-password", '
        f'permissions: {{publish: ["svc.{i}.>"], subscribe: ["_INBOX.>", "events.>"]}}}}'
        for i in range(users)
    )
    return f"port: 4222\nauthorization {{\n  users: [\n{rows}\n  ]\n}}\n"


INVENTORY = """version: 1
targets:
  - name: big
    root: node
    environment: production
    policies: [cim-production]
    sources:
      - collector: nats-config
        name: nats-config
        paths: [etc/nats/nats.conf]
"""


def scan(folder: Path, users: int, *, store: bool) -> tuple[float, float, int, int, int]:
    """(wall seconds, CPU seconds, peak RSS in KiB, report bytes, exit code) of one scan; with
    `store`, the result is stored in a new history database (the default of a scan)."""
    conf = folder / "node" / "etc" / "nats" / "nats.conf"
    if not conf.exists():
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(nats_conf(users))
        (folder / "inv.yaml").write_text(INVENTORY)
    report = folder / "report.json"
    history = ["--db", str(folder / "history.sqlite")] if store else ["--no-store"]
    done = measured([sys.executable, "-m", "auditor", "scan", "--target", "big", "--inventory", str(folder / "inv.yaml"),
                     *history, "--format", "json", "-o", str(report)])  # its own peak RSS (tests/benchmarks/peak.py)
    return done.wall, done.cpu, round(done.peak_mib * 1024), report.stat().st_size if report.exists() else 0, \
        done.returncode


@pytest.mark.timeout(3600)
def test_scan_of_a_nats_conf_with_many_users(tmp_path: Path, bench_record: Recorder) -> None:
    rows = []
    for users in SIZES:
        for store in (False, True):
            seconds, cpu, rss, size, code = scan(tmp_path / str(users), users, store=store)
            assert code in (0, 1, 4), code  # a verdict: the scan ran (not 2, a refused input; 3, a source failed; 70)
            rows.append((users, store, seconds, cpu, rss, size, code))
    print(f"\nload average {os.getloadavg()[0]:.1f}")
    print("  users  history   wall s    CPU s   CPU s/1k users   peak RSS MiB   report MiB   exit")
    for users, store, seconds, cpu, rss, size, code in rows:
        print(f"{users:>7,} {'stored' if store else 'no':>8} {seconds:>8.1f} {cpu:>8.1f} {cpu / users * 1000:>16.2f} "
              f"{rss / 1024:>14.0f} {size / 2**20:>12.1f} {code:>6}")
    figures = "; ".join(
        f"{users:,} users {'stored' if store else 'not stored'}: {cpu:.1f} s CPU ({cpu / users * 1000:.2f} s per 1k), "
        f"{rss / 1024:.0f} MiB peak"
        for users, store, _seconds, cpu, rss, _size, _code in rows)
    bench_record("nats-scale", "a scan of a nats.conf with many users (JSON report, whole process; target "
                 "under 1 GB and linear)", figures)
