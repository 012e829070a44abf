"""Crash safety, measured: 100 `auditor pki issue` processes killed at random points leave
no ghost certificate, a log that verifies, and nothing that blocks the next run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.pki.conftest import PASSPHRASE
from tests.pki.crashes import issue_command, kill_loop

pytestmark = pytest.mark.slow
RUNS = 100


def test_killed_issuances_leave_no_ghost_and_nothing_in_the_way(tmp_path: Path) -> None:
    figures = kill_loop(tmp_path, RUNS)
    print(f"\nkill loop: {figures.line()}")
    assert figures.runs == RUNS and figures.killed >= RUNS // 2
    assert figures.killed_in_window >= RUNS // 4  # the log/stage/sign/install window was hit often
    assert figures.ghosts == []
    assert figures.blocked == []
    assert figures.issued + figures.abandoned >= figures.killed_in_window  # each hit was recorded or closed
    # the next run of a killed issuance goes through (or says the node has its certificate)
    (tmp_path / "again").mkdir()
    for node in ("node-0000", "node-0001", "node-0002"):
        args = issue_command(tmp_path / "CA", node, tmp_path / "again" / node)[3:]
        r = run_cli(*args, env={"PKI_PASS": PASSPHRASE})
        assert r.code == 0 or "already has a valid nats-client certificate" in r.err, r.err
