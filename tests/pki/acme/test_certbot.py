"""PyPI certbot against `auditor pki acme serve` on loopback: obtain (standalone http-01),
renew, revoke; dns-01 through the server's hook; a name outside the policy and an unknown
profile refused with ACME error documents that certbot shows."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from pki.inventory import serial_hex
from tests.pki.acme.conftest import AcmeSetup, Served
from tests.pki.acme.test_lego import listed, openssl_verify
from tests.servers import LOOPBACK, tool

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(acme_setup: AcmeSetup) -> Iterator[Served]:
    acme_setup.policy(
        "names: ['.example.com']\n"
        "profiles:\n  nats-server: {lifetime_days: 30}\n  nats-client: {lifetime_days: 7}\n"
        "accounts:\n  narrow: {names: ['cim-9*.example.com'], profiles: [nats-server]}\n")
    with acme_setup.serve("--dns01-hook", str(acme_setup.work / "dns-lookup"), name="certbot") as s:
        yield s


def certbot(setup: AcmeSetup, served: Served, home: Path, *args: str, expect: int = 0) -> str:
    cmd = [tool("certbot", "PyPI certbot"), *args, "--non-interactive", "--config-dir", str(home / "config"),
           "--work-dir", str(home / "work"), "--logs-dir", str(home / "logs"), "--server", served.directory]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False,
                          env={**os.environ, "REQUESTS_CA_BUNDLE": str(setup.trust)})
    output = proc.stdout + proc.stderr
    assert proc.returncode == expect, output + "\n--- server log:\n" + served.text()[-3000:]
    return output


def register(setup: AcmeSetup, name: str) -> list[str]:
    kid, hmac = setup.eab(name)
    return ["--agree-tos", "--email", "ops@example.com", "--eab-kid", kid, "--eab-hmac-key", hmac]


def standalone(setup: AcmeSetup) -> list[str]:
    return ["--standalone", "--http-01-port", str(setup.http01_port), "--http-01-address", LOOPBACK]


def serial(path: Path) -> str:
    return serial_hex(x509.load_pem_x509_certificate(path.read_bytes()).serial_number)


def test_certbot_obtains_renews_and_revokes(acme_setup: AcmeSetup, served: Served, tmp_path: Path) -> None:
    name = "cim-003.example.com"
    out = certbot(acme_setup, served, tmp_path, "certonly", *register(acme_setup, "certbot-ops"),
                  *standalone(acme_setup), "--key-type", "ecdsa", "-d", name)
    assert "Successfully received certificate" in out
    live = tmp_path / "config" / "live" / name
    first = serial(live / "cert.pem")
    assert openssl_verify(acme_setup, live / "cert.pem", live / "chain.pem").endswith(": OK")
    assert listed(acme_setup)[first]["state"] == "valid"

    out = certbot(acme_setup, served, tmp_path, "renew", "--force-renewal", "--no-random-sleep-on-renew")
    assert "all renewals succeeded" in out
    second = serial(live / "cert.pem")
    assert second != first
    entries = listed(acme_setup)
    assert entries[first]["state"] == "superseded" and entries[second]["state"] == "valid"

    out = certbot(acme_setup, served, tmp_path, "certonly", *standalone(acme_setup), "--key-type", "ecdsa",
                  "--force-renewal", "-d", name)
    third = serial(live / "cert.pem")
    assert third not in (first, second) and listed(acme_setup)[second]["state"] == "superseded"

    certbot(acme_setup, served, tmp_path, "revoke", "--cert-name", name, "--reason", "keycompromise",
            "--no-delete-after-revoke")
    entry = listed(acme_setup)[third]
    assert entry["state"] == "revoked" and entry["revocation_reason"] == "keyCompromise"


def test_certbot_dns01_through_the_hook_and_a_profile(acme_setup: AcmeSetup, served: Served, tmp_path: Path) -> None:
    name = "nats.cim-001.example.com"
    hook = str(acme_setup.work / "dns-present")
    out = certbot(acme_setup, served, tmp_path, "certonly", *register(acme_setup, "dns-ops"), "--manual",
                  "--preferred-challenges", "dns", "--manual-auth-hook", hook, "--key-type", "ecdsa",
                  "--required-profile", "nats-client", "-d", name)
    assert "Successfully received certificate" in out
    cert = x509.load_pem_x509_certificate((tmp_path / "config" / "live" / name / "cert.pem").read_bytes())
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 7
    assert listed(acme_setup)[serial_hex(cert.serial_number)]["profile"] == "nats-client"
    assert "dns-01 of nats.cim-001.example.com for 'dns-ops' is valid" in served.text()


def test_names_and_profiles_outside_the_policy_are_refused(acme_setup: AcmeSetup, served: Served, tmp_path: Path) -> None:
    before = set(listed(acme_setup))
    out = certbot(acme_setup, served, tmp_path, "certonly", *register(acme_setup, "narrow"), *standalone(acme_setup),
                  "-d", "cim-001.example.com", expect=1)
    assert "account 'narrow' may not obtain 'cim-001.example.com'" in out
    # the ACME error document, as certbot received it
    log = (tmp_path / "logs" / "letsencrypt.log").read_text()
    assert '"type": "urn:ietf:params:acme:error:rejectedIdentifier"' in log and "HTTP 400" in log
    assert str(acme_setup.folder) not in log  # no server path in what a client sees
    out = certbot(acme_setup, served, tmp_path, "certonly", *standalone(acme_setup), "-d", "outside.example.org", expect=1)
    assert "outside the issuing CA's name constraints" in out
    out = certbot(acme_setup, served, tmp_path, "certonly", *standalone(acme_setup), "-d", "cim-901.example.com",
                  "--required-profile", "nats-client", expect=1)
    assert "account 'narrow' may not obtain profile 'nats-client'" in out
    assert "urn:ietf:params:acme:error:invalidProfile" in (tmp_path / "logs" / "letsencrypt.log").read_text()
    certbot(acme_setup, served, tmp_path, "certonly", *standalone(acme_setup), "-d", "cim-901.example.com")
    assert len(set(listed(acme_setup)) - before) == 1
