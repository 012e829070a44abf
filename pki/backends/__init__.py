"""Key backends behind one seam (interface.py): file (encrypted PKCS#8), pkcs11, yubikey."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from pki.backends.interface import GeneratedKey, KeyBackend, SecretSource, hardware_key
from pki.errors import BackendError

BACKENDS = ("file", "pkcs11", "yubikey")

__all__ = ["BACKENDS", "GeneratedKey", "KeyBackend", "SecretSource", "hardware_key", "key_opener"]


def key_opener(
    ca_dir: Path, secrets: SecretSource, *, yubikey_connect: Callable[[int | None], Any] | None = None
) -> Callable[[dict[str, Any]], CertificateIssuerPrivateKeyTypes]:
    """A function that opens any key reference found in `<ca_dir>/ca.json`."""

    def open_key(ref: dict[str, Any]) -> CertificateIssuerPrivateKeyTypes:
        kind = ref.get("backend")
        if kind == "file":
            from pki.backends.file import FileBackend

            return FileBackend(ca_dir, secrets).open(ref)
        if kind == "pkcs11":
            from pki.backends.pkcs11 import Pkcs11Backend

            return Pkcs11Backend(str(ref.get("module", "")), str(ref.get("token", "")), secrets).open(ref)
        if kind == "yubikey":
            from pki.backends.yubikey import YubiKeyBackend

            return YubiKeyBackend(secrets, serial=ref.get("serial"), connect=yubikey_connect).open(ref)
        raise BackendError(f"ca.json: unknown key backend '{kind}' (known: {', '.join(BACKENDS)})")

    return open_key
