"""Issue 16's measured cases, as a user meets them: `auditor pki` against `openssl verify` and
the real nats-server (Go's verifier) where they apply."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import sqlite3
import ssl
import subprocess
from collections.abc import Sequence
from pathlib import Path

import nats
import nats.errors
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pki.backends import key_opener
from pki.ca import CA
from pki.export import export_nats
from tests.conftest import run_cli
from tests.pki.conftest import PASSPHRASE, secrets
from tests.pki.test_nats_tls import client_context, round_trip, server_logged
from tests.servers import nats_server

pytestmark = pytest.mark.slow


def pki(*args: str) -> tuple[int, str, str]:
    r = run_cli("pki", *args, env={"PKI_PASS": PASSPHRASE})
    assert "Traceback" not in r.err
    assert PASSPHRASE not in r.out + r.err
    return r.code, r.out, r.err


def one_line_exit_2(args: tuple[str, ...], *expected: str) -> str:
    code, out, err = pki(*args)
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1, err
    for text in expected:
        assert text in err
    return err


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA whose intermediate may certify trial.example.com and 127.0.0.0/8 only."""
    folder = tmp_path_factory.mktemp("trial") / "CA"
    assert pki("init", "--dir", str(folder), "--name", "Trial Root", "--org", "CIM", "--passphrase-env", "PKI_PASS")[0] == 0
    code, _, err = pki("intermediate", "--dir", str(folder), "--name", "Trial Intermediate", "--permitted-dns",
                       "trial.example.com", "--permitted-ip", "127.0.0.0/8", "--passphrase-env", "PKI_PASS")
    assert code == 0, err
    return folder


def openssl_verify(ca: Path, cert: Path, purpose: str = "sslclient") -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", "verify", "-CAfile", str(ca / "certs/root.pem"), "-untrusted",
                           str(ca / "certs/intermediate.pem"), "-purpose", purpose, str(cert)],
                          capture_output=True, text=True, check=False)


def forge(ca_dir: Path, folder: Path, *, common_name: str, sans: Sequence[x509.GeneralName]) -> Path:
    """What the CA used to sign without looking: a client certificate made directly with the
    intermediate's key, bypassing every check. Writes cert.pem and key.pem into `folder`."""
    ca = CA.open(ca_dir)
    record = ca.current_intermediate()
    issuer = ca.certificate(record.serial)
    signer = key_opener(ca.folder, secrets)(record.key)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
               .issuer_name(issuer.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()), critical=False))  # type: ignore[arg-type]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    cert = builder.sign(signer, hashes.SHA384())
    folder.mkdir()
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return folder


def test_names_outside_the_constraints_are_refused_as_openssl_and_nats_server_would(trial: Path, tmp_path: Path) -> None:
    # the measured case: --dns localhost under --permitted-dns trial.example.com was issued
    one_line_exit_2(("issue", "--dir", str(trial), "--node", "web-1", "--profile", "nats-server", "--dns", "localhost",
                     "--out", str(tmp_path / "bad"), "--passphrase-env", "PKI_PASS"),
                    "refused (name-constraints): DNS name localhost is outside")
    assert not (tmp_path / "bad").exists()
    # ... and IP SANs such as 8.8.8.8 were issued unconstrained
    one_line_exit_2(("issue", "--dir", str(trial), "--node", "web-1", "--profile", "nats-server", "--dns",
                     "web-1.trial.example.com", "--ip", "8.8.8.8", "--out", str(tmp_path / "bad"),
                     "--passphrase-env", "PKI_PASS"), "refused (name-constraints): IP address 8.8.8.8 is outside")
    # nothing was stored, so the right certificate is not blocked
    code, _, err = pki("issue", "--dir", str(trial), "--node", "web-1", "--profile", "nats-server", "--dns",
                       "web-1.trial.example.com", "--ip", "127.0.0.1", "--out", str(tmp_path / "good"),
                       "--passphrase-env", "PKI_PASS")
    assert code == 0, err
    assert openssl_verify(trial, tmp_path / "good/cert.pem", "sslserver").returncode == 0
    # the oracles: what the CA refused, openssl refuses too
    for label, sans, cn in (("dns", [x509.DNSName("localhost")], "x"),
                            ("ip", [x509.IPAddress(ipaddress.ip_address("8.8.8.8"))], "x"),
                            ("cn", [], "agent.other.org")):
        cert = forge(trial, tmp_path / f"forged-{label}", common_name=cn, sans=sans) / "cert.pem"
        proc = openssl_verify(trial, cert)
        assert proc.returncode != 0 and "permitted subtree violation" in proc.stdout + proc.stderr, label
    one_line_exit_2(("issue", "--dir", str(trial), "--node", "agent.other.org", "--profile", "nats-client",
                     "--out", str(tmp_path / "bad"), "--passphrase-env", "PKI_PASS"),
                    "refused (name-constraints): DNS name agent.other.org is outside")


