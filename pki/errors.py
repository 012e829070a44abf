"""The root of pki's errors; cryptography's exceptions are translated at this boundary."""

from __future__ import annotations


class PKIError(Exception):
    """Root of pki's errors. The message is written for the user."""


class LoadError(PKIError):
    """A certificate, key or CRL could not be read or parsed."""


class ProfileError(PKIError):
    """A certificate profile is unknown or malformed."""


class NoSubjectNames(PKIError):
    """A certificate whose profile requires subject alternative names was asked for without any."""

    def __init__(self, message: str, profile: str) -> None:
        super().__init__(message)
        self.profile = profile


class CAError(PKIError):
    """The CA folder is missing, incomplete, locked, or refuses the request."""


class NoCA(CAError):
    """There is no CA in `folder` (yet)."""

    def __init__(self, message: str, folder: object) -> None:
        super().__init__(message)
        self.folder = folder


class NoIntermediate(CAError):
    """The CA in `folder` has no intermediate CA to issue with (yet)."""

    def __init__(self, message: str, folder: object) -> None:
        super().__init__(message)
        self.folder = folder


class SeveralProfiles(CAError):
    """A node has certificates of several profiles, and which one was meant is not said."""

    def __init__(self, message: str, profiles: tuple[str, ...]) -> None:
        super().__init__(message)
        self.profiles = profiles


class KeyAccessError(PKIError):
    """A private key could not be unlocked: wrong passphrase or PIN, corrupt file, absent token."""


class BackendError(PKIError):
    """A key backend (file, PKCS#11 token, YubiKey) failed or is not available."""


class SeveralYubiKeys(BackendError):
    """More than one YubiKey is connected, and which one was meant is not said."""


class LogError(PKIError):
    """The issuance log could not be read or written."""
