"""Policy packs: which rules apply, with which params and severities, and which waivers."""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from auditor._loader.schema import validate_document
from auditor._loader.yamlfile import Document
from auditor._models import Severity, Waiver
from auditor._policy.owners import Ownership, load_ownership
from auditor._policy.selector import Selector


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
    requires: tuple[str, ...] = ()
    """Evidence kinds the verdict requires besides those of the rules at or above the threshold."""
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

    waivers = [_waiver(doc, i, w, raw["id"]) for i, w in enumerate(raw.get("waivers", ()))]
    from auditor.evidence.kinds import KINDS

    for i, kind in enumerate(raw.get("requires", ())):
        if kind not in KINDS:
            raise doc.error(f"unknown evidence kind '{kind}' (`auditor schema` lists the kinds)", ("requires", i))
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
        requires=tuple(raw.get("requires", ())),
        ownership=load_ownership(doc, ("ownership",)),
    )


def _waiver(doc: Document, i: int, w: Mapping[str, Any], policy: str) -> Waiver:
    """One waiver of a pack: by finding ids, or by rule, resource pattern and instances."""
    try:
        dt.date.fromisoformat(str(w["expires"]))
    except ValueError:
        raise doc.error(f"expires '{w['expires']}' is not a date (YYYY-MM-DD)", ("waivers", i, "expires")) from None
    common = {"reason": w["reason"], "approver": w["approver"], "expires": str(w["expires"]), "policy": policy}
    if "findings" in w:
        for key in ("rule", "resource", "instances"):
            if key in w:
                raise doc.error(f"a waiver by finding ids takes no '{key}' (the ids name the rule and the instances)",
                                ("waivers", i, key))
        ids = tuple(w["findings"])
        rules = sorted({f.partition(":")[0] for f in ids})
        return Waiver(rule=rules[0] if len(rules) == 1 else "*", resource="", findings=ids, **common)
    missing = [k for k in ("rule", "resource", "instances") if k not in w]
    if missing:
        raise doc.error(
            "a waiver names its findings by id (findings: [ID, ...]) or gives rule, resource and instances "
            f"(how many failures the pattern covers, or 'any'); missing: {', '.join(missing)}",
            ("waivers", i),
        )
    count = w["instances"]
    return Waiver(rule=w["rule"], resource=w["resource"], instances=None if count == "any" else int(count), **common)


def waiver_expired(waiver: Waiver, now: dt.datetime) -> bool:
    """A waiver applies up to and including its expiry day (UTC)."""
    return now.astimezone(dt.UTC).date() > dt.date.fromisoformat(waiver.expires)


def waiver_matches(waiver: Waiver, rule_id: str, resource: str, finding: str = "") -> bool:
    """The waiver names the finding `finding` by id, or its pattern matches the rule and resource."""
    if waiver.findings:
        return finding in waiver.findings
    return fnmatch.fnmatchcase(rule_id, waiver.rule) and fnmatch.fnmatchcase(resource, waiver.resource)
