"""`auditor secrets scan|detectors` as a user runs them."""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests.conftest import run_cli
from tests.secrets_corpus import nkey_seed, vault_token


def test_scan_reports_without_printing_secrets(tmp_path: Path) -> None:
    seed, token = nkey_seed(random.Random(1)), vault_token(random.Random(2))
    (tmp_path / "a.env").write_text(f"SEED={seed}\nVAULT_TOKEN={token}\n")
    (tmp_path / "clean.txt").write_text("nothing here\n")
    run = run_cli("secrets", "scan", ".", cwd=tmp_path)
    assert run.code == 1
    lines = run.out.splitlines()
    assert lines[0].startswith(f"a.env:1:6: nkey-seed [high] {seed[:4]}…(hmac:")
    assert lines[1].startswith("a.env:2:13: vault-token [high] hvs.…(hmac:")
    assert "2 finding(s) in 2 files" in run.out
    assert seed not in run.out + run.err and token not in run.out + run.err
    js = run_cli("secrets", "scan", ".", "--format", "json", cwd=tmp_path)
    doc = json.loads(js.out)
    assert [f["rule"] for f in doc["findings"]] == ["nkey-seed", "vault-token"]
    assert seed not in js.out and token not in js.out


def test_baseline_round_trip(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("password: Hunter2-Hunter2\n")
    wrote = run_cli("secrets", "scan", ".", "--write-baseline", "base.json", cwd=tmp_path)
    assert wrote.code == 0 and "1 accepted findings" in wrote.out
    assert (tmp_path / "base.json").stat().st_mode & 0o777 == 0o644
    again = run_cli("secrets", "scan", "a.yaml", "--baseline", "base.json", cwd=tmp_path)
    assert again.code == 0 and "1 accepted" in again.out
    (tmp_path / "a.yaml").write_text("password: Hunter2-Hunter2\npasswd: Another-Secret-77\n")
    assert run_cli("secrets", "scan", "a.yaml", "--baseline", "base.json", cwd=tmp_path).code == 1


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    run = run_cli("secrets", "scan", "missing", cwd=tmp_path)
    assert run.code == 2 and run.err.strip() == "auditor: error: missing: no such file or folder"
    (tmp_path / "base.json").write_text("[]")
    bad = run_cli("secrets", "scan", ".", "--baseline", "base.json", cwd=tmp_path)
    assert bad.code == 2 and "not an auditor secrets baseline" in bad.err and "Traceback" not in bad.err


def test_detectors_list() -> None:
    run = run_cli("secrets", "detectors", "--format", "json")
    ids = {d["id"] for d in json.loads(run.out)}
    assert {"nkey-seed", "nats-creds", "private-key", "age-identity", "vault-token", "sops-plaintext"} <= ids
