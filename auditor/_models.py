"""Frozen value types shared by the collectors, the engine and the renderers."""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import json
import operator
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

if TYPE_CHECKING:
    from auditor.evidence.record import Failure

from auditor._severity import Severity as Severity
from auditor._severity import fast_value


class Status(enum.Enum):
    """The outcome of one rule on one resource."""

    PASS = "pass"  # noqa: S105 - a status, not a password
    FAIL = "fail"
    ERROR = "error"
    """The rule could not be evaluated: the evidence was unreadable or the condition failed."""
    NOT_EVALUATED = "not-evaluated"
    """No evidence of the kind the rule needs was collected. Never counted as a pass."""
    WAIVED = "waived"
    """The rule failed, but a current waiver in the policy accepts the failure."""
    NOT_APPLICABLE = "not-applicable"
    """The rule's subject does not exist on the target (a nats.conf without leafnode remotes for
    a rule about remotes). Counted apart from pass: it evidences nothing."""


fast_value(Status)


def finding_id(rule_id: str, identity: Sequence[str]) -> str:
    """The stable id of the finding of rule `rule_id` on the resource `identity` names:
    `RULE-ID:` and 16 hex digits of the SHA-256 of both. The same problem instance has the same
    id in every scan (see docs/rules.md, "Finding identity")."""
    key = tuple(identity)
    known = _IDS_OF_RULE.get(rule_id)
    found = known.get(key) if known is not None else None
    if found is None:
        parts = (rule_id, *key)
        if {*map(type, parts)} == _STR_ONLY:  # a list of strings: msgspec writes what json writes
            data = _PLAIN_ENCODER.encode(parts)
        else:
            data = canonical_plain_json(list(parts))
        found = _room(rule_id, 1)[key] = f"{rule_id}:{hashlib.sha256(data).hexdigest()[:16]}"
    return found


_STR_ONLY = {str}
_FINDING_IDS_KEPT = 200_000


def finding_ids(rule_id: str, identities: Sequence[tuple[Any, ...]]) -> list[str]:
    """`[finding_id(rule_id, identity) for identity in identities]`, most of them read at C speed
    from the ids made before for the rule (all rules' together at most _FINDING_IDS_KEPT)."""
    known = _IDS_OF_RULE.get(rule_id)
    ids: list[str | None] = list(map(known.get, identities)) if known is not None else [None] * len(identities)
    if None in ids:
        missing = [at for at, found in enumerate(ids) if found is None] if any(ids) else None
        known = _room(rule_id, len(ids) if missing is None else len(missing))
        if missing is None:  # every id new (a bundle's own records): made and kept at C speed
            made = _new_ids(rule_id, list(identities))
            known.update(zip(identities, made, strict=True))
            return made
        made = _new_ids(rule_id, [identities[at] for at in missing])
        for at, fid in zip(missing, made, strict=True):
            ids[at] = known[identities[at]] = fid
    return ids  # type: ignore[return-value]


def _new_ids(rule_id: str, identities: list[tuple[Any, ...]]) -> list[str]:
    """`[finding_id(rule_id, identity) for identity in identities]`, hashed from the rule's part
    of the text once: the SHA-256 of `["RULE-ID",` copied, then each identity's part of the text
    (`"a","b"]`, made once per identity for every rule: _ID_TAILS) added: what finding_id hashes,
    byte for byte, at a third of its cost (ids are new for every new certificate of a fleet)."""
    if type(rule_id) is not str:  # pragma: no cover - rule ids are strings
        return [finding_id(rule_id, identity) for identity in identities]
    tails = list(map(_ID_TAILS.get, identities))
    if None in tails:  # the identities no rule met before: their part of the text, made once
        for at, tail in enumerate(tails):
            if tail is None:
                identity = identities[at]
                made = _id_tail(identity)
                if made is None:  # finding_id's other encodings
                    return [finding_id(rule_id, identity) for identity in identities]
                if len(_ID_TAILS) >= _FINDING_IDS_KEPT:
                    _ID_TAILS.clear()
                tails[at] = _ID_TAILS[identity] = made
    head = _rule_head(rule_id)
    prefix = rule_id + ":"
    out: list[str] = []
    append = out.append
    copy = head.copy
    for tail in tails:
        digest = copy()
        digest.update(tail)
        append(prefix + digest.hexdigest()[:16])
    return out


def rules_ids(rule_ids: Sequence[str], identity: tuple[str, ...]) -> list[str]:
    """`[finding_id(rule_id, identity) for rule_id in rule_ids]`: the identity's part of the text
    made once, each rule's hashed once per process (_rule_head; the findings of the rules of
    which a target has no evidence, one per rule on the target's name, are new in every bundle)."""
    tail = _id_tail(identity)
    if tail is None or {*map(type, rule_ids)} - _STR_ONLY:
        return [finding_id(rule_id, identity) for rule_id in rule_ids]
    out: list[str] = []
    append = out.append
    for rule_id in rule_ids:
        digest = _rule_head(rule_id).copy()
        digest.update(tail)
        append(f"{rule_id}:{digest.hexdigest()[:16]}")
    return out


