"""The issuance log: append-only, hash-chained JSON lines in `<CA>/log.jsonl`.

Each line is one JSON object::

    {"seq": 3, "time": "2026-05-01T10:00:00Z", "event": "issue", "serial": "5f1c…",
     "node": "cim-prod-001", "profile": "nats-server", "subject": "CN=…", "details": {…},
     "prev": "<hash of entry 2>", "hash": "<sha256 of this entry without 'hash'>"}

`hash` is the SHA-256 (hex) of the entry's canonical JSON (sorted keys, no spaces, UTF-8)
without the `hash` field; `prev` is the previous entry's hash (64 zeros for the first).
Editing an entry breaks its hash, removing or reordering entries breaks `seq` and `prev`, and
the inventory records the last entry's hash and the count (meta `log_head`, `log_count`), so
cutting entries off the end is found too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pki.errors import LogError
from pki.fsutil import ReadError, open_regular

GENESIS = "0" * 64
MAX_LINE = 1 << 20
"""A log line longer than this (1 MiB) is damaged: entries are a few hundred bytes."""
MAX_DEPTH = 16
"""Entries nest two levels (details); deeper ones are damaged, not parsed further."""
EVENTS = ("init", "intermediate", "issue", "renew", "revoke", "crl")
FIELDS = ("seq", "time", "event", "serial", "node", "profile", "subject", "details", "prev", "hash")


def entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_line(raw: bytes) -> tuple[dict[str, Any] | None, str]:
    """(the entry, '') of one log line, or (None, what is wrong with it)."""
    if len(raw) > MAX_LINE:
        return None, f"longer than {MAX_LINE} bytes"
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        return None, "not JSON"
    if not isinstance(value, dict) or set(value) != set(FIELDS):
        return None, "not a log entry (fields differ)"
    if _depth(value) > MAX_DEPTH:
        return None, "not a log entry (nested too deep)"
    return value, ""


def _depth(value: Any) -> int:
    deepest = 0
    todo = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        todo.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return deepest


def last_entry(path: Path) -> dict[str, Any] | None:
    """The last line of the log, read from the end (the log can be long)."""
    if not path.exists():
        return None
    try:
        fh = open_regular(path)
    except ReadError as exc:
        raise LogError(f"{path}: cannot read the issuance log: {exc.reason}") from None
    with fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        chunk = 4096
        data = b""
        while size > 0:
            step = min(chunk, size)
            size -= step
            fh.seek(size)
            data = fh.read(step) + data
            lines = data.rstrip(b"\n").split(b"\n")
            if len(lines) > 1 or size == 0:
                last = lines[-1]
                if not last.strip():
                    return None
                parsed, problem = parse_line(last)
                if parsed is None or type(parsed["seq"]) is not int or not isinstance(parsed["hash"], str):
                    raise LogError(f"{path}: the last line is {problem or 'not a log entry'}: the log is damaged "
                                   "(`auditor pki log verify` shows where)")
                return parsed
            if len(data) > MAX_LINE:
                raise LogError(f"{path}: the last line is longer than {MAX_LINE} bytes: the log is damaged")
            chunk *= 2
    return None


def append(path: Path, *, event: str, serial: str | None = None, node: str | None = None,
           profile: str | None = None, subject: str | None = None,
           details: dict[str, Any] | None = None, time: str | None = None) -> dict[str, Any]:
    """Append one entry (the caller holds the CA lock). Returns the entry written."""
    if event not in EVENTS:
        raise LogError(f"unknown log event '{event}'")
    last = last_entry(path)
    entry: dict[str, Any] = {
        "seq": (int(last["seq"]) + 1) if last else 1,
        "time": time or _now(),
        "event": event,
        "serial": serial,
        "node": node,
        "profile": profile,
        "subject": subject,
        "details": details or {},
        "prev": str(last["hash"]) if last else GENESIS,
    }
    entry["hash"] = entry_hash(entry)
    line = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise LogError(f"{path}: cannot append to the issuance log: {exc.strerror or exc}") from None
    return entry


@dataclass(frozen=True)
class LogReport:
    entries: int
    head: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def read(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
    """(line number, entry or None, problem) for each line."""
    try:
        fh = open_regular(path)
    except ReadError as exc:
        if exc.why == "missing":
            raise LogError(f"{path}: the issuance log is missing") from None
        raise LogError(f"{path}: cannot read the issuance log: {exc.reason}") from None
    with fh:
        number = 0
        while True:
            raw = fh.readline(MAX_LINE + 1)
            if not raw:
                break
            number += 1
            if len(raw) > MAX_LINE:
                while raw and not raw.endswith(b"\n"):  # the rest of the long line
                    raw = fh.readline(MAX_LINE)
                yield number, None, f"longer than {MAX_LINE} bytes"
                continue
            value, problem = parse_line(raw)
            yield number, value, problem


def verify(path: Path, *, expected_count: int | None = None, expected_head: str | None = None,
           issued_serials: set[str] | None = None) -> LogReport:
    """Check the chain; with the inventory's figures, also that nothing was cut off the end
    and that every certificate in the inventory was logged."""
    problems: list[str] = []
    prev = GENESIS
    seq = 0
    count = 0
    logged: set[str] = set()
    for number, entry, problem in read(path):
        count += 1
        if entry is None:
            problems.append(f"line {number}: {problem}")
            continue
        if entry_hash(entry) != entry["hash"]:
            problems.append(f"line {number} (seq {entry['seq']}): edited: its hash does not match its content")
        if entry["seq"] != seq + 1:
            problems.append(
                f"line {number}: seq {entry['seq']} follows seq {seq}: entries removed or reordered"
            )
        elif entry["prev"] != prev:
            problems.append(f"line {number} (seq {entry['seq']}): does not chain to the entry before it")
        if isinstance(entry["seq"], int):
            seq = entry["seq"]
        prev = str(entry["hash"])
        if entry["event"] in ("init", "intermediate", "issue", "renew") and entry["serial"]:
            logged.add(str(entry["serial"]))
    if expected_count is not None and expected_count != count:
        problems.append(
            f"the log has {count} entries but the inventory recorded {expected_count}: entries removed or added"
        )
    elif expected_head is not None and expected_head != prev:
        problems.append("the last entry is not the one the inventory recorded: the log was rewritten")
    if issued_serials is not None:
        missing = sorted(issued_serials - logged)
        if missing:
            problems.append(f"{len(missing)} certificate(s) in the inventory have no log entry (e.g. serial {missing[0]})")
    return LogReport(count, prev, tuple(problems))
