from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from auditor._collectors import run_collector
from auditor._collectors._files import Unreadable
from auditor._collectors.interface import CollectContext
from auditor._inventory.model import SourceSpec, Target
from auditor.evidence.kinds import data_errors
from auditor.evidence.record import Evidence, Failure, Record
from tests.certs import CertFactory, Issued, write
from tests.collecting import plain_of

NOW = dt.datetime.now(dt.UTC)


def collect(root: Path, paths: list[str], anchors: list[str], **options: Any) -> list[Record]:
    source = SourceSpec("certificates", "certs", True, {"paths": paths, **options})
    target = Target(
        name="t", environment="test", policies=("p",), sources=(source,), root=root,
        trust_anchors=tuple(root / a for a in anchors),
    )
    records = list(run_collector(CollectContext(target, source, NOW)))
    for r in records:
        if isinstance(r, Evidence):
            assert data_errors(r.kind, r.plain) == [], r.resource
    return records


def by_resource(records: list[Record]) -> dict[str, Record]:
    return {r.resource: r for r in records}


def test_folder_of_bundles_with_chain(certs: CertFactory, tmp_path: Path) -> None:
    root, inter = certs.chain()
    leaf = certs.issue("node", issuer=inter, dns=("n.example.com",))
    write(tmp_path / "pki/root.pem", root.pem())
    write(tmp_path / "certs/node.pem", leaf.pem())
    write(tmp_path / "certs/chain.pem", inter.pem() + root.pem())
    write(tmp_path / "certs/node.key", leaf.key_pem())  # not a certificate suffix: ignored
    write(tmp_path / "certs/key.pem", leaf.key_pem())  # a .pem holding only a key: skipped
    records = by_resource(collect(tmp_path, ["certs"], ["pki/root.pem"]))
    assert set(records) == {"certs/node.pem", "certs/chain.pem#0", "certs/chain.pem#1"}
    node = plain_of(records["certs/node.pem"])
    assert node is not None
    assert node["chain"]["status"] == "valid"
    assert node["chain"]["path"] == ["CN=node", "CN=Test Intermediate CA", "CN=Test Root CA"]
    anchor = plain_of(records["certs/chain.pem#1"])
    assert anchor["chain"]["is_anchor"] is True


def test_missing_anchor_and_foreign_chain(certs: CertFactory, tmp_path: Path) -> None:
    _root, inter = certs.chain()
    leaf = certs.issue("node", issuer=inter)
    write(tmp_path / "node.pem", leaf.pem())
    (rec,) = collect(tmp_path, ["node.pem"], [])
    assert isinstance(rec, Evidence) and rec.plain["chain"]["status"] == "no-anchors"
    other_root, _ = certs.chain()
    write(tmp_path / "other.pem", other_root.pem())
    (rec,) = collect(tmp_path, ["node.pem"], ["other.pem"])
    assert isinstance(rec, Evidence) and rec.plain["chain"]["status"] == "invalid"


def test_der_file(certs: CertFactory, tmp_path: Path) -> None:
    root, _ = certs.chain()
    write(tmp_path / "root.der", root.der())
    (rec,) = collect(tmp_path, ["root.der"], ["root.der"])
    assert isinstance(rec, Evidence) and rec.plain["encoding"] == "der" and rec.plain["chain"]["status"] == "valid"


def test_unreadable_sources_are_error_records(certs: CertFactory, tmp_path: Path) -> None:
    root, _ = certs.chain()
    write(tmp_path / "random.pem", os.urandom(300))
    write(tmp_path / "trunc.pem", root.pem()[:-30])
    write(tmp_path / "ok.pem", root.pem())
    (tmp_path / "empty").mkdir()
    records = collect(tmp_path, ["random.pem", "trunc.pem", "missing.pem", "empty", "ok.pem"], ["nope.pem"])
    errors = {r.resource: r.error for r in records if isinstance(r, Failure)}
    assert "no such file" in (errors["trust anchor nope.pem"] or "")
    assert "neither PEM nor" in (errors["random.pem"] or "")
    assert "truncated" in (errors["trunc.pem"] or "")
    assert "no such file" in (errors["missing.pem"] or "")
    assert "no certificate files" in (errors["empty"] or "")
    assert [r.resource for r in records if not isinstance(r, Failure)] == ["ok.pem"]
    assert all(r.required for r in records if isinstance(r, Failure))


