"""The demo's recorded live evidence can be recorded again from the real components, and the
committed recordings have the same shape as a fresh recording."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from auditor._loader.schema import schema_errors
from auditor.evidence.kinds import data_errors
from tests.record_demo import AGED, DEFAULT_FOLDER, record

pytestmark = pytest.mark.slow


def shape(path: Path) -> list[tuple[str, str]]:
    doc = json.loads(path.read_text())
    assert schema_errors(doc, "recorded") == []
    for r in doc["records"]:
        assert data_errors(r["kind"], r["data"]) == [], r["resource"]
    return sorted((r["kind"], r["resource"]) for r in doc["records"])


def test_recording_again_gives_the_committed_shape(tmp_path: Path) -> None:
    fresh = record(tmp_path)
    assert [p.name for p in fresh] == ["tls-endpoints.json", "vault.json", "yubikeys.json"]
    for path in fresh:
        assert shape(path) == shape(DEFAULT_FOLDER / path.name)
    vault = json.loads((tmp_path / "vault.json").read_text())
    aged = [r for r in vault["records"] if r["kind"] == "vault.kv-secret" and r["data"]["path"] in AGED]
    assert aged
    at = dt.datetime.fromisoformat(vault["recorded_at"])
    for r in aged:
        age = at - dt.datetime.fromisoformat(r["data"]["current_created_time"])
        assert age >= dt.timedelta(days=AGED[r["data"]["path"]] - 1)
    assert "moved back" in vault["recorded_from"]
