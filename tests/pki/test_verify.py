"""Chain validation, checked against `openssl verify` as an independent verifier."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest

from pki.verify import verify_chain
from tests.certs import NOW, CertFactory, Issued, write

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")


def openssl_ok(tmp: Path, leaf: Issued, anchors: list[Issued], intermediates: list[Issued]) -> bool:
    ca = write(tmp / "ca.pem", b"".join(a.pem() for a in anchors))
    untrusted = write(tmp / "untrusted.pem", b"".join(i.pem() for i in intermediates) or b"")
    cert = write(tmp / "leaf.pem", leaf.pem())
    args = ["openssl", "verify", "-CAfile", str(ca), "-purpose", "any"]
    if intermediates:
        args += ["-untrusted", str(untrusted)]
    proc = subprocess.run([*args, str(cert)], capture_output=True, text=True, check=False)
    return proc.returncode == 0


def cases(certs: CertFactory) -> list[tuple[str, Issued, list[Issued], list[Issued]]]:
    root, inter = certs.chain()
    other_root, other_inter = certs.chain()
    good = certs.issue("good", issuer=inter, dns=("a.example.com",))
    expired = certs.issue("expired", issuer=inter, start=NOW - dt.timedelta(days=100), days=10)
    future = certs.issue("future", issuer=inter, start=NOW + dt.timedelta(days=10))
    foreign = certs.issue("foreign", issuer=other_inter)
    self_signed = certs.issue("self", issuer=None)
    constrained = certs.issue("Constrained CA", issuer=root, ca=True, pathlen=0, permitted_dns=("example.com",))
    outside = certs.issue("outside", issuer=constrained, dns=("evil.org",))
    inside = certs.issue("inside", issuer=constrained, dns=("x.example.com",))
    too_deep = certs.issue("deep", issuer=certs.issue("Sub CA", issuer=inter, ca=True, pathlen=0))
    return [
        ("good", good, [root], [inter]),
        ("missing intermediate", good, [root], []),
        ("expired", expired, [root], [inter]),
        ("not yet valid", future, [root], [inter]),
        ("other pki", foreign, [root], [inter, other_inter]),
        ("self-signed", self_signed, [root], []),
        ("name constraint violated", outside, [root], [constrained]),
        ("name constraint respected", inside, [root], [constrained]),
        ("pathlen exceeded", too_deep, [root], [inter, certs.issue("Sub CA", issuer=inter, ca=True, pathlen=0)]),
        ("anchor itself", root, [root], []),
        ("other root", good, [other_root], [inter]),
    ]


def test_agrees_with_openssl(certs: CertFactory, tmp_path: Path) -> None:
    outcomes = {}
    for name, leaf, anchors, intermediates in cases(certs):
        ours = verify_chain(leaf.cert, [a.cert for a in anchors], [i.cert for i in intermediates], at=NOW)
        theirs = openssl_ok(tmp_path, leaf, anchors, intermediates)
        outcomes[name] = ours.valid
        assert ours.valid == theirs, f"{name}: ours={ours.valid} ({ours.error}) openssl={theirs}"
        if not ours.valid:
            assert ours.error
    # the cases cover both outcomes
    assert outcomes["good"] and not outcomes["expired"] and not outcomes["name constraint violated"]


def test_path_and_reasons(certs: CertFactory) -> None:
    root, inter = certs.chain()
    leaf = certs.issue("leaf", issuer=inter)
    ok = verify_chain(leaf.cert, [root.cert], [inter.cert], at=NOW)
    assert [c.subject for c in ok.path] == [leaf.name, inter.name, root.name]
    assert ok.anchor == root.cert
    missing = verify_chain(leaf.cert, [root.cert], [], at=NOW)
    assert "neither a trust anchor nor an intermediate" in (missing.error or "")
    assert verify_chain(leaf.cert, [], [], at=NOW).error == "no trust anchors to validate against"


def test_purposes_and_names(certs: CertFactory) -> None:
    root, inter = certs.chain()
    server = certs.issue("a.example.com", issuer=inter, dns=("a.example.com",), eku=("server",))
    assert verify_chain(server.cert, [root.cert], [inter.cert], at=NOW, purpose="server", name="a.example.com").valid
    wrong = verify_chain(server.cert, [root.cert], [inter.cert], at=NOW, purpose="server", name="b.example.com")
    assert not wrong.valid
    client = verify_chain(server.cert, [root.cert], [inter.cert], at=NOW, purpose="client")
    assert not client.valid and client.error == "the certificate's extended key usage does not allow clientAuth"
    assert verify_chain(server.cert, [root.cert], [inter.cert], at=NOW, purpose="server").valid  # EKU only, no name
    with pytest.raises(ValueError, match="purpose 'server'"):
        verify_chain(server.cert, [root.cert], [inter.cert], at=NOW, purpose="client", name="a.example.com")
