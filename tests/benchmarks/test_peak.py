"""tests/benchmarks/peak.py: a command's own peak memory, whatever the size of the process that
measures it (not a benchmark: it runs with the suite)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.benchmarks.peak import launcher_floor_kib, measured

_ALLOCATE = "b = bytearray({mib} << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\nraise SystemExit({code})"


def test_a_commands_peak_is_its_own_not_the_measurers() -> None:
    small = measured([sys.executable, "-c", _ALLOCATE.format(mib=40, code=3)])
    ballast = bytearray(300 << 20)  # this process grows past what the command uses
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    again = measured([sys.executable, "-c", _ALLOCATE.format(mib=40, code=3)])
    for run in (small, again):
        assert run.returncode == 3 and run.cpu > 0 and run.wall >= run.cpu / 4
        assert 40 < run.peak_mib < 120, run  # the 40 MiB and an interpreter, not this process's 300 more
    assert abs(again.peak_mib - small.peak_mib) < 10
    del ballast


def test_the_launcher_floor_is_small() -> None:
    assert 0 < launcher_floor_kib() < 32 * 1024


def test_a_command_past_its_time_is_killed() -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        measured(["sleep", "30"], timeout=0.5)
