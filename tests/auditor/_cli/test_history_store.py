"""Storing a result in the history while it is printed (auditor._cli._history.Storing): stored
once printed, never when the output fails, and the same rows either way."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pytest

from auditor._cli._history import Storing
from auditor._demo import demo_inventory
from auditor._history.sql import SQLStore
from auditor._history.sqlite import SQLiteStore
from auditor._models import RedactedResult
from auditor._scan import scan_target
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def demo_result() -> RedactedResult:
    return scan_target(demo_inventory().target("cim-prod-001"))[1]


def _args(db: Path) -> argparse.Namespace:
    return argparse.Namespace(db=str(db), no_store=False, format="json")


def _scans(db: Path) -> int:
    with SQLiteStore(db, create=False) as store:
        return len(store.entries(None))


def test_stored_once_printed(tmp_path: Path, demo_result: RedactedResult, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "history.sqlite"
    storing = Storing(_args(db), demo_result, origin="scan")
    time.sleep(0.2)  # the rows are written meanwhile, not committed
    assert storing.done() == 1  # the scan's exit code
    assert f"auditor: stored as scan 1 in {db}" in capsys.readouterr().err
    with SQLiteStore(db, create=False) as store:
        assert store.result(1).to_dict() == demo_result.to_dict() and store.check() == []


def test_an_output_that_fails_stores_nothing(tmp_path: Path, demo_result: RedactedResult, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "history.sqlite"
    storing = Storing(_args(db), demo_result, origin="scan")
    time.sleep(0.2)
    storing.abandon()
    assert _scans(db) == 0 and "stored" not in capsys.readouterr().err


def test_a_slow_output_is_stored_after_it(tmp_path: Path, demo_result: RedactedResult, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Past WAIT the thread lets go of the history's write lock (rolls back); done() stores it then."""
    monkeypatch.setattr(Storing, "WAIT", 0.01)
    db = tmp_path / "history.sqlite"
    storing = Storing(_args(db), demo_result, origin="scan")
    assert storing._thread is not None
    storing._thread.join(timeout=60)  # given up waiting: nothing stored yet, the lock let go
    assert _scans(db) == 0
    assert storing.done() == 1 and "stored as scan 1" in capsys.readouterr().err
    assert _scans(db) == 1


def test_a_store_that_fails_is_reported_and_an_internal_error_raised(
    tmp_path: Path, demo_result: RedactedResult, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "notes.sqlite"
    broken.write_text("my notes\n" * 200)
    assert Storing(_args(broken), demo_result, origin="scan").done() == 1
    assert "warning: the result was not stored in the history" in capsys.readouterr().err
    assert broken.read_text().startswith("my notes")

    def bug(*_: object, **__: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(SQLStore, "save", bug)
    with pytest.raises(RuntimeError, match="a bug"):
        Storing(_args(tmp_path / "h.sqlite"), demo_result, origin="scan").done()


def test_no_store_starts_nothing(tmp_path: Path, demo_result: RedactedResult) -> None:
    args = _args(tmp_path / "history.sqlite")
    args.no_store = True
    storing = Storing(args, demo_result, origin="scan")
    assert storing._thread is None and storing.done() == 1 and not (tmp_path / "history.sqlite").exists()


def test_an_output_refused_before_anything_is_stored(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    run = run_cli("scan", "--target", "cim-prod-001", "--format", "json", "-o", str(tmp_path), "--db", str(db))
    assert run.code == 2 and "is a folder" in run.err and "Traceback" not in run.err
    assert not db.exists()
