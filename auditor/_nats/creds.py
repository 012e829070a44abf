"""NATS credentials: .creds files, JWTs (operator, account, user claims) and nkey seeds.

A JWT is `header.payload.signature` (base64url, no padding) signed with ed25519 by the nkey
named in `iss`; v2 signs `header.payload`, v1 signed the payload only (nats-io/jwt). The chain
is operator (self-signed) -> account (signed by the operator or one of its signing keys) ->
user (signed by the account or one of its signing keys, then `issuer_account` names the
account). Seeds are decoded with the `nkeys` package; public keys are checked here (prefix
byte and CRC-16, as nkeys does) and signatures verified with `cryptography`'s Ed25519.

A seed this module finds is handed to its caller (the nats-credentials collector), which keeps
its public key and a redacted form only.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

import nkeys
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

# the server's and nats.go's .creds pattern: a dashed banner line, the value, a dashed line
CREDS_BLOCK = re.compile(r"\s*(?:-{3,}[^\n]*-{3,}\r?\n)([\w\-.=]+)(?:\r?\n-{3,}[^\n]*-{3,}(?:\r?\n|\Z))")
SEED_LINE = re.compile(r"^\s*(S[UAOCN][A-Z2-7]{40,})\s*$", re.MULTILINE)
PUBLIC_KEY = re.compile(r"^[UAONC][A-Z2-7]{55}$")

KIND_BY_PREFIX = {"O": "operator", "A": "account", "U": "user", "N": "server", "C": "cluster"}
PREFIX_BYTES = {
    "operator": nkeys.PREFIX_BYTE_OPERATOR,
    "account": nkeys.PREFIX_BYTE_ACCOUNT,
    "user": nkeys.PREFIX_BYTE_USER,
    "server": nkeys.PREFIX_BYTE_SERVER,
    "cluster": nkeys.PREFIX_BYTE_CLUSTER,
}
EXPECTED_ISSUER = {"operator": ("O",), "account": ("O", "A"), "user": ("A",), "activation": ("A",)}


class CredsError(ValueError):
    """A credential cannot be read (the message never contains the secret)."""


def _b64url(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise CredsError("not base64url") from None


def decode_public_key(key: str) -> tuple[str, bytes]:
    """(kind, raw 32-byte ed25519 key) of an encoded nkey public key; CredsError if invalid."""
    if not PUBLIC_KEY.match(key):
        raise CredsError(f"'{key[:8]}…' is not an nkey public key")
    raw = base64.b32decode(key + "=" * (-len(key) % 8))
    body, crc = raw[:-2], int.from_bytes(raw[-2:], "little")
    if nkeys.crc16(bytearray(body)) != crc:
        raise CredsError(f"public key {key[:8]}… has a bad checksum")
    kind = KIND_BY_PREFIX[key[0]]
    if body[0] != PREFIX_BYTES[kind]:
        raise CredsError(f"public key {key[:8]}… has a bad prefix")
    return kind, bytes(body[1:])


def seed_public_key(seed: str) -> tuple[str, str]:
    """(kind, public key) of a seed, via nkeys; CredsError (never echoing the seed) if invalid."""
    try:
        pair = nkeys.from_seed(seed.encode())
        public = pair.public_key.decode()
    except Exception:  # nkeys raises its own errors and binascii/nacl ones
        raise CredsError("not a valid nkey seed") from None
    return KIND_BY_PREFIX.get(public[0], "unknown"), public


def verify_signature(public_key: str, message: bytes, signature: bytes) -> bool:
    try:
        _, raw = decode_public_key(public_key)
        Ed25519PublicKey.from_public_bytes(raw).verify(signature, message)
    except (CredsError, InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Jwt:
    token: str
    header: dict[str, Any]
    claims: dict[str, Any]
    signature_valid: bool

    @property
    def type(self) -> str:
        nats = self.claims.get("nats") or {}
        return str(self.claims.get("type") or nats.get("type") or "unknown")

    @property
    def subject(self) -> str:
        return str(self.claims.get("sub") or "")

    @property
    def issuer(self) -> str:
        return str(self.claims.get("iss") or "")

    @property
    def nats(self) -> dict[str, Any]:
        value = self.claims.get("nats")
        return value if isinstance(value, dict) else {}


def decode_jwt(token: str) -> Jwt:
    token = token.strip()
    parts = token.split(".")
    if len(parts) != 3:
        raise CredsError("not a JWT (expected header.payload.signature)")
    try:
        header = json.loads(_b64url(parts[0]))
        claims = json.loads(_b64url(parts[1]))
    except (ValueError, UnicodeDecodeError):
        raise CredsError("JWT header or claims are not JSON") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise CredsError("JWT header or claims are not objects")
    if str(header.get("alg", "")).lower() not in ("ed25519-nkey", "ed25519"):
        raise CredsError(f"unsupported JWT algorithm {header.get('alg')!r}")
    signature = _b64url(parts[2])
    # v2 signs header.payload; v1 (alg ed25519) signed the payload only
    signed = f"{parts[0]}.{parts[1]}" if str(header.get("alg")).lower() == "ed25519-nkey" else parts[1]
    valid = verify_signature(str(claims.get("iss") or ""), signed.encode(), signature)
    return Jwt(token, header, claims, valid)


def parse_creds(text: str) -> tuple[str, str | None]:
    """(JWT, seed or None) of a .creds file, as the server reads them (first two blocks)."""
    blocks = CREDS_BLOCK.findall(text)
    if not blocks:
        raise CredsError("no JWT block (-----BEGIN NATS USER JWT-----) found")
    seed = blocks[1] if len(blocks) > 1 else None
    return blocks[0], seed


def find_seed(text: str) -> str | None:
    m = SEED_LINE.search(text)
    return m.group(1) if m else None


def _signing_keys(jwt: Jwt) -> set[str]:
    keys: set[str] = set()
    for k in jwt.nats.get("signing_keys") or []:
        if isinstance(k, str):
            keys.add(k)
        elif isinstance(k, dict) and isinstance(k.get("key"), str):
            keys.add(k["key"])
    return keys


@dataclass(frozen=True)
class Chain:
    """Where the walk of a JWT's signing chain ended."""

    status: str
    """`verified`, `incomplete` or `broken`."""
    path: tuple[str, ...]
    """Each JWT walked, `type name`."""
    detail: str


