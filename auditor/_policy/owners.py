"""Who fixes a problem, and by when: owners and times to fix as data.

A policy pack and an inventory target may each say, under `ownership`, which owner (a role or
a team) answers for which rules (by id, area or tag) and how long a fix may take by severity:

    ownership:
      time_to_fix: {critical: 1d, high: 7d, medium: 30d, low: 90d}
      owners:
        - {area: certificates, owner: pki-operations}
        - {id: "SEC-*", owner: security-team, time_to_fix: {high: 2d}}

`Owners` layers them, most specific first: the target's ownership, then the target's packs from
the last to the first (later packs override earlier ones, as for params). Within a layer the
first entry that names the rule wins. The time to fix is the matching entry's own, else that of
the first layer that gives one for the severity.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor._loader.yamlfile import Document
from auditor._policy.selector import Selector
from auditor._severity import Severity
from auditor.errors import ConfigError

SELECTOR_KEYS = ("id", "area", "tag")
_DURATION = re.compile(r"^([0-9]{1,4})([dw])$")
MAX_DAYS = 3650
"""Ten years: a longer time to fix is a typo, not a plan."""


@dataclass(frozen=True)
class Place:
    """Where a value was written: file, line and dotted field, for errors and for tracing."""

    file: str
    line: int | None
    field: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def error(self, message: str) -> ConfigError:
        """An error at this place."""
        return ConfigError(message, file=self.file, line=self.line, field=self.field)


@dataclass(frozen=True)
class OwnerEntry:
    """One line of `owners`: the rules a selector names belong to `owner`."""

    selector: Selector
    owner: str
    time_to_fix: Mapping[Severity, int] = field(default_factory=dict)
    """Days, by severity, overriding the layer's."""
    place: Place = Place("", None, "")


@dataclass(frozen=True)
class Ownership:
    """The `ownership` of one pack or one target."""

    owners: tuple[OwnerEntry, ...] = ()
    time_to_fix: Mapping[Severity, int] = field(default_factory=dict)
    """Days, by severity."""
    place: Place = Place("", None, "")
    found: dict[tuple[str, str, tuple[str, ...]], OwnerEntry | None] = field(
        default_factory=dict, compare=False, repr=False)
    """entry_for's answers so far (a pack's ownership answers for every bundle evaluated against it)."""

    def entry_for(self, rule_id: str, area: str, tags: tuple[str, ...]) -> OwnerEntry | None:
        """The first entry that names the rule, or None."""
        key = (rule_id, area, tags)
        if key not in self.found:
            self.found[key] = next((e for e in self.owners if e.selector.matches(rule_id, area, tags)), None)
        return self.found[key]

    def check(self, rules: Iterable[tuple[str, str, tuple[str, ...]]]) -> None:
        """Every entry names at least one of `rules` (id, area, tags): else a ConfigError at the entry."""
        known = list(rules)
        for entry in self.owners:
            if not any(entry.selector.matches(*r) for r in known):
                raise entry.place.error(f"names no rule ({entry.selector})")


@dataclass(frozen=True)
class Assignment:
    """Who answers for a problem and how many days the fix may take (None: not said)."""

    owner: str | None
    days: int | None
    source: str = ""
    """The file:line of the owner entry that decided, '' when none did."""

    def due(self, since: dt.date) -> dt.date | None:
        """The day the fix is due, counting from `since` (the evaluation day)."""
        return since + dt.timedelta(days=self.days) if self.days is not None else None


UNASSIGNED = Assignment(None, None)


