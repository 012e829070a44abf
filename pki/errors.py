"""The root of pki's errors; cryptography's exceptions are translated at this boundary."""

from __future__ import annotations


class PKIError(Exception):
    """Root of pki's errors. The message is written for the user."""


class LoadError(PKIError):
    """A certificate, key or CRL could not be read or parsed."""


class ChainError(PKIError):
    """A chain could not be validated."""
