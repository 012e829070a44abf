"""A scan's findings document as the history stores it, and read back.

The stored document is the result's findings document (schema: findings) in compact JSON,
zlib-compressed, with what a rule's findings share said once. A rule's findings repeat its
title, area, severity, remediation and references, and a pass's message is its title: for a
bundle of 200 certificates that is two thirds of the document's 1.45 MB. So each finding
leaves out those five members where they equal the first finding of its rule's, and its
message where it equals its own title; the member `finding_defaults`, after the findings,
gives each rule's first finding's five. Reading fills them back in: the document read is the
one the result's `to_dict` writes, member for member. A document without `finding_defaults`
(one stored before, or by a version that wrote them all) is read as it is.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from auditor import _limits
from auditor._loader.jsonfile import json_values, load_json
from auditor._models import Finding, RedactedResult
from auditor.errors import ConfigError

DEFAULTS = "finding_defaults"
"""The stored document's member giving, by rule id, what its findings left out."""
SHARED = ("title", "area", "severity", "remediation", "references")
"""The members a finding leaves out where they equal its rule's first finding's."""
PACKED_LINES = 512
"""Findings encoded and compressed per call: one call per finding costs a quarter more than
the deflating."""


class _Evidence(msgspec.Struct):
    records: tuple[str, ...]
    pointer: str


class _Stored(msgspec.Struct, omit_defaults=True, gc=False):
    """A finding as the history stores it: Finding.to_dict's members (the members every finding
    has first), the shared ones left out (UNSET) where its rule's defaults give them, the
    optional ones where they are empty."""

    id: str
    rule_id: str
    status: str
    resource: str
    evidence: _Evidence
    title: str | UnsetType = UNSET
    area: str | UnsetType = UNSET
    severity: str | UnsetType = UNSET
    message: str | UnsetType = UNSET
    remediation: str | UnsetType = UNSET
    references: Mapping[str, Sequence[str]] | UnsetType = UNSET
    correlation: str = ""
    always_blocks: bool = False
    owner: str = ""
    due: str = ""
    waiver: dict[str, Any] | None = None


class _Defaults(msgspec.Struct):
    title: str
    area: str
    severity: str
    remediation: str
    references: Mapping[str, Sequence[str]]


def stored_findings(findings: Sequence[Finding], defaults: dict[str, Finding], per: int) -> Iterator[bytes]:
    """The findings as the stored document holds them, `per` at a time, each part their JSON
    objects joined by commas; `defaults` gets each rule's first finding, whose shared members
    the others leave out where theirs are the same."""
    first = defaults.setdefault
    for start in range(0, len(findings), per):
        made = []
        for f in findings[start:start + per]:
            d = first(f.rule_id, f)
            title = f.title
            made.append(_Stored(
                f.id, f.rule_id, f.status._value_, f.resource, _Evidence(f.evidence, f.pointer),
                UNSET if title is d.title or title == d.title else title,
                UNSET if f.area is d.area or f.area == d.area else f.area,
                UNSET if f.severity is d.severity else f.severity._value_,
                UNSET if f.message is title or f.message == title else f.message,
                UNSET if f.remediation is d.remediation or f.remediation == d.remediation else f.remediation,
                UNSET if f.references is d.references or f.references == d.references else f.references,
                f.correlation, f.always_blocks, f.owner, f.due, None if f.waiver is None else f.waiver.to_dict(),
            ))
        yield _ENCODER.encode(made)[1:-1]


def _defaults_json(defaults: Mapping[str, Finding]) -> bytes:
    """`finding_defaults`: each rule's first finding's shared members, as JSON."""
    return _ENCODER.encode({
        rule_id: _Defaults(f.title, f.area, f.severity._value_, f.remediation, f.references)
        for rule_id, f in defaults.items()
    })


def document_rest(result: RedactedResult) -> bytes:
    """The findings document of `result` without its findings, encoded."""
    from auditor._render.json import problem_dicts

    document = result.to_dict(findings=False, problems=False)
    document["problems"] = problem_dicts(result)
    del document["findings"]
    return _ENCODER.encode(document)


def packed_document(result: RedactedResult, rest: bytes) -> bytes:
    """The stored document of `result` (`rest`: document_rest's, or b"" to make it here),
    zlib-compressed as it is made, PACKED_LINES findings at a time, so a result of hundreds of
    thousands of findings is never held whole as text. (The bytes are those of compressing it
    a part at a time, or whole: zlib's stream does not depend on how its input is cut.) Most
    of the time is zlib's, which lets other threads run meanwhile. Made before if pack_ahead
    was called on the result."""
    ahead: bytes | None = result.__dict__.get(_AHEAD)
    if ahead is not None:
        return ahead
    defaults: dict[str, Finding] = {}
    return _pack(stored_findings(result.findings, defaults, PACKED_LINES), defaults, rest or document_rest(result))


