"""The ACME protocol (RFC 8555) as a function from a request to a response.

`AcmeServer.handle` is synchronous and thread-safe: the ASGI layer (:mod:`pki.acme.asgi`)
runs it in worker threads. Validations run in their own thread pool; their state is in the
store, so a restart resumes them (`start`), and an order interrupted between signing and
recording finds its certificate in the CA's inventory.

Resources live under `/acme/`: `directory`, `new-nonce`, `new-account`, `new-order`,
`revoke-cert`, `key-change`, `account/ID`, `account/ID/orders`, `order/ID`,
`order/ID/finalize`, `authz/ID`, `chall/ID` and `cert/SERIAL`. URLs are built from the
request's scheme and Host header, and the JWS `url` must be the URL the request was sent to.
"""

from __future__ import annotations

import base64
import concurrent.futures
import datetime as dt
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from acme import messages
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from pki import keys
from pki.acme import signed as jws
from pki.acme import validation
from pki.acme.issuer import REASONS, Issuer, key_fingerprint
from pki.acme.policy import Policy, is_dns_name
from pki.acme.problems import AcmeProblem, Subproblem, error_json
from pki.acme.store import Account, Authz, Challenge, NewAuthz, Order, Store
from pki.errors import PKIError, one_line
from pki.inventory import serial_hex

log = logging.getLogger("pki.acme")

PERMANENT_IDENTIFIER = "permanent-identifier"
messages.IdentifierType(PERMANENT_IDENTIFIER)  # draft-acme-device-attest: known to acme's Identifier from here on
ORDER_LIFETIME = 24 * 3600.0
MAX_IDENTIFIERS = 100
MAX_CONTACTS = 10
JOSE = "application/jose+json"
_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?$")
_ID = r"([A-Za-z0-9_-]{1,64})"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    scheme: str
    host: str
    content_type: str = ""
    body: bytes = b""


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)


