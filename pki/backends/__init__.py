"""Key backends behind one seam (interface.py): file (encrypted PKCS#8), pkcs11, yubikey.

:data:`BACKENDS` names them without importing any (the command line offers its names);
:func:`key_opener` opens the keys a CA folder's ca.json refers to.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pki.errors import BackendError
from pki.registry import Registry

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

    from pki.backends.interface import KeyBackend, SecretSource

BACKENDS: Registry[KeyBackend] = Registry("key backend", "pki.backends.interface:KeyBackend", {
    "file": "pki.backends.file:FileBackend",
    "pkcs11": "pki.backends.pkcs11:Pkcs11Backend",
    "yubikey": "pki.backends.yubikey:YubiKeyBackend",
}, error=lambda unknown: BackendError(f"ca.json: {unknown}"))
"""Every key backend, by the name ca.json and `--backend` use."""

__all__ = ["BACKENDS", "key_opener"]


def key_opener(
    ca_dir: Path, secrets: SecretSource, *, yubikey_connect: Callable[[int | None], Any] | None = None
) -> Callable[[dict[str, Any]], CertificateIssuerPrivateKeyTypes]:
    """A function that opens any key reference found in `<ca_dir>/ca.json`."""
    from pki.backends.interface import BackendSettings

    def open_key(ref: dict[str, Any]) -> CertificateIssuerPrivateKeyTypes:
        settings = BackendSettings(
            ca_dir, secrets,
            module=str(ref.get("module", "")), token=str(ref.get("token", "")),
            serial=ref.get("serial"), connect=yubikey_connect,
        )
        return BACKENDS.load(str(ref.get("backend"))).from_settings(settings).open(ref)

    return open_key