def _pack(parts: Iterable[bytes], defaults: Mapping[str, Finding], rest: bytes) -> bytes:
    """The document of the findings in `parts` (each one or more findings' JSON joined by
    commas), the `defaults` they were written against (complete once `parts` is) and the
    `rest`, packed (packed_document)."""
    packer = zlib.compressobj(1)
    out = [packer.compress(b'{"findings":[')]
    sep = b""
    for part in parts:
        if part:
            out.append(packer.compress(sep + part))
            sep = b","
    out.append(packer.compress(b'],"' + DEFAULTS.encode() + b'":' + _defaults_json(defaults) + b"," + rest[1:]))
    out.append(packer.flush())
    return b"".join(out)


def pack_ahead(result: RedactedResult) -> None:
    """Make what storing `result` costs most now (its document, encoded and packed:
    packed_document) and keep it on the result, which pickling carries: a worker of `evaluate
    --jobs` does it beside the evaluation, so the one process that writes the history only
    writes. Kept in the result's __dict__, as its cached properties are (a frozen result's
    document cannot change), until drop_packed."""
    result.__dict__[_AHEAD] = packed_document(result, b"")


def packed_ahead(result: RedactedResult) -> bool:
    """Whether pack_ahead kept `result`'s document on it."""
    return _AHEAD in result.__dict__


def drop_packed(result: RedactedResult) -> None:
    """Let go of the document pack_ahead kept on `result` (once it is stored)."""
    result.__dict__.pop(_AHEAD, None)


_AHEAD = "_packed_ahead"
"""The key of pack_ahead's packed document in a result's __dict__."""

_ENCODER = msgspec.json.Encoder()


def stored_document(text: str | None, packed: bytes | memoryview | None) -> dict[str, Any]:
    """The findings document of a scans row: compressed (schema version 3 on), or as text
    (scans stored before), each finding's shared members filled back in (see the module).
    ValueError if it is neither, or past the limits of a findings document (result-bytes, and
    those of JSON): a damaged or hostile row (a store may be shared by a fleet) never takes
    unbounded memory nor crashes the reader."""
    most = _limits.current().result_bytes
    if packed is not None:
        inflate = zlib.decompressobj()
        try:
            raw: str | bytes = inflate.decompress(bytes(packed), most + 1)
        except zlib.error as exc:
            raise ValueError(f"its compressed document is damaged: {exc}") from None
        if len(raw) <= most and not inflate.eof:
            raise ValueError("its compressed document is damaged: it is cut short")
    else:
        raw = text or ""
    if len(raw) > most:
        raise ValueError(_limits.exceeded("result-bytes", "its document is too large"))
    try:
        document = load_json(raw)
    except ConfigError as exc:
        raise ValueError(f"its document is not readable JSON: {exc.diagnostics()}") from None
    if not isinstance(document, dict):
        raise ValueError("its document is not a JSON object")
    return _filled(document, raw)


def _filled(document: dict[str, Any], raw: str | bytes) -> dict[str, Any]:
    """`document` (read from `raw`) with each finding's left-out members given back from its
    `finding_defaults` (removed), a left-out message its title. What is not as the writer makes
    it (a finding that is not an object, a rule without defaults) is left as it is, for reading
    it to fail where it would have.
    ValueError when the document filled in would be past the result-bytes or json-values
    limits: a hostile row cannot make a few bytes of defaults into gigabytes of findings."""
    if DEFAULTS not in document:
        return document
    given = document.pop(DEFAULTS)
    findings = document.get("findings")
    if not isinstance(given, dict) or not isinstance(findings, list):
        raise ValueError(f"its document's {DEFAULTS} or findings are not what the history writes")
    data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    limits = _limits.current()
    # what the document may hold yet: its values bounded by its bytes (each takes one), counted
    # only if that bound is reached (as load_json counts them)
    bytes_left, values_left, counted = limits.result_bytes - len(data), limits.json_values - len(data), False
    defaults: dict[str, tuple[dict[str, Any], int, int]] = {}
    for rule_id, shared in given.items():
        if isinstance(shared, dict):
            entry = {k: shared[k] for k in SHARED if k in shared}
            text = _ENCODER.encode(entry)
            defaults[rule_id] = entry, len(text), json_values(text)
    for i, finding in enumerate(findings):
        if type(finding) is not dict:
            continue
        rule_id = finding.get("rule_id")
        found = defaults.get(rule_id) if type(rule_id) is str else None
        if found is not None:
            entry, more_bytes, more_values = found
            bytes_left -= more_bytes
            values_left -= more_values
            if bytes_left < 0:
                raise ValueError(_limits.exceeded("result-bytes", "its document, filled in, is too large"))
            if values_left < 0 and not counted:
                values_left += len(data) - json_values(data)
                counted = True
            if values_left < 0:
                raise ValueError(_limits.exceeded("json-values", "its document, filled in, holds too many values"))
            finding = findings[i] = entry | finding
        if "message" not in finding and "title" in finding:
            finding["message"] = finding["title"]  # the same string: no more bytes held
    return document
