"""`auditor pki verify` and `openssl verify` agree; `openssl crl` reads our CRLs."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from pki.ca import CA, KeyOpener
from tests.conftest import run_cli

pytestmark = pytest.mark.slow
MakeCA = Callable[..., tuple[CA, KeyOpener]]


def openssl_verify(ca: CA, cert: Path, *, name: str | None, purpose: str, crl_all: bool = True) -> bool:
    crls = ca.folder / "all-crls.pem"
    crls.write_bytes(b"".join(p.read_bytes() for p in sorted((ca.folder / "crl").glob("*.pem"))))
    args = ["openssl", "verify", "-CAfile", str(ca.folder / "certs/root.pem"),
            "-untrusted", str(ca.folder / "certs/intermediate.pem"), "-CRLfile", str(crls),
            "-crl_check_all" if crl_all else "-crl_check"]
    if purpose != "any":
        args += ["-purpose", {"server": "sslserver", "client": "sslclient"}[purpose]]
    if name:
        args += ["-verify_hostname", name]
    proc = subprocess.run([*args, str(cert)], capture_output=True, text=True, check=False)
    return proc.returncode == 0


def auditor_verify(ca: CA, cert: Path, *, name: str | None, purpose: str) -> tuple[bool, str]:
    args = ["pki", "verify", str(cert), "--dir", str(ca.folder), "--purpose", purpose]
    if name:
        args += ["--name", name]
    r = run_cli(*args)
    assert r.code in (0, 1), r.err
    return r.code == 0, r.out


def test_verdicts_agree(make_ca: MakeCA, tmp_path: Path) -> None:
    ca, opener = make_ca(backdate_days=150)
    now = dt.datetime.now(dt.UTC)
    good = ca.issue("cim-001", "nats-server", opener, tmp_path / "good", dns=["cim-001.example.com"])
    ca.issue("cim-old", "nats-server", opener, tmp_path / "expired", dns=["cim-old.example.com"],
             not_before=now - dt.timedelta(days=120))
    ca.issue("cim-cli", "nats-client", opener, tmp_path / "client", dns=["cim-cli.example.com"])
    bad = ca.issue("cim-bad", "nats-server", opener, tmp_path / "revoked", dns=["cim-bad.example.com"])
    ca.revoke(bad.entry.serial, opener, reason="keyCompromise")
    cases = [
        ("valid", "good", "cim-001.example.com", "server", True),
        ("valid client use", "good", None, "client", True),
        ("expired", "expired", "cim-old.example.com", "server", False),
        ("wrong name", "good", "cim-002.example.com", "server", False),
        ("wrong EKU", "client", "cim-cli.example.com", "server", False),
        ("revoked", "revoked", "cim-bad.example.com", "server", False),
    ]
    assert good.entry.state(now) == "valid"
    for label, folder, name, purpose, expected in cases:
        cert = tmp_path / folder / "cert.pem"
        ours, message = auditor_verify(ca, cert, name=name, purpose=purpose)
        theirs = openssl_verify(ca, cert, name=name, purpose=purpose)
        assert (ours, theirs) == (expected, expected), f"{label}: auditor {ours} ({message}), openssl {theirs}"


def test_roots_mode_with_a_crl_agrees_and_openssl_reads_the_crl(make_ca: MakeCA, tmp_path: Path) -> None:
    ca, opener = make_ca()
    issued = ca.issue("cim-009", "nats-client", opener, tmp_path / "n")
    ca.revoke(issued.entry.serial, opener, reason="superseded")
    crl = tmp_path / "crl.pem"
    crl.write_bytes(ca.crl(opener))
    listing = subprocess.run(["openssl", "crl", "-in", str(crl), "-noout", "-text"],
                             capture_output=True, text=True, check=True).stdout
    listed = [int(m, 16) for m in re.findall(r"Serial Number: ([0-9A-Fa-f]+)", listing)]
    assert listed == [issued.certificate.serial_number]
    assert "Superseded" in listing
    r = run_cli("pki", "verify", str(tmp_path / "n/cert.pem"), "--roots", str(ca.folder / "certs/root.pem"),
                "--intermediates", str(tmp_path / "n/chain.pem"), "--crl", str(crl), "--purpose", "client")
    assert r.code == 1 and "revoked" in r.out
    assert not openssl_verify(ca, tmp_path / "n/cert.pem", name=None, purpose="client", crl_all=False)
    r = run_cli("pki", "verify", str(tmp_path / "n/cert.pem"), "--roots", str(ca.folder / "certs/root.pem"),
                "--intermediates", str(tmp_path / "n/chain.pem"), "--purpose", "client")
    assert r.code == 0, r.out  # without a CRL only the chain is checked


NAMES_ALIKE = ["example.com", "EXAMPLE.COM", "sub.example.com", "SUB.Example.Com", "a.example.com",
               "xn--bcher-kva.example.com", "XN--BCHER-KVA.example.com", "bücher.example.com", "localhost", "LOCALHOST",
               "10.0.0.1", "::1", "::ffff:10.0.0.1", "10.0.0.2", "1.2.3.4", "sub..example.com",
               " example.com", "example.com ", "example.com.."]
NAMES_AS_GO_READS_THEM = {
    "example.com.": True,  # the root's dot: Go's crypto/x509 (the NATS server's verifier) drops it, openssl does not
    "localhost.": True,
    "010.0.0.1": False,  # openssl reads 10.0.0.1; Go refuses an IPv4 address with leading zeros (a host name, then)
    "10.0.0.01": False,
    ".example.com": False,  # to openssl's -verify_hostname, any name under example.com; no host name to Go
}


def test_names_agree_with_openssl_but_where_go_reads_them_otherwise(make_ca: MakeCA, tmp_path: Path) -> None:
    """`pki verify --name` against `openssl verify -verify_hostname` (`-verify_ip` for an
    address): the same verdict, but for the names Go's verifier reads otherwise than openssl
    (NAMES_AS_GO_READS_THEM: there the verdict is Go's, and openssl's must differ from it)."""
    ca, opener = make_ca()
    ca.issue("nm", "nats-server", opener, tmp_path / "nm", dns=["example.com", "sub.example.com",
                                                                "xn--bcher-kva.example.com", "localhost"],
             ips=["10.0.0.1"])
    cert = tmp_path / "nm/cert.pem"

    def openssl(name: str) -> bool:
        flag = "-verify_ip" if ":" in name or re.fullmatch(r"[0-9.]+", name) else "-verify_hostname"
        args = ["openssl", "verify", "-CAfile", str(ca.folder / "certs/root.pem"), "-untrusted",
                str(ca.folder / "certs/intermediate.pem"), "-purpose", "sslserver", flag, name, str(cert)]
        return subprocess.run(args, capture_output=True, check=False).returncode == 0

    unlike = [(name, ours, theirs) for name in NAMES_ALIKE
              if (ours := auditor_verify(ca, cert, name=name, purpose="server")[0]) != (theirs := openssl(name))]
    assert not unlike, unlike
    for name, go in NAMES_AS_GO_READS_THEM.items():
        assert (auditor_verify(ca, cert, name=name, purpose="server")[0], openssl(name)) == (go, not go), name
    assert sum(openssl(name) for name in NAMES_ALIKE) >= 9
