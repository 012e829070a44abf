"""The sops collector on files made by the real sops, judged against .sops.yaml creation rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    assert isinstance(record, Failure) and "creation_rules must be a list" in record.error
