"""Credentials: JWT claims, signatures and chains, .creds seeds; accepted by the real server."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._collectors.nats_credentials import claims, seed_facts
from auditor._nats.creds import (
    CredsError,
    chain,
    decode_jwt,
    decode_public_key,
    encode_jwt,
    format_creds,
    new_seed,
    parse_creds,
    seed_public_key,
)
from tests.servers import nats_server


def make_chain(*, user_claims: dict[str, Any] | None = None, signer: str = "account") -> dict[str, str]:
    op, acc, usr = new_seed("operator"), new_seed("account"), new_seed("user")
    now = int(time.time())
    pub = {k: seed_public_key(v)[1] for k, v in {"op": op, "acc": acc, "usr": usr}.items()}
    operator = encode_jwt({"sub": pub["op"], "name": "OP", "iat": now, "nats": {"type": "operator", "version": 2}}, op)
    account = encode_jwt({"sub": pub["acc"], "name": "ACC", "iat": now, "nats": {
        "type": "account", "version": 2,
        "limits": {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1, "wildcards": True, "conn": -1, "leaf": -1}}}, op)
    claims = {"sub": pub["usr"], "name": "u", "iat": now, "nats": {"type": "user", "version": 2, "subs": -1, "data": -1, "payload": -1,
                                                                   "pub": {"allow": ["a.>"]}, "sub": {"allow": ["b.>"]}}}
    claims.update(user_claims or {})
    user = encode_jwt(claims, acc if signer == "account" else op)
    return {"operator": operator, "account": account, "user": user, "user_seed": usr, "account_pub": pub["acc"]}


def test_claims_and_chain() -> None:
    c = make_chain(user_claims={"exp": int(time.time()) + 3600})
    user, account, operator = decode_jwt(c["user"]), decode_jwt(c["account"]), decode_jwt(c["operator"])
    assert user.signature_valid and user.type == "user"
    ev = claims(user)
    assert ev["expires"] and ev["user"]["publish"] == {"allow": ["a.>"], "deny": []} and not ev["user"]["bearer_token"]
    assert chain(user, [operator, account]).status == "verified"
    assert chain(user, [account]).status == "incomplete"
    assert chain(operator, []).status == "verified"
    assert claims(account)["account"]["signing_keys"] == 0


def test_broken_chains() -> None:
    c = make_chain()
    head, payload, sig = c["user"].split(".")
    forged = json.loads(__import__("base64").urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged["nats"]["pub"]["allow"] = [">"]
    raw = __import__("base64").urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    tampered = decode_jwt(f"{head}.{raw}.{sig}")
    assert not tampered.signature_valid
    assert chain(tampered, [decode_jwt(c["account"]), decode_jwt(c["operator"])]).status == "broken"
    by_operator = decode_jwt(make_chain(signer="operator")["user"])
    assert chain(by_operator, []).status == "broken"  # users are issued by accounts


def test_creds_and_seeds() -> None:
    c = make_chain()
    text = format_creds(c["user"], c["user_seed"])
    jwt, seed = parse_creds(text)
    assert jwt == c["user"] and seed == c["user_seed"]
    ev = seed_facts(seed, subject=decode_jwt(jwt).subject)
    assert ev.matches_subject and ev.kind == "user" and c["user_seed"] not in json.dumps(msgspec.to_builtins(ev))
    other = seed_facts(new_seed("user"), subject=decode_jwt(jwt).subject)
    assert not other.matches_subject
    with pytest.raises(CredsError, match="no JWT block"):
        parse_creds("nothing here")
    with pytest.raises(CredsError) as info:
        seed_public_key("SUNOTAVALIDSEEDATALL")
    assert "SUNOTA" not in str(info.value)
    with pytest.raises(CredsError):
        decode_jwt("a.b")
    with pytest.raises(CredsError):
        decode_public_key("UAAAA")


def test_the_real_server_accepts_what_we_verify(tmp_path: Path) -> None:
    """Operator mode with our JWTs: our creds connect; a tampered JWT is refused."""
    c = make_chain()
    good = tmp_path / "good.creds"
    good.write_text(format_creds(c["user"], c["user_seed"]))
    head, payload, sig = c["user"].split(".")
    bad = tmp_path / "bad.creds"
    bad.write_text(format_creds(f"{head}.{payload}.{sig[:-4]}AAAA", c["user_seed"]))
    assert not decode_jwt(parse_creds(bad.read_text())[0]).signature_valid
    (tmp_path / "op.jwt").write_text(c["operator"])
    body = (f"operator: {tmp_path}/op.jwt\nresolver: MEMORY\n"
            f"resolver_preload: {{ {c['account_pub']}: {c['account']} }}\n")

    async def connect(creds: Path, port: int) -> bool:
        from nats.aio.client import Client

        nc = Client()
        try:
            await nc.connect(f"nats://127.0.0.1:{port}", user_credentials=str(creds), allow_reconnect=False,
                             connect_timeout=5, max_reconnect_attempts=0)
            return True
        except Exception:
            return False
        finally:
            await nc.close()

    with nats_server(tmp_path) as server:
        port = server.start(body)
        assert asyncio.run(asyncio.wait_for(connect(good, port), 20))
        assert not asyncio.run(asyncio.wait_for(connect(bad, port), 20))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["exp", "EXP", "nbf", "iat", "iss", "sub", "name", "nats", "type", "version", "issuer_account",
                         "pub", "allow", "bearer_token", "signing_keys", "revocations", "limits", "kind", "key",
                         "template", "disallow_bearer", "typ", "alg", "x"]), inner, max_size=5),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(header=_JSON, body=_JSON, version=st.sampled_from([None, 0, 1, 2, 3]))
def test_any_json_in_a_jwt_is_read_or_refused(header: Any, body: Any, version: int | None) -> None:
    """Whatever JSON a token holds, decoding gives a Jwt or a CredsError, and the chain walk and
    the claims' evidence take what decoding gave (never another exception)."""
    if version is not None and isinstance(body, dict):
        body = {**body, "nats": {"type": "user", "version": version, **(body.get("nats") or {})}
                if isinstance(body.get("nats"), dict | None) else body.get("nats")}
    seed = new_seed("account")
    token = encode_raw(header if version is None else {"typ": "JWT", "alg": "ed25519-nkey"}, body, seed)
    try:
        jwt = decode_jwt(token)
    except CredsError:
        return
    walked = chain(jwt, [jwt])
    assert walked.status in ("verified", "incomplete", "broken", "refused")
    assert isinstance(claims(jwt, walked.template), dict)


def encode_raw(header: Any, claims: Any, seed: str) -> str:
    """A token of exactly these header and claims, signed over header.payload by `seed`."""
    import base64

    import nkeys

    def enc(value: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    head, body = enc(header), enc(claims)
    signature = nkeys.from_seed(seed.encode()).sign(f"{head}.{body}".encode())
    return f"{head}.{body}." + base64.urlsafe_b64encode(signature).decode().rstrip("=")
