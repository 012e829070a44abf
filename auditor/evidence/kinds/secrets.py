"""secrets.scan: the leakage scan of one path."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from msgspec import Meta

from auditor.evidence.contract import Facts, NonNegative, Redacted, SecretPart


class Leak(SecretPart, frozen=True, kw_only=True):
    SECRETS: ClassVar[tuple[str, ...]] = ("preview",)
    IDENTITY: ClassVar[tuple[str, ...]] = ("commit", "file", "fingerprint")
    IDENTITY_ALONE: ClassVar[bool] = True  # the scanned path it was found under is not part of it
    LABEL: ClassVar[str] = "{location}"

    rule: Annotated[str, Meta(description="the detector (nkey-seed, private-key, password, ...) or a custom rule id")]
    category: str
    file: str
    line: NonNegative
    column: NonNegative
    location: Annotated[str, Meta(description="file:line:column (in an archive, file!member:line:column, each level of packing after a `!`), prefixed by the commit for git history")]
    preview: Annotated[Redacted, Meta(description="Redacted: a short prefix and a fingerprint, never the secret.")]
    fingerprint: Annotated[str, Meta(description="stable for the same secret under the same rule")]
    confidence: Literal["high", "medium", "low"]
    engine: str
    commit: Annotated[str, Meta(description="for git history: the first commit found to hold the blob (an annotated "
                                            "tag's own id for its message; a blob's own id for a blob no commit holds)")]
    file_mode: Annotated[str, Meta(pattern=r"^([0-7]{4})?$")]
    private: Annotated[bool, Meta(description="the file is readable by its owner only")]
    key_file: Annotated[bool, Meta(description="the file holds nothing but key material: a dedicated key or .creds file")]
    log: Annotated[bool, Meta(description="the file is a log or a shell history")]
    encrypted: Annotated[bool, Meta(description="a private key that is encrypted")]
    protected: Annotated[bool, Meta(description="key material kept as it should be: an encrypted private key, or alone in a key file only its owner can read, not a log (auditor._secrets.model.Leak.protected: the one judgement `secrets scan` and the rules share)")]
    details: Annotated[dict[str, str | int | float | bool], Meta(description="detector-specific facts (e.g. a JWT's alg, expired; `encoding: base64` for a secret found base64-encoded)")]
    occurrences: Annotated[int, Meta(ge=1, description="how many times the file (or blob) holds this secret, found alike (the same rule, confidence and details): one finding, at the first")] = 1
    lines: Annotated[tuple[NonNegative, ...], Meta(description="the lines of its first 10 occurrences, ascending (`line` is the first)")] = ()


class SecretsScan(Facts, frozen=True, kw_only=True):
    """The leakage scan of one path: what was read and the (redacted) findings."""

    KIND: ClassVar[str] = "secrets.scan"

    path: str
    engines: tuple[str, ...]
    files_scanned: NonNegative
    bytes_scanned: NonNegative
    skipped: Annotated[dict[str, int], Meta(description="Entries not read, by reason (symlink, fifo, socket, device, too-large, allowlisted).")]
    unreadable: Annotated[tuple[str, ...], Meta(description="Files that could not be read (permissions, I/O errors), each with why. The secrets rules are not decided (error) while this is not empty.")]
    suppressed: Annotated[NonNegative, Meta(description="findings accepted by the allowlist or a baseline, counted as they would be reported (a secret that versions of a file in git history keep: once); ignore comments in the node's files accept nothing")]
    blobs_scanned: NonNegative
    blobs_reused: NonNegative
    not_scanned: Annotated[tuple[str, ...], Meta(description="Files (or git blobs) with content that were not scanned, or not whole: over the configured max_file_bytes, packed content (gzip, xz, bzip2, zip, tar) past the gunzip-bytes limit or nested past the archive-depth limit, a sops file whose values could not be checked for plaintext (not parsed, or over 4 MiB), findings past the secret-findings limit. The secrets rules are not decided (error) while this is not empty.")]
    special: Annotated[tuple[str, ...], Meta(description="FIFOs, sockets and devices under the path: listed, never opened.")]
    leaks: tuple[Leak, ...]
