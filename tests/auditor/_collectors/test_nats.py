"""The NATS collectors: nats-config on a node tree, nats-credentials, nats-monitoring on a real server."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest

from auditor._collectors import run_collector
from auditor._collectors.interface import CollectContext
from auditor._inventory.model import SourceSpec, Target
from auditor._nats.creds import format_creds
from auditor._nats.monitoring import sanitise
from auditor.evidence.kinds import data_errors
from auditor.evidence.record import Evidence, Failure, Record
from tests.auditor._nats.test_creds import make_chain
from tests.collecting import failure_of, plain_of
from tests.servers import closed_port, http_server, nats_server

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def collect(root: Path, collector: str, **options: Any) -> list[Record]:
    source = SourceSpec(collector, collector, True, options)
    target = Target(name="t", environment="e", policies=("p",), sources=(source,), root=root)
    records = list(run_collector(CollectContext(target, source, NOW)))
    for r in records:
        if isinstance(r, Evidence):
            assert data_errors(r.kind, r.plain) == [], (r.kind, data_errors(r.kind, r.plain))
    return records


def node(tmp_path: Path) -> Path:
    root = tmp_path / "node"
    conf = root / "etc/nats"
    conf.mkdir(parents=True)
    (conf / "nats.conf").write_text(
        "listen: 0.0.0.0:4222\nhttp_port: 8222\n\n"
        "authorization { include users.conf }\n"
        "leafnodes { remotes = [ { url: 'tls://u:hunter2@hub:7422', credentials: /etc/nats/leaf.creds } ] }\n"
    )
    # variables do not cross includes (each file is parsed on its own, as the server does)
    (conf / "users.conf").write_text("PASS: $SECRET\nusers = [\n  {user: svc, password: $PASS, permissions: {publish: '>'}}\n]\n")
    c = make_chain()
    (conf / "leaf.creds").write_text(format_creds(c["user"], c["user_seed"]))
    os.chmod(conf / "leaf.creds", 0o644)
    return root


def test_nats_config_reads_node_paths_and_never_stores_secrets(tmp_path: Path) -> None:
    root = node(tmp_path)
    records = collect(root, "nats-config", paths=["etc/nats/nats.conf"], environment={"SECRET": "s3cr3t-pw"})
    assert [r.kind for r in records] == ["nats.config", "nats.user"]
    cfg, user = plain_of(records[0]), plain_of(records[1])
    assert user is not None
    assert cfg["files"] == ["etc/nats/nats.conf", "etc/nats/users.conf"]
    remote = cfg["leafnodes"]["remotes"][0]
    assert remote["credentials"]["resolved"] == "etc/nats/leaf.creds" and remote["credentials"]["readable_by_others"]
    assert remote["urls"] == ["tls://hub:7422"] and remote["url_has_password"]
    assert cfg["monitoring"] == {**cfg["monitoring"], "enabled": True, "host": "0.0.0.0", "http_port": 8222}
    assert user["password"]["kind"] == "plaintext" and user["reach"]["publish"][">"] == "all"
    assert records[1].resource == "etc/nats/nats.conf user svc"
    text = json.dumps([r.plain for r in records if isinstance(r, Evidence)])
    assert "s3cr3t-pw" not in text and "hunter2" not in text
    assert {"name": "SECRET", "file": "etc/nats/users.conf", "line": 1, "source": "environment"} in cfg["variables"]


def _failed(records: list[Any]) -> Failure:
    """The one failure `records` hold, recorded for nats.config and for nats.user alike: a
    configuration that could not be read names users no rule may judge without it."""
    assert [r.kind for r in records] == ["nats.config", "nats.user"] and all(isinstance(r, Failure) for r in records)
    assert len({(r.resource, r.error) for r in records}) == 1
    first: Failure = records[0]
    return first


def test_a_missing_credentials_path_is_an_error_for_jwts_and_seeds(tmp_path: Path) -> None:
    """A path of the nats-credentials source that is missing (or a folder holding nothing) may
    have held .creds files or seeds: the rules of both kinds are undecided for it."""
    root = node(tmp_path)
    (root / "etc/nats/empty").mkdir()
    records = collect(root, "nats-credentials", paths=["etc/nats/gone", "etc/nats/empty"])
    assert sorted((r.resource, r.kind) for r in records) == [
        ("etc/nats/empty", "nats.jwt"), ("etc/nats/empty", "nats.nkey"),
        ("etc/nats/gone", "nats.jwt"), ("etc/nats/gone", "nats.nkey")]
    assert all(isinstance(r, Failure) for r in records)


def test_a_collector_that_fails_is_an_error_for_each_of_its_kinds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A collector that raises (a bug, an unforeseen input) gave none of its kinds whole: an error
    record for each, so no rule of any of them is judged on another source's records alone."""
    from auditor._collectors import nats_config

    def broken(self: object, path: Path, env: dict[str, str]) -> None:
        raise RuntimeError("unforeseen")

    monkeypatch.setattr(nats_config.NatsConfigCollector, "_read", broken)
    records = collect(node(tmp_path), "nats-config", paths=["etc/nats/nats.conf"])
    assert [r.kind for r in records] == ["nats.config", "nats.user"]
    assert all(isinstance(r, Failure) and "collector 'nats-config' failed: RuntimeError: unforeseen" in (r.error or "")
               for r in records)