def test_huge_file_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDITOR_LIMIT_FILE_BYTES", "1000")
    write(tmp_path / "big.pem", b"x" * 5000)
    (rec,) = collect(tmp_path, ["big.pem"], [])
    assert isinstance(rec, Failure) and "over the file-bytes limit" in (rec.error or "")
    assert "AUDITOR_LIMIT_FILE_BYTES=2000" in (rec.error or "")


def test_too_many_certificates_in_one_file(certs: CertFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, _ = certs.chain()
    write(tmp_path / "many.pem", root.pem() * 4)
    monkeypatch.setenv("AUDITOR_LIMIT_PEM_CERTIFICATES", "3")
    (rec,) = collect(tmp_path, ["many.pem"], [])
    assert isinstance(rec, Failure) and "holds 4 PEM blocks: over the pem-certificates limit of 3" in (rec.error or "")
    monkeypatch.setenv("AUDITOR_LIMIT_PEM_CERTIFICATES", "4")
    assert not any(isinstance(r, Failure) for r in collect(tmp_path, ["many.pem"], []))


def test_containers_in_a_folder_are_read_and_a_locked_one_is_an_error(certs: CertFactory, tmp_path: Path) -> None:
    """A folder holding a chain as a .p7b (PEM PKCS#7) and a .p7c (DER), a node's key and chain
    as a .p12 with no password, and a .pfx that needs one: each certificate of the first three is
    a record, its chain validated as a PEM file's; the .pfx is an error naming it (its
    certificates could be expired: never silently passed over). Was: none of these was read
    (their suffixes not listed; a PEM PKCS7 block in a .pem file was skipped as no certificate)."""
    from cryptography.hazmat.primitives.serialization import (
        BestAvailableEncryption,
        Encoding,
        NoEncryption,
        pkcs7,
        pkcs12,
    )

    root, inter = certs.chain()
    leaf = certs.issue("node", issuer=inter, dns=("n.example.com",))
    write(tmp_path / "pki/root.pem", root.pem())
    write(tmp_path / "certs/chain.p7b", pkcs7.serialize_certificates([inter.cert, root.cert], Encoding.PEM))
    write(tmp_path / "certs/chain.p7c", pkcs7.serialize_certificates([inter.cert, root.cert], Encoding.DER))
    write(tmp_path / "certs/in-pem.pem", pkcs7.serialize_certificates([leaf.cert], Encoding.PEM))
    write(tmp_path / "certs/node.p12", pkcs12.serialize_key_and_certificates(
        b"node", leaf.key, leaf.cert, [inter.cert], NoEncryption()))
    write(tmp_path / "certs/locked.pfx", pkcs12.serialize_key_and_certificates(
        b"node", leaf.key, leaf.cert, [inter.cert], BestAvailableEncryption(b"s3cret")))
    records = by_resource(collect(tmp_path, ["certs"], ["pki/root.pem"]))
    assert "opens only with a password" in (records.pop("certs/locked.pfx").error or "")  # type: ignore[union-attr]
    assert "exclude" in (by_resource(collect(tmp_path, ["certs"], []))["certs/locked.pfx"].error or "")  # type: ignore[union-attr]
    kept = by_resource(collect(tmp_path, ["certs"], ["pki/root.pem"], exclude=["*.pfx", "chain.p7c"]))
    assert sorted(kept) == sorted(name for name in records if not name.startswith("certs/chain.p7c"))
    seen: dict[str, list[tuple[str, str, str]]] = {}
    for name, record in records.items():
        plain = plain_of(record)
        seen.setdefault(name.split("#")[0], []).append((plain["subject_cn"], plain["encoding"], plain["chain"]["status"]))
    chain = [("Test Intermediate CA", "pkcs7", "valid"), ("Test Root CA", "pkcs7", "valid")]  # a DER SET: sorted
    assert {name: sorted(found) for name, found in seen.items()} == {
        "certs/chain.p7b": chain, "certs/chain.p7c": chain, "certs/in-pem.pem": [("node", "pkcs7", "valid")],
        "certs/node.p12": [("Test Intermediate CA", "pkcs12", "valid"), ("node", "pkcs12", "valid")],
    }
    assert seen["certs/node.p12"][0][0] == "node"  # the key's certificate first
    assert sorted(records)[-2:] == ["certs/node.p12#0", "certs/node.p12#1"]


def test_too_many_certificates_in_one_container(certs: CertFactory, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A PKCS#7 chain holds many certificates in one PEM block: the limit counts certificates."""
    from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

    root, inter = certs.chain()
    write(tmp_path / "many.p7b", pkcs7.serialize_certificates([root.cert, inter.cert] * 2, Encoding.PEM))
    monkeypatch.setenv("AUDITOR_LIMIT_PEM_CERTIFICATES", "3")
    (rec,) = collect(tmp_path, ["many.p7b"], [])
    assert isinstance(rec, Failure) and "holds 4 certificates: over the pem-certificates limit of 3" in (rec.error or "")


def test_unreadable_file(certs: CertFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # tests may run as root, who reads any file: simulate the denial at the read itself
    root, _ = certs.chain()
    write(tmp_path / "locked.pem", root.pem())

    def denied(path: Path) -> bytes:
        raise Unreadable("permission denied", "denied")

    monkeypatch.setattr("auditor._collectors.certificates.read_bounded", denied)
    (rec,) = collect(tmp_path, ["locked.pem"], [])
    assert isinstance(rec, Failure) and "permission denied" in (rec.error or "")


def test_collector_crash_becomes_an_error_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from auditor._collectors.certificates import CertificatesCollector

    def boom(self: object) -> Any:
        raise RuntimeError("unexpected")

    monkeypatch.setattr(CertificatesCollector, "collect", boom)
    (rec,) = collect(tmp_path, ["x.pem"], [])
    assert isinstance(rec, Failure) and "RuntimeError: unexpected" in (rec.error or "")


def lint_failing(issuer: Issued) -> bytes:
    """A certificate (PEM) pkilint finds two errors in: no authority key identifier, and key
    encipherment on an EC key."""
    key = ec.generate_private_key(ec.SECP256R1())
    return (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bad")]))
            .issuer_name(issuer.name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=30))
            .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
            .sign(issuer.key, hashes.SHA256())).public_bytes(serialization.Encoding.PEM)


def test_certificates_are_linted_with_pkilint(certs: CertFactory, tmp_path: Path) -> None:
    root, inter = certs.chain()
    good = certs.issue("node", issuer=inter, dns=("n.example.com",))
    write(tmp_path / "root.pem", root.pem())
    write(tmp_path / "certs/good.pem", good.pem())
    write(tmp_path / "certs/bad.pem", lint_failing(inter))
    records = by_resource(collect(tmp_path, ["certs"], ["root.pem"]))
    good_lint, bad_lint = plain_of(records["certs/good.pem"])["lint"], plain_of(records["certs/bad.pem"])["lint"]
    assert good_lint["errors"] == [] and good_lint["linter"].startswith("pkilint ")
    assert sorted(e.split(" ")[0] for e in bad_lint["errors"]) == [
        "pkix.authority_key_identifier_extension_absent", "pkix.key_usage_value_prohibited_for_ec"]


def test_lint_results_are_remembered_per_certificate(certs: CertFactory, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from pki.lint import lint

    linted: list[str] = []

    def counting(cert: x509.Certificate) -> Any:
        linted.append(cert.subject.rfc4514_string())
        return lint(cert)

    monkeypatch.setattr("pki.lint.lint", counting)
    root, inter = certs.chain()
    write(tmp_path / "root.pem", root.pem())
    write(tmp_path / "certs/node.pem", certs.issue("remembered", issuer=inter, dns=("r.example.com",)).pem())
    first = plain_of(by_resource(collect(tmp_path, ["certs"], ["root.pem"]))["certs/node.pem"])
    again = plain_of(by_resource(collect(tmp_path, ["certs"], ["root.pem"]))["certs/node.pem"])
    assert again["lint"] == first["lint"]
    write(tmp_path / "certs/other.pem", certs.issue("new", issuer=inter).pem())
    collect(tmp_path, ["certs"], ["root.pem"])
    assert linted == ["CN=remembered", "CN=new"]


def test_a_damaged_lint_cache_never_makes_a_certificate_lint_clean(certs: CertFactory, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The lint cache is only an optimisation: whatever happened to its file, each certificate
    has the lint it has without it (a cache entry emptied to a clean summary once hid pkilint's
    errors; a deeply nested file failed the whole source)."""
    import json

    from auditor._cache import LintResults, sealed
    from pki.versions import linter_name

    monkeypatch.setenv("AUDITOR_CACHE_DIR", str(tmp_path / "cache"))
    root, inter = certs.chain()
    write(tmp_path / "root.pem", root.pem())
    write(tmp_path / "certs/bad.pem", lint_failing(inter))
    first = plain_of(by_resource(collect(tmp_path, ["certs"], ["root.pem"]))["certs/bad.pem"])["lint"]
    assert first["errors"], "the certificate is not lint-clean"
    path = LintResults(linter_name()).path
    written = path.read_bytes()
    (fingerprint,) = LintResults(linter_name()).known
    clean = json.dumps({fingerprint: {**first, "errors": []}}).encode()
    deep = b"[" * 100_000 + b"]" * 100_000
    for name, data in {"unsealed, clean": clean, "old seal, clean": written[:32] + clean,
                       "sealed, an entry {}": sealed(b"", json.dumps({fingerprint: {}}).encode()),
                       "nested deep": deep, "sealed, nested deep": sealed(b"", deep),
                       "truncated": written[:-1]}.items():
        path.write_bytes(data)
        again = plain_of(by_resource(collect(tmp_path, ["certs"], ["root.pem"]))["certs/bad.pem"])["lint"]
        assert again == first, name


def test_chains_are_held_to_the_webpki_checks(certs: CertFactory, tmp_path: Path) -> None:
    """The collector validates through pki.verify.verify_chain: a chain cryptography's verifier
    alone accepts, with a leaf on a weak key and a wildcard over a public suffix, is invalid
    with the rule it breaks (purpose "any": the EKU and CN rules are left to the rules)."""
    root, inter = certs.chain()
    weak = certs.issue("weak", issuer=inter, key="rsa1024", dns=("w.example.com",))
    suffix = certs.issue("*.co.uk", issuer=inter, dns=("*.co.uk",))
    fine = certs.issue("fine", issuer=inter, dns=("f.example.com",), eku=())  # no EKU: fine for purpose any
    write(tmp_path / "root.pem", root.pem())
    for name, leaf in (("weak", weak), ("suffix", suffix), ("fine", fine)):
        write(tmp_path / f"{name}.pem", leaf.pem() + inter.pem())
    records = by_resource(collect(tmp_path, ["weak.pem", "suffix.pem", "fine.pem"], ["root.pem"]))
    chains = {name: plain_of(records[f"{name}.pem#0"])["chain"] for name in ("weak", "suffix", "fine")}
    assert chains["weak"]["status"] == "invalid" and "CA/B BR 6.1.5" in chains["weak"]["error"]
    assert chains["suffix"]["status"] == "invalid" and "CA/B BR 3.2.2.6" in chains["suffix"]["error"]
    assert chains["fine"]["status"] == "valid", chains["fine"]["error"]


def test_a_password_in_a_uri_name_is_not_kept_in_the_evidence(tmp_path: Path) -> None:
    """A certificate (from another CA: `auditor pki` refuses to issue one) whose URI name holds
    user:password@: the evidence names the URI without it (redacted at the source: bundles,
    history and reports never hold it) and counts the names that held some, so that a rule
    (CERT-023) can fail the certificate for what it publishes."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "n")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier("https://svc:hunter2@x.example/p"),
                                                        x509.UniformResourceIdentifier("spiffe://fleet/n")]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    write(tmp_path / "certs/n.pem", cert.public_bytes(serialization.Encoding.PEM))
    (record,) = collect(tmp_path, ["certs/n.pem"], [])
    assert isinstance(record, Evidence)
    plain = plain_of(record)
    assert plain["san"]["uri"] == ["https://x.example/p", "spiffe://fleet/n"]
    assert plain["san"]["uri_credentials"] == 1  # counted, for CERT-023
    assert "hunter2" not in record.canonical().decode()
