"""Checking a request's JWS (RFC 8555 section 6.2), the external account binding (7.3.4) and
the inner JWS of a key change (7.3.5), with josepy and acme's JWS classes.

A request is a flattened JSON JWS whose protected header holds `alg` (an asymmetric algorithm,
never `none` or a MAC), `nonce`, `url` and exactly one of `jwk` (new accounts, revocation by
the certificate's key) or `kid` (the account URL). Nothing may sit in an unprotected header.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from acme import jws as acme_jws
from cryptography.hazmat.primitives import hashes
from josepy.jwk import JWK, JWKEC, JWKRSA, JWKOct
from josepy.jws import JWS

from pki.acme.problems import AcmeProblem

ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
_EC_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
EAB_ALGORITHMS = ("HS256", "HS384", "HS512")
MIN_RSA_BITS = 2048


def b64decode(text: Any, what: str) -> bytes:
    if not isinstance(text, str) or not text or any(c in text for c in "=+/ \n"):
        raise AcmeProblem("malformed", f"{what} is not base64url without padding")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise AcmeProblem("malformed", f"{what} is not base64url") from None


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(jwk: JWK) -> str:
    """RFC 7638 thumbprint (SHA-256), base64url: how accounts are found by key."""
    return b64encode(jwk.thumbprint(hash_function=hashes.SHA256))


def stored_jwk(text: str) -> JWK:
    """An account key as the store keeps it (`jwk_json`)."""
    return load_jwk(json.loads(text))


def jwk_json(jwk: JWK) -> str:
    return json.dumps(jwk.to_partial_json(), sort_keys=True)


def load_jwk(value: Any) -> JWK:
    """A public account key from a JWK object: RSA of 2048 bits or more, or EC P-256/384/521."""
    if not isinstance(value, dict):
        raise AcmeProblem("malformed", "jwk is not a JSON object")
    if value.get("kty") not in ("RSA", "EC"):
        raise AcmeProblem("badPublicKey", f"account keys are RSA or EC keys, not {str(value.get('kty'))[:20]!r}")
    if "d" in value or "p" in value:
        raise AcmeProblem("badPublicKey", "the jwk holds a private key")
    try:
        jwk = JWK.from_json(value)
    except Exception:  # josepy raises DeserializationError, ValueError or cryptography's errors
        raise AcmeProblem("badPublicKey", "the jwk is not a valid public key") from None
    if isinstance(jwk, JWKRSA):
        if jwk.key.key_size < MIN_RSA_BITS:
            raise AcmeProblem("badPublicKey", f"RSA account keys need at least {MIN_RSA_BITS} bits")
    elif isinstance(jwk, JWKEC):
        if jwk.key.curve.name not in _EC_CURVES.values():
            raise AcmeProblem("badPublicKey", "EC account keys use P-256, P-384 or P-521")
    else:
        raise AcmeProblem("badPublicKey", "account keys are RSA or EC keys")
    return jwk


@dataclass(frozen=True)
class Signed:
    """A parsed (not yet verified) request JWS."""

    jws: JWS
    alg: str
    nonce: str | None
    url: str
    jwk: JWK | None
    kid: str | None
    payload: bytes

    def body(self) -> dict[str, Any] | None:
        """The payload as a JSON object; None for POST-as-GET (an empty payload)."""
        if self.payload == b"":
            return None
        try:
            value = json.loads(self.payload)
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep
            raise AcmeProblem("malformed", "the payload is not JSON") from None
        if not isinstance(value, dict):
            raise AcmeProblem("malformed", "the payload is not a JSON object")
        return value

    def verify(self, key: JWK) -> None:
        if isinstance(key, JWKEC):
            if _EC_CURVES.get(self.alg) != key.key.curve.name:
                raise AcmeProblem("badSignatureAlgorithm", f"{self.alg} does not match the account key's curve")
        elif isinstance(key, JWKRSA):
            if not self.alg.startswith(("RS", "PS")):
                raise AcmeProblem("badSignatureAlgorithm", f"{self.alg} does not match an RSA account key")
        try:
            ok = self.jws.verify(key)
        except Exception:  # a signature of the wrong shape makes josepy or cryptography raise
            ok = False
        if not ok:
            raise AcmeProblem("malformed", "the JWS signature does not verify")


def _flattened(value: Any, what: str) -> tuple[dict[str, Any], _Lazy]:
    if not isinstance(value, Mapping):  # josepy hands nested objects over as frozendicts
        raise AcmeProblem("malformed", f"{what} is not a JSON object")
    value = dict(value)
    if set(value) != {"protected", "payload", "signature"}:
        raise AcmeProblem("malformed", f"{what} must be a flattened JWS with exactly protected, payload and signature")
    if not all(isinstance(value[k], str) for k in value):
        raise AcmeProblem("malformed", f"{what}: protected, payload and signature are strings")
    raw = b64decode(value["protected"], f"{what}'s protected header")
    try:
        protected = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep
        raise AcmeProblem("malformed", f"{what}'s protected header is not JSON") from None
    if not isinstance(protected, dict):
        raise AcmeProblem("malformed", f"{what}'s protected header is not a JSON object")
    if value["payload"]:
        b64decode(value["payload"], f"{what}'s payload")
    b64decode(value["signature"], f"{what}'s signature")
    return protected, _Lazy(value, what)


class _Lazy:
    """The JWS object, parsed by acme/josepy once the header was checked."""

    def __init__(self, value: dict[str, Any], what: str) -> None:
        self.value = value
        self.what = what

    def __call__(self) -> JWS:
        try:
            parsed: JWS = acme_jws.JWS.from_json(self.value)
            return parsed
        except Exception:  # josepy's DeserializationError and the assertions of its field decoders
            raise AcmeProblem("malformed", f"{self.what} is not a valid JWS") from None


def parse(body: bytes) -> Signed:
    """Parse a request body into a :class:`Signed` (checks shape and header, not the signature)."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep
        raise AcmeProblem("malformed", "the request body is not JSON") from None
    protected, lazy = _flattened(value, "the request")
    alg = protected.get("alg")
    if alg not in ALGORITHMS:
        raise AcmeProblem("badSignatureAlgorithm",
                          f"the JWS algorithm must be one of {', '.join(ALGORITHMS)}")
    nonce, url = protected.get("nonce"), protected.get("url")
    if not isinstance(nonce, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,512}", nonce):
        raise AcmeProblem("badNonce", "the protected header has no nonce this server could have given")
    if not isinstance(url, str) or not url:
        raise AcmeProblem("malformed", "the protected header has no url")
    has_jwk, has_kid = "jwk" in protected, "kid" in protected
    if has_jwk == has_kid:
        raise AcmeProblem("malformed", "the protected header needs exactly one of jwk and kid")
    unknown = set(protected) - {"alg", "nonce", "url", "jwk", "kid"}
    if "crit" in unknown:
        raise AcmeProblem("malformed", "critical header parameters are not supported")
    jwk = load_jwk(protected["jwk"]) if has_jwk else None
    kid = protected.get("kid")
    if has_kid and (not isinstance(kid, str) or not kid):
        raise AcmeProblem("malformed", "kid is not an account URL")
    parsed = lazy()
    return Signed(parsed, alg, nonce, url, jwk, kid, parsed.payload)