def _id_tail(identity: tuple[Any, ...]) -> bytes | None:
    """The identity's part of the text a finding id hashes (`"a","b"]`, after the rule's head),
    or None where finding_id encodes it otherwise (an empty identity, or not strings only)."""
    if not identity or {*map(type, identity)} != _STR_ONLY:
        return None
    return b",".join(map(_PLAIN_ENCODER.encode, identity)) + b"]"


@functools.lru_cache(maxsize=4096)
def _rule_head(rule_id: str) -> Any:
    """The SHA-256 of `["RULE-ID",`: the start of every finding id's text of the rule (_new_ids);
    copied, never updated."""
    return hashlib.sha256(b"[" + _PLAIN_ENCODER.encode(rule_id) + b",")


_ID_TAILS: dict[tuple[Any, ...], bytes] = {}
"""Each identity's part of the text a finding id hashes (_new_ids), kept for every rule's ids."""


_IDS_OF_RULE: dict[str, dict[tuple[Any, ...], str]] = {}
"""finding_id's and finding_ids's results by rule id, then identity: the same rules meet the
same resources in every bundle of a fleet."""
_IDS_KEPT = 0
"""How many ids _IDS_OF_RULE holds (about: an identity met twice in one call is counted twice)."""


def _room(rule_id: str, count: int) -> dict[tuple[Any, ...], str]:
    """The ids kept for `rule_id`, where `count` more are about to be kept: every rule's are
    dropped first if they would then be more than _FINDING_IDS_KEPT."""
    global _IDS_KEPT
    if _IDS_KEPT + count > _FINDING_IDS_KEPT:
        _IDS_OF_RULE.clear()
        _IDS_KEPT = 0
    _IDS_KEPT += count
    known = _IDS_OF_RULE.get(rule_id)
    if known is None:
        known = _IDS_OF_RULE[rule_id] = {}
    return known


@functools.lru_cache(maxsize=65536)  # the same causes come back in every bundle of a fleet
def problem_id(key: str) -> str:
    """The id of the problem (the group of findings) whose correlation key is `key`."""
    return "P-" + sha256_hex(key.encode())[:16]


