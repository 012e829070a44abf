"""The findings document (schema: auditor/schemas/findings.schema.json)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from json.encoder import encode_basestring
from typing import Any

from auditor._models import Finding, RedactedResult
from auditor._render.interface import Renderer

_ONE_PER_LINE = ("findings", "collection_errors", "problems")


def _dumps(value: Any) -> str:
    """`json.dumps(value, ensure_ascii=False)`, by one encoder made once (json.dumps makes one
    per call when given an option)."""
    return _ENCODER.encode(value)


_ENCODER = json.JSONEncoder(ensure_ascii=False)


_PLAIN_ID = re.compile(r"[A-Za-z0-9_.:-]*")
"""Text json writes as it is, between quotes (record ids are `ev-` and hex digits)."""


def ids_json(ids: Sequence[str]) -> str:
    """`_dumps(list(ids))`, without json's encoder for the usual plain record ids; made once
    per tuple of ids (every rule's findings on a record share it)."""
    key = ids if isinstance(ids, tuple) else tuple(ids)
    found = _IDS.get(key)
    if found is None:
        if all(_PLAIN_ID.fullmatch(i) for i in ids):
            found = "[" + ", ".join(['"' + i + '"' for i in ids]) + "]"
        else:
            found = _dumps(list(ids))
        if len(_IDS) >= _IDS_KEPT:
            _IDS.clear()
        _IDS[key] = found
    return found


_IDS: dict[tuple[str, ...], str] = {}
_IDS_KEPT = 100_000


def finding_lines(findings: Iterable[Finding]) -> Iterator[str]:
    """Each finding exactly as `_dumps(finding.to_dict())` writes it, with what a rule's findings
    share (title, area, severity, remediation, references: most of the bytes) encoded once per
    rule rather than once per finding."""
    heads: dict[tuple[str, str, str, str], str] = {}
    tails: dict[tuple[str, int], str] = {}
    said: dict[str, str] = {}  # a message, pointer or status encoded once: a rule's passes share theirs
    encoded = said.get
    for f in findings:
        if f.waiver is not None or f.correlation or f.always_blocks or f.owner:  # failures, a few: the general form
            yield _dumps(f.to_dict())
            continue
        hkey = (f.rule_id, f.title, f.area, f.severity.value)
        head = heads.get(hkey)
        if head is None:
            rule_id, title, area, severity = (encode_basestring(s) for s in hkey)
            head = heads[hkey] = f', "rule_id": {rule_id}, "title": {title}, "area": {area}, "severity": {severity}'
        tkey = (f.remediation, id(f.references))
        tail = tails.get(tkey)
        if tail is None:
            refs = {k: list(v) for k, v in f.references.items()}
            tail = tails[tkey] = f', "remediation": {encode_basestring(f.remediation)}, "references": {_dumps(refs)}}}'
        status, message, pointer = f.status._value_, f.message, f.pointer
        status = encoded(status) or said.setdefault(status, encode_basestring(status))
        message = encoded(message) or said.setdefault(message, encode_basestring(message))
        pointer = encoded(pointer) or said.setdefault(pointer, encode_basestring(pointer))
        yield (
            f'{{"id": {encode_basestring(f.id)}{head}, "status": {status}, "resource": {encode_basestring(f.resource)}, '
            f'"message": {message}, "evidence": {{"records": {ids_json(f.evidence)}, "pointer": {pointer}}}{tail}'
        )


LINES_PER_PART = 256
"""Finding lines written per part of the document."""

def problem_dicts(result: RedactedResult) -> list[dict[str, Any]]:
    """The result's problems as the findings document holds them."""
    return [p.to_dict(result.fail_on) for p in result.problems]


class JsonRenderer(Renderer):
    name = "json"

    def render(self, result: RedactedResult) -> str:
        return "".join(self.parts(result))

    def parts(self, result: RedactedResult) -> Iterator[str]:
        """Indented, with one finding per line (json's indenting encoder is pure Python and
        takes seconds for tens of thousands of findings, its compact one is C), a finding per
        part: the document is written as it is made."""
        yield "{\n"
        for n, (key, value) in enumerate(result.to_dict(findings=False, problems=False).items()):
            yield (",\n" if n else "") + f"  {json.dumps(key)}: "
            if key == "problems" and result.problems:
                yield "[\n"
                for i, problem in enumerate(problem_dicts(result)):
                    yield (",\n    " if i else "    ") + _dumps(problem)
                yield "\n  ]"
            elif key == "findings":
                if not result.findings:
                    yield "[]"
                    continue
                yield "[\n"
                lines = finding_lines(result.findings)
                sep = "    "
                while batch := list(islice(lines, LINES_PER_PART)):  # a part per finding costs more than the joining
                    yield sep + ",\n    ".join(batch)
                    sep = ",\n    "
                yield "\n  ]"
            elif key in _ONE_PER_LINE and value:
                yield "[\n" + ",\n".join("    " + _dumps(v) for v in value) + "\n  ]"
            else:
                yield json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n  ")
        yield "\n}\n"
