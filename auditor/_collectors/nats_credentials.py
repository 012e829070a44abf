"""NATS credentials: .creds files, JWTs and nkey seed files, with modes, owners and signing chains.

Searches `paths` (files or folders, recursively) for `*.creds`, `*.jwt`, `*.nk`, `*.nkey` and
`*.seed`. Each JWT (alone or in a .creds file) becomes a `nats.jwt` record: its claims
(operator, account or user; permissions, limits, exports, expiry), whether its signature
verifies, and its signing chain checked against every JWT this source collected (operator ->
account -> user, signing keys included). A .creds file's seed must belong to the JWT's
subject. Each seed file becomes a `nats.nkey` record. Seeds are stored redacted only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import msgspec

from auditor._collectors._files import Unreadable, folder_files, read_bounded
from auditor._collectors.interface import Collector
from auditor._nats.creds import (
    EXPECTED_ISSUER,
    CredsError,
    Jwt,
    chain,
    decode_jwt,
    find_seed,
    parse_creds,
    seed_public_key,
)
from auditor._nats.settings import FileFacts as NatsFileFacts
from auditor._nats.settings import file_facts
from auditor._timeutil import rfc3339
from auditor.evidence.kinds.nats import FileFacts, JwtChain, NatsJwt, NatsNkey, Seed
from auditor.evidence.record import Record
from auditor.evidence.secret import conceal

JWT = "nats.jwt"
NKEY = "nats.nkey"
SUFFIXES = {".creds": "creds", ".jwt": "jwt", ".nk": "nkey", ".nkey": "nkey", ".seed": "nkey"}


class NatsCredentialsCollector(Collector):
    name = "nats-credentials"
    kinds = (JWT, NKEY)

    def collect(self) -> Iterator[Record]:
        ctx = self.context
        found: list[tuple[Path, str]] = []
        for path in ctx.source.path_option(ctx.root, "paths"):
            real = ctx.real(path)
            if not real.exists():  # a .creds file or a folder of seeds: either kind's rules undecided
                yield from ctx.errors(self.kinds, ctx.display(path), "no such file or folder")
                continue
            if real.is_dir():
                files, skipped = folder_files(path, SUFFIXES)
                for special in skipped:
                    kind = SUFFIXES[special.path.suffix.lower()]
                    yield ctx.error(NKEY if kind == "nkey" else JWT, ctx.display(special.path), special.reason)
                if not files and not skipped:
                    yield from ctx.errors(self.kinds, ctx.display(path), "folder holds no .creds, .jwt or nkey seed files")
                found.extend((p, SUFFIXES[p.suffix.lower()]) for p in files)
            else:
                found.append((path, SUFFIXES.get(path.suffix.lower(), "creds")))

        jwts: list[tuple[Path, str, Jwt, str | None]] = []
        for path, kind in found:
            shown = ctx.display(path)
            try:
                text = read_bounded(path).decode("utf-8", "replace")
                if kind == "nkey":
                    seed = find_seed(text)
                    if seed is None:
                        raise CredsError("no nkey seed (a line starting S…) found")
                    kind_of, public = seed_public_key(seed)
                    yield ctx.record(shown, NatsNkey(path=shown, kind=kind_of, public_key=public,
                                                     redacted=conceal(seed, prefix=2), file=self._facts(path)))
                    continue
                token, seed = parse_creds(text) if kind == "creds" else (text.strip(), None)
                jwts.append((path, kind, decode_jwt(token), seed))
            except (CredsError, Unreadable) as exc:
                yield ctx.error(NKEY if kind == "nkey" else JWT, shown, str(exc))

        known = [j for _, _, j, _ in jwts]
        for path, kind, jwt, seed in jwts:
            shown = ctx.display(path)
            try:
                held = seed_facts(seed, subject=jwt.subject) if seed is not None else None
            except CredsError as exc:
                yield ctx.error(JWT, shown, f"the seed in this .creds file: {exc}")
                continue
            walked = chain(jwt, known)
            # the claims are untrusted JSON: decoded into the type, a misfit is a failure of this record
            try:
                decoded = msgspec.convert({"path": shown, "container": kind, **claims(jwt, walked.template),
                                           "chain": _UNWALKED, "file": None, "seed": None}, NatsJwt)
            except msgspec.ValidationError as exc:
                yield ctx.error(JWT, shown, f"unexpected value: {exc}")
                continue
            yield ctx.record(shown, msgspec.structs.replace(
                decoded, seed=held, file=self._facts(path),
                chain=JwtChain(status=cast(Any, walked.status), path=walked.path, detail=walked.detail)))

    def _facts(self, path: Path) -> FileFacts:
        return file_facts_of(file_facts(self.context.display(path), path, self.context.display(path)))


_UNWALKED = {"status": "incomplete", "path": [], "detail": ""}
"""The chain's place while the claims are checked (the walked chain replaces it)."""


