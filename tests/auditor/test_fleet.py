"""Fleet runs: every target in its own process, bounded concurrency, time limits, and one
bad target never stopping the others."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor import _fleet as fleet_module
from auditor._exitcodes import ExitCode
from auditor._fleet import (
    FleetOptions,
    FleetResult,
    SpooledRuns,
    TargetRun,
    run_fleet,
    worst_exit_code,
)
from auditor._history.sqlite import SQLiteStore
from auditor._inventory.load import load_inventory
from auditor._models import Finding, RedactedResult, ScanResult, Severity, Status
from auditor._redact import redact_result
from auditor._scan import EvaluateOptions
from tests.auditor._schedule.serving import demo_copy
from tests.conftest import run_cli

pytestmark = pytest.mark.slow

BAD_AND_HANGING = """\
  - name: misconfigured
    environment: production
    tags: [cim]
    policies: [no-such-pack]
    root: cim-prod-001
    sources:
      - {collector: certificates, paths: [etc/nats/certs]}
  - name: hanging
    environment: production
    tags: [cim]
    policies: [cim-production]
    root: cim-prod-001
    sources:
      - {collector: tls, timeout: 120, endpoints: [{host: 127.0.0.1, port: PORT}]}
"""
@pytest.fixture
def silent_port() -> Iterator[int]:
    """A local port whose listener accepts connections (in the kernel's backlog) and never
    answers: a TLS handshake with it waits until the collector's own timeout (120 s). A FIFO
    no longer serves: auditor refuses to open one (issue 18)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


def fleet_inventory(tmp: Path, port: int) -> Path:
    inventory = demo_copy(tmp, extra_targets=BAD_AND_HANGING.replace("PORT", str(port)))
    return inventory


def test_one_failing_target_never_stops_the_others(tmp_path: Path, silent_port: int) -> None:
    inventory = load_inventory(fleet_inventory(tmp_path, silent_port))
    seen: list[int] = []
    lock = threading.Lock()

    def progress(done: int, total: int, running: Sequence[str]) -> None:
        with lock:
            seen.append(len(running))
        assert total == 3 and 0 <= done <= total

    with SQLiteStore(tmp_path / "h.sqlite") as store:
        fleet = run_fleet(
            inventory.targets, EvaluateOptions(), FleetOptions(concurrency=2, timeout=4.0),
            store=store, progress=progress,
        )
        stored = store.entries(None)
    good, bad, hanging = fleet.runs
    assert [r.target for r in fleet.runs] == ["cim-prod-001", "misconfigured", "hanging"]
    assert good.exit_code == ExitCode.FINDINGS and good.result is not None and good.scan_id is not None
    assert bad.exit_code == ExitCode.USAGE and "no-such-pack" in bad.error and bad.result is None
    assert hanging.timed_out and hanging.exit_code == ExitCode.COLLECTION_FAILED and "timed out" in hanging.error
    assert fleet.exit_code == ExitCode.USAGE  # the worst: a target that could not be scanned at all
    assert [e.target for e in stored] == ["cim-prod-001"]
    assert max(seen) <= 2  # never more than --concurrency at once


def test_a_summarised_fleet_keeps_each_runs_counts_not_its_result(tmp_path: Path) -> None:
    """Held summarised (a text summary's run): each run is stored whole, then held by its counts
    only; the counts are those of the stored result."""
    inventory = load_inventory(demo_copy(tmp_path))
    with SQLiteStore(tmp_path / "h.sqlite") as store:
        fleet = run_fleet(inventory.targets, EvaluateOptions(), store=store, held=TargetRun.summarised)
        (run,) = fleet.runs
        assert run.result is None and run.counts is not None and run.scan_id is not None
        stored = store.result(run.scan_id)
    assert run.counts == stored.summary and run.counts.by_status["fail"] > 0
    assert run.exit_code == ExitCode.FINDINGS and fleet.exit_code == ExitCode.FINDINGS


def test_worst_exit_code_order() -> None:
    assert worst_exit_code([]) == 0
    assert worst_exit_code([0, 1, 0]) == 1
    assert worst_exit_code([1, 3]) == 3
    assert worst_exit_code([1, 4, 0]) == 4 and worst_exit_code([4, 3]) == 3  # INCOMPLETE: above findings
    assert worst_exit_code([70, 4]) == 70 and worst_exit_code([4, 70]) == 70
    assert worst_exit_code([3, 2, 1]) == 2
    assert worst_exit_code([2, 70]) == 70
    assert worst_exit_code([0, 99]) == 99  # unknown codes count as the worst


def test_cli_all_and_tag(tmp_path: Path, silent_port: int) -> None:
    inventory = str(fleet_inventory(tmp_path, silent_port))
    env = {"AUDITOR_DB": str(tmp_path / "h.sqlite")}
    run = run_cli("scan", "--all", "--inventory", inventory, "--timeout", "4s", env=env)
    assert run.code == 2, run.err
    lines = run.out.splitlines()
    assert lines[0].split()[:3] == ["target", "result", "exit"]
    assert lines[1].split()[:3] == ["cim-prod-001", "NOT", "READY"]
    assert "NOT SCANNED" in lines[2] and "TIMED OUT" in lines[3]
    assert "misconfigured: " in run.out and "unknown policy pack 'no-such-pack'" in run.out
    assert "exit code 2 (the worst of the targets)" in run.out

    only_demo = run_cli("scan", "--tag", "demo", "--inventory", inventory, "--format", "json", env=env)
    assert only_demo.code == 1, only_demo.err
    import json

    doc = json.loads(only_demo.out)
    assert doc["format"] == "auditor-fleet" and [t["target"] for t in doc["targets"]] == ["cim-prod-001"]
    assert doc["targets"][0]["result"]["target"]["name"] == "cim-prod-001"
    assert doc["targets"][0]["scan_id"] == 2

    for args, fragment in (
        (("--tag", "nope"), "no target has tag 'nope'"),
        (("--all", "--concurrency", "0"), "--concurrency"),
        (("--all", "--timeout", "soon"), "--timeout"),
        (("--all", "--bundle", "b.json"), "--bundle"),
    ):
        bad = run_cli("scan", "--inventory", inventory, *args, env=env)
        assert bad.code == 2 and fragment in bad.err and "Traceback" not in bad.err, (args, bad.err)
    both = run_cli("scan", "--target", "cim-prod-001", "--all", env=env)
    assert both.code == 2 and "not allowed with" in both.err


def _result_of(name: str, message: str) -> RedactedResult:
    finding = Finding("R-1", "a title", "area", Severity.HIGH, Status.FAIL, f"{name}/r", message, ("ev-1",))
    return redact_result(ScanResult(target={"name": name}, policies=("p",), evaluated_at="2026-01-01T00:00:00Z",
                                    tool={"name": "auditor"}, bundle_digest="d", findings=(finding,)))


def _document_of(fleet: FleetResult) -> str:
    return json.dumps(fleet.to_dict(), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def test_spooled_runs_make_the_document_of_the_runs_as_they_were() -> None:
    """A JSON summary spooled run by run (as each ends, out of order, the same bundle twice) is
    the text json makes of the runs with their results, while each run held is its counts only
    (no result in memory). Lines within strings (U+2028, U+0085), quotes, backslashes and a lone
    surrogate (a file name's undecodable byte) come back as they were."""
    runs = [TargetRun("b1.json", 1, _result_of("b1", 'one\u2028two \x85 "q" \\ é \udcff'), seconds=1.25, scan_id=3,
                      note="old evidence"),
            TargetRun("b2.json", 2, error="cannot read b2.json: not JSON"),
            TargetRun("b3.json", 1, _result_of("b3", "x"), store_error="database is locked"),
            TargetRun("b1.json", 1, _result_of("b1", "again"), timed_out=False)]
    with SpooledRuns() as spool:
        held = {i: spool.keep(runs[i]) for i in (2, 0, 3, 1)}
        assert all(h.result is None for h in held.values())
        assert [held[i].counts for i in range(4)] == [r.counts for r in runs]
        spooled = FleetResult(tuple(held[i] for i in range(4)))
        assert spooled.exit_code == FleetResult(tuple(runs)).exit_code
        assert "".join(spool.document(spooled)) == _document_of(FleetResult(tuple(runs)))
        assert "".join(spool.document(FleetResult(()))) == _document_of(FleetResult(()))
        # a run that was not spooled (held as it is) is written from itself
        assert "".join(spool.document(FleetResult((runs[0], held[2])))) == _document_of(
            FleetResult((runs[0], runs[2])))


def test_a_temporary_folder_that_cannot_be_written_is_a_located_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No folder to spool in (TMPDIR missing, or full): a ConfigError naming it and what to do,
    never an internal error; a spool that keeps nothing (a text summary) makes no file at all."""
    import tempfile

    from auditor.errors import ConfigError

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    run = TargetRun("b1.json", 1, _result_of("b1", "x"))
    with SpooledRuns() as spool:
        assert "".join(spool.document(FleetResult((run,)))) == _document_of(FleetResult((run,)))
        with pytest.raises(ConfigError, match="set TMPDIR") as caught:
            spool.keep(run)
    assert caught.value.file == str(tmp_path / "missing")


_any_text = st.text(st.characters(blacklist_categories=()), max_size=12)  # lone surrogates, controls, U+2028
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | _any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_any_text, inner, max_size=4), max_leaves=25)


@settings(max_examples=400)
@given(_json_values)
def test_the_summary_is_written_as_json_writes_it(value: object) -> None:
    """msgspec writes the summary's JSON; the text is json's, indented and sorted, for any plain
    value (floats with exponents, NaN and the infinities, 70-bit integers, lone surrogates,
    control characters: json writes what msgspec cannot)."""
    assert fleet_module._dumps(value) == json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False)