def test_nats_server_refuses_what_the_ca_refuses(trial: Path, tmp_path: Path) -> None:
    ca = CA.open(trial)
    opener = key_opener(ca.folder, secrets)
    ca.issue("nats-1", "nats-server", opener, tmp_path / "server", dns=["nats-1.trial.example.com"], ips=["127.0.0.1"])
    ca.issue("agent-1", "nats-client", opener, tmp_path / "agent")
    block = export_nats(ca, "nats-1", tmp_path / "server").tls_block
    root = ca.folder / "certs/root.pem"
    with nats_server(tmp_path, block) as server:
        assert asyncio.run(round_trip(server.port, client_context(root, tmp_path / "agent"))) == b"ok"
        for label, sans in (("dns", [x509.DNSName("localhost")]), ("ip", [x509.IPAddress(ipaddress.ip_address("8.8.8.8"))])):
            forged = forge(trial, tmp_path / f"forged-{label}", common_name="agent-2", sans=sans)
            with pytest.raises((ssl.SSLError, ConnectionError, nats.errors.Error)):
                asyncio.run(round_trip(server.port, client_context(root, forged)))
        assert server_logged(server.log, 'DNS name "localhost" is not permitted')
        assert server_logged(server.log, 'IP address "8.8.8.8" is not permitted') or server_logged(
            server.log, "8.8.8.8 is not permitted")


def test_out_of_range_numbers_are_one_line_errors(trial: Path, tmp_path: Path) -> None:
    issue = ("issue", "--dir", str(trial), "--node", "n1", "--profile", "nats-client", "--out", str(tmp_path / "n1"),
             "--passphrase-env", "PKI_PASS")
    one_line_exit_2((*issue, "--days", "9999999"), "argument --days: 9999999 is out of range: from 1 to 36500")
    one_line_exit_2((*issue, "--days", "0"), "out of range")
    one_line_exit_2((*issue, "--days", "ten"), "is not a whole number")
    one_line_exit_2((*issue, "--days", "36000"), "refused (lifetime): 36000 days is longer than profile 'nats-client' allows",
                    "allow it explicitly (it is logged) (--allow-long-lifetime allows it)")
    one_line_exit_2((*issue, "--days", "36000", "--allow-long-lifetime"), "refused (validity)",
                    "or rotate the issuing CA (`auditor pki intermediate` makes a new issuing CA)")
    one_line_exit_2((*issue, "--key-type", "rsa-1024"), "argument --key-type: invalid choice")
    one_line_exit_2((*issue, "--lock-timeout", "nan"), "out of range")
    one_line_exit_2(("intermediate", "--dir", str(trial), "--name", "X", "--pathlen", "99", "--passphrase-env", "PKI_PASS"),
                    "argument --pathlen: 99 is out of range")
    one_line_exit_2(("intermediate", "--dir", str(trial), "--name", "X", "--pathlen", "1", "--passphrase-env", "PKI_PASS"),
                    "refused (path-length)")
    one_line_exit_2(("crl", "--dir", str(trial), "-o", str(tmp_path / "c.pem"), "--days", "99999", "--passphrase-env",
                     "PKI_PASS"), "out of range")
    assert not (tmp_path / "n1").exists()


def test_a_long_lifetime_needs_an_explicit_override_and_is_logged(tmp_path: Path) -> None:
    folder = tmp_path / "CA"
    assert pki("init", "--dir", str(folder), "--name", "Long Root", "--days", "36500", "--allow-long-lifetime",
               "--passphrase-env", "PKI_PASS")[0] == 0
    assert pki("intermediate", "--dir", str(folder), "--name", "Long Intermediate", "--days", "36400",
               "--allow-long-lifetime", "--passphrase-env", "PKI_PASS")[0] == 0
    code, _, err = pki("issue", "--dir", str(folder), "--node", "n1", "--profile", "nats-client", "--days", "36000",
                       "--allow-long-lifetime", "--out", str(tmp_path / "n1"), "--passphrase-env", "PKI_PASS")
    assert code == 0, err
    assert "--allow-long-lifetime" in err  # said on stderr, and logged:
    intents = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    assert [e["details"]["lifetime"]["override"] for e in intents if e["event"] == "intent"] == [True, True, True]


def test_a_pathlen_0_root_cannot_have_an_intermediate_as_openssl_says(tmp_path: Path) -> None:
    folder = tmp_path / "CA"
    assert pki("init", "--dir", str(folder), "--name", "Flat Root", "--pathlen", "0", "--passphrase-env", "PKI_PASS")[0] == 0
    one_line_exit_2(("intermediate", "--dir", str(folder), "--name", "Below", "--passphrase-env", "PKI_PASS"),
                    "refused (path-length)", "may not have a CA certificate below it")
    assert not list((folder / "private").glob("intermediate-*")) and not (folder / "certs/intermediate.pem").exists()


def set_row(ca: Path, sql: str, *params: str) -> None:
    db = sqlite3.connect(ca / "inventory.sqlite")
    with db:
        db.execute(sql, params)
    db.close()