def rfc3339(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _json(status: int, doc: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, json.dumps(doc, indent=2).encode() + b"\n", "application/json", headers or [])


def _message(cls: Any, body: dict[str, Any], kind: str = "malformed") -> Any:
    """Decode a payload with acme's message class `cls`; a bad one is an ACME error."""
    try:
        return cls.from_json(body)
    except Exception as exc:  # josepy raises DeserializationError, its decoders ValueError/TypeError
        raise AcmeProblem(kind, f"the payload is not a valid {cls.__name__}: {one_line(exc)}") from None


class AcmeServer:
    """One CA folder's ACME server."""

    def __init__(self, issuer: Issuer, store: Store, policy: Policy, settings: validation.Settings, *,
                 workers: int = 8, clock: Callable[[], float] = time.time) -> None:
        self.issuer = issuer
        self.store = store
        self.policy = policy
        self.settings = settings
        self.clock = clock
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="acme-validate")
        self._stopping = threading.Event()
        self._routes: list[tuple[re.Pattern[str], Callable[..., Response]]] = [
            (re.compile(r"^/acme/new-account$"), self._new_account),
            (re.compile(r"^/acme/new-order$"), self._new_order),
            (re.compile(r"^/acme/revoke-cert$"), self._revoke),
            (re.compile(r"^/acme/key-change$"), self._key_change),
            (re.compile(rf"^/acme/account/{_ID}$"), self._account),
            (re.compile(rf"^/acme/account/{_ID}/orders$"), self._orders),
            (re.compile(rf"^/acme/order/{_ID}$"), self._order),
            (re.compile(rf"^/acme/order/{_ID}/finalize$"), self._finalize),
            (re.compile(rf"^/acme/authz/{_ID}$"), self._authz),
            (re.compile(rf"^/acme/chall/{_ID}$"), self._challenge),
            (re.compile(r"^/acme/cert/([0-9a-f]{1,40})$"), self._certificate),
        ]

    # -- life ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Resume what a previous run left: validations in progress, orders being finalized."""
        for challenge_id in self.store.processing_challenges():
            self._submit(challenge_id)
        for order_id in self.store.processing_orders():
            order = self.store.order(order_id)
            if order is not None:
                self._recover(order)

    def stop(self) -> None:
        self._stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- dispatch -----------------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        base: str | None
        try:
            base = self._base(req)
            response = self._dispatch(req, base)
        except AcmeProblem as problem:
            response = Response(problem.status, json.dumps(problem.to_json(), indent=2).encode() + b"\n",
                                "application/problem+json", list(problem.headers))
            base = self._base_or_none(req)
        except Exception:
            log.exception("internal error handling %s %s", req.method, validation.printable(req.path, 100))
            internal = AcmeProblem("serverInternal", "the server failed; its log says why")
            response = Response(500, json.dumps(internal.to_json()).encode(), "application/problem+json")
            base = self._base_or_none(req)
        if req.method == "POST" or req.path == "/acme/new-nonce":
            response.headers.append(("Replay-Nonce", self.store.new_nonce()))
        if base is not None:
            response.headers.append(("Link", f'<{base}/acme/directory>;rel="index"'))
        return response

    def _base(self, req: Request) -> str:
        if not _HOST.match(req.host):
            raise AcmeProblem("malformed", "the Host header is missing or not a host name")
        return f"{req.scheme}://{req.host}"

    def _base_or_none(self, req: Request) -> str | None:
        return f"{req.scheme}://{req.host}" if _HOST.match(req.host) else None

    def _dispatch(self, req: Request, base: str) -> Response:
        if req.path == "/acme/directory":
            if req.method not in ("GET", "HEAD"):
                raise AcmeProblem("malformed", "GET the directory", status=405, headers=(("Allow", "GET, HEAD"),))
            return self._directory(base)
        if req.path == "/acme/new-nonce":
            if req.method not in ("GET", "HEAD", "POST"):
                raise AcmeProblem("malformed", "HEAD or GET new-nonce", status=405, headers=(("Allow", "GET, HEAD"),))
            return Response(200 if req.method == "HEAD" else 204, headers=[("Cache-Control", "no-store")])
        for pattern, handler in self._routes:
            match = pattern.match(req.path)
            if match is None:
                continue
            if req.method != "POST":
                raise AcmeProblem("malformed", "this resource takes POST (POST-as-GET to read it)", status=405,
                                  headers=(("Allow", "POST"),))
            if req.content_type.split(";")[0].strip().lower() != JOSE:
                raise AcmeProblem("malformed", f"the Content-Type must be {JOSE}", status=415)
            signed = jws.parse(req.body)
            if signed.url != base + req.path:
                raise AcmeProblem("unauthorized", "the JWS url is not the URL of this request")
            if signed.nonce is None or not self.store.use_nonce(signed.nonce):
                raise AcmeProblem("badNonce", "the nonce is unknown, used or expired")
            result: Response = handler(signed, base, *match.groups())
            return result
        raise AcmeProblem("malformed", "no such resource", status=404)

    def _directory(self, base: str) -> Response:
        profiles = {name: f"{days}-day certificates from the CA's {name} profile" for name, days in self.policy.profiles.items()}
        return _json(200, {
            "newNonce": f"{base}/acme/new-nonce",
            "newAccount": f"{base}/acme/new-account",
            "newOrder": f"{base}/acme/new-order",
            "revokeCert": f"{base}/acme/revoke-cert",
            "keyChange": f"{base}/acme/key-change",
            "meta": {"externalAccountRequired": True, "profiles": profiles},
        })

    def _caller(self, signed: jws.Signed, base: str) -> Account:
        """The account that signed a kid request (its signature verified)."""
        if signed.kid is None:
            raise AcmeProblem("malformed", "this request is signed with the account's kid, not a jwk")
        prefix = f"{base}/acme/account/"
        account_id = signed.kid[len(prefix):] if signed.kid.startswith(prefix) else ""
        account = self.store.account(account_id) if re.fullmatch(_ID, account_id) else None
        if account is None:
            raise AcmeProblem("accountDoesNotExist", "no account has this kid")
        signed.verify(jws.stored_jwk(account.jwk))
        if account.status != "valid":
            raise AcmeProblem("unauthorized", f"the account is {account.status}")
        return account

    # -- accounts -----------------------------------------------------------------------------

    def _account_json(self, account: Account, base: str) -> dict[str, Any]:
        return {"status": account.status, "contact": list(account.contact), "termsOfServiceAgreed": True,
                "orders": f"{base}/acme/account/{account.id}/orders",
                "createdAt": rfc3339(account.created)}

    def _new_account(self, signed: jws.Signed, base: str) -> Response:
        if signed.jwk is None:
            raise AcmeProblem("malformed", "newAccount is signed with the new account's jwk")
        signed.verify(signed.jwk)
        body = signed.body()
        if body is None:
            raise AcmeProblem("malformed", "newAccount needs a payload")
        reg = _message(messages.Registration, body)
        thumb = jws.thumbprint(signed.jwk)
        existing = self.store.account_by_thumbprint(thumb)
        if existing is not None:
            if existing.status != "valid":
                raise AcmeProblem("unauthorized", f"the account with this key is {existing.status}")
            url = f"{base}/acme/account/{existing.id}"
            return _json(200, self._account_json(existing, base), [("Location", url)])
        if reg.only_return_existing:
            raise AcmeProblem("accountDoesNotExist", "no account has this key")
        contact = _contacts(reg.contact)
        if reg.external_account_binding is None:
            raise AcmeProblem("externalAccountRequired",
                              "register with an external account binding: `auditor pki acme eab --dir CA --name NAME` gives one")

        def hmac_key(kid: str) -> str | None:
            eab = self.store.eab(kid)
            return eab.hmac if eab is not None and eab.account is None else None

        kid = jws.verify_eab(reg.external_account_binding, account_jwk=signed.jwk, url=signed.url, hmac_key=hmac_key)
        account = self.store.new_account(thumbprint=thumb, jwk=jws.jwk_json(signed.jwk), kid=kid, contact=contact)
        if account is None:
            raise AcmeProblem("unauthorized", "externalAccountBinding: the key id was used meanwhile")
        log.info("account %s registered for '%s' (EAB key %s)", account.id, account.name, kid)
        return _json(201, self._account_json(account, base), [("Location", f"{base}/acme/account/{account.id}")])

    def _account(self, signed: jws.Signed, base: str, account_id: str) -> Response:
        account = self._caller(signed, base)
        if account.id != account_id:
            raise AcmeProblem("unauthorized", "this is another account")
        body = signed.body()
        if body is not None:
            update = _message(messages.UpdateRegistration, body)
            status = body.get("status")
            if status is not None and status != "deactivated":
                raise AcmeProblem("malformed", "an account's status can only be set to deactivated")
            contact = _contacts(update.contact) if "contact" in body else None
            self.store.update_account(account.id, contact=contact, status=status)
            if status:
                log.info("account %s ('%s') deactivated", account.id, account.name)
            refreshed = self.store.account(account.id)
            assert refreshed is not None
            account = refreshed
        return _json(200, self._account_json(account, base), [("Location", f"{base}/acme/account/{account.id}")])

    def _orders(self, signed: jws.Signed, base: str, account_id: str) -> Response:
        account = self._caller(signed, base)
        if account.id != account_id:
            raise AcmeProblem("unauthorized", "this is another account")
        return _json(200, {"orders": [f"{base}/acme/order/{o}" for o in self.store.orders_of(account.id)]})

    def _key_change(self, signed: jws.Signed, base: str) -> Response:
        account = self._caller(signed, base)
        body = signed.body()
        new_jwk, inner = jws.parse_key_change(body, url=signed.url)
        url = f"{base}/acme/account/{account.id}"
        if inner["account"] != url:
            raise AcmeProblem("malformed", "the inner JWS names another account")
        if jws.thumbprint(jws.load_jwk(inner["oldKey"])) != account.thumbprint:
            raise AcmeProblem("malformed", "oldKey is not the account's current key")
        new_thumb = jws.thumbprint(new_jwk)
        if not self.store.change_key(account.id, thumbprint=new_thumb, jwk=jws.jwk_json(new_jwk)):
            other = self.store.account_by_thumbprint(new_thumb)
            headers = (("Location", f"{base}/acme/account/{other.id}"),) if other else ()
            raise AcmeProblem("malformed", "another account already has the new key", status=409, headers=headers)
        log.info("account %s ('%s') changed its key", account.id, account.name)
        refreshed = self.store.account(account.id)
        assert refreshed is not None
        return _json(200, self._account_json(refreshed, base), [("Location", url)])

    # -- orders -------------------------------------------------------------------------------

    def _new_order(self, signed: jws.Signed, base: str) -> Response:
        account = self._caller(signed, base)
        body = signed.body()
        if body is None:
            raise AcmeProblem("malformed", "newOrder needs a payload")
        if "notBefore" in body or "notAfter" in body:
            raise AcmeProblem("malformed", "notBefore and notAfter are not supported: the lifetime comes from the profile")
        if not isinstance(body.get("identifiers"), list) or not body["identifiers"]:
            raise AcmeProblem("malformed", "newOrder needs a non-empty list of identifiers")
        if len(body["identifiers"]) > MAX_IDENTIFIERS:
            raise AcmeProblem("rejectedIdentifier", f"at most {MAX_IDENTIFIERS} identifiers per order")
        for ident in body["identifiers"]:
            if not isinstance(ident, dict) or ident.get("type") not in ("dns", PERMANENT_IDENTIFIER):
                kind = str(ident.get("type"))[:30] if isinstance(ident, dict) else "?"
                raise AcmeProblem("unsupportedIdentifier", f"identifier type {kind!r} is not supported (dns, {PERMANENT_IDENTIFIER})")
        order_msg = _message(messages.NewOrder, body)
        if order_msg.profile is not None and not isinstance(order_msg.profile, str):
            raise AcmeProblem("malformed", "profile is a string")
        constraints = self.issuer.constraints()
        identifiers: list[tuple[str, str]] = []
        problems: list[Subproblem] = []
        for ident in order_msg.identifiers:
            kind, value = ident.typ.name, ident.value
            if not isinstance(value, str):
                raise AcmeProblem("malformed", "an identifier's value is a string")
            if kind == "dns":
                value = value.lower().rstrip(".")
                bare = value[2:] if value.startswith("*.") else value
                if not is_dns_name(bare):
                    problems.append(Subproblem("rejectedIdentifier", f"'{validation.printable(value, 80)}' is not a DNS name",
                                               {"type": "dns", "value": validation.printable(value, 80)}))
                    continue
                why = self.policy.name_problem(account.name, value, constraints)
                if why is None and value.startswith("*.") and not self.settings.dns01_hook:
                    why = "a wildcard name needs dns-01, which this server does not offer (--dns01-hook)"
                if why is not None:
                    problems.append(Subproblem("rejectedIdentifier", why, {"type": "dns", "value": value}))
                    continue
            elif not re.fullmatch(r"[0-9]{1,10}", value):
                problems.append(Subproblem("rejectedIdentifier", "a permanent-identifier is a YubiKey serial number",
                                           {"type": kind, "value": validation.printable(value, 40)}))
                continue
            if (kind, value) not in identifiers:
                identifiers.append((kind, value))
        if problems:
            raise AcmeProblem("rejectedIdentifier", "; ".join(p.detail for p in problems)[:1000], problems)
        dns_names = [v for k, v in identifiers if k == "dns"]
        devices = [v for k, v in identifiers if k == PERMANENT_IDENTIFIER]
        if not dns_names:
            raise AcmeProblem("rejectedIdentifier", "an order needs at least one dns identifier")
        if len(devices) > 1:
            raise AcmeProblem("rejectedIdentifier", "an order holds at most one permanent-identifier (one key, one device)")
        needing = [n for n in dns_names if self.policy.needs_attestation(n)]
        if needing and not devices:
            raise AcmeProblem("rejectedIdentifier",
                              f"{needing[0]} needs a key held on a YubiKey: add a permanent-identifier (its serial) "
                              "to the order and answer device-attest-01")
        chosen = self.policy.profile_for(account.name, order_msg.profile)
        if isinstance(chosen, str):
            raise AcmeProblem("invalidProfile", chosen)
        profile, lifetime_days = chosen
        self._rate_limit(account, dns_names)
        specs = []
        for kind, value in identifiers:
            if kind == PERMANENT_IDENTIFIER:
                kinds: tuple[str, ...] = ("device-attest-01",)
            elif value.startswith("*."):
                kinds = ("dns-01",)
            else:
                kinds = ("http-01", "tls-alpn-01") + (("dns-01",) if self.settings.dns01_hook else ())
            specs.append(NewAuthz(kind, value[2:] if value.startswith("*.") else value, value.startswith("*."), kinds))
        order = self.store.new_order(account=account.id, identifiers=identifiers, profile=profile,
                                     lifetime_days=lifetime_days, authzs=specs, lifetime=ORDER_LIFETIME)
        log.info("order %s by '%s' for %s (profile %s)", order.id, account.name, ", ".join(v for _, v in identifiers), profile)
        url = f"{base}/acme/order/{order.id}"
        return _json(201, self._order_json(order, base), [("Location", url)])

    def _rate_limit(self, account: Account, names: list[str]) -> None:
        now = self.clock()
        hour = now - 3600
        if self.store.orders_since(account.id, hour) >= self.policy.orders_per_account_per_hour:
            oldest = self.store.oldest_order_since(account.id, hour) or now
            wait = max(1, int(oldest + 3600 - now) + 1)
            raise AcmeProblem("rateLimited", f"at most {self.policy.orders_per_account_per_hour} orders per account per hour",
                              headers=(("Retry-After", str(wait)),))
        week = now - 7 * 86400
        for name in names:
            if self.store.certificates_for_name_since(name, week) >= self.policy.certificates_per_name_per_week:
                raise AcmeProblem("rateLimited", f"at most {self.policy.certificates_per_name_per_week} certificates for "
                                                 f"{name} per week", headers=(("Retry-After", "3600"),))

    def _order_json(self, order: Order, base: str) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "status": order.status,
            "expires": rfc3339(order.expires),
            "identifiers": [{"type": t, "value": v} for t, v in order.identifiers],
            "authorizations": [f"{base}/acme/authz/{a.id}" for a in self.store.authzs_of(order.id)],
            "finalize": f"{base}/acme/order/{order.id}/finalize",
            "profile": order.profile,
        }
        if order.serial:
            doc["certificate"] = f"{base}/acme/cert/{order.serial}"
        if order.error and order.status == "invalid":
            doc["error"] = order.error
        return doc

    def _own_order(self, signed: jws.Signed, base: str, order_id: str) -> tuple[Account, Order]:
        account = self._caller(signed, base)
        order = self.store.order(order_id)
        if order is None or order.account != account.id:
            raise AcmeProblem("malformed", "no such order", status=404)
        return account, order

    def _order(self, signed: jws.Signed, base: str, order_id: str) -> Response:
        _, order = self._own_order(signed, base, order_id)
        headers = [("Location", f"{base}/acme/order/{order.id}")]
        if order.status == "processing":
            headers.append(("Retry-After", "1"))
        return _json(200, self._order_json(order, base), headers)

    # -- authorizations and challenges --------------------------------------------------------

    def _challenge_json(self, ch: Challenge, base: str) -> dict[str, Any]:
        doc: dict[str, Any] = {"type": ch.type, "url": f"{base}/acme/chall/{ch.id}", "status": ch.status, "token": ch.token}
        if ch.validated is not None and ch.status == "valid":
            doc["validated"] = rfc3339(ch.validated)
        if ch.error is not None:
            doc["error"] = ch.error
        return doc

    def _authz_json(self, authz: Authz, base: str) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "identifier": {"type": authz.type, "value": authz.value},
            "status": authz.status,
            "expires": rfc3339(authz.expires),
            "challenges": [self._challenge_json(c, base) for c in self.store.challenges_of(authz.id)],
        }
        if authz.wildcard:
            doc["wildcard"] = True
        return doc

    def _own_authz(self, signed: jws.Signed, base: str, authz_id: str) -> tuple[Account, Authz]:
        account = self._caller(signed, base)
        authz = self.store.authz(authz_id)
        if authz is None or authz.account != account.id:
            raise AcmeProblem("malformed", "no such authorization", status=404)
        return account, authz

    def _authz(self, signed: jws.Signed, base: str, authz_id: str) -> Response:
        _, authz = self._own_authz(signed, base, authz_id)
        body = signed.body()
        if body is not None:
            if body.get("status") != "deactivated" or len(body) != 1:
                raise AcmeProblem("malformed", "an authorization can only be deactivated: {\"status\": \"deactivated\"}")
            self.store.deactivate_authz(authz.id)
            fresh = self.store.authz(authz.id)
            assert fresh is not None
            authz = fresh
        headers = []
        if authz.status == "pending" and any(c.status == "processing" for c in self.store.challenges_of(authz.id)):
            headers.append(("Retry-After", "1"))
        return _json(200, self._authz_json(authz, base), headers)

    def _challenge(self, signed: jws.Signed, base: str, challenge_id: str) -> Response:
        account = self._caller(signed, base)
        ch = self.store.challenge(challenge_id)
        authz = self.store.authz(ch.authz) if ch is not None else None
        if ch is None or authz is None or authz.account != account.id:
            raise AcmeProblem("malformed", "no such challenge", status=404)
        body = signed.body()
        if body is not None and ch.status == "pending" and authz.status == "pending":
            payload = None
            if ch.type == "device-attest-01":
                att = body.get("attObj")
                if not isinstance(att, str):
                    raise AcmeProblem("malformed", "device-attest-01 is answered with {\"attObj\": base64url CBOR}")
                jws.b64decode(att, "attObj")
                payload = att
            if self.store.start_challenge(ch.id, payload):
                log.info("validating %s of %s for '%s'", ch.type, authz.value, account.name)
                self._submit(ch.id)
            fresh = self.store.challenge(ch.id)
            assert fresh is not None
            ch = fresh
        headers = [("Link", f'<{base}/acme/authz/{authz.id}>;rel="up"')]
        return _json(200, self._challenge_json(ch, base), headers)

    def _submit(self, challenge_id: str) -> None:
        if not self._stopping.is_set():
            self._pool.submit(self._validate, challenge_id)

    def _validate(self, challenge_id: str) -> None:
        ch = self.store.challenge(challenge_id)
        if ch is None or ch.status != "processing":
            return
        authz = self.store.authz(ch.authz)
        account = self.store.account(authz.account) if authz is not None else None
        if authz is None or account is None:
            return
        jwk = jws.stored_jwk(account.jwk)
        key_authorization = f"{ch.token}.{jws.thumbprint(jwk)}"
        attested = None
        try:
            if ch.type == "http-01":
                validation.http01(authz.value, ch.token, key_authorization, self.settings)
            elif ch.type == "tls-alpn-01":
                validation.tlsalpn01(authz.value, key_authorization, self.settings)
            elif ch.type == "dns-01":
                validation.dns01(authz.value, key_authorization, self.settings)
            elif ch.type == "device-attest-01":
                att = base64.urlsafe_b64decode((ch.payload or "") + "=" * (-len(ch.payload or "") % 4))
                now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
                attested = validation.device_attest01(authz.value, key_authorization, att, self.settings, now)
                why = self.policy.yubikey_problem(account.name, int(attested["serial"]), attested["pin_policy"],
                                                  attested["touch_policy"])
                if why is not None:
                    raise validation.ValidationFailed("unauthorized", why)
            else:
                raise validation.ValidationFailed("malformed", f"unknown challenge type {ch.type}")
        except validation.ValidationFailed as exc:
            log.info("%s of %s for '%s' failed: %s", ch.type, authz.value, account.name, validation.printable(exc.detail, 300))
            self.store.finish_challenge(ch.id, error=error_json(exc.kind, exc.detail))
            return
        except Exception as exc:
            log.exception("%s of %s: internal error", ch.type, authz.value)
            self.store.finish_challenge(ch.id, error=error_json("serverInternal", f"validation failed: {type(exc).__name__}"))
            return
        log.info("%s of %s for '%s' is valid", ch.type, authz.value, account.name)
        self.store.finish_challenge(ch.id, error=None, attested=attested)

    # -- finalize and certificates ------------------------------------------------------------

    def _finalize(self, signed: jws.Signed, base: str, order_id: str) -> Response:
        account, order = self._own_order(signed, base, order_id)
        body = signed.body()
        if body is None:
            raise AcmeProblem("malformed", "finalize needs {\"csr\": ...}")
        if order.status != "ready":
            raise AcmeProblem("orderNotReady", f"the order is {order.status}, not ready")
        csr = _message(messages.CertificateRequest, body, kind="badCSR").csr
        self._check_csr(csr, account, order)
        der = csr.public_bytes(serialization.Encoding.DER)
        if not self.store.start_finalize(order.id, jws.b64encode(der)):
            raise AcmeProblem("orderNotReady", "the order is no longer ready")
        started = self.store.order(order.id)
        assert started is not None
        done = self._issue(started)
        return _json(200, self._order_json(done, base), [("Location", f"{base}/acme/order/{order.id}")])

    def _check_csr(self, csr: x509.CertificateSigningRequest, account: Account, order: Order) -> None:
        try:
            valid = csr.is_signature_valid
            public_key = csr.public_key()
        except Exception:  # cryptography raises UnsupportedAlgorithm or ValueError for exotic keys
            raise AcmeProblem("badCSR", "the CSR's key or signature algorithm is not supported") from None
        if not valid:
            raise AcmeProblem("badCSR", "the CSR's signature does not verify")
        key_type = keys.key_type_of(public_key)
        if key_type not in self.policy.key_types:
            raise AcmeProblem("badCSR", f"key type {key_type} is not allowed (allowed: {', '.join(self.policy.key_types)})")
        account_key = jws.stored_jwk(account.jwk).key
        if keys.public_equal(public_key, account_key):
            raise AcmeProblem("badCSR", "the certificate key must not be the account key")
        wanted = {v for t, v in order.identifiers if t == "dns"}
        try:
            sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            sans = x509.SubjectAlternativeName([])
        except ValueError:
            raise AcmeProblem("badCSR", "the CSR's extensions cannot be read") from None
        others = [n for n in sans if not isinstance(n, x509.DNSName)]
        if others:
            raise AcmeProblem("badCSR", "the CSR may name DNS names only")
        names = {str(n.value).lower().rstrip(".") for n in sans if isinstance(n, x509.DNSName)}
        cns = [str(a.value).lower().rstrip(".") for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        if len(cns) > 1:
            raise AcmeProblem("badCSR", "the CSR has more than one common name")
        if names | set(cns) != wanted:
            raise AcmeProblem("badCSR", f"the CSR's names ({', '.join(sorted(names | set(cns)))[:300]}) are not the "
                                        f"order's ({', '.join(sorted(wanted))[:300]})")
        attested = self._attestation(order)
        if attested is not None and attested["spki_sha256"] != keys.spki_sha256(public_key):
            raise AcmeProblem("badCSR", "the CSR's key is not the key the YubiKey attested")

    def _attestation(self, order: Order) -> dict[str, Any] | None:
        for authz in self.store.authzs_of(order.id):
            if authz.type == PERMANENT_IDENTIFIER:
                for ch in self.store.challenges_of(authz.id):
                    if ch.status == "valid" and ch.attested:
                        return ch.attested
        return None

    def _issue(self, order: Order) -> Order:
        """Sign the kept CSR of a processing order and record the certificate (or the error)."""
        assert order.csr is not None
        account = self.store.account(order.account)
        assert account is not None
        csr = x509.load_der_x509_csr(base64.urlsafe_b64decode(order.csr + "=" * (-len(order.csr) % 4)))
        names = [v for t, v in order.identifiers if t == "dns"]
        cns = [str(a.value).lower() for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        plain = [n for n in names if not n.startswith("*.")]
        node = cns[0] if cns and cns[0] in plain else plain[0] if plain else names[0][2:]
        details: dict[str, Any] = {"acme": {"account": account.id, "account_name": account.name, "order": order.id}}
        attested = self._attestation(order)
        if attested is not None:
            details["acme"]["attestation"] = {k: attested[k] for k in ("serial", "slot", "pin_policy", "touch_policy", "firmware")}
        started = time.perf_counter()
        try:
            issued = self.issuer.issue(csr, node=node, profile=order.profile, dns=names,
                                       lifetime_days=order.lifetime_days, details=details)
        except PKIError as exc:
            log.warning("order %s: the CA refused: %s", order.id, exc)
            self.store.finish_order(order.id, serial=None, error=error_json("badCSR", f"the CA refused: {exc}"))
            raise AcmeProblem("badCSR", f"the CA refused: {exc}") from None
        log.info("issued %s for %s to '%s' (order %s, %.0f ms)", issued.serial, ", ".join(names), account.name,
                 order.id, (time.perf_counter() - started) * 1000)
        self.store.finish_order(order.id, serial=issued.serial, names=names)
        done = self.store.order(order.id)
        assert done is not None
        return done

    def _recover(self, order: Order) -> None:
        """An order left processing by a stop: find its certificate, else issue it now."""
        assert order.csr is not None and order.finalized is not None
        csr = x509.load_der_x509_csr(base64.urlsafe_b64decode(order.csr + "=" * (-len(order.csr) % 4)))
        names = [v for t, v in order.identifiers if t == "dns"]
        for node in names:
            serial = self.issuer.find_issued(node, key_fingerprint(csr), order.finalized)
            if serial is not None:
                log.info("order %s: recovered certificate %s issued before the restart", order.id, serial)
                self.store.finish_order(order.id, serial=serial, names=names)
                return
        try:
            self._issue(order)
        except AcmeProblem:
            pass

    def _certificate(self, signed: jws.Signed, base: str, serial: str) -> Response:
        account = self._caller(signed, base)
        owner = self.store.certificate_owner(serial)
        if owner is None or owner[0] != account.id:
            raise AcmeProblem("malformed", "no such certificate", status=404)
        chain = self.issuer.chain(serial)
        if chain is None:
            raise AcmeProblem("malformed", "no such certificate", status=404)
        return Response(200, chain, "application/pem-certificate-chain")

    def _revoke(self, signed: jws.Signed, base: str) -> Response:
        body = signed.body()
        if body is None:
            raise AcmeProblem("malformed", "revokeCert needs {\"certificate\": ...}")
        body = {"reason": 0, **body}
        if isinstance(body["reason"], bool) or not isinstance(body["reason"], int):
            raise AcmeProblem("badRevocationReason", "reason is a CRLReason code")
        revocation = _message(messages.Revocation, body)
        cert: x509.Certificate = revocation.certificate
        serial = serial_hex(cert.serial_number)
        entry = self.issuer.entry(serial)
        if entry is None or entry.pem.encode() != cert.public_bytes(serialization.Encoding.PEM):
            raise AcmeProblem("unauthorized", "this CA did not issue the certificate")
        if signed.jwk is not None:
            signed.verify(signed.jwk)
            if not keys.public_equal(signed.jwk.public_key().key, cert.public_key()):
                raise AcmeProblem("unauthorized", "the request is signed by neither an account nor the certificate's key")
            who = "the certificate's key"
        else:
            account = self._caller(signed, base)
            owner = self.store.certificate_owner(serial)
            if owner is None or owner[0] != account.id:
                raise AcmeProblem("unauthorized", "the certificate was issued to another account")
            who = f"'{account.name}'"
        if revocation.reason not in REASONS:
            raise AcmeProblem("badRevocationReason", f"reason {revocation.reason} is not one of {sorted(REASONS)}")
        if entry.status == "revoked":
            raise AcmeProblem("alreadyRevoked", f"serial {serial} was revoked on {entry.revoked_at}")
        self.issuer.revoke(serial, revocation.reason)
        log.info("revoked %s (%s) for %s, reason %s", serial, entry.node, who, REASONS[revocation.reason])
        return Response(200)


def _contacts(contact: Any) -> tuple[str, ...]:
    if contact is None:
        return ()
    if not isinstance(contact, (list, tuple)) or len(contact) > MAX_CONTACTS:
        raise AcmeProblem("invalidContact", f"contact is a list of at most {MAX_CONTACTS} mailto: URLs")
    out = []
    for item in contact:
        if not isinstance(item, str) or not item.startswith("mailto:"):
            raise AcmeProblem("unsupportedContact", "only mailto: contacts are supported")
        address = item[len("mailto:"):]
        if not re.fullmatch(r"[^@\s,<>\"]{1,64}@[A-Za-z0-9.-]{1,253}", address):
            raise AcmeProblem("invalidContact", f"'{validation.printable(address, 80)}' is not an e-mail address")
        out.append(item)
    return tuple(out)
