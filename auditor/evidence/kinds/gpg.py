"""gpg.key: one OpenPGP key with its subkeys."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from msgspec import Meta

from auditor.evidence.contract import Facts, Part, Timestamp

Capability = Literal["certify", "sign", "encrypt", "authenticate"]
Validity = Literal["unknown", "invalid", "disabled", "revoked", "expired", "undefined", "never", "marginal", "full", "ultimate"]
SecretPresent = Annotated[bool | None, Meta(description="Whether the key's secret is on the node (private-keys-v1.d/<keygrip>.key exists and is no smartcard's stub); null when unknown.")]
SecretOnCard = Annotated[bool | None, Meta(description="Whether the key's secret is on a smartcard (a YubiKey or other OpenPGP card): its private-keys-v1.d file is the card's stub; null when unknown (a key file).")]


class Subkey(Part, frozen=True, kw_only=True):
    keyid: str
    fingerprint: str
    algorithm: Annotated[str, Meta(description="rsa, dsa, elgamal, ecdh, ecdsa, eddsa, or algo-N")]
    size: int
    curve: str | None
    created: Timestamp | None
    expires: Timestamp | None
    capabilities: tuple[Capability, ...]
    validity: Validity
    secret_present: SecretPresent
    secret_on_card: SecretOnCard = None


class GpgKey(Subkey, Facts, frozen=True, kw_only=True):
    """One OpenPGP key (primary key with its subkeys) from a GnuPG keyring or key file. No secret material: only whether a secret is present."""

    KIND: ClassVar[str] = "gpg.key"
    IDENTITY: ClassVar[tuple[str, ...]] = ("found_in", "fingerprint")

    found_in: Annotated[str, Meta(description="the GnuPG home folder or key file (as the inventory names it) the key was found in")]
    location: Annotated[str, Meta(description="the keyring or key file the key was listed from")]
    usable_capabilities: Annotated[tuple[Capability, ...], Meta(description="of the key with its subkeys")]
    revoked: bool
    user_ids: tuple[str, ...]
    subkeys: tuple[Subkey, ...]