@dataclass(frozen=True)
class Owners:
    """The resolver: layers of ownership, most specific first."""

    layers: tuple[Ownership, ...] = ()
    assigned: dict[tuple[str, str, tuple[str, ...], Severity], Assignment] = field(
        default_factory=dict, compare=False, repr=False)
    """assign's answers so far (it is a function of its arguments and the layers, which are frozen)."""

    @classmethod
    def of(cls, target: Ownership | None, packs: Sequence[Ownership | None]) -> Owners:
        """The target's ownership first, then the packs' from the last to the first."""
        ordered = [target, *reversed(packs)]
        return cls(tuple(o for o in ordered if o is not None))

    def assign(self, rule_id: str, area: str, tags: tuple[str, ...], severity: Severity) -> Assignment:
        """The owner and the time to fix of a problem of rule `rule_id` at `severity`."""
        key = (rule_id, area, tags, severity)
        found = self.assigned.get(key)
        if found is None:
            found = self.assigned[key] = self._assign(rule_id, area, tags, severity)
        return found

    def _assign(self, rule_id: str, area: str, tags: tuple[str, ...], severity: Severity) -> Assignment:
        entry = next((e for layer in self.layers if (e := layer.entry_for(rule_id, area, tags))), None)
        days = entry.time_to_fix.get(severity) if entry else None
        if days is None:
            days = next((layer.time_to_fix[severity] for layer in self.layers if severity in layer.time_to_fix), None)
        if entry is None:
            return Assignment(None, days)
        return Assignment(entry.owner, days, str(entry.place))

    def __bool__(self) -> bool:
        return bool(self.layers)


def parse_duration(value: Any, place: Place) -> int:
    """Days from `7d`, `2w` or a whole number of days; a ConfigError at `place` otherwise."""
    days: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        days = value
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        days = int(m.group(1)) * (7 if m.group(2) == "w" else 1)
    if days is None or not 0 <= days <= MAX_DAYS:
        raise place.error(
            f"a time to fix is a number of days (7, 7d) or weeks (2w) from 0 to {MAX_DAYS} days"
        )
    return days


def load_ownership(doc: Document, path: tuple[str | int, ...]) -> Ownership | None:
    """The `ownership` at `path` in `doc` (already checked against the schema), or None if absent."""
    raw = _at(doc.value, path)
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise _place(doc, path).error("ownership is a mapping with owners and time_to_fix")
    owners = []
    for i, item in enumerate(raw.get("owners") or ()):
        where = (*path, "owners", i)
        if not isinstance(item, Mapping):
            raise _place(doc, where).error("an owner entry is a mapping: {area: NAME, owner: TEAM}")
        keys = [k for k in SELECTOR_KEYS if k in item]
        if len(keys) != 1:
            raise _place(doc, where).error(
                f"an owner entry names its rules with exactly one of id, area or tag (found {len(keys)})"
            )
        owner = item.get("owner")
        if not isinstance(owner, str) or not owner.strip():
            raise _place(doc, (*where, "owner")).error("owner is the role or team that fixes these rules' problems")
        owners.append(
            OwnerEntry(
                selector=Selector(keys[0], str(item[keys[0]])),
                owner=" ".join(owner.split()),
                time_to_fix=_times(doc, (*where, "time_to_fix"), item.get("time_to_fix")),
                place=_place(doc, where),
            )
        )
    return Ownership(tuple(owners), _times(doc, (*path, "time_to_fix"), raw.get("time_to_fix")), _place(doc, path))


def _times(doc: Document, path: tuple[str | int, ...], raw: Any) -> dict[Severity, int]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise _place(doc, path).error("time_to_fix maps severities to days: {critical: 1d, high: 7d}")
    out = {}
    for key, value in raw.items():
        try:
            severity = Severity(key)
        except ValueError:
            names = ", ".join(s.value for s in Severity)
            raise _place(doc, (*path, key)).error(f"unknown severity (known: {names})") from None
        out[severity] = parse_duration(value, _place(doc, (*path, key)))
    return out


def _place(doc: Document, path: tuple[str | int, ...]) -> Place:
    from auditor._loader.yamlfile import dotted_path

    return Place(doc.file, doc.line_of(path), dotted_path(path))


def _at(value: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        if isinstance(key, int):
            if not isinstance(value, list) or key >= len(value):
                return None
        elif not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value
