"""The findings document (schema: auditor/schemas/findings.schema.json)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from json.encoder import encode_basestring
from typing import Any

import msgspec

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


class _Evidence(msgspec.Struct):
    records: tuple[str, ...]
    pointer: str


class _Finding(msgspec.Struct, omit_defaults=True):
    """A finding as its document holds it (Finding.to_dict), members in the same order, the
    optional ones left out when empty."""

    id: str
    rule_id: str
    title: str
    area: str
    severity: str
    status: str
    resource: str
    message: str
    evidence: _Evidence
    remediation: str
    references: Mapping[str, Sequence[str]]
    correlation: str = ""
    always_blocks: bool = False
    owner: str = ""
    due: str = ""
    waiver: dict[str, Any] | None = None


def compact_findings(findings: Sequence[Finding], per: int) -> Iterator[bytes]:
    """The findings as their document holds them (Finding.to_dict), in compact JSON (no spaces),
    `per` findings at a time, each part the findings' objects joined by commas: what the
    history stores (its reader parses JSON; the output's lines are written for people, with
    spaces). A third of finding_lines's time: msgspec writes each finding whole."""
    for start in range(0, len(findings), per):
        made = [
            _Finding(f.id, f.rule_id, f.title, f.area, f.severity._value_, f.status._value_, f.resource, f.message,
                     _Evidence(f.evidence, f.pointer), f.remediation, f.references, f.correlation, f.always_blocks,
                     f.owner, f.due, None if f.waiver is None else f.waiver.to_dict())
            for f in findings[start:start + per]
        ]
        yield _COMPACT.encode(made)[1:-1]


_COMPACT = msgspec.json.Encoder()


LINES_PER_PART = 256
"""Finding lines written per part of the document."""

KEPT_LINES = 20_000
"""Up to this many findings, a result's finding lines are made once and kept on it (the JSON
output and the history's stored document both write them); a larger result's are made as they
are written, each time, rather than all held at once, unless both will write them (see
keep_finding_lines)."""


def keep_finding_lines(result: RedactedResult) -> None:
    """Keep the result's finding lines once made, however many: the command line calls this
    when the history will store the result after it is printed (both write every line)."""
    result.__dict__["_keep_lines"] = True  # the result is frozen: a hint, not part of it


def keeps_finding_lines(result: RedactedResult) -> bool:
    """Whether `result`'s finding lines are made for the output and the history both
    (keep_finding_lines)."""
    return bool(result.__dict__.get("_keep_lines"))


def findings_json(result: RedactedResult) -> Iterable[str]:
    """`finding_lines` of the result's findings: kept on the result up to KEPT_LINES findings
    (or however many, see keep_finding_lines)."""
    if len(result.findings) > KEPT_LINES and not keeps_finding_lines(result):
        return finding_lines(result.findings)
    with _MAKING:  # the history's store reads them in a thread while the output is written
        known: _KeptLines | None = result.__dict__.get("_finding_lines")
        if known is None:
            known = _KeptLines(result.findings)
            result.__dict__["_finding_lines"] = known  # the result is frozen: these follow from it
    return known


class _KeptLines:
    """A result's finding lines, made MADE_AT_ONCE at a time by whichever reader first needs
    them and kept for the others: the output and the history's document are written side by
    side, each reader's writing (zlib, for the history) running while the next lines are made,
    instead of one of them waiting for them all. A failure to make them is every reader's."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        self._source = finding_lines(findings)
        self._lines: list[str] = []
        self._done = False
        self._failed: BaseException | None = None
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[str]:
        at = 0
        while True:
            made = len(self._lines)  # appended to only, under the lock
            if at < made:
                yield from self._lines[at:made]
                at = made
                continue
            with self._lock:
                if self._failed is not None:
                    raise self._failed
                if at < len(self._lines):
                    continue
                if self._done:
                    return
                try:
                    batch = list(islice(self._source, MADE_AT_ONCE))
                except BaseException as exc:
                    self._failed = exc
                    raise
                if not batch:
                    self._done = True
                self._lines.extend(batch)

    def __reduce__(self) -> tuple[Callable[[list[str]], _KeptLines], tuple[list[str]]]:
        """Pickled as all its lines, made (a result sent back by a worker process of `evaluate
        --jobs`: a lock cannot be pickled)."""
        return _kept_lines, (list(self),)


def _kept_lines(lines: list[str]) -> _KeptLines:
    """Kept lines all made already: `lines`."""
    kept = _KeptLines(())
    kept._lines, kept._done = lines, True
    return kept


MADE_AT_ONCE = 512
"""Finding lines a reader of kept lines makes at a time."""


def problem_dicts(result: RedactedResult) -> list[dict[str, Any]]:
    """The result's problems as the findings document holds them: kept on the result, like its
    finding lines, when both the output and the history write them (keep_finding_lines)."""
    with _MAKING:
        known: list[dict[str, Any]] | None = result.__dict__.get("_problem_dicts")
        if known is None:
            known = [p.to_dict(result.fail_on) for p in result.problems]
            if keeps_finding_lines(result):
                result.__dict__["_problem_dicts"] = known
    return known


_MAKING = threading.Lock()
"""Held while a result's kept lines or problems are made, so two threads make them once."""


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
                lines = iter(findings_json(result))
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
