"""What travels on NATS between agents, workers and `auditor fleet`: subjects, names, encodings, events.

| subject | who publishes | what |
|---|---|---|
| `audit.collect.<target>` | `auditor fleet collect` (request) | collect now; the agent answers at once that it will |
| `audit.evidence.<target>` | the agent, into JetStream stream `AUDIT_EVIDENCE` | signed evidence (auditor._remote.envelope), gzip |
| `audit.findings.<target>` | workers (and `auditor serve`) | `auditor.scan` per stored scan, `auditor.regression`, `auditor.refused` |
| `audit.agents.ping` | `auditor fleet status` (request) | every agent answers with what it is and last published |

A `.` in a target name becomes `_` in a subject (dots separate subject tokens). Messages are
JSON; evidence is gzip-compressed (`Content-Encoding: gzip`) and inflated with a bound, so a
small message can never expand into an unbounded one.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Mapping
from typing import Any

from auditor._exitcodes import ExitCode
from auditor._models import RedactedResult
from auditor._remote.envelope import Refused
from auditor._schedule.notify import subject_for

STREAM = "AUDIT_EVIDENCE"
CONSUMER = "auditor-workers"
COLLECT = "audit.collect"
EVIDENCE = "audit.evidence"
AGENTS_PING = "audit.agents.ping"
FINDINGS_ALL = "audit.findings.>"
CONTENT_TYPE = "application/vnd.auditor.signed-evidence+json"
MAX_EVIDENCE_BYTES = 64 * 1024 * 1024
"""The largest signed evidence a worker inflates (the bundle and its envelope, uncompressed)."""
HEADER_REQUEST = "Auditor-Request"


def token(target: str) -> str:
    return target.replace(".", "_")


def collect_subject(target: str) -> str:
    return f"{COLLECT}.{token(target)}"


def evidence_subject(target: str) -> str:
    return f"{EVIDENCE}.{token(target)}"


def findings_subject(target: str) -> str:
    return subject_for(target)


def pack(document: Mapping[str, Any]) -> bytes:
    """Signed evidence as sent: compact JSON, gzip."""
    return gzip.compress(json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode(), 6, mtime=0)


def unpack(data: bytes, *, limit: int = MAX_EVIDENCE_BYTES) -> Any:
    """The JSON document of a received evidence message; Refused when it is not gzip JSON or
    would inflate beyond `limit` bytes."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        raw = inflater.decompress(data, limit + 1)
    except zlib.error:
        raise Refused("the message is not gzip-compressed signed evidence") from None
    if len(raw) > limit or inflater.unconsumed_tail:
        raise Refused(f"the message inflates beyond {limit} bytes")
    if not inflater.eof:
        raise Refused("the message is truncated (incomplete gzip stream)")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Refused("the message is not JSON") from None


def encode_event(event: Mapping[str, Any]) -> bytes:
    return json.dumps(event, sort_keys=True, ensure_ascii=False).encode()


VERDICTS = {int(ExitCode.OK): "READY", int(ExitCode.FINDINGS): "NOT READY", int(ExitCode.COLLECTION_FAILED): "INCOMPLETE",
            int(ExitCode.INCOMPLETE): "INCOMPLETE"}


def scan_event(result: RedactedResult, *, scan_id: int, exit_code: int, request_id: str | None,
               collected_at: str, worker: str, duplicate: bool = False) -> dict[str, Any]:
    """`auditor.scan`: one stored scan's verdict (no evidence, no secret: messages are redacted)."""
    failures = result.failures()
    return {
        "type": "auditor.scan",
        "version": 1,
        "target": str(result.target.get("name", "")),
        "scan_id": scan_id,
        "request_id": request_id,
        "bundle_digest": result.bundle_digest,
        "collected_at": collected_at,
        "evaluated_at": result.evaluated_at,
        "exit_code": exit_code,
        "verdict": VERDICTS.get(exit_code, "ERROR"),
        "fail_on": result.fail_on.value,
        "counts": dict(result.summary.by_status),
        "problems": result.summary.problems,
        "rule_hits": result.summary.rule_hits,
        "failures": [
            {"id": f.id, "rule_id": f.rule_id, "severity": f.severity.value, "resource": f.resource, "title": f.title}
            for f in failures
        ],
        "worker": worker,
        "redelivered": duplicate,
    }


def refused_event(target: str, reason: str, *, request_id: str | None, worker: str) -> dict[str, Any]:
    """`auditor.refused`: evidence a worker did not accept, and why."""
    return {"type": "auditor.refused", "version": 1, "target": target, "request_id": request_id,
            "reason": reason, "worker": worker}
