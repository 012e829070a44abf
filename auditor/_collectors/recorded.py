"""Evidence recorded earlier from a real component, replayed from a JSON file.

For sources that cannot run where the scan runs: the embedded demo replays what a real
OpenBao, YubiKey (software PIV card), NATS server or TLS endpoint answered when it was
recorded. Findings name the source, so recorded evidence is never mistaken for live evidence.

File format (`auditor schema recorded`):

    {"format": "auditor-recorded-evidence", "recorded_at": "2026-11-23T19:00:00Z",
     "recorded_from": "OpenBao 2.x dev server (bao server -dev)",
     "records": [{"kind": "...", "resource": "...", "data": {...}}]}

With `shift_times: true`, every RFC 3339 timestamp in the data moves by (now - recorded_at),
so ages and expiries stay what they were when recorded.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import msgspec

from auditor._collectors._files import Unreadable, read_bounded
from auditor._collectors.interface import Collector
from auditor._loader.jsonfile import load_json
from auditor._loader.schema import schema_errors
from auditor._loader.yamlfile import dotted_path
from auditor._timeutil import rfc3339
from auditor.errors import ConfigError
from auditor.evidence.kinds import KINDS
from auditor.evidence.record import Record

_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_KIND = re.compile(r"^[a-z0-9]+(\.[a-z0-9-]+)+$")
"""The schema's pattern for a record's kind (a JSON Schema pattern is searched, as here)."""
_ENVELOPE = frozenset({"format", "recorded_at", "recorded_from", "records"})
_RECORD = frozenset({"kind", "resource", "data"})


def _plainly_valid(raw: Any) -> bool:
    """True only for a file the `recorded` schema accepts, checked without loading jsonschema
    (a recorded file is evidence: it is checked on every scan). False for anything else,
    including some valid files (a timestamp in another RFC 3339 form): the schema then decides,
    and words its error."""
    if not (isinstance(raw, dict) and raw.keys() == _ENVELOPE and raw["format"] == "auditor-recorded-evidence"
            and isinstance(raw["format"], str) and isinstance(raw["recorded_from"], str)
            and len(raw["recorded_from"]) >= 3 and isinstance(raw["records"], list)):
        return False
    at = raw["recorded_at"]
    if not (isinstance(at, str) and _TIMESTAMP.match(at)):
        return False
    try:
        dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return False
    return all(
        isinstance(r, dict) and r.keys() == _RECORD and isinstance(r["kind"], str) and _KIND.search(r["kind"])
        and isinstance(r["resource"], str) and isinstance(r["data"], dict)
        for r in raw["records"]
    )


def shift_times(value: Any, delta: dt.timedelta) -> Any:
    """Every RFC 3339 timestamp string in `value`, moved by `delta`."""
    if isinstance(value, str) and _TIMESTAMP.match(value):
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return rfc3339((moment + delta).replace(microsecond=0))
    if isinstance(value, dict):
        return {k: shift_times(v, delta) for k, v in value.items()}
    if isinstance(value, list):
        return [shift_times(v, delta) for v in value]
    return value


class RecordedCollector(Collector):
    name = "recorded"
    kinds = ("recorded.evidence",)

    def collect(self) -> Iterator[Record]:
        ctx = self.context
        shift = bool(ctx.source.options.get("shift_times", False))
        for path in ctx.source.path_option(ctx.root, "paths"):
            shown = ctx.display(path)
            try:
                raw = load_json(read_bounded(path))
            except Unreadable as exc:
                message = "no such file" if exc.why == "missing" else f"unreadable recorded evidence: {exc}"
                yield ctx.error(self.kinds[0], shown, message)
                continue
            except ConfigError as exc:
                yield ctx.error(self.kinds[0], shown, f"unreadable recorded evidence: {exc.diagnostics()}")
                continue
            problems = [] if _plainly_valid(raw) else schema_errors(raw, "recorded")
            if problems:
                where, message = problems[0]
                yield ctx.error(self.kinds[0], shown, f"{dotted_path(where) or 'file'}: {message}")
                continue
            recorded_at = dt.datetime.fromisoformat(raw["recorded_at"].replace("Z", "+00:00"))
            delta = ctx.now - recorded_at
            source = f"{ctx.source.name} (recorded {raw['recorded_at']} from {raw['recorded_from']})"
            for i, item in enumerate(raw["records"]):
                data = shift_times(item["data"], delta) if shift else item["data"]
                kind = KINDS.get(item["kind"])
                if kind is None:
                    yield ctx.error(item["kind"], item["resource"], f"{shown} records[{i}].kind: unknown evidence kind '{item['kind']}'", source=source)
                    continue
                try:
                    facts = msgspec.convert(data, kind)
                except msgspec.ValidationError as exc:
                    message, _, at = str(exc).partition(" - at `$")
                    yield ctx.error(item["kind"], item["resource"], f"{shown} records[{i}].data{at.rstrip('`')}: {message}", source=source)
                    continue
                yield ctx.record(item["resource"], facts, source=source)