def verify_eab(value: Any, *, account_jwk: JWK, url: str, hmac_key: Callable[[str], str | None]) -> str:
    """Check an externalAccountBinding JWS: HMAC with the key `hmac_key(kid)` returns (base64url),
    over the account's own key, for `url`. Returns the EAB key id."""
    protected, lazy = _flattened(value, "externalAccountBinding")
    alg = protected.get("alg")
    if alg not in EAB_ALGORITHMS:
        raise AcmeProblem("malformed", f"externalAccountBinding: alg must be one of {', '.join(EAB_ALGORITHMS)}")
    if "nonce" in protected:
        raise AcmeProblem("malformed", "externalAccountBinding must not have a nonce")
    if protected.get("url") != url:
        raise AcmeProblem("malformed", "externalAccountBinding: url is not the newAccount URL")
    kid = protected.get("kid")
    if not isinstance(kid, str) or not kid:
        raise AcmeProblem("malformed", "externalAccountBinding has no kid")
    secret = hmac_key(kid)
    if secret is None:
        raise AcmeProblem("unauthorized", "externalAccountBinding: unknown or already used key id")
    key = JWKOct(key=b64decode(secret, "the stored HMAC key"))
    parsed = lazy()
    try:
        ok = parsed.verify(key)
    except Exception:  # josepy raises on a malformed MAC
        ok = False
    if not ok:
        raise AcmeProblem("unauthorized", "externalAccountBinding: the MAC does not verify")
    try:
        bound = json.loads(parsed.payload)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep
        raise AcmeProblem("malformed", "externalAccountBinding: the payload is not a JWK") from None
    if not isinstance(bound, dict) or thumbprint(load_jwk(bound)) != thumbprint(account_jwk):
        raise AcmeProblem("unauthorized", "externalAccountBinding: it binds another key than the account's")
    return kid


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def parse_key_change(value: Any, *, url: str) -> tuple[JWK, Mapping[str, Any]]:
    """The inner JWS of a key change: signed by the new key (in `jwk`), for the same `url`,
    with no nonce; returns (new key, payload {account, oldKey}). Verifies its signature."""
    protected, lazy = _flattened(value, "the key change's inner JWS")
    alg = protected.get("alg")
    if alg not in ALGORITHMS:
        raise AcmeProblem("badSignatureAlgorithm", f"the inner JWS algorithm must be one of {', '.join(ALGORITHMS)}")
    if "nonce" in protected or "kid" in protected:
        raise AcmeProblem("malformed", "the inner JWS must have a jwk and neither nonce nor kid")
    if protected.get("url") != url:
        raise AcmeProblem("malformed", "the inner JWS's url differs from the request's")
    jwk = load_jwk(protected.get("jwk"))
    parsed = lazy()
    inner = Signed(parsed, alg, None, url, jwk, None, parsed.payload)
    inner.verify(jwk)
    body = inner.body()
    if body is None or not isinstance(body.get("account"), str) or not isinstance(body.get("oldKey"), dict):
        raise AcmeProblem("malformed", "the inner JWS's payload needs account and oldKey")
    return jwk, body
