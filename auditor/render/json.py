"""The findings document (schema: auditor/schemas/findings.schema.json)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from json.encoder import encode_basestring
from typing import Any

from auditor.models import Finding, RedactedResult
from auditor.render.interface import Renderer

_ONE_PER_LINE = ("findings", "collection_errors", "problems")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def finding_lines(findings: Iterable[Finding]) -> Iterator[str]:
    """Each finding exactly as `_dumps(finding.to_dict())` writes it, with what a rule's findings
    share (title, area, severity, remediation, references: most of the bytes) encoded once per
    rule rather than once per finding."""
    heads: dict[tuple[str, str, str, str], str] = {}
    tails: dict[tuple[str, int], str] = {}
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
        yield (
            f'{{"id": {encode_basestring(f.id)}{head}, "status": {encode_basestring(f.status.value)}, "resource": {encode_basestring(f.resource)}, '
            f'"message": {encode_basestring(f.message)}, "evidence": {{"records": {_dumps(list(f.evidence))}, '
            f'"pointer": {encode_basestring(f.pointer)}}}{tail}'
        )


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
                for i, problem in enumerate(result.problems):
                    yield (",\n    " if i else "    ") + _dumps(problem.to_dict(result.fail_on))
                yield "\n  ]"
            elif key == "findings":
                if not result.findings:
                    yield "[]"
                    continue
                yield "[\n"
                for i, line in enumerate(finding_lines(result.findings)):
                    yield (",\n    " if i else "    ") + line
                yield "\n  ]"
            elif key in _ONE_PER_LINE and value:
                yield "[\n" + ",\n".join("    " + _dumps(v) for v in value) + "\n  ]"
            else:
                yield json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n  ")
        yield "\n}\n"
