"""Permission analysis of a config with 1,000 users x 50 patterns each (target: under 2 s)."""

from __future__ import annotations

import time

import pytest

from auditor.nats.conf import parse_text
from auditor.nats.config import interpret
from auditor.nats.permissions import can_publish, can_subscribe

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
    matrix = [u.evidence() for u in cfg.users]  # every user's permissions and reach of >, $SYS.>, $JS.API.>
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
