"""The secrets collector: one secrets.scan record per path, nothing secret in the evidence."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from auditor.evidence.record import Evidence, Failure, Record
from tests.collecting import collect_source, failure_of, plain_of
from tests.secrets_corpus import nkey_seed


def collect(root: Path, **options: Any) -> list[Record]:
    return collect_source("secrets", root, options)


def test_records_per_path_with_redacted_leaks(tmp_path: Path) -> None:
    seed = nkey_seed(random.Random(1))
    (tmp_path / "home").mkdir()
    (tmp_path / "home/.bash_history").write_text(f"export SEED={seed}\n")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/app.yaml").write_text("password: Hunter2-Hunter2\n")
    (tmp_path / "etc/template.yaml").write_text("password: Example-Pass-1\n")
    (tmp_path / "scan.yaml").write_text("version: 1\nallow:\n  - {path: etc/template.yaml, reason: template}\n")
    records = collect(tmp_path, paths=["home", "etc", "missing"], config="scan.yaml")
    by = {r.resource: r for r in records}
    assert failure_of(by["missing"]).error == "no such file or folder"
    home = plain_of(by["home"])
    assert [(x["rule"], x["log"], x["file"]) for x in home["leaks"]] == [
        ("nkey-seed", True, "home/.bash_history")]
    etc = plain_of(by["etc"])
    assert etc["suppressed"] == 0 and etc["skipped"] == {"allowlisted": 1}
    assert [x["rule"] for x in etc["leaks"]] == ["password"]
    dumped = json.dumps([r.plain for r in records if isinstance(r, Evidence)])
    assert seed not in dumped and "Hunter2-Hunter2" not in dumped


def test_bad_configuration_is_an_error_record(tmp_path: Path) -> None:
    (tmp_path / "scan.yaml").write_text("version: 2\n")
    (record,) = collect(tmp_path, paths=["."], config="scan.yaml")
    assert isinstance(record, Failure) and "only version 1" in record.error
