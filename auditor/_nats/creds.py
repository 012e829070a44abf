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


_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def _b64url(text: str) -> bytes:
    """base64url without padding, as Go's base64.RawURLEncoding reads it (jwt's decodeString):
    line breaks skipped; `=`, `+`, `/` or any other character refused (Python's decoder would
    drop them and read on)."""
    text = text.replace("\r", "").replace("\n", "")
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise CredsError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):  # pragma: no cover - the alphabet and length are checked
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

    @property
    def issuer_account(self) -> str | None:
        """The account a signing key issued this user for: a top-level claim in v1, in `nats`
        in v2."""
        value = self.claims.get("issuer_account") if self.claims.get("type") else self.nats.get("issuer_account")
        return value or None


MAX_TOKEN = 1024 * 1024
"""nats-io/jwt's MaxTokenSize: a longer token is refused."""


def decode_jwt(token: str) -> Jwt:
    """A JWT as nats-io/jwt's Decode reads it (the server's reading), or CredsError where Decode
    refuses it for what it is: not three base64url parts, a header that is not `typ` JWT with
    an ed25519 `alg`, claims that are not a JSON object or hold a value of the wrong type in a
    field the server reads, a version other than 1 or 2. A signature that does not verify is
    kept as `signature_valid` False (a fact the rules report). Go reads JSON object members
    into struct fields whatever their case (`EXP` is `exp`, the last of them wins): the claims
    returned hold the fields read so, under their own names. The version, not the header's
    `alg`, says what is signed: v1 (a top-level `type` claim) the payload, v2 `header.payload`."""
    token = token.strip()
    if len(token) > MAX_TOKEN:
        raise CredsError(f"token longer than {MAX_TOKEN} bytes")
    parts = token.split(".")
    if len(parts) != 3:
        raise CredsError("not a JWT (expected header.payload.signature)")
    header = _go_struct(_json_object(_b64url(parts[0]), "header"), _HEADER, "")
    typ, alg = header.get("typ", ""), header.get("alg", "")
    if typ.upper() != "JWT":
        raise CredsError(f"not a JWT header (typ {typ!r})")
    if alg.lower() not in ("ed25519-nkey", "ed25519"):
        raise CredsError(f"unsupported JWT algorithm {alg!r}")
    raw = _json_object(_b64url(parts[1]), "claims")
    signature = _b64url(parts[2])
    claims = _go_struct(raw, _TOP, "")
    if "nats" in claims and not isinstance(claims["nats"], _Object):
        raise CredsError("JWT claim 'nats' is not an object")
    generic = _go_struct(claims.get("nats"), _GENERIC, "nats.")
    v1_type = claims.get("type") or ""
    version = 1 if v1_type else generic.get("version", 0)
    kind = v1_type or generic.get("type") or ""
    if version > 2:
        raise CredsError(f"a JWT of version {version}: the server reads versions 1 and 2")
    if kind in _VERSIONED and version not in (1, 2):
        raise CredsError(f"a {kind} JWT of version {version}: the server reads versions 1 and 2")
    if v1_type:  # v1 kept a user's issuer_account beside its claims
        claims.update(_go_struct(raw, {"issuer_account": str}, ""))
    if kind in _VERSIONED:
        nats = claims["nats"] = _go_struct(claims.get("nats"), _VERSIONED[kind], "nats.")
        _check_keys(nats)
    else:
        claims["nats"] = generic
    signed = parts[1] if version <= 1 else f"{parts[0]}.{parts[1]}"
    valid = verify_signature(claims.get("iss") or "", signed.encode(), signature)
    return Jwt(token, {"typ": typ, "alg": alg}, claims, valid)


def _check_keys(nats: dict[str, Any]) -> None:
    """An account's revocations (public key or `*` to a time) and signing keys (a key, or a
    scope: an object whose `kind` is `user_scope`, its fields read as Go reads them), as jwt
    reads them, or CredsError where it refuses the JWT."""
    revocations = nats.get("revocations")
    if revocations is not None:
        if not isinstance(revocations, dict):
            raise CredsError("JWT claim 'nats.revocations' is not an object")
        for key in revocations:
            _typed(revocations[key], int, "nats.revocations")
    if "signing_keys" in nats:
        keys: list[Any] = []
        for key in nats["signing_keys"]:
            if isinstance(key, str):
                keys.append(key)
            elif isinstance(key, dict):  # a map's keys are exact: `kind`, never `Kind`
                if key.get("kind") != "user_scope":
                    raise CredsError(f"unknown signing key scope {str(key.get('kind'))[:40]!r}")
                keys.append(_go_struct(key, _SCOPE, "nats.signing_keys."))
        nats["signing_keys"] = keys


