"""A small certificate factory for tests: roots, intermediates and leaves with chosen flaws.

Independent of pki's issuing code on purpose, so tests of the collector and of the PKI do not
share a blind spot.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@dataclass
class Issued:
    cert: x509.Certificate
    key: Any

    @property
    def name(self) -> x509.Name:
        return self.cert.subject

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(  # type: ignore[no-any-return]
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


@dataclass
class CertFactory:
    keys: dict[str, Any] = field(default_factory=dict)

    def key(self, kind: str = "ec256") -> Any:
        if kind == "ec256":
            return ec.generate_private_key(ec.SECP256R1())
        if kind == "ec384":
            return ec.generate_private_key(ec.SECP384R1())
        if kind == "ed25519":
            return ed25519.Ed25519PrivateKey.generate()
        if kind.startswith("rsa"):
            return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
        raise ValueError(kind)

    def issue(
        self,
        cn: str,
        *,
        issuer: Issued | None = None,
        ca: bool = False,
        pathlen: int | None = None,
        key: str = "ec256",
        days: float = 90,
        start: dt.datetime | None = None,
        dns: tuple[str, ...] = (),
        ips: tuple[str, ...] = (),
        eku: tuple[str, ...] = ("server", "client"),
        permitted_dns: tuple[str, ...] = (),
    ) -> Issued:
        private = self.key(key)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        signer_key = issuer.key if issuer else private
        signer_name = issuer.name if issuer else name
        begin = start or (NOW - dt.timedelta(days=1))
        b = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(signer_name)
            .public_key(private.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(begin)
            .not_valid_after(begin + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=pathlen if ca else None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(private.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()), critical=False
            )
        )
        if ca:
            b = b.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            if permitted_dns:
                b = b.add_extension(
                    x509.NameConstraints([x509.DNSName(d) for d in permitted_dns], None), critical=True
                )
        else:
            b = b.add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
            )
            oids = {"server": ExtendedKeyUsageOID.SERVER_AUTH, "client": ExtendedKeyUsageOID.CLIENT_AUTH}
            if eku:
                b = b.add_extension(x509.ExtendedKeyUsage([oids[e] for e in eku]), critical=False)
            sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
            sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
            if sans:
                b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        algorithm = None if isinstance(signer_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
        return Issued(b.sign(signer_key, algorithm), private)

    def chain(self) -> tuple[Issued, Issued]:
        root = self.issue("Test Root CA", ca=True, pathlen=1, key="ec384", days=3650)
        inter = self.issue("Test Intermediate CA", issuer=root, ca=True, pathlen=0, key="ec384", days=1000)
        return root, inter


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


FILES_PACK = """id: cert-files
title: Certificate files only
select:
  - area: certificates
exclude:
  - {id: "CERT-01[5-9]"}
  - {id: "CERT-02*"}
"""
"""A policy pack whose rules all judge certificate files (x509.certificate): a target with only a
`certificates` source can be READY under it (under cim-production it is INCOMPLETE: no endpoint,
NATS, host... evidence)."""
