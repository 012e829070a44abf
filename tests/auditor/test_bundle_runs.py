"""Evaluating many bundles (auditor._bundle_runs): in a pool of processes or in this one, the
runs come back in the order given with the results a single evaluation gives, and a bundle
that cannot be read costs that bundle only."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import os
from pathlib import Path

import pytest

from auditor._bundle_runs import evaluate_bundles
from auditor._demo import DEMO_TARGET, demo_inventory
from auditor._exitcodes import ExitCode, result_exit_code
from auditor._fleet import FleetResult, TargetRun
from auditor._history.document import packed_ahead
from auditor._policy.catalog import Catalog
from auditor._scan import EvaluateOptions, collect, evaluate_bundle
from auditor.evidence.bundle import Bundle, read_bundle

NOW = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The demo's bundle, and copies of it with the records' resources and order changed."""
    folder = tmp_path_factory.mktemp("bundles")
    bundle = collect(demo_inventory().target(DEMO_TARGET), now=NOW)
    paths = []
    for n in range(4):
        records = [dataclasses.replace(r, resource=f"copy{n}/{r.resource}", id="") for r in bundle.records]
        copy = Bundle.create(bundle.target, bundle.created_at, records[n:] + records[:n])
        path = folder / f"b{n}.json"
        copy.write(path)
        paths.append(str(path))
    return paths


def _catalog() -> Catalog:
    inventory = demo_inventory()
    return Catalog.load(list(inventory.rule_paths), list(inventory.policy_paths))


@pytest.mark.parametrize(("jobs", "stored", "packs"), [(1, False, True), (2, False, True), (2, True, True),
                                                     (2, True, False)])
def test_runs_in_the_order_given_with_the_results_of_one_evaluation(bundles: list[str], tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     jobs: int, stored: bool, packs: bool) -> None:
    """In order, each result what evaluating its bundle alone gives. With the history (stored),
    a pool's workers pack each result's document ahead for `done` to store, and the result lets
    go of it after; a worker that fails to pack it leaves it to the history."""
    from auditor._history import document

    if not packs:
        def fails(_result: object) -> None:
            raise RuntimeError("packing failed")

        monkeypatch.setattr(document, "pack_ahead", fails)  # the forked workers inherit it
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "auditor-evidence-bundle"')
    paths = [bundles[2], str(broken), bundles[0], str(tmp_path / "missing.json"), bundles[1], bundles[3]]
    options = EvaluateOptions(now=NOW)
    seen: list[str] = []
    progress: list[tuple[int, int]] = []

    packed: list[bool] = []
    frozen: list[bool] = []

    def done(run: TargetRun) -> TargetRun:
        seen.append(run.target)
        frozen.append(gc.get_freeze_count() > 0)  # what lived before the runs is left out of collections
        if run.result is not None:
            packed.append(packed_ahead(run.result))
        return dataclasses.replace(run, scan_id=len(seen))

    runs = evaluate_bundles(paths, options, _catalog(), jobs=jobs, done=done, stored=stored,
                            progress=lambda d, t, _running: progress.append((d, t)))
    assert [r.target for r in runs.runs] == paths
    assert sorted(seen) == sorted(paths) and sorted(r.scan_id or 0 for r in runs.runs) == list(range(1, 7))
    assert progress[-1] == (6, 6)
    for path, run in zip(paths, runs.runs, strict=True):
        if path in bundles:
            alone = evaluate_bundle(read_bundle(Path(path)), options, catalog=_catalog())
            assert run.result is not None and run.error == ""
            assert run.result.to_dict() == alone.to_dict()
            assert not packed_ahead(run.result)  # let go of once stored
            assert run.exit_code == result_exit_code(alone)
        else:
            assert run.result is None and run.exit_code == ExitCode.USAGE
            assert Path(path).name in run.error
    assert runs.exit_code == ExitCode.USAGE  # the worst: a bundle that could not be read
    assert packed == [stored and packs] * len(bundles)  # what `done` (the history) was given
    assert frozen == [True] * len(paths)
    assert gc.get_freeze_count() == 0  # the objects frozen for the runs are not left so