class _Object(dict[str, Any]):
    """A JSON object that keeps its members in order (a dict keeps the last of one name only):
    Go fills a struct's field from each member whose name folds to the field's, in order."""

    __slots__ = ("members",)
    members: list[tuple[str, Any]]

    def get_folded(self, name: str) -> Any:
        """The value Go reads into the field `name`: the last member folding to it that is not
        null (null leaves a field as it was)."""
        found = None
        for key, value in self.members:
            if value is not None and _go_fold(key) == name:
                found = value
        return found


def _object(members: list[tuple[str, Any]]) -> _Object:
    made = _Object(members)
    made.members = members
    return made


def _json_object(data: bytes, what: str) -> _Object:
    try:
        value = json.loads(data, object_pairs_hook=_object)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise CredsError(f"JWT {what} is not JSON") from None
    if not isinstance(value, _Object):
        raise CredsError(f"JWT {what} is not an object")
    return value


def _go_fold(name: str) -> str:
    """A member name as encoding/json folds it to match a field (ASCII case, and the letters
    that fold to ASCII ones: U+017F is s, U+212A is k)."""
    if name.isascii():
        return name.lower()
    return "".join(_fold_rune(c) for c in name)


def _fold_rune(c: str) -> str:
    upper = c.upper() if len(c.upper()) == 1 else c
    lower = upper.lower()
    return lower if len(lower) == 1 else upper


_INT64 = 1 << 63
Field = Any
"""A field's type: int, str, bool, `list` (a list as it is), `dict` (any value as it is) or a
nested struct (a dict of its fields' types)."""


def _typed(value: Any, kind: Field, where: str) -> Any:
    if kind is int:
        if type(value) is not int or not -_INT64 <= value < _INT64:
            raise CredsError(f"JWT claim {where!r} is not an integer")
    elif kind is str or kind is bool:
        if type(value) is not kind:
            raise CredsError(f"JWT claim {where!r} is not a {'string' if kind is str else 'boolean'}")
    elif kind is list:
        if not isinstance(value, list):
            raise CredsError(f"JWT claim {where!r} is not a list")
    elif isinstance(kind, dict):
        if not isinstance(value, _Object):
            raise CredsError(f"JWT claim {where!r} is not an object")
        return _go_struct(value, kind, where + ".")
    return value


def _go_struct(obj: Any, fields: dict[str, Field], where: str) -> dict[str, Any]:
    """The fields of `fields` Go reads from `obj`, typed, under their own names (absent ones left
    out); CredsError where one holds a value of another type."""
    if not isinstance(obj, _Object):
        return {}
    out: dict[str, Any] = {}
    for name, kind in fields.items():
        value = obj.get_folded(name)
        if value is not None:
            out[name] = _typed(value, kind, where + name)
    return out


_PERMISSION: dict[str, Field] = {"allow": list, "deny": list}
_USER_LIMITS: dict[str, Field] = {
    "pub": _PERMISSION, "sub": _PERMISSION, "resp": {"max": int, "ttl": int}, "src": dict, "times": dict,
    "times_location": str, "subs": int, "data": int, "payload": int, "bearer_token": bool,
    "proxy_required": bool, "allowed_connection_types": list,
}
"""jwt's UserPermissionLimits: a user's permissions and limits, and a user scope's template."""
_SCOPE: dict[str, Field] = {"kind": str, "key": str, "role": str, "template": _USER_LIMITS, "description": str}
"""jwt's UserScope: a scoped signing key."""
_TOP: dict[str, Field] = {
    "exp": int, "nbf": int, "iat": int, "iss": str, "sub": str, "name": str, "jti": str,
    "type": str, "nats": dict,
}
"""jwt's ClaimsData, and v1's `type` beside it."""
_HEADER: dict[str, Field] = {"typ": str, "alg": str}
"""jwt's Header."""
_GENERIC: dict[str, Field] = {"type": str, "version": int}
_VERSIONED: dict[str, dict[str, Field]] = {
    "user": {**_GENERIC, **_USER_LIMITS, "issuer_account": str},
    "account": {**_GENERIC, "signing_keys": list, "revocations": dict, "exports": list, "imports": list,
                "limits": {
                    **dict.fromkeys(("subs", "data", "payload", "imports", "exports", "conn", "leaf", "mem_storage", "disk_storage", "streams", "consumer", "max_ack_pending", "mem_max_stream_bytes", "disk_max_stream_bytes"), int),
                    "wildcards": bool, "disallow_bearer": bool, "max_bytes_required": bool}},
    "operator": {**_GENERIC, "signing_keys": list, "system_account": str, "account_server_url": str},
}
"""The `nats` fields auditor reads of each kind of JWT the server loads by version."""


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


def _signing_keys(jwt: Jwt) -> dict[str, dict[str, Any] | None]:
    """A JWT's signing keys, each with its scope's template (None for a key without a scope)."""
    keys: dict[str, dict[str, Any] | None] = {}
    for k in jwt.nats.get("signing_keys") or []:
        if isinstance(k, str):
            keys[k] = None
        elif isinstance(k, dict) and isinstance(k.get("key"), str):
            keys[k["key"]] = k.get("template") or {}
    return keys


