"""Policy packs: which rules apply, with which params and severities, and which waivers."""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from auditor.loader.schema import validate_document
from auditor.loader.yamlfile import Document
from auditor.models import Severity, Waiver
from auditor.policy.owners import Ownership, load_ownership
from auditor.policy.selector import Selector


@dataclass(frozen=True)
class PolicyPack:
    id: str
    title: str
    description: str
    checklist: str | None
    fail_on: Severity | None
    select: tuple[Selector, ...]
    exclude: tuple[Selector, ...]
    params: Mapping[str, Mapping[str, Any]]
    severity: Mapping[str, Severity]
    waivers: tuple[Waiver, ...]
    file: str
    document: Document
    ownership: Ownership | None = None
    """Who fixes the problems of which rules, and times to fix (`ownership`)."""

    def selects(self, rule_id: str, area: str, tags: tuple[str, ...]) -> bool:
        return any(s.matches(rule_id, area, tags) for s in self.select) and not any(
            s.matches(rule_id, area, tags) for s in self.exclude
        )


def load_pack(doc: Document) -> PolicyPack:
    validate_document(doc, "policy")
    raw: dict[str, Any] = doc.value

    def selectors(key: str) -> tuple[Selector, ...]:
        out = []
        for item in raw.get(key, ()):
            ((k, v),) = item.items()
            out.append(Selector(k, str(v)))
        return tuple(out)

    waivers = []
    for i, w in enumerate(raw.get("waivers", ())):
        try:
            dt.date.fromisoformat(str(w["expires"]))
        except ValueError:
            raise doc.error(
                f"expires '{w['expires']}' is not a date (YYYY-MM-DD)", ("waivers", i, "expires")
            ) from None
        waivers.append(
            Waiver(
                rule=w["rule"],
                resource=w["resource"],
                reason=w["reason"],
                approver=w["approver"],
                expires=str(w["expires"]),
                policy=raw["id"],
            )
        )
    return PolicyPack(
        id=raw["id"],
        title=raw["title"],
        description=raw.get("description", "").strip(),
        checklist=raw.get("checklist"),
        fail_on=Severity(raw["fail_on"]) if "fail_on" in raw else None,
        select=selectors("select"),
        exclude=selectors("exclude"),
        params={k: dict(v) for k, v in (raw.get("params") or {}).items()},
        severity={k: Severity(v) for k, v in (raw.get("severity") or {}).items()},
        waivers=tuple(waivers),
        file=doc.file,
        document=doc,
        ownership=load_ownership(doc, ("ownership",)),
    )


def waiver_expired(waiver: Waiver, now: dt.datetime) -> bool:
    """A waiver applies up to and including its expiry day (UTC)."""
    return now.astimezone(dt.UTC).date() > dt.date.fromisoformat(waiver.expires)


def waiver_matches(waiver: Waiver, rule_id: str, resource: str) -> bool:
    return fnmatch.fnmatchcase(rule_id, waiver.rule) and fnmatch.fnmatchcase(resource, waiver.resource)
