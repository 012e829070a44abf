"""NATS credentials: .creds files, JWTs and nkey seed files, with modes, owners and signing chains.

Searches `paths` (files or folders, recursively) for `*.creds`, `*.jwt`, `*.nk`, `*.nkey` and
`*.seed`. Each JWT (alone or in a .creds file) becomes a `nats.jwt` record: its claims
(operator, account or user; permissions, limits, exports, expiry), whether its signature
verifies, and its signing chain checked against every JWT this source collected (operator ->
account -> user, signing keys included). A .creds file's seed must belong to the JWT's
subject. Each seed file becomes a `nats.nkey` record. Seeds are stored redacted only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from auditor.collectors._files import Unreadable, folder_files, read_bounded
from auditor.collectors.interface import Collector
from auditor.evidence.kinds.nats import NatsJwt, NatsNkey
from auditor.evidence.record import Record
from auditor.nats.config import file_facts
from auditor.nats.creds import (
    CredsError,
    Jwt,
    chain,
    claims_evidence,
    decode_jwt,
    find_seed,
    parse_creds,
    seed_evidence,
)

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
            if not path.exists():
                yield ctx.error(JWT, ctx.display(path), "no such file or folder")
                continue
            if path.is_dir():
                files, skipped = folder_files(path, SUFFIXES)
                for special in skipped:
                    kind = SUFFIXES[special.path.suffix.lower()]
                    yield ctx.error(NKEY if kind == "nkey" else JWT, ctx.display(special.path), special.reason)
                if not files and not skipped:
                    yield ctx.error(JWT, ctx.display(path), "folder holds no .creds, .jwt or nkey seed files")
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
                    yield ctx.adapt(shown, NatsNkey, {"path": shown, **seed_evidence(seed), "file": self._facts(path)})
                    continue
                token, seed = parse_creds(text) if kind == "creds" else (text.strip(), None)
                jwts.append((path, kind, decode_jwt(token), seed))
            except (CredsError, Unreadable) as exc:
                yield ctx.error(NKEY if kind == "nkey" else JWT, shown, str(exc))

        known = [j for _, _, j, _ in jwts]
        for path, kind, jwt, seed in jwts:
            shown = ctx.display(path)
            data: dict[str, Any] = {"path": shown, "container": kind, **claims_evidence(jwt)}
            data["chain"] = chain(jwt, known)
            data["file"] = self._facts(path)
            data["seed"] = None
            if seed is not None:
                try:
                    data["seed"] = seed_evidence(seed, subject=jwt.subject)
                except CredsError as exc:
                    yield ctx.error(JWT, shown, f"the seed in this .creds file: {exc}")
                    continue
            yield ctx.adapt(shown, NatsJwt, data)

    def _facts(self, path: Path) -> dict[str, Any]:
        return file_facts(self.context.display(path), path, self.context.display(path)).evidence()