def canonical_json(value: Any) -> bytes:
    """The canonical JSON encoding used for hashing: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


_PLAIN_ENCODER = msgspec.json.Encoder(order="sorted")
sorted_json: Callable[[Any], bytes] = _PLAIN_ENCODER.encode
"""canonical_plain_json's encoding (keys sorted, no spaces), which writes a msgspec.Raw value as
it is: the canonical JSON of a whole made from parts encoded before (a record's, its data's)."""


def canonical_plain_json(value: Any) -> bytes:
    """`canonical_json(value)` for a plain JSON value (dicts with string keys, lists, strings,
    numbers, booleans, null: what a JSON decoder or msgspec makes), byte for byte, about five
    times faster. msgspec writes it; where msgspec would write a float differently from json
    (an exponent, 1e-5 <= |x| < 1e-4, a non-finite number: each float is written both ways,
    _floats_alike) or cannot write the value, json does.
    Plain JSON only: for other values (dates, Decimals, sets...) msgspec's text may be returned
    where json would refuse them (no caller passes any: records' data is made plain first)."""
    if isinstance(value, str):
        return _PLAIN_ENCODER.encode(value)  # escapes exactly as json does, for every code point
    if value is None:
        return b"null"
    if not isinstance(value, dict | list):
        return canonical_json(value)
    try:
        out = _PLAIN_ENCODER.encode(value)
    except (TypeError, ValueError, OverflowError):
        return canonical_json(value)
    try:
        packed = msgspec.msgpack.encode(value)
    except (TypeError, ValueError, OverflowError):  # ints beyond 64 bits: json decides
        return canonical_json(value)
    return out if _floats_alike(packed) else canonical_json(value)


_FLOAT64 = b"\xcb"
"""MessagePack's mark of a float64, msgspec's form of every float: where it is not in a value's
MessagePack form, the value holds no float (the evidence of most records), and msgspec writes it
as json does. Elsewhere, 0xcb is a byte of an integer or the lead byte of a character U+02C0 to
U+02FF: a false alarm only costs a comparison (_floats_alike)."""


def canonical_object(members: Mapping[str, bytes]) -> bytes:
    """The canonical JSON of an object whose members' values are already canonical JSON: what
    `canonical_json` makes of the whole, so a part encoded once serves several wholes."""
    return b"{" + b",".join(
        _PLAIN_ENCODER.encode(key) + b":" + members[key] for key in sorted(members)
    ) + b"}"


def _floats_alike(packed: bytes) -> bool:
    """Whether msgspec writes each float of a value whose MessagePack form is `packed` as json
    does (float.__repr__; NaN and the infinities json writes as NaN/Infinity, msgspec as null):
    each float64 (0xcb and 8 bytes) read and written both ways. A 0xcb that is not a float's
    mark (a byte of an integer or of a character U+02C0 to U+02FF) is read as one too, from
    each 0xcb on: a false alarm only costs json's writing of the value."""
    at = packed.find(_FLOAT64)
    while at >= 0:
        number = packed[at + 1:at + 9]
        if len(number) < 8:
            return False
        (x,) = _DOUBLE.unpack(number)
        if _PLAIN_ENCODER.encode(x) != float.__repr__(x).encode():
            return False
        at = packed.find(_FLOAT64, at + 1)
    return True


_DOUBLE = struct.Struct(">d")
"""MessagePack's float64: big-endian IEEE 754."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Waiver:
    """A policy's acceptance of known failures, for a while: the findings it names by id, or
    the failures of `rule` on resources matching `resource`, up to `instances` of them."""

    rule: str
    """A rule id (wildcards allowed); for a waiver by ids, the rule of its findings ('*' if several)."""
    resource: str
    """A resource pattern (wildcards allowed); '' for a waiver by ids."""
    reason: str
    approver: str
    expires: str
    """ISO date (YYYY-MM-DD): the waiver applies up to and including this day (UTC)."""
    policy: str = ""
    findings: tuple[str, ...] = ()
    """Finding ids: the waiver covers exactly these instances."""
    instances: int | None = 1
    """How many instances a pattern waiver covers (None: any number, the pattern says so). When
    more failures match, the waiver covers none of them and is reported as exceeded."""

    @property
    def covers(self) -> int | None:
        """How many instances the waiver covers: its ids, or its `instances`."""
        return len(self.findings) if self.findings else self.instances

    def describe(self) -> str:
        """What it covers, in one line: its finding ids, or its pattern and instances."""
        if self.findings:
            return ", ".join(self.findings)
        count = "any number of instances" if self.instances is None else f"{self.instances} instance(s)"
        return f"{self.rule} {self.resource} ({count})"

    def to_dict(self) -> dict[str, Any]:
        """The waiver as a findings document holds it."""
        out: dict[str, Any] = {
            "rule": self.rule,
            "resource": self.resource,
            "reason": self.reason,
            "approver": self.approver,
            "expires": self.expires,
            "policy": self.policy,
        }
        if self.findings:
            out["findings"] = list(self.findings)
        else:
            out["instances"] = "any" if self.instances is None else self.instances
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Waiver:
        """The waiver `to_dict` wrote."""
        count = raw.get("instances", 1)
        return cls(
            rule=raw["rule"],
            resource=raw["resource"],
            reason=raw["reason"],
            approver=raw["approver"],
            expires=str(raw["expires"]),
            policy=raw.get("policy", ""),
            findings=tuple(raw.get("findings", ())),
            instances=None if count == "any" else int(count),
        )


class Finding(msgspec.Struct, frozen=True, gc=False):
    """The outcome of one rule on one resource, with what decided it.

    A frozen value the cyclic garbage collector does not track (`gc=False`): a finding holds
    strings, enums, tuples, a waiver and its rule's references, none of which can refer back to
    it, so it is never part of a reference cycle. An evaluation makes thousands (a bundle of 200
    certificates: 2,574) that live as long as its result; tracked, they were most of what the
    collector walked after an evaluation (2,574 of the 3,163 objects it made and kept), again
    at each older generation's collection while the result lived."""

    rule_id: str
    title: str
    area: str
    severity: Severity
    status: Status
    resource: str
    message: str
    evidence: tuple[str, ...] = ()
    """Ids of the evidence records that decided the outcome (see the bundle)."""
    pointer: str = ""
    """A JSON pointer into the first evidence record's data, or '' for the whole record."""
    remediation: str = ""
    references: Mapping[str, Sequence[str]] = msgspec.field(default_factory=dict)
    waiver: Waiver | None = None
    id: str = ""
    """Stable across scans: from the rule and the identity of the resource (:func:`finding_id`);
    by default the resource itself."""
    correlation: str = ""
    """The rule's correlation key for this finding: failures sharing one are one problem."""
    always_blocks: bool = False
    """A failure that blocks sign-off whatever the threshold (a confirmed live credential)."""
    owner: str = ""
    """Who fixes it: the role or team the target's or the packs' `ownership` names ('' if none)."""
    due: str = ""
    """A failure's due date (YYYY-MM-DD): the evaluation day plus the time to fix its severity."""

    def __post_init__(self) -> None:
        if not self.id:
            msgspec.structs.force_setattr(self, "id", finding_id(self.rule_id, (self.resource,)))

    def replaced(self, changes: Mapping[str, Any]) -> Finding:
        """The finding with the fields `changes` names changed (`id` as given, if changed)."""
        return msgspec.structs.replace(self, **changes)

    def owned(self, owner: str, due: str) -> Finding:
        """`self.replaced({"owner": owner, "due": due})`."""
        return msgspec.structs.replace(self, owner=owner, due=due)

    def sort_key(self) -> tuple[str, str, str, str]:
        """The order findings are reported in: rule, resource, first evidence record, id."""
        return (self.rule_id, self.resource, self.evidence[0] if self.evidence else "", self.id)

    def blocks(self, threshold: Severity) -> bool:
        """A failure at or above `threshold`, or one that blocks sign-off at any threshold."""
        return self.status is Status.FAIL and (self.always_blocks or self.severity.at_least(threshold))

    def to_dict(self) -> dict[str, Any]:
        """The finding as a findings document holds it (schema: findings, findings[])."""
        out: dict[str, Any] = {
            "id": self.id,
            "rule_id": self.rule_id,
            "title": self.title,
            "area": self.area,
            "severity": self.severity.value,
            "status": self.status.value,
            "resource": self.resource,
            "message": self.message,
            "evidence": {"records": list(self.evidence), "pointer": self.pointer},
            "remediation": self.remediation,
            "references": {k: list(v) for k, v in self.references.items()},
        }
        if self.correlation:
            out["correlation"] = self.correlation
        if self.always_blocks:
            out["always_blocks"] = True
        if self.owner:
            out["owner"] = self.owner
        if self.due:
            out["due"] = self.due
        if self.waiver is not None:
            out["waiver"] = self.waiver.to_dict()
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Finding:
        """The finding `to_dict` wrote."""
        get = raw.get
        ev = get("evidence") or {}
        waiver = get("waiver")
        references = get("references") or {}
        return cls(
            rule_id=raw["rule_id"],
            title=get("title", ""),
            area=raw["area"],
            severity=_member(_SEVERITIES, Severity, raw["severity"]),
            status=_member(_STATUSES, Status, raw["status"]),
            resource=raw["resource"],
            message=raw["message"],
            evidence=tuple(ev.get("records", ())),
            pointer=ev.get("pointer", ""),
            remediation=get("remediation", ""),
            references={k: tuple(v) for k, v in references.items()} if references else {},
            waiver=Waiver.from_dict(waiver) if waiver else None,
            id=get("id", ""),
            correlation=get("correlation", ""),
            always_blocks=bool(get("always_blocks", False)),
            owner=str(get("owner", "")),
            due=str(get("due", "")),
        )


_E = TypeVar("_E", bound=enum.Enum)


def _member(members: Mapping[Any, _E], kind: type[_E], value: Any) -> _E:
    """`kind(value)`: its member of that value, looked up first (the enum's own call costs as
    much as the rest of reading a finding); its call, and its error, for any other value."""
    try:
        return members[value]
    except (KeyError, TypeError):
        return kind(value)


_SEVERITIES = {s.value: s for s in Severity}
_STATUSES = {s.value: s for s in Status}


FINDING_FIELDS: tuple[str, ...] = Finding.__struct_fields__
"""Finding's fields in their order: `Finding(*values)` takes them so."""


def _findings_maker() -> Any:
    """A function of the fields a rule's findings share (every field but resource, evidence and
    id, in order) giving a function of those three that makes each finding: Finding of all the
    fields, in order (the arguments passed straight, with no dictionary of them made)."""
    shared = [name for name in FINDING_FIELDS if name not in _VARYING]
    source = (f"def maker({', '.join(shared)}):\n    def make({', '.join(_VARYING)}):\n"
              f"        return Finding({', '.join(FINDING_FIELDS)})\n    return make\n")
    space: dict[str, Any] = {"Finding": Finding}
    exec(source, space)  # noqa: S102 - source made above from Finding's own field names
    return space["maker"]


_VARYING = ("resource", "evidence", "id")
findings_of: Callable[..., Callable[[str, tuple[str, ...], str], Finding]] = _findings_maker()
"""`findings_of(rule_id, title, area, severity, status, message, pointer, remediation, references,
waiver, correlation, always_blocks, owner, due)(resource, evidence, id)` is `Finding` of all
those fields: for many findings that differ in those three only (`map` over their columns)."""


@dataclass(frozen=True)
class Problem:
    """Failures that share one cause and one fix: the rule hits of one problem (grouped by the
    correlation keys rules declare; a failure without one is a problem of its own)."""

    id: str
    key: str
    """The correlation key, or the finding's id when its rule declares none."""
    findings: tuple[Finding, ...]
    """The rule hits, highest severity first."""

    @property
    def primary(self) -> Finding:
        """The hit that leads: the highest severity, then the lowest rule id."""
        return self.findings[0]

    @property
    def severity(self) -> Severity:
        return self.primary.severity

    def blocks(self, threshold: Severity) -> bool:
        """One of its hits blocks sign-off at `threshold`."""
        hits = self.findings
        if len(hits) == 1:
            return hits[0].blocks(threshold)
        return any(f.blocks(threshold) for f in hits)

    @property
    def owner(self) -> str:
        """Who fixes it: the owner of the leading hit (else of the first hit that has one)."""
        return next((f.owner for f in self.findings if f.owner), "")

    @property
    def due(self) -> str:
        """The earliest due date of its hits ('' when none has one)."""
        return min((f.due for f in self.findings if f.due), default="")

    def to_dict(self, threshold: Severity) -> dict[str, Any]:
        """The problem as a findings document holds it."""
        p = self.primary
        if len(self.findings) == 1:  # most problems: what the general form below makes, without its loops
            out = {
                "id": self.id,
                "correlation": self.key if p.correlation else "",
                "severity": p.severity._value_,
                "blocking": p.blocks(threshold),
                "title": p.title,
                "resource": p.resource,
                "rules": [p.rule_id],
                "findings": [p.id],
            }
            if p.owner:
                out["owner"] = p.owner
            if p.due:
                out["due"] = p.due
            return out
        return {
            "id": self.id,
            "correlation": self.key if p.correlation else "",
            "severity": self.severity.value,
            "blocking": self.blocks(threshold),
            "title": p.title,
            "resource": p.resource,
            "rules": sorted({f.rule_id for f in self.findings}),
            "findings": [f.id for f in self.findings],
            **({"owner": self.owner} if self.owner else {}),
            **({"due": self.due} if self.due else {}),
        }


def group_problems(findings: Iterable[Finding], threshold: Severity) -> tuple[Problem, ...]:
    """The failing findings grouped into problems: blocking ones first, then by severity."""
    groups: dict[str, list[Finding]] = {}
    fail = Status.FAIL
    for f in findings:
        if f.status is fail:
            groups.setdefault(f.correlation or f.id, []).append(f)
    keyed = []
    for key, hits in groups.items():
        if len(hits) > 1:
            hits.sort(key=lambda f: (-f.severity.rank, not f.always_blocks, f.rule_id, f.resource, f.id))
        problem = Problem(problem_id(key), key, tuple(hits))
        primary = hits[0]
        keyed.append(((not problem.blocks(threshold), -primary.severity.rank, primary.rule_id, primary.resource,
                       problem.id), problem))
    keyed.sort(key=_first)  # the problems' keys are distinct (their ids are)
    return tuple([problem for _, problem in keyed])


_first = operator.itemgetter(0)


@dataclass(frozen=True)
class Summary:
    """Counts of findings by status, by area and by severity."""

    total: int
    by_status: Mapping[str, int]
    by_area: Mapping[str, Mapping[str, int]]
    by_severity: Mapping[str, Mapping[str, int]]
    problems: int = 0
    """Failing problems (failures grouped by cause), at any severity."""
    rule_hits: int = 0
    """Failing findings, at any severity (the `fail` count)."""

    @classmethod
    def of(cls, findings: Iterable[Finding], problems: int | None = None) -> Summary:
        """The counts of `findings` (`problems`: how many problems their failures make, by
        default one per failure)."""
        statuses = [s.value for s in Status]
        by_status = dict.fromkeys(statuses, 0)
        by_area: dict[str, dict[str, int]] = {}
        by_severity: dict[str, dict[str, int]] = {
            s.value: dict.fromkeys(statuses, 0) for s in Severity
        }
        counts: dict[tuple[str, str, str], int] = {}
        get = counts.get
        for f in findings:  # counted by (area, status, severity) first: a few keys for many findings
            key = (f.area, f.status._value_, f.severity._value_)  # the enums' values without their descriptor
            counts[key] = get(key, 0) + 1
        total = 0
        for (area, status, severity), n in counts.items():
            total += n
            by_status[status] += n
            by_area.setdefault(area, dict.fromkeys(statuses, 0))[status] += n
            by_severity[severity][status] += n
        hits = by_status[Status.FAIL.value]
        return cls(
            total=total,
            by_status=by_status,
            by_area=dict(sorted(by_area.items())),
            by_severity=by_severity,
            problems=hits if problems is None else problems,
            rule_hits=hits,
        )

    def to_dict(self) -> dict[str, Any]:
        """The summary as a findings document holds it."""
        return {
            "total": self.total,
            "problems": self.problems,
            "rule_hits": self.rule_hits,
            "by_status": dict(self.by_status),
            "by_area": {k: dict(v) for k, v in self.by_area.items()},
            "by_severity": {k: dict(v) for k, v in self.by_severity.items()},
        }


@dataclass(frozen=True)
class ExpiredWaiver:
    """A waiver whose date has passed: it no longer applies and is reported."""

    waiver: Waiver

    def to_dict(self) -> dict[str, Any]:
        """The lapsed waiver as a findings document holds it."""
        return self.waiver.to_dict()


@dataclass(frozen=True)
class ExceededWaiver:
    """A pattern waiver matching more failures than the instances it states: it covers none of
    them (an instance that appeared after the approval is not covered) and is reported."""

    waiver: Waiver
    findings: tuple[str, ...]
    """The ids of the failures it matched."""

    def to_dict(self) -> dict[str, Any]:
        """The waiver as a findings document holds it, with what it matched."""
        return {**self.waiver.to_dict(), "matched": list(self.findings)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ExceededWaiver:
        return cls(Waiver.from_dict(raw), tuple(raw.get("matched", ())))


@dataclass(frozen=True)
class ChecklistItem:
    """One item of a deployment checklist that rules evidence (references.checklist)."""

    id: str
    section: str
    text: str
    automatable: bool = True
    """False for items only a person can evidence: reports list them as manual."""

    def to_dict(self) -> dict[str, Any]:
        """The item as a findings document holds it."""
        return {"id": self.id, "section": self.section, "text": self.text, "automatable": self.automatable}


@dataclass(frozen=True)
class Checklist:
    """A deployment checklist whose items rules evidence (the seeds security checklist)."""

    id: str
    title: str
    source: str
    items: tuple[ChecklistItem, ...]

    def item(self, item_id: str) -> ChecklistItem | None:
        """The item with id `item_id`, or None."""
        return next((i for i in self.items if i.id == item_id), None)

    def to_dict(self) -> dict[str, Any]:
        """The checklist as a findings document holds it."""
        return {
            "id": self.id,
            "title": self.title,
            "source": self.source,
            "items": [i.to_dict() for i in self.items],
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Checklist:
        """The checklist `to_dict` wrote."""
        return cls(
            id=raw["id"],
            title=raw.get("title", ""),
            source=raw.get("source", ""),
            items=tuple(
                ChecklistItem(i["id"], i["section"], i["text"], bool(i.get("automatable", True)))
                for i in raw.get("items", ())
            ),
        )


@dataclass(frozen=True)
class RuleInfo:
    """What a report says about a rule the policy applied (SARIF rule descriptors, HTML)."""

    id: str
    title: str
    area: str
    severity: Severity
    """As the policy applies it (after overrides)."""
    description: str = ""
    remediation: str = ""
    tags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The rule as a findings document describes it."""
        return {
            "id": self.id,
            "title": self.title,
            "area": self.area,
            "severity": self.severity.value,
            "description": self.description,
            "remediation": self.remediation,
            "tags": list(self.tags),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RuleInfo:
        """The rule description `to_dict` wrote."""
        return cls(
            id=raw["id"],
            title=raw.get("title", ""),
            area=raw.get("area", ""),
            severity=Severity(raw["severity"]),
            description=raw.get("description", ""),
            remediation=raw.get("remediation", ""),
            tags=tuple(raw.get("tags", ())),
        )


class Readiness(enum.Enum):
    """What a scan lets the security lead sign (docs/rules.md, "Verdicts")."""

    READY = "ready"
    """Every rule at or above the threshold passed (or is waived or not applicable) and every
    evidence kind the policy requires was collected."""
    NOT_READY = "not-ready"
    """A failure at or above the threshold, or a confirmed live credential at any severity."""
    INCOMPLETE = "incomplete"
    """No such failure, but something at or above the threshold could not be judged."""

    @property
    def label(self) -> str:
        return self.value.replace("-", " ").upper()


@dataclass(frozen=True)
class Verdict:
    """The verdict of a scan and why, derived from its findings (never stored apart from them)."""

    readiness: Readiness
    environment: str
    fail_on: Severity
    problems: int
    """Blocking problems: failures at or above the threshold (or always blocking), by cause."""
    rule_hits: int
    """Blocking failing findings."""
    live_credentials: int
    """Blocking rule hits that block in every environment, whatever their severity."""
    undecided: tuple[tuple[str, str], ...]
    """(rule id, status) of the rules at or above the threshold with an error or not-evaluated finding."""
    missing_evidence: tuple[str, ...]
    """Evidence kinds the policy requires that no source delivered."""
    failed_sources: tuple[str, ...]
    """Required evidence sources that could not be collected."""
    judged: int
    """Findings that decided something: pass, fail or waived."""

    @property
    def scope(self) -> str:
        """`for staging`, or '' when the target names no environment."""
        return f"for {self.environment}" if self.environment else ""

    def reasons(self) -> list[str]:
        """Why the verdict is what it is, one clause each."""
        out = []
        if self.rule_hits:
            noun = "problem" if self.problems == 1 else "problems"
            hits = "rule hit" if self.rule_hits == 1 else "rule hits"
            text = f"{self.problems} {noun} ({self.rule_hits} {hits}) at or above {self.fail_on.value}"
            if self.live_credentials:
                what = "a live credential" if self.live_credentials == 1 else "live credentials"
                text += f", {self.live_credentials} of them {what} (blocking in every environment)"
            out.append(text)
        cannot = []
        if self.undecided:
            names = [f"{rule} ({status})" for rule, status in self.undecided]
            more = f" and {len(names) - 6} more" if len(names) > 6 else ""
            cannot.append(f"{len(names)} rule{'s' if len(names) != 1 else ''} at or above {self.fail_on.value} "
                          f"not judged: {', '.join(names[:6])}{more}")
        if self.missing_evidence:
            cannot.append(f"no {', '.join(self.missing_evidence)} evidence was collected")
        if self.failed_sources:
            n = len(self.failed_sources)
            cannot.append(f"{n} required evidence source{'s' if n != 1 else ''} could not be collected "
                          f"({', '.join(self.failed_sources)})")
        if not self.judged and not cannot:
            cannot.append("no rule judged anything")
        if cannot:
            out.append("could not judge: " + "; ".join(cannot))
        if not out:
            out.append(f"no failure at or above {self.fail_on.value}")
        return out

    def headline(self) -> str:
        """`NOT READY for staging — 3 problems (5 rule hits) at or above critical`."""
        head = " ".join(p for p in (self.readiness.label, self.scope) if p)
        return f"{head} — {'; '.join(self.reasons())}"

    def to_dict(self) -> dict[str, Any]:
        """The verdict as a findings document holds it."""
        return {
            "readiness": self.readiness.value,
            "headline": self.headline(),
            "environment": self.environment,
            "fail_on": self.fail_on.value,
            "problems": self.problems,
            "rule_hits": self.rule_hits,
            "live_credentials": self.live_credentials,
            "undecided": [{"rule_id": r, "status": s} for r, s in self.undecided],
            "missing_evidence": list(self.missing_evidence),
            "failed_sources": list(self.failed_sources),
        }


def judge(result: ScanResult) -> Verdict:
    """The verdict of `result`: NOT READY when something blocks, else INCOMPLETE when something
    at or above the threshold could not be judged (or nothing was), else READY."""
    threshold = result.fail_on
    problems = [p for p in result.problems if p.blocks(threshold)]
    failed = tuple(sorted({r.source for r in result.collection_errors if r.required}))
    # One pass over the findings that are not passes (counted apart), statuses and severities
    # tested by identity (no enum hashing): blocking failures (Finding.blocks), rules at or above
    # the threshold not judged, and how many findings judged something (pass, fail or waived).
    high = tuple(s for s in Severity if s.at_least(threshold))
    fail, waived, undeciding = Status.FAIL, Status.WAIVED, (Status.ERROR, Status.NOT_EVALUATED)
    blocking: list[Finding] = []
    unjudged: set[tuple[str, str]] = set()
    others = result.not_passed
    judged = len(result.findings) - len(others)  # the passes
    for f in others:
        status = f.status
        if status is fail:
            judged += 1
            if f.always_blocks or f.severity in high:
                blocking.append(f)
        elif status is waived:
            judged += 1
        elif status in undeciding and f.severity in high:
            unjudged.add((f.rule_id, status.value))
    undecided = sorted(unjudged)
    if blocking:
        readiness = Readiness.NOT_READY
    elif undecided or result.missing_evidence or failed or not judged:
        readiness = Readiness.INCOMPLETE
    else:
        readiness = Readiness.READY
    return Verdict(
        readiness=readiness,
        environment=str(result.target.get("environment", "") or ""),
        fail_on=threshold,
        problems=len(problems),
        rule_hits=len(blocking),
        live_credentials=sum(1 for f in blocking if f.always_blocks),
        undecided=tuple(undecided),
        missing_evidence=tuple(result.missing_evidence),
        failed_sources=failed,
        judged=judged,
    )


@dataclass(frozen=True)
class ScanResult:
    """Everything a scan decided. Printed, written, stored, signed or sent only in its redacted
    form, :class:`RedactedResult` (renderers, the history, sign-off and events take nothing else)."""

    target: Mapping[str, Any]
    """The target's name, environment, tags and policies."""
    policies: tuple[str, ...]
    evaluated_at: str
    tool: Mapping[str, str]
    """{"name", "version", "rules_digest"}: what evaluated the evidence."""
    bundle_digest: str
    findings: tuple[Finding, ...]
    collection_errors: tuple[Failure, ...] = ()
    """The evidence sources (or parts of them) that could not be collected."""
    expired_waivers: tuple[ExpiredWaiver, ...] = ()
    fail_on: Severity = Severity.HIGH
    checklist: Checklist | None = None
    """The policy's checklist, so a report can print it with each item's status."""
    rules: tuple[RuleInfo, ...] = ()
    """The rules the policy applied, as reports describe them."""
    missing_evidence: tuple[str, ...] = ()
    """Evidence kinds the policy requires (its `requires`, and the kinds of its rules at or above
    the threshold) of which no record was collected: the verdict is then not READY."""
    exceeded_waivers: tuple[ExceededWaiver, ...] = ()
    """Pattern waivers that matched more failures than they state: applied to none."""

    @functools.cached_property
    def summary(self) -> Summary:
        """Counted once per result (a result is frozen, its summary cannot change)."""
        return Summary.of(self.findings, problems=len(self.problems))

    @functools.cached_property
    def problems(self) -> tuple[Problem, ...]:
        """The failures grouped by cause (correlation key), blocking problems first."""
        return group_problems(self.not_passed, self.fail_on)

    @functools.cached_property
    def not_passed(self) -> list[Finding]:
        """The findings that are not passes, in order: what the verdict and the problems look at
        (most findings of a large result are passes)."""
        passed = Status.PASS
        return [f for f in self.findings if f.status is not passed]

    @functools.cached_property
    def verdict(self) -> Verdict:
        """READY, NOT READY or INCOMPLETE, and why."""
        return judge(self)

    def failures(self, at_least: Severity | None = None) -> list[Finding]:
        """The failures that block sign-off at `at_least` (default the result's fail_on): at or
        above it, or blocking at any threshold (confirmed live credentials)."""
        threshold = at_least or self.fail_on
        return [f for f in self.findings if f.blocks(threshold)]

    @property
    def required_source_failed(self) -> bool:
        """True when a required evidence source could not be collected (exit code 3)."""
        return any(r.required for r in self.collection_errors)

    def to_dict(self, *, findings: bool = True, problems: bool = True) -> dict[str, Any]:
        """The findings document; with findings=False (problems=False) its "findings" ("problems")
        list is left empty (for a renderer that writes them itself)."""
        return {
            "format": "auditor-findings",
            "version": 2,
            "target": dict(self.target),
            "policies": list(self.policies),
            "evaluated_at": self.evaluated_at,
            "tool": dict(self.tool),
            "bundle_digest": self.bundle_digest,
            "fail_on": self.fail_on.value,
            "verdict": self.verdict.to_dict(),
            "summary": self.summary.to_dict(),
            "problems": [p.to_dict(self.fail_on) for p in self.problems] if problems else [],
            "findings": [f.to_dict() for f in self.findings] if findings else [],
            "collection_errors": [r.to_dict() for r in self.collection_errors],
            "missing_evidence": list(self.missing_evidence),
            "expired_waivers": [w.to_dict() for w in self.expired_waivers],
            "exceeded_waivers": [w.to_dict() for w in self.exceeded_waivers],
            **({"checklist": self.checklist.to_dict()} if self.checklist else {}),
            **({"rules": [r.to_dict() for r in self.rules]} if self.rules else {}),
        }

    @staticmethod
    def from_dict(raw: Mapping[str, Any]) -> ScanResult:
        """The result a findings document holds, as it is: not redacted (see RedactedResult)."""
        from auditor.evidence.record import Failure

        return ScanResult(
            target=raw["target"],
            policies=tuple(raw.get("policies", ())),
            evaluated_at=raw["evaluated_at"],
            tool=raw.get("tool", {}),
            bundle_digest=raw.get("bundle_digest", ""),
            findings=tuple(Finding.from_dict(f) for f in raw["findings"]),
            collection_errors=tuple(
                Failure.from_dict(r) for r in raw.get("collection_errors", ())
            ),
            expired_waivers=tuple(
                ExpiredWaiver(Waiver.from_dict(w)) for w in raw.get("expired_waivers", ())
            ),
            fail_on=Severity(raw.get("fail_on", "high")),
            checklist=Checklist.from_dict(raw["checklist"]) if raw.get("checklist") else None,
            rules=tuple(RuleInfo.from_dict(r) for r in raw.get("rules", ())),
            missing_evidence=tuple(raw.get("missing_evidence", ())),
            exceeded_waivers=tuple(ExceededWaiver.from_dict(w) for w in raw.get("exceeded_waivers", ())),
        )


@dataclass(frozen=True)
class RedactedResult(ScanResult):
    """A ScanResult every string of which has been through auditor._redact.scrub: the only
    form in which a result is printed, written, stored, signed or sent.

    Made by :func:`auditor._redact.redact_result` alone, which evaluation calls once, right
    after the rules have run (and which a result read back from a file goes through again).
    Renderers, the history store, sign-off and events accept this type only, so strict mypy
    refuses code that would hand them an unredacted result. Calling the class (directly or
    through dataclasses.replace, which could swap unredacted findings in) raises TypeError.
    """

    def __post_init__(self) -> None:
        raise TypeError(
            "a RedactedResult is made by auditor._redact.redact_result only; to change one, "
            "use its changed() method"
        )

    def changed(self, **changes: Any) -> RedactedResult:
        """A copy with `changes` (fields of ScanResult), redacted again."""
        from auditor._redact import redact_result

        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(ScanResult)}
        return redact_result(ScanResult(**{**fields, **changes}))