@dataclass(frozen=True)
class Chain:
    """Where the walk of a JWT's signing chain ended."""

    status: str
    """`verified`, `incomplete`, `broken` or `refused`."""
    path: tuple[str, ...]
    """Each JWT walked, `type name`."""
    detail: str
    template: dict[str, Any] | None = None
    """A user's permissions and limits where a scoped signing key issued it: its scope's template,
    which the server applies in place of the user's own."""


def chain(jwt: Jwt, known: list[Jwt]) -> Chain:
    """Walk `jwt` up to a self-signed operator through the JWTs in `known`, as the server decides
    whether a user may sign in (server/auth.go).

    status: `verified` (every link found, every signature valid), `incomplete` (an issuer's JWT
    is not among those collected), `broken` (a bad signature, an issuer of the wrong kind or not
    the account's, a scoped signing key's user with permissions of its own), `refused` (the
    account revoked the user, or it disallows bearer tokens and the user is one).
    """
    path: list[str] = []
    current = jwt
    template = None
    for _ in range(4):
        path.append(f"{current.type} {current.claims.get('name') or current.subject}")
        if not current.signature_valid:
            return Chain("broken", tuple(path), f"the {current.type} JWT's signature does not verify")
        if current.type == "operator":
            if current.issuer == current.subject or current.issuer in _signing_keys(current):
                return Chain("verified", tuple(path), "signed up to a self-signed operator", template)
            return Chain("broken", tuple(path), "the operator JWT is not self-signed")
        if current.type not in ("user", "account"):
            return Chain("incomplete", tuple(path), f"no chain rule for {current.type} JWTs")
        if current.issuer[:1] not in EXPECTED_ISSUER[current.type]:
            return Chain("broken", tuple(path), f"a {current.type} JWT cannot be issued by {current.issuer[:1]}… keys")
        if current.type == "user":
            ended = _user_link(current, known)
            if isinstance(ended, Chain):
                return Chain(ended.status, tuple(path), ended.detail)
            parent, template = ended
        else:
            parent = next((k for k in known if k.type == "operator"
                           and (k.subject == current.issuer or current.issuer in _signing_keys(k))), None)
        if parent is None:
            want = "account" if current.type == "user" else "operator"
            return Chain("incomplete", tuple(path), f"the issuing {want}'s JWT ({current.issuer[:8]}…) was not collected")
        current = parent
    return Chain("broken", tuple(path), "the chain is too long")


def _user_link(user: Jwt, known: list[Jwt]) -> Chain | tuple[Jwt | None, dict[str, Any] | None]:
    """The account a user JWT signs in to (None if not collected) and the template of the scoped
    key that issued it, or the Chain that ends the walk there. The server finds the account by
    `issuer_account`, else by the issuer, and takes the user where the issuer is the account or
    one of its signing keys."""
    named = user.issuer_account or user.issuer
    account = next((k for k in known if k.type == "account" and k.subject == named), None)
    if account is None:
        owner = next((k for k in known if k.type == "account" and user.issuer in _signing_keys(k)), None)
        if owner is not None and user.issuer_account is None:
            return Chain("broken", (), f"signed by a signing key of account {owner.claims.get('name') or owner.subject}, "
                                       "but issuer_account does not name the account")
        return None, None
    keys = _signing_keys(account)
    if user.issuer != account.subject and user.issuer not in keys:
        return Chain("broken", (), f"the issuer ({user.issuer[:8]}…) is neither account "
                                   f"{account.claims.get('name') or account.subject} nor one of its signing keys")
    template = keys.get(user.issuer) if user.issuer != account.subject else None
    if template is not None and not _no_permissions(user):
        return Chain("broken", (), "issued by a scoped signing key, yet sets permissions or limits of its own "
                                   "(the server refuses such a user)")
    limits = template if template is not None else user.nats
    revoked = account.nats.get("revocations") or {}
    issued = user.claims.get("iat") or 0
    if any(key in revoked and revoked[key] >= issued for key in (user.subject, "*")):
        return Chain("refused", (), "the account revoked this user")
    limit = account.nats.get("limits") or {}
    if limits.get("bearer_token") and limit.get("disallow_bearer"):
        return Chain("refused", (), "a bearer token, which the account disallows")
    return account, template


def _no_permissions(user: Jwt) -> bool:
    """Whether a user sets no permissions or limits (jwt's HasEmptyPermissions: every field zero,
    an empty list or object still counting as set). A v1 user never does (v1 limits default to
    -1)."""
    if user.claims.get("type"):
        return False
    nats = user.nats
    for name in _USER_LIMITS:
        value = nats.get(name)
        if name in ("pub", "sub"):
            if value and any(value.get(side) is not None for side in ("allow", "deny")):
                return False
        elif value not in (None, 0, False, "") or (value is not None and name in ("src", "times")):
            return False  # a list, even empty, is set; so is any source or time window
    return True


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