@pytest.mark.parametrize("jobs", [1, 2])
def test_results_held_for_the_summary_let_go_of_what_storing_them_made(bundles: list[str], tmp_path: Path,
                                                                        jobs: int) -> None:
    """Stored as they come (store_run), the runs are held to the end for the summary: storing
    left nothing on a result (no packed document a worker made, nothing made for the stored
    document: a result evaluated alone and never stored holds as much), and each result is the
    same as the history reads back."""
    from auditor._fleet import store_run
    from auditor._history.sqlite import SQLiteStore

    options = EvaluateOptions(now=NOW)
    with SQLiteStore(tmp_path / "h.sqlite") as store:
        runs = evaluate_bundles(bundles, options, _catalog(), jobs=jobs, stored=True,
                                done=lambda run: store_run(run, store, origin="evaluate"))
        for run in runs.runs:
            assert run.result is not None and run.scan_id is not None
            assert not packed_ahead(run.result)
            alone = evaluate_bundle(read_bundle(Path(run.target)), options, catalog=_catalog())
            assert store.result(run.scan_id).to_dict() == run.result.to_dict() == alone.to_dict()
            assert set(run.result.__dict__) <= set(alone.__dict__), set(run.result.__dict__) - set(alone.__dict__)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_worker_sends_back_what_the_caller_reads_of_a_run(bundles: list[str], tmp_path: Path, jobs: int) -> None:
    """With `sent`, a pool's worker sends each run back as `sent` makes it: its counts
    (TargetRun.summarised), or its counts and its part of a JSON summary (TargetRun.parted),
    not its result, which this process would otherwise take back whole. What the caller gets
    is what `sent` makes of the whole run. A run to be stored is always sent whole."""
    import json

    from auditor._fleet import SpooledRuns

    broken = tmp_path / "broken.json"
    broken.write_text("{")
    paths = [bundles[0], str(broken), bundles[1]]
    options = EvaluateOptions(now=NOW)
    whole = evaluate_bundles(paths, options, _catalog(), jobs=jobs).runs
    given: list[TargetRun] = []

    def done(run: TargetRun) -> TargetRun:
        given.append(run)
        return run

    counted = evaluate_bundles(paths, options, _catalog(), jobs=jobs, done=done, sent=TargetRun.summarised).runs
    assert all(run.result is None for run in given) and len(given) == 3
    assert [r.counts for r in counted] == [r.counts for r in whole] and counted[0].counts is not None
    assert [(r.target, r.exit_code, r.error) for r in counted] == [(r.target, r.exit_code, r.error) for r in whole]
    given.clear()
    parted = evaluate_bundles(paths, options, _catalog(), jobs=jobs, done=done, sent=TargetRun.parted).runs
    assert all(run.result is None for run in given) and {r.target: r.part is not None for r in given} == {
        paths[0]: True, paths[1]: False, paths[2]: True}

    with SpooledRuns() as spool:
        kept = [spool.keep(run) for run in parted]
        assert all(run.part is None for run in kept)  # held by its counts, its part in the file
        document = json.loads("".join(spool.document(FleetResult(tuple(kept)))))
    with SpooledRuns() as spool:
        expected = json.loads("".join(spool.document(FleetResult(tuple(spool.keep(run) for run in whole)))))
    for target in (*document["targets"], *expected["targets"]):
        target["seconds"] = 0
    assert document == expected and document["targets"][0]["result"]["findings"]
    with pytest.raises(ValueError, match="sent back whole"):
        evaluate_bundles(paths, options, _catalog(), jobs=jobs, stored=True, sent=TargetRun.summarised)
    where = {int(r.note) for r in evaluate_bundles(paths, options, _catalog(), jobs=jobs, sent=_where_made).runs}
    assert (where == {os.getpid()}) if jobs == 1 else (os.getpid() not in where)  # in the workers, in a pool


def _where_made(run: TargetRun) -> TargetRun:
    """`run` summarised, its note the id of the process that made it (a `sent`)."""
    return dataclasses.replace(run.summarised(), note=str(os.getpid()))