def test_un_revoking_or_deleting_rows_is_found_and_stops_the_ca(tmp_path: Path) -> None:
    folder = tmp_path / "CA"
    assert pki("init", "--dir", str(folder), "--name", "Root", "--passphrase-env", "PKI_PASS")[0] == 0
    assert pki("intermediate", "--dir", str(folder), "--name", "Intermediate", "--passphrase-env", "PKI_PASS")[0] == 0
    serials = []
    for node in ("a", "b"):
        code, out, err = pki("issue", "--dir", str(folder), "--node", node, "--profile", "nats-client", "--out",
                             str(tmp_path / node), "--passphrase-env", "PKI_PASS")
        assert code == 0, err
        serials.append(out.split("serial ")[1].split(",")[0])
    assert pki("revoke", "--dir", str(folder), serials[0], "--reason", "keyCompromise", "--passphrase-env", "PKI_PASS")[0] == 0

    set_row(folder, "UPDATE certificates SET status = 'valid', revocation_reason = NULL, revoked_at = NULL WHERE serial = ?",
            serials[0])
    code, out, _ = pki("log", "verify", "--dir", str(folder))
    assert code == 1 and f"serial {serials[0]}: un-revoked in the inventory" in out
    see = f"see `auditor pki log verify --dir {folder}`"
    for args in (("crl", "--dir", str(folder), "-o", str(tmp_path / "x.crl")),
                 ("issue", "--dir", str(folder), "--node", "c", "--profile", "nats-client", "--out", str(tmp_path / "c")),
                 ("revoke", "--dir", str(folder), serials[1])):
        one_line_exit_2((*args, "--passphrase-env", "PKI_PASS"), "refused: the issuance log does not verify", see)
    assert not (tmp_path / "x.crl").exists() and not (tmp_path / "c").exists()
    # the CRL was built from the log, so the certificate stays revoked for verifiers
    code, out, _ = pki("verify", str(tmp_path / "a/cert.pem"), "--dir", str(folder))
    assert code == 1 and "revoked" in out

    set_row(folder, "DELETE FROM certificates WHERE serial = ?", serials[1])
    code, out, _ = pki("log", "verify", "--dir", str(folder))
    assert code == 1 and f"serial {serials[1]}: deleted from the inventory" in out

    (folder / "inventory.sqlite").rename(tmp_path / "inventory.sqlite")
    one_line_exit_2(("list", "--dir", str(folder)), "the CA inventory is missing",
                    f"(rebuild it with `auditor pki log rebuild --dir {folder}`)")
    (tmp_path / "inventory.sqlite").rename(folder / "inventory.sqlite")
    code, out, err = pki("log", "rebuild", "--dir", str(folder))
    assert code == 0 and "4 certificates" in out, err
    assert pki("log", "verify", "--dir", str(folder))[0] == 0
    assert pki("crl", "--dir", str(folder), "-o", str(tmp_path / "x.crl"), "--passphrase-env", "PKI_PASS")[0] == 0
    listing = subprocess.run(["openssl", "crl", "-in", str(tmp_path / "x.crl"), "-noout", "-text"],
                             capture_output=True, text=True, check=True).stdout
    assert serials[0].upper() in listing.replace(":", "").upper()


def test_a_tampered_log_stops_issuance(tmp_path: Path) -> None:
    folder = tmp_path / "CA"
    assert pki("init", "--dir", str(folder), "--name", "Root", "--passphrase-env", "PKI_PASS")[0] == 0
    assert pki("intermediate", "--dir", str(folder), "--name", "Intermediate", "--passphrase-env", "PKI_PASS")[0] == 0
    log = folder / "log.jsonl"
    log.write_text(log.read_text().replace('"Intermediate"', '"Impostor"', 1))
    code, out, _ = pki("log", "verify", "--dir", str(folder))
    assert code == 1 and "TAMPERED" in out
    one_line_exit_2(("issue", "--dir", str(folder), "--node", "n", "--profile", "nats-client", "--out", str(tmp_path / "n"),
                     "--passphrase-env", "PKI_PASS"), "refused: the issuance log does not verify", "pki log verify")
    assert not (tmp_path / "n").exists()
    one_line_exit_2(("log", "rebuild", "--dir", str(folder)), "does not verify")


def test_an_ip_only_server_certificate_under_dns_constraints_verifies(trial: Path, tmp_path: Path) -> None:
    """Its CN cannot be the node name (CA/B: a server certificate's CN is a SAN) nor the IP
    address (OpenSSL checks such a CN against the DNS constraints): it has none."""
    code, _, err = pki("issue", "--dir", str(trial), "--node", "ip-only", "--profile", "nats-server", "--ip", "127.0.0.9",
                       "--out", str(tmp_path / "ip"), "--passphrase-env", "PKI_PASS")
    assert code == 0, err
    cert = x509.load_pem_x509_certificate((tmp_path / "ip/cert.pem").read_bytes())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME) == []
    assert openssl_verify(trial, tmp_path / "ip/cert.pem", "sslserver").returncode == 0
    assert pki("verify", str(tmp_path / "ip/cert.pem"), "--dir", str(trial), "--name", "127.0.0.9")[0] == 0
