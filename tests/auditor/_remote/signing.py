"""Test material for signed evidence: a node PKI (root, intermediate, node certificates) and
small evidence trees, written with the independent tests.certs factory."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from auditor._remote.envelope import Signer, Trust
from auditor.evidence.bundle import Bundle
from tests.certs import CertFactory, Issued, write

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@dataclass(frozen=True)
class NodePki:
    root: Issued
    inter: Issued
    folder: Path
    certs: CertFactory

    @classmethod
    def make(cls, certs: CertFactory, folder: Path) -> NodePki:
        root, inter = certs.chain()
        write(folder / "root.pem", root.pem())
        write(folder / "intermediate.pem", inter.pem())
        return cls(root, inter, folder, certs)

    def node(self, name: str, *, key: str = "ec256", cn: str | None = None, days: float = 90,
             start: dt.datetime | None = None, issuer: Issued | None = None) -> tuple[Path, Path]:
        """A node certificate (CN and SAN `cn`, default NAME.example.com) and key: (key file, cert file)."""
        common = cn or f"{name}.example.com"
        leaf = self.certs.issue(common, issuer=issuer or self.inter, key=key, dns=(common,), eku=("client",),
                                days=days, start=start)
        key_file = write(self.folder / f"{name}-key.pem", leaf.key_pem())
        key_file.chmod(0o600)
        cert_file = write(self.folder / f"{name}-cert.pem", leaf.pem() + self.inter.pem())
        return key_file, cert_file

    def signer(self, name: str, **kwargs: object) -> Signer:
        key, cert = self.node(name, **kwargs)  # type: ignore[arg-type]
        return Signer.load(key, cert)

    def trust(self, target: str, names: tuple[str, ...] = ()) -> Trust:
        return Trust.load(target, names or (f"{target}.example.com",), [self.folder / "root.pem"])


def small_bundle(target: str = "node-a", *, created_at: dt.datetime | None = None) -> Bundle:
    """A bundle with no records, for the target `target` (enough to sign and verify)."""
    from auditor._timeutil import rfc3339

    described = {"name": target, "environment": "test", "description": "", "tags": [], "policies": ["cim-staging"],
                 "names": [f"{target}.example.com"], "vars": {}}
    return Bundle.create(described, rfc3339(created_at or NOW), [])
