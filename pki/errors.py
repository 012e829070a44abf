"""The root of pki's errors; cryptography's exceptions are translated at this boundary."""

from __future__ import annotations


class PKIError(Exception):
    """Root of pki's errors. The message is written for the user."""


class LoadError(PKIError):
    """A certificate, key or CRL could not be read or parsed."""


class ChainError(PKIError):
    """A chain could not be validated."""


class ProfileError(PKIError):
    """A certificate profile is unknown or malformed."""


class CAError(PKIError):
    """The CA folder is missing, incomplete, locked, or refuses the request."""


class KeyAccessError(PKIError):
    """A private key could not be unlocked: wrong passphrase or PIN, corrupt file, absent token."""


class BackendError(PKIError):
    """A key backend (file, PKCS#11 token, YubiKey) failed or is not available."""


class LogError(PKIError):
    """The issuance log could not be read or written."""
