"""The sops collector on files made by the real sops, judged against .sops.yaml creation rules."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from auditor.evidence.record import Evidence, Failure, Record
from tests.collecting import collect_source, failure_of
from tests.sops_tool import Sops


def collect(root: Path, **options: Any) -> dict[str, Record]:
    return {r.resource: r for r in collect_source("sops", root, {"paths": ["secrets"], **options})}


def data(record: Record) -> dict[str, Any]:
    assert isinstance(record, Evidence), record.error
    return dict(record.plain)


def test_collector_judges_files_against_creation_rules(tmp_path: Path) -> None:
    sops = Sops.create(tmp_path)
    other = Sops.create(tmp_path / "elsewhere")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "key.txt").write_text(f"# public key: {sops.recipient}\n{sops.identity}\n")
    (tmp_path / ".sops.yaml").write_text(
        "creation_rules:\n"
        "  - path_regex: secrets/narrow\\.yaml$\n"
        f"    encrypted_regex: '^password$'\n    age: {sops.recipient}\n"
        "  - path_regex: secrets/[^/]+\\.(yaml|env)$\n"
        f"    age: {sops.recipient}\n"
    )
    sops.encrypt("secrets/good.yaml", "db:\n  password: hunter2\n  host: db\n")
    sops.encrypt("secrets/narrow.yaml", "password: hunter2\napi_token: abc123\nhost: db\n")
    # encrypted by hand to a recipient the rule does not name, and without the node's key
    sops.encrypt("secrets/stale.env", "TOKEN=abc\n", "--age", other.recipient)
    (tmp_path / "secrets/plain.yaml").write_text("password: hunter2\n")
    tampered = sops.encrypt("secrets/tampered.yaml", "password: x\nnote_unencrypted: hi\n")
    tampered.write_text(tampered.read_text().replace("note_unencrypted: hi", "note_unencrypted: changed"))
    records = collect(tmp_path, age_key_files=["key.txt"], required_recipients=["age1required"])

    good = data(records["secrets/good.yaml"])
    assert good["encrypted"] and good["covered"] and good["creation_rule"]["index"] == 1
    assert good["mac"]["status"] == "verified" and good["plaintext"] == []
    assert good["selectors"]["file"] == good["selectors"]["rule"]
    assert good["required_recipients"] == [sops.recipient, "age1required"]

    narrow = data(records["secrets/narrow.yaml"])
    assert [(p["key"], p["secret_like"], p["rule_requires"]) for p in narrow["plaintext"]] == [("api_token", True, False)]

    stale = data(records["secrets/stale.env"])
    assert stale["mac"]["status"] == "no-key"
    assert [r["id"] for r in stale["recipients"]] == [other.recipient]

    plain = data(records["secrets/plain.yaml"])
    assert plain["encrypted"] is False and plain["mac"]["status"] == "not-encrypted"
    assert [p["key"] for p in plain["plaintext"]] == ["password"]

    assert data(records["secrets/tampered.yaml"])["mac"]["status"] == "mismatch"


def test_bad_files_become_error_records(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets/broken.json").write_text("{not json")
    (tmp_path / "secrets/latin1.yaml").write_bytes(b"password: \xe9\n")
    records = collect(tmp_path)
    assert "invalid JSON" in (failure_of(records["secrets/broken.json"]).error or "")
    assert failure_of(records["secrets/latin1.yaml"]).error == "not UTF-8 text"
    missing = collect(tmp_path, paths=["nope"])
    assert failure_of(missing["nope"]).error == "no such file or folder"


def test_a_bad_sops_config_is_reported_per_file(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets/a.yaml").write_text("x: 1\n")
    (tmp_path / ".sops.yaml").write_text("creation_rules: 5\n")
    (record,) = collect(tmp_path).values()
    assert isinstance(record, Failure) and record.error == (
        "the sops config .sops.yaml:1: field 'creation_rules': creation_rules must be a list")


@pytest.mark.parametrize("made", ["fifo", "folder"])
def test_a_sops_config_that_is_no_regular_file_is_the_config_and_unreadable(tmp_path: Path, made: str) -> None:
    """As sops (which stats the name and then fails to read it), a FIFO or folder named
    .sops.yaml is the config: each file is an error (was: the search went on above it, found
    none, and the rules on creation rules were not applicable). The FIFO is never opened."""
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets/a.yaml").write_text("x: 1\n")
    (tmp_path / ".sops.yaml").write_text("creation_rules: [{path_regex: '.*', age: age1j7stx2zkpf49e8vu04kecnkg9xtcfesg4duwpful4w9sjc6lxc7sv62tht}]\n")
    inner = tmp_path / "secrets/.sops.yaml"
    os.mkfifo(inner) if made == "fifo" else inner.mkdir()
    (record,) = collect(tmp_path).values()
    why = "is a FIFO (named pipe), not a regular file: not opened" if made == "fifo" else "is a folder, not a YAML file"
    assert isinstance(record, Failure) and record.error == f"the sops config secrets/.sops.yaml: {why}"
