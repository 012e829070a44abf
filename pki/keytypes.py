"""The key types the CA offers: one vocabulary for the CA, its profiles and the command line.

A module of its own that imports nothing heavy, so the command line can offer the choices
without loading `cryptography`; :mod:`pki.keys` makes and recognises the keys.
"""

from __future__ import annotations

import enum


class KeyType(enum.Enum):
    """A key algorithm and size, by the name profiles, ca.json and `--key-type` use."""

    ECDSA_P256 = "ecdsa-p256"
    ECDSA_P384 = "ecdsa-p384"
    ED25519 = "ed25519"
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"
    RSA_4096 = "rsa-4096"

    @property
    def for_ca(self) -> bool:
        """Whether a CA key may be of this type: a CA key outlives the certificates it signs,
        so RSA below 3072 bits is offered for node keys only."""
        return self is not KeyType.RSA_2048


KEY_TYPES = tuple(k.value for k in KeyType)
"""Every key type's name."""
CA_KEY_TYPES = tuple(k.value for k in KeyType if k.for_ca)
"""The names of the key types a root or intermediate CA key may have."""
