"""The root of pki's errors; cryptography's exceptions are translated at this boundary."""

from __future__ import annotations


class PKIError(Exception):
    """Root of pki's errors. The message is written for the user."""


class LoadError(PKIError):
    """A certificate, key or CRL could not be read or parsed."""


class ProfileError(PKIError):
    """A certificate profile is unknown or malformed."""


class InvalidName(PKIError):
    """A name given for a certificate is not valid for its kind; `kind` says which it was
    given as: dns, ip, email, uri (a subject alternative name) or permitted-dns, ... (a name
    constraint)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class CAError(PKIError):
    """The CA folder is missing, incomplete, locked, or refuses the request."""


class Refused(CAError):
    """The CA refuses to sign: `rule` (one of pki.policy.RULES) would be broken. Nothing was
    written."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"refused ({rule}): {message}")
        self.rule = rule


class NoSubjectNames(Refused):
    """A certificate whose profile requires subject alternative names was asked for without any."""

    def __init__(self, message: str, profile: str) -> None:
        super().__init__("name-constraints", message)
        self.profile = profile


class LongLifetime(Refused):
    """A lifetime over the profile's maximum, asked for without allowing it explicitly."""

    def __init__(self, message: str, days: int) -> None:
        super().__init__("lifetime", message)
        self.days = days


class OutlivesIssuer(Refused):
    """The certificate would end after its issuer; a shorter lifetime or a new issuing CA helps."""

    def __init__(self, message: str) -> None:
        super().__init__("validity", message)


class NameTypeNotPermitted(Refused):
    """A name of a type (`name_type`: dns, ip, email, uri) for which a name-constrained issuer
    has no permitted subtree."""

    def __init__(self, message: str, name_type: str) -> None:
        super().__init__("name-constraints", message)
        self.name_type = name_type


class LogDoesNotVerify(CAError):
    """The issuance log of the CA in `folder` fails verification: nothing changes the CA."""

    def __init__(self, message: str, folder: object) -> None:
        super().__init__(message)
        self.folder = folder


class NoInventory(CAError):
    """The inventory of the CA in `folder` is missing (it can be rebuilt from the log)."""

    def __init__(self, message: str, folder: object) -> None:
        super().__init__(message)
        self.folder = folder


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


def one_line(exc: BaseException) -> str:
    """An exception's message on one line, at most 200 characters: what a user's message quotes
    of a library's error (cryptography's, pkilint's, josepy's)."""
    return " ".join(str(exc).split())[:200]
