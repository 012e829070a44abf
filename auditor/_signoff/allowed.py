"""The allowed-signers file: which OpenPGP keys may sign for which role.

    version: 1
    signers:
      - name: R. Okafor (Security Lead)
        fingerprint: 0123 4567 89AB CDEF 0123  4567 89AB CDEF 0123 4567
        roles: [security]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from auditor._loader.schema import validate_document
from auditor._loader.yamlfile import load_yaml
from auditor._signoff.gpg import normalise_fingerprint
from auditor.errors import ConfigError


@dataclass(frozen=True)
class AllowedSigners:
    file: str
    by_fingerprint: dict[str, tuple[str, frozenset[str]]]
    """fingerprint -> (name, roles)"""

    def allows(self, fingerprint: str, role: str) -> bool:
        entry = self.by_fingerprint.get(fingerprint.upper())
        return entry is not None and role in entry[1]

    def name_of(self, fingerprint: str) -> str:
        entry = self.by_fingerprint.get(fingerprint.upper())
        return entry[0] if entry else ""

    def allowed_for(self, role: str) -> list[str]:
        return [f"{name or fpr}" for fpr, (name, roles) in self.by_fingerprint.items() if role in roles]


def load_allowed_signers(path: Path) -> AllowedSigners:
    doc = load_yaml(path)
    validate_document(doc, "allowed-signers")
    out: dict[str, tuple[str, frozenset[str]]] = {}
    for i, entry in enumerate(doc.value["signers"]):
        try:
            fpr = normalise_fingerprint(entry["fingerprint"], what="fingerprint")
        except ConfigError as exc:
            raise doc.error(exc.message, ("signers", i, "fingerprint")) from None
        if fpr in out:
            raise doc.error(f"fingerprint {fpr} is listed twice; give it all its roles in one entry", ("signers", i, "fingerprint"))
        out[fpr] = (str(entry.get("name", "")), frozenset(entry["roles"]))
    return AllowedSigners(doc.file, out)