def chain(jwt: Jwt, known: list[Jwt]) -> Chain:
    """Walk `jwt` up to a self-signed operator through the JWTs in `known`.

    status: `verified` (every link found, every signature valid), `incomplete` (an issuer's JWT
    is not among those collected), `broken` (a bad signature or an issuer of the wrong kind).
    """
    path: list[str] = []
    current = jwt
    for _ in range(4):
        path.append(f"{current.type} {current.claims.get('name') or current.subject}")
        if not current.signature_valid:
            return Chain("broken", tuple(path), f"the {current.type} JWT's signature does not verify")
        if current.type == "operator":
            if current.issuer == current.subject or current.issuer in _signing_keys(current):
                return Chain("verified", tuple(path), "signed up to a self-signed operator")
            return Chain("broken", tuple(path), "the operator JWT is not self-signed")
        want = "account" if current.type == "user" else "operator"
        if current.type not in ("user", "account"):
            return Chain("incomplete", tuple(path), f"no chain rule for {current.type} JWTs")
        if current.issuer[:1] not in EXPECTED_ISSUER[current.type]:
            return Chain("broken", tuple(path), f"a {current.type} JWT cannot be issued by {current.issuer[:1]}… keys")
        named = current.nats.get("issuer_account") if current.type == "user" else None
        parent = next(
            (
                k for k in known
                if k.type == want
                and (k.subject == current.issuer or current.issuer in _signing_keys(k))
                and (named is None or k.subject == named)
            ),
            None,
        )
        if parent is None:
            return Chain("incomplete", tuple(path), f"the issuing {want}'s JWT ({current.issuer[:8]}…) was not collected")
        current = parent
    return Chain("broken", tuple(path), "the chain is too long")


# ------------------------------------------------------------------- making credentials
# Used by the demo node (auditor/_demo) and the tests: real nkeys and signed JWTs.


def new_seed(kind: str) -> str:
    """A fresh nkey seed of `kind` (operator, account, user, server, cluster)."""
    import os

    return bytes(nkeys.encode_seed(os.urandom(32), PREFIX_BYTES[kind])).decode()


def encode_jwt(claims: dict[str, Any], signing_seed: str) -> str:
    """A v2 JWT of `claims` signed by `signing_seed` (whose public key becomes `iss`)."""
    import hashlib

    pair = nkeys.from_seed(signing_seed.encode())
    body = {**claims, "iss": pair.public_key.decode(), "jti": ""}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).digest()
    body["jti"] = base64.b32encode(digest).decode().rstrip("=")

    def enc(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")

    head = enc({"typ": "JWT", "alg": "ed25519-nkey"})
    payload = enc(body)
    signature = pair.sign(f"{head}.{payload}".encode())
    return f"{head}.{payload}." + base64.urlsafe_b64encode(signature).decode().rstrip("=")


def format_creds(jwt: str, seed: str) -> str:
    """A .creds file in the format of nats-io/jwt FormatUserConfig."""
    return (
        "-----BEGIN NATS USER JWT-----\n"
        f"{jwt}\n"
        "------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n"
        "NKEYs are sensitive and should be treated as secrets.\n\n"
        "-----BEGIN USER NKEY SEED-----\n"
        f"{seed}\n"
        "------END USER NKEY SEED------\n\n"
        "*************************************************************\n"
    )