def _with_target(bundle: Bundle, path: Path, **changes: object) -> str:
    """`bundle` written to `path` with its target's description changed (its digest made anew,
    as anyone holding the bundle can)."""
    Bundle.create({**bundle.target, **changes}, bundle.created_at, bundle.records).write(path)
    return str(path)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_bundle_is_judged_by_the_inventory_entry_of_its_target(tmp_path: Path, jobs: int) -> None:
    """A bundle that describes its target as weaker than the inventory does (another environment,
    a weaker pack, no vars) is judged by the inventory's entry, saying so: it gets the verdict of
    the bundle as collected, not a better one. A target the inventory does not know is judged as
    its bundle describes it, saying that."""
    bundle = collect(demo_inventory().target(DEMO_TARGET), now=NOW)
    options = EvaluateOptions(now=NOW)
    collected = evaluate_bundle(bundle, options, catalog=_catalog())
    weak = _with_target(bundle, tmp_path / "weak.json", environment="staging", policies=["pss-baseline"], vars={})
    unknown = _with_target(bundle, tmp_path / "unknown.json", name="cim-prod-999")
    same = _with_target(bundle, tmp_path / "same.json")

    runs = evaluate_bundles([weak, unknown, same], options, _catalog(), jobs=jobs, inventory=demo_inventory())
    judged, other, unchanged = runs.runs
    assert judged.result is not None and other.result is not None and unchanged.result is not None
    for run in (judged, unchanged):
        assert run.result is not None
        assert run.result.findings == collected.findings
        assert run.result.verdict.headline() == collected.verdict.headline()
        assert run.result.target["environment"] == "production"
    assert "judged by the inventory's entry for target 'cim-prod-001'" in judged.note
    assert judged.note.endswith("which differs in environment, policies, vars") and judged.note.startswith(weak)
    assert unchanged.note == ""
    assert other.note.startswith(f"{unknown}: target 'cim-prod-999' is not in the inventory (")
    assert "judged as the bundle describes it (environment 'production', policies cim-production" in other.note
    assert [(f.rule_id, f.status) for f in other.result.findings] == [(f.rule_id, f.status) for f in collected.findings]
    assert other.result.target["name"] == "cim-prod-999"

    # without an inventory each bundle is judged as it describes itself: the weaker verdict the
    # inventory's entry prevents above
    alone = evaluate_bundles([weak, unknown], options, _catalog(), jobs=jobs).runs[0]
    assert alone.result is not None and alone.note == ""
    assert alone.result.summary.rule_hits < collected.summary.rule_hits
    assert alone.result.target["environment"] == "staging"


@pytest.mark.parametrize("jobs", [1, 2])
def test_old_evidence_is_noted_and_max_age_refuses_it(bundles: list[str], jobs: int) -> None:
    """A verdict speaks of the node as it was when its evidence was collected: evidence over a
    day older than the time judged is named in the run's note, evidence from after it too, and
    `max_age` refuses older evidence (that bundle only: exit 2, as a bundle that cannot be
    read); evidence of the last day is judged without a note."""
    catalog = _catalog()
    fresh = evaluate_bundles(bundles[:1], EvaluateOptions(now=NOW + dt.timedelta(hours=20)), catalog, jobs=jobs)
    assert fresh.runs[0].note == "" and fresh.runs[0].result is not None

    later = EvaluateOptions(now=NOW + dt.timedelta(days=10))
    old = evaluate_bundles(bundles[:2], later, catalog, jobs=jobs)
    for path, run in zip(bundles, old.runs, strict=False):
        assert run.result is not None
        assert run.note == (f"{path}: evidence collected 2026-11-23T12:00:00Z, 10 days before the time judged "
                            "(2026-12-03T12:00:00Z): the verdict speaks of the node as it was then")

    refused = evaluate_bundles(bundles[:2], later, catalog, jobs=jobs, max_age=dt.timedelta(days=7))
    assert [r.exit_code for r in refused.runs] == [ExitCode.USAGE] * 2 and refused.exit_code == ExitCode.USAGE
    assert refused.runs[0].result is None
    assert refused.runs[0].error == (f"{bundles[0]}: evidence collected 2026-11-23T12:00:00Z, 10 days before the time "
                                     "judged (2026-12-03T12:00:00Z): older than --max-age (7 days) allows")
    soon = evaluate_bundles(bundles[:1], EvaluateOptions(now=NOW + dt.timedelta(minutes=40)), catalog, jobs=jobs,
                            max_age=dt.timedelta(minutes=30))
    assert soon.runs[0].error.endswith("40 minutes before the time judged (2026-11-23T12:40:00Z): older than "
                                       "--max-age (30 minutes) allows")
    kept = evaluate_bundles(bundles[:1], later, catalog, jobs=jobs, max_age=dt.timedelta(days=11))
    assert kept.runs[0].result is not None

    before = evaluate_bundles(bundles[:1], EvaluateOptions(now=NOW - dt.timedelta(days=2)), catalog, jobs=jobs)
    assert before.runs[0].note.endswith("after the time judged (2026-11-21T12:00:00Z): it is judged as of a time "
                                        "before it existed")