def file_facts_of(facts: NatsFileFacts) -> FileFacts:
    """A file's facts (auditor._nats.settings.FileFacts) as evidence."""
    return FileFacts(
        path=facts.path, resolved=facts.resolved, exists=facts.exists, mode=cast(Any, facts.mode), uid=facts.uid,
        gid=facts.gid, owner=facts.owner, group=facts.group, readable_by_group=facts.readable_by_group,
        readable_by_others=facts.readable_by_others, writable_by_group_or_others=facts.writable_by_group_or_others,
    )


def seed_facts(seed: str, *, subject: str | None = None) -> Seed:
    """A seed as evidence: its kind, public key and a redacted form; never the seed. CredsError if
    it is not a valid seed."""
    kind, public = seed_public_key(seed)
    return Seed(kind=kind, public_key=public, redacted=conceal(seed, prefix=2),
                matches_subject=public == subject if subject is not None else None)


def _time(value: Any) -> str | None:
    if not isinstance(value, int | float) or value <= 0:
        return None
    return rfc3339(dt.datetime.fromtimestamp(value, dt.UTC))


def _side(p: Any) -> dict[str, Any]:
    p = p if isinstance(p, dict) else {}
    allow, deny = p.get("allow"), p.get("deny")
    return {"allow": list(allow) if allow else None, "deny": list(deny or [])}


def claims(jwt: Jwt, template: dict[str, Any] | None = None) -> dict[str, Any]:
    """What evidence records of a JWT's claims (all public: JWTs are signed, not secret), as
    plain data: the claims are untrusted, so the collector checks them against NatsJwt. A user
    issued by a scoped signing key has its scope's `template` as permissions and limits, as the
    server applies them."""
    c, n = jwt.claims, jwt.nats
    limits_of = n if template is None else template
    exp = _time(c.get("exp"))
    out: dict[str, Any] = {
        "type": jwt.type,
        "name": c.get("name"),
        "subject": jwt.subject,
        "issuer": jwt.issuer,
        "issuer_account": jwt.issuer_account,
        "issued_at": _time(c.get("iat")),
        "not_before": _time(c.get("nbf")),
        "expires_at": exp,
        "expires": exp is not None,
        "signature": "valid" if jwt.signature_valid else "invalid",
        "issuer_kind_ok": jwt.issuer[:1] in EXPECTED_ISSUER.get(jwt.type, ("O", "A")),
        "version": n.get("version", 1),
    }
    if jwt.type == "user":
        u = limits_of
        resp = u.get("resp") if isinstance(u.get("resp"), dict) else None
        out["user"] = {
            "publish": _side(u.get("pub")),
            "subscribe": _side(u.get("sub")),
            "responses": {"max": resp.get("max", 0), "ttl": resp.get("ttl", 0)} if resp else None,
            "bearer_token": bool(u.get("bearer_token")),
            "allowed_connection_types": list(u.get("allowed_connection_types") or []),
            "limits": {k: u.get(k, 0) for k in ("subs", "data", "payload")},
        }
    elif jwt.type == "account":
        raw_limits = n.get("limits")
        limits: dict[str, Any] = raw_limits if isinstance(raw_limits, dict) else {}
        exports = [
            {
                "subject": e.get("subject"),
                "type": e.get("type"),
                "token_req": bool(e.get("token_req")),
                "public": not e.get("token_req"),
            }
            for e in (n.get("exports") or [])
            if isinstance(e, dict)
        ]
        out["account"] = {
            "exports": exports,
            "imports": len(n.get("imports") or []),
            "signing_keys": len(n.get("signing_keys") or []),
            "limits": {k: v for k, v in limits.items() if isinstance(v, int | float)},
            "jetstream_enabled": bool(limits.get("mem_storage") or limits.get("disk_storage")),
        }
    elif jwt.type == "operator":
        out["operator"] = {
            "signing_keys": len(n.get("signing_keys") or []),
            "system_account": n.get("system_account"),
            "account_server_url": n.get("account_server_url"),
        }
    return out
