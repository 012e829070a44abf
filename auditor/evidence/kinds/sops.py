"""sops.file: one sops-encrypted (or should-be-encrypted) file."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from msgspec import Meta

from auditor.evidence.contract import Facts, NonNegative, Part

Format = Literal["yaml", "json", "dotenv", "ini", "binary"]
MacStatus = Literal["verified", "mismatch", "no-key", "unsupported", "error", "not-encrypted", "missing"]


class CreationRule(Part, frozen=True, kw_only=True):
    index: Annotated[int, Meta(description="position in .sops.yaml (-1: no rule covers the file)")]
    path_regex: str


class SelectorSet(Part, frozen=True, kw_only=True):
    unencrypted_suffix: str
    encrypted_suffix: str
    unencrypted_regex: str
    encrypted_regex: str
    unencrypted_comment_regex: str
    encrypted_comment_regex: str
    mac_only_encrypted: bool


class Selectors(Part, frozen=True, kw_only=True):
    file: Annotated[SelectorSet, Meta(description="what the file's own metadata says")]
    rule: Annotated[SelectorSet, Meta(description="what its creation rule says")]


class PlaintextValue(Part, frozen=True, kw_only=True):
    key: Annotated[str, Meta(description="dotted path of the value (never the value)")]
    line: int
    should_encrypt: Annotated[bool, Meta(description="the file's own selectors say it should be encrypted")]
    rule_requires: Annotated[bool, Meta(description="the creation rule's selectors say so")]
    secret_like: bool
    reason: str


class Recipient(Part, frozen=True, kw_only=True):
    type: Literal["age", "pgp", "kms", "gcp_kms", "azure_kv", "hc_vault"]
    id: str
    created_at: str


class Mac(Part, frozen=True, kw_only=True):
    status: MacStatus
    detail: str
    key_source: str


class SopsFile(Facts, frozen=True, kw_only=True):
    """One sops-encrypted (or should-be-encrypted) file: plaintext values, recipients, MAC, lastmodified."""

    KIND: ClassVar[str] = "sops.file"

    path: str
    format: Format
    encrypted: Annotated[bool, Meta(description="A sops file: metadata with a MAC and a version (sops filestatus).")]
    version: str
    lastmodified: str
    config: Annotated[str, Meta(description="the .sops.yaml that applies ('' when none)")]
    covered: Annotated[bool, Meta(description="a creation rule of that .sops.yaml covers the file")]
    creation_rule: CreationRule
    selectors: Selectors
    mac_only_encrypted: bool
    values: NonNegative
    encrypted_values: NonNegative
    plaintext: tuple[PlaintextValue, ...]
    recipients: tuple[Recipient, ...]
    required_recipients: tuple[str, ...]
    allowed_recipients: tuple[str, ...]
    mac: Mac
