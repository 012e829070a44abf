"""sops cryptography: value decryption, the data key from a recipient, and the MAC.

Values are AES-256-GCM with a 32-byte IV; a value's additional data is its key path joined
with ':' plus a trailing ':'. The MAC is the upper-case hex SHA-512 over every leaf's Go
`ToBytes` form (only encrypted leaves, after a fixed 32-byte prefix, when
`mac_only_encrypted`), stored encrypted with the `lastmodified` string as additional data
(getsops/sops sops.go `Tree.Encrypt`/`Decrypt`, aes/cipher.go).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import math
import os
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from auditor._sops.document import ENC, GoValue, Leaf, SopsDocument
from auditor._sops.rules import Selectors
from auditor._timeutil import go_time

MAC_ONLY_ENCRYPTED_INIT = bytes.fromhex("8a3fd2ad54ce66527b1034f3d147be0b0b975b3bf44f72c6fdadec8176f27d69")


class SopsCryptoError(Exception):
    """A value, the MAC or the data key could not be decrypted (message for the user)."""


def go_bytes(value: GoValue) -> bytes:
    """Go's `sops.ToBytes` of a leaf value."""
    if isinstance(value, bool):
        return b"True" if value else b"False"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return go_float(value).encode()
    if isinstance(value, dt.datetime):
        return go_time(value).encode()
    return value.encode()


def go_float(value: float) -> str:
    """strconv.FormatFloat(v, 'f', -1, 64): the shortest exact digits, never an exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    return format(decimal.Decimal(repr(value)).normalize(), "f")


def aad(path: Sequence[str]) -> bytes:
    return (":".join(path) + ":").encode()


def decrypt_value(token: str, key: bytes, additional: bytes) -> bytes:
    """The plaintext bytes of one `ENC[AES256_GCM,...]` value."""
    m = ENC.match(token)
    if not m:
        raise SopsCryptoError("not an ENC[AES256_GCM,...] value")
    try:
        data, iv, tag = (base64.b64decode(part, validate=True) for part in m.group(1, 2, 3))
    except ValueError:
        raise SopsCryptoError("malformed base64 in an encrypted value") from None
    if len(key) != 32 or not iv:
        raise SopsCryptoError("wrong data key or IV length")
    try:
        return AESGCM(key).decrypt(iv, data + tag, additional)
    except InvalidTag:
        raise SopsCryptoError("authentication failed (wrong key, or the value was changed)") from None


def encrypt_value(plaintext: bytes, key: bytes, additional: bytes, kind: str = "str") -> str:
    iv = os.urandom(32)
    sealed = AESGCM(key).encrypt(iv, plaintext, additional)
    data, tag = sealed[:-16], sealed[-16:]
    b64 = base64.b64encode
    return f"ENC[AES256_GCM,data:{b64(data).decode()},iv:{b64(iv).decode()},tag:{b64(tag).decode()},type:{kind}]"


def compute_mac(leaves: Iterable[Leaf], key: bytes, selectors: Selectors, mac_only_encrypted: bool) -> str:
    """The MAC sops would compute over the decrypted tree."""
    h = hashlib.sha512()
    if mac_only_encrypted:
        h.update(MAC_ONLY_ENCRYPTED_INIT)
    for leaf in leaves:
        should = selectors.should_encrypt(leaf.path)
        if mac_only_encrypted and not should:
            continue
        if leaf.encrypted:
            assert isinstance(leaf.value, str)
            h.update(decrypt_value(leaf.value, key, aad(leaf.path)))
        else:
            h.update(go_bytes(leaf.value))
    return h.hexdigest().upper()


def stored_mac(doc: SopsDocument, key: bytes) -> str:
    md = doc.metadata or {}
    token, modified = str(md.get("mac") or ""), str(md.get("lastmodified") or "")
    return decrypt_value(token, key, modified.encode()).decode("ascii", "replace")


@dataclass(frozen=True)
class MacResult:
    status: str
    """verified, mismatch, no-key, unsupported or error."""
    detail: str = ""
    key_source: str = ""


def verify_mac(doc: SopsDocument, key: bytes, key_source: str) -> MacResult:
    md = doc.metadata or {}
    selectors = Selectors.from_mapping(md)
    if selectors.uses_comments:
        return MacResult("unsupported", "comment-regex selectors need the file's comments", key_source)
    try:
        expected = stored_mac(doc, key)
        actual = compute_mac(doc.leaves, key, selectors, bool(md.get("mac_only_encrypted")))
    except SopsCryptoError as exc:
        return MacResult("error", str(exc), key_source)
    if expected == actual:
        return MacResult("verified", "", key_source)
    return MacResult("mismatch", "the file was changed outside sops: the values do not match its MAC", key_source)


# ---------------------------------------------------------------- the data key


def data_key_from_age(doc: SopsDocument, identities: Sequence[str]) -> bytes | None:
    """Unwrap the data key with any of the age identities (AGE-SECRET-KEY-1... strings)."""
    if not identities:
        return None
    import pyrage

    parsed = []
    for text in identities:
        try:
            parsed.append(pyrage.x25519.Identity.from_str(text))
        except Exception:  # noqa: S112 - an unusable identity line is skipped; others may work
            continue
    if not parsed:
        return None
    for stanza in _entries(doc, "age"):
        enc = str(stanza.get("enc") or "")
        if not enc:
            continue
        armored = enc if enc.endswith("\n") else enc + "\n"  # as written: age refuses blanks in its lines
        try:
            key = pyrage.decrypt(armored.encode(), parsed)
        except Exception:  # noqa: S112 - not for these identities: try the next recipient
            continue
        if len(key) == 32:
            return bytes(key)
    return None


def data_key_from_gnupg(doc: SopsDocument, gnupg_home: Path | None, timeout: float = 20.0) -> bytes | None:
    """Unwrap the data key with GnuPG (secret keys in `gnupg_home`), without a shell."""
    stanzas = [s for s in _entries(doc, "pgp") if s.get("enc")]
    if not stanzas or gnupg_home is None:
        return None
    env = {**os.environ, "GNUPGHOME": str(gnupg_home)}
    for stanza in stanzas:
        with tempfile.TemporaryDirectory() as tmp:
            message = Path(tmp) / "key.asc"
            message.write_text(str(stanza["enc"]))
            try:
                proc = subprocess.run(
                    ["gpg", "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", "",
                     "--decrypt", str(message)],
                    capture_output=True, env=env, timeout=timeout, check=False,
                )
            except (OSError, subprocess.TimeoutExpired):
                return None
        if proc.returncode == 0 and len(proc.stdout) == 32:
            return proc.stdout
    return None


def _entries(doc: SopsDocument, kind: str) -> list[dict[str, object]]:
    md = doc.metadata or {}
    out = [e for e in md.get(kind) or [] if isinstance(e, dict)]
    for group in md.get("key_groups") or []:
        if isinstance(group, dict):
            out.extend(e for e in group.get(kind) or [] if isinstance(e, dict))
    return out