def test_nats_config_errors_are_records(tmp_path: Path) -> None:
    root = node(tmp_path)
    missing = _failed(collect(root, "nats-config", paths=["etc/nats/nope.conf"]))
    assert "no such file" in (missing.error or "")
    unresolved = _failed(collect(root, "nats-config", paths=["etc/nats/nats.conf"]))  # $SECRET not given
    assert "etc/nats/users.conf:1" in (unresolved.error or "") and "SECRET" in (unresolved.error or "")
    (root / "etc/nats/users.conf").write_text("users = [\n {user: a, permissions: {publish: ['a b']}}\n]\n")
    bad = _failed(collect(root, "nats-config", paths=["etc/nats/nats.conf"], environment={"SECRET": "x"}))
    assert (bad.error or "").startswith("etc/nats/users.conf:2: ")


@pytest.mark.parametrize(("text", "message"), [
    ("store_dir: 5\n", "store_dir: expected a string"),
    ("jetstream { domain: [a] }\n", "jetstream.domain: expected a string"),
    ("leafnodes { remotes = [ { url: 'tls://hub:7422', account: 7 } ] }\n", "leafnodes.remotes[0].account: expected a string"),
    ("authorization { timeout: {a: 1} }\n", "authorization.timeout: expected a string or an integer or a number"),
])
def test_a_config_value_of_the_wrong_type_fails_its_record(tmp_path: Path, text: str, message: str) -> None:
    """The config is untrusted: a value of a type the server refuses is a failure of the
    nats.config record naming file, line and field (as nats-server -t refuses it)."""
    root = tmp_path / "node"
    (root / "etc/nats").mkdir(parents=True)
    (root / "etc/nats/odd.conf").write_text(text)
    record = _failed(collect(root, "nats-config", paths=["etc/nats/odd.conf"]))
    assert record.resource == "etc/nats/odd.conf"
    assert (record.error or "").startswith(f"etc/nats/odd.conf:1: {message}")


@pytest.mark.parametrize(("change", "where", "expected", "got"), [
    ({"jetstream": {"store_dir": 5}}, "jetstream.store_dir", "str | null", "int"),
    ({"jetstream": {"domain": ["a"]}}, "jetstream.domain", "str | null", "array"),
    ({"authorization": {"timeout": {"a": 1}}}, "authorization.timeout", "int | float | str | null", "object"),
    ({"authorization": {"timeout": True}}, "authorization.timeout", "int | float | str | null", "bool"),
])
def test_the_collector_checks_the_values_it_copies_as_written(tmp_path: Path, change: dict[str, dict[str, Any]],
                                                              where: str, expected: str, got: str) -> None:
    """Values the interpreter keeps as written (the options check refuses wrong types before)
    are checked again where the evidence is built: a misfit is UnexpectedValue, which the
    collector turns into a failure record, never evidence of the wrong type."""
    import dataclasses

    from auditor._collectors._untrusted import UnexpectedValue
    from auditor._collectors.nats_config import config_facts
    from auditor._nats.conf import parse_text
    from auditor._nats.config import interpret

    cfg = interpret(parse_text("jetstream { store_dir: /data }\nauthorization { timeout: 2 }\n"))
    assert cfg.settings is not None and config_facts(cfg).jetstream.store_dir == "/data"
    ((part, values),) = change.items()
    cfg.settings = dataclasses.replace(cfg.settings, **{part: dataclasses.replace(getattr(cfg.settings, part), **values)})
    with pytest.raises(UnexpectedValue) as caught:
        config_facts(cfg)
    assert str(caught.value) == f"unexpected value: Expected `{expected}`, got `{got}` - at `$.{where}`"


def test_nats_credentials(tmp_path: Path) -> None:
    root = node(tmp_path)
    c = make_chain(user_claims={"exp": 1})
    trust = root / "etc/nats/trust"
    trust.mkdir()
    (trust / "op.jwt").write_text(c["operator"])
    (trust / "acc.jwt").write_text(c["account"])
    (trust / "user.jwt").write_text(c["user"])
    (root / "etc/nats/svc.nk").write_text(c["user_seed"] + "\n")
    os.chmod(root / "etc/nats/svc.nk", 0o640)
    (root / "etc/nats/broken.jwt").write_text("not a jwt")
    records = {r.resource: r for r in collect(root, "nats-credentials", paths=["etc/nats"])}
    assert isinstance(records["etc/nats/broken.jwt"], Failure)
    leaf = plain_of(records["etc/nats/leaf.creds"])
    assert leaf["chain"]["status"] == "incomplete" and leaf["seed"]["matches_subject"]
    assert leaf["file"]["readable_by_others"] and leaf["file"]["mode"] == "0644"
    user = plain_of(records["etc/nats/trust/user.jwt"])
    assert user["chain"]["status"] == "verified" and user["expires_at"] == "1970-01-01T00:00:01Z"
    seed = records["etc/nats/svc.nk"]
    assert seed.kind == "nats.nkey" and isinstance(seed, Evidence) and seed.plain["file"]["readable_by_group"]
    assert c["user_seed"] not in json.dumps([r.plain for r in records.values() if isinstance(r, Evidence)])


