"""`auditor scan` and `evaluate` of one target run with the collector off, a fleet scan with
fewer young-generation collections; either way the collector is as it was after."""

from __future__ import annotations

import argparse
import gc

import pytest

from auditor._cli import _fleet, scan
from auditor._gcpause import YOUNG_OBJECTS
from tests.auditor.test_gcpause import collecting  # noqa: F401 - the fixture: the collector on, as it was after

pytestmark = pytest.mark.usefixtures("collecting")


def test_a_scan_of_one_target_runs_with_the_collector_off_and_turns_it_on_again(monkeypatch: pytest.MonkeyPatch) -> None:
    before = gc.get_threshold()
    seen = []

    def fake(args: argparse.Namespace) -> int:
        seen.append(gc.isenabled())
        if args.fail:
            raise RuntimeError("boom")
        return 7

    monkeypatch.setattr(scan, "_run_scan", fake)
    monkeypatch.setattr(_fleet, "requested", lambda args: False)
    assert scan.run_scan(argparse.Namespace(fail=False)) == 7
    with pytest.raises(RuntimeError):
        scan.run_scan(argparse.Namespace(fail=True))
    assert seen == [False, False]
    assert gc.isenabled() and gc.get_threshold() == before


def test_a_fleet_scan_collects_less_often_and_restores_the_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    before = gc.get_threshold()
    seen = []

    def fake(args: argparse.Namespace) -> int:
        seen.append((gc.isenabled(), gc.get_threshold()))
        return 1

    monkeypatch.setattr(_fleet, "requested", lambda args: True)
    monkeypatch.setattr(_fleet, "run", fake)
    assert scan.run_scan(argparse.Namespace()) == 1
    assert seen == [(True, (YOUNG_OBJECTS, *before[1:]))]
    assert gc.get_threshold() == before != seen[0][1]


def test_evaluating_one_bundle_runs_with_the_collector_off(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []

    def fake(args: argparse.Namespace) -> int:
        seen.append(gc.isenabled())
        return 3

    monkeypatch.setattr(scan, "_evaluate_one", fake)
    assert scan.run_evaluate(argparse.Namespace(bundle=["b.json"], jobs=None)) == 3
    assert seen == [False]
    assert gc.isenabled()


def test_when_the_process_ends_with_the_scan_the_collector_stays_off_and_its_values_are_kept(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The program (auditor._cli.run) ends the process with os._exit once the command returns:
    nothing is gained by collecting, or freeing the result, first."""
    from auditor import _ending

    kept: list[object] = []
    monkeypatch.setattr(_ending, "_KEPT", kept)
    result = object()

    def fake(args: argparse.Namespace) -> int:
        _ending.keep_until_exit(result)
        return 0

    monkeypatch.setattr(scan, "_run_scan", fake)
    monkeypatch.setattr(_fleet, "requested", lambda args: False)
    assert scan.run_scan(argparse.Namespace()) == 0
    assert gc.isenabled() and kept == []  # the library, a test: back on, nothing kept
    monkeypatch.setattr(_ending, "ENDING", True)
    try:
        assert scan.run_scan(argparse.Namespace()) == 0
        assert not gc.isenabled() and kept == [result]
    finally:
        gc.enable()
