"""Issues the demo node's certificates and keys, with dates relative to now.

The chain: CIM Root CA (ECDSA P-384, 20 years, pathlen 1) -> CIM Intermediate CA (P-384,
3 years, pathlen 0, DNS name constraint example.com) -> the NATS server certificate (P-256,
90 days, issued 5 days ago) and the leafnode client certificate (P-256, 90 days, issued 82
days ago, so it expires within the 30-day warning window: a planted problem).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from auditor.fsutil import atomic_write

ORG = "CIM"


def _name(cn: str, ou: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG)]
    if ou:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _ca(
    name: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    start: dt.datetime,
    days: int,
    pathlen: int,
    permitted_dns: list[str] | None = None,
) -> x509.Certificate:
    issuer_name, issuer_key = issuer or (name, key)
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=pathlen), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    )
    if permitted_dns:
        b = b.add_extension(
            x509.NameConstraints([x509.DNSName(d) for d in permitted_dns], None), critical=True
        )
    return b.sign(issuer_key, hashes.SHA384())


def _leaf(
    cn: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey],
    *,
    start: dt.datetime,
    days: int,
    dns: list[str],
    ips: list[str],
    eku: list[x509.ObjectIdentifier],
) -> x509.Certificate:
    issuer_name, issuer_key = issuer
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    return (
        x509.CertificateBuilder()
        .subject_name(_name(cn, "Nodes"))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
        .sign(issuer_key, hashes.SHA256())
    )


def build_node(node: Path, now: dt.datetime | None = None) -> None:
    """Write the demo node's PKI material under `node` (the cim-prod-001 folder)."""
    now = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    pki = node / "var/lib/cim/pki"
    certs = node / "etc/nats/certs"
    pki.mkdir(parents=True, exist_ok=True)
    certs.mkdir(parents=True, exist_ok=True)

    root_key = ec.generate_private_key(ec.SECP384R1())
    root_name = _name("CIM Root CA")
    root = _ca(root_name, root_key, None, start=now - dt.timedelta(days=400), days=20 * 365, pathlen=1)
    inter_key = ec.generate_private_key(ec.SECP384R1())
    inter_name = _name("CIM Intermediate CA")
    inter = _ca(
        inter_name,
        inter_key,
        (root_name, root_key),
        start=now - dt.timedelta(days=200),
        days=3 * 365,
        pathlen=0,
        permitted_dns=["example.com"],
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _leaf(
        "cim-001.example.com",
        server_key,
        (inter_name, inter_key),
        start=now - dt.timedelta(days=5),
        days=90,
        dns=["cim-001.example.com", "cim-prod-001.cim.example.com"],
        ips=["10.0.3.21"],
        eku=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _leaf(
        "cim-prod-001-leaf.cim.example.com",
        leaf_key,
        (inter_name, inter_key),
        start=now - dt.timedelta(days=82),
        days=90,
        dns=["cim-prod-001-leaf.cim.example.com"],
        ips=[],
        eku=[ExtendedKeyUsageOID.CLIENT_AUTH],
    )
    atomic_write(pki / "root-ca.pem", _pem(root))
    atomic_write(pki / "intermediate-ca.pem", _pem(inter))
    atomic_write(certs / "ca.pem", _pem(inter) + _pem(root))
    atomic_write(certs / "server-cert.pem", _pem(server))
    atomic_write(certs / "server-key.pem", _key_pem(server_key), mode=0o600)
    atomic_write(certs / "leaf-client-cert.pem", _pem(leaf))
    atomic_write(certs / "leaf-client-key.pem", _key_pem(leaf_key), mode=0o600)

    from auditor.demo.nats_demo import build_nats  # NATS credentials (nkeys, JWTs): see that module

    build_nats(node, now)