def test_sanitise_redacts_secrets() -> None:
    data: dict[str, Any] = {"connections": [{"jwt": "eyJhbGciOi.x.y", "name": "n", "issuer_key": "AABC"}],
            "leaf": {"remotes": [{"urls": ["tls://leaf:pw@1.2.3.4:7422"]}]},
            "note": "seed SUAM" + "A" * 56}
    out = sanitise(data)
    assert out["connections"][0]["jwt"] != data["connections"][0]["jwt"] and out["connections"][0]["issuer_key"] == "AABC"
    assert out["leaf"]["remotes"][0]["urls"] == ["tls://1.2.3.4:7422"]
    assert "SUAMAAAA" not in out["note"]


def test_nats_monitoring_against_a_real_server(tmp_path: Path) -> None:
    with nats_server(tmp_path) as server:
        server.start("authorization { users = [{user: a, password: pw}] }\njetstream { store_dir: %s }\n" % (tmp_path / "js"), monitoring=True)
        records = collect(tmp_path, "nats-monitoring", url=f"http://127.0.0.1:{server.http_port}")
    assert [r.kind for r in records] == ["nats.varz", "nats.connz", "nats.leafz", "nats.accountz", "nats.healthz", "nats.jsz"]
    varz = plain_of(records[0])
    assert varz["response"]["auth_required"] is True and varz["http_status"] == 200
    assert isinstance(records[4], Evidence) and records[4].plain["response"]["status"] == "ok"


def test_nats_monitoring_unreachable_is_an_error_per_endpoint(tmp_path: Path) -> None:
    records = collect(tmp_path, "nats-monitoring", url=f"http://127.0.0.1:{closed_port()}", timeout=2, endpoints=["varz", "healthz"])
    assert [(r.kind, isinstance(r, Failure)) for r in records] == [("nats.varz", True), ("nats.healthz", True)]
    assert "cannot connect" in (failure_of(records[0]).error or "")


class _BasicAuthGate(BaseHTTPRequestHandler):
    """A stand-in for a basic-auth proxy in front of a monitoring port (nats-server itself has
    no auth on it): answers /varz only to the right Authorization header, and keeps the
    headers it was sent."""

    seen: ClassVar[list[dict[str, str]]] = []
    expected = "Basic " + base64.b64encode(b"mon-user:planted-pw-2112").decode()

    def do_GET(self) -> None:
        _BasicAuthGate.seen.append({k.lower(): v for k, v in self.headers.items()})
        ok = self.headers.get("Authorization") == self.expected
        body = json.dumps({"server_id": "NXYZ", "version": "2.10.0"} if ok else {"error": "unauthorized"}).encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_nats_monitoring_url_user_info_is_sent_as_basic_auth(tmp_path: Path) -> None:
    """`http://user:pw@host:port` in the inventory: the request goes to host:port (never to a
    host named `user:pw@host`) with the user-info as basic auth, and no record shows it."""
    from auditor._inventory import load_inventory

    _BasicAuthGate.seen = []
    with http_server(_BasicAuthGate) as port:
        inventory = tmp_path / "auditor.yaml"
        inventory.write_text(
            "version: 1\ntargets:\n  - name: t\n    environment: test\n    policies: [p]\n    sources:\n"
            f"      - {{collector: nats-monitoring, url: 'http://mon-user:planted-pw-2112@127.0.0.1:{port}', endpoints: [varz]}}\n"
        )
        target = load_inventory(inventory).target("t")
        (record,) = run_collector(CollectContext(target, target.sources[0], NOW))
    data = plain_of(record)
    assert data["response"]["server_id"] == "NXYZ"
    assert record.resource == f"http://127.0.0.1:{port}/varz" and data["url"] == record.resource
    assert _BasicAuthGate.seen[0]["host"] == f"127.0.0.1:{port}"
    assert "planted-pw-2112" not in json.dumps(record.to_dict()) and "mon-user" not in json.dumps(record.to_dict())


def test_a_jwt_whose_claims_misfit_the_type_is_a_failure(tmp_path: Path) -> None:
    """JWT claims are untrusted input: a signed JWT whose `name` is a list is a failure record
    naming the field, never an exception (the server refuses it too: Go reads no list into a
    string)."""
    root = node(tmp_path)
    c = make_chain(user_claims={"name": ["not", "a", "name"]})
    (root / "etc/nats/odd.jwt").write_text(c["user"])
    records = {r.resource: r for r in collect(root, "nats-credentials", paths=["etc/nats/odd.jwt"])}
    odd = records["etc/nats/odd.jwt"]
    assert isinstance(odd, Failure) and odd.error == "JWT claim 'name' is not a string"
