"""`auditor scan` runs with fewer young-generation collections, and puts the thresholds back."""

from __future__ import annotations

import argparse
import gc

import pytest

from auditor._cli import scan
from auditor._gcpause import YOUNG_OBJECTS


def test_a_scan_collects_less_often_and_restores_the_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    before = gc.get_threshold()
    seen = []

    def fake(args: argparse.Namespace) -> int:
        seen.append(gc.get_threshold())
        if args.fail:
            raise RuntimeError("boom")
        return 7

    monkeypatch.setattr(scan, "_run_scan", fake)
    assert scan.run_scan(argparse.Namespace(fail=False)) == 7
    with pytest.raises(RuntimeError):
        scan.run_scan(argparse.Namespace(fail=True))
    assert seen == [(YOUNG_OBJECTS, *before[1:])] * 2
    assert gc.get_threshold() == before != seen[0]


def test_evaluating_one_bundle_collects_less_often_and_restores_the_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    before = gc.get_threshold()
    seen = []

    def fake(args: argparse.Namespace) -> int:
        seen.append(gc.get_threshold())
        return 3

    monkeypatch.setattr(scan, "_evaluate_one", fake)
    assert scan.run_evaluate(argparse.Namespace(bundle=["b.json"], jobs=None)) == 3
    assert seen == [(YOUNG_OBJECTS, *before[1:])]
    assert gc.get_threshold() == before
