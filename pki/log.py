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
from pki.fsutil import ReadError, fsync, open_regular, special_kind

GENESIS = "0" * 64
MAX_LINE = 1 << 20
"""A log line longer than this (1 MiB) is damaged: entries are a few hundred bytes."""
EVENTS = ("intent", "abandon", "init", "intermediate", "issue", "renew", "revoke", "crl")
COMPLETIONS = ("init", "intermediate", "issue", "renew")
"""Events that record a signed certificate (each completes an `intent`)."""
FIELDS = ("seq", "time", "event", "serial", "node", "profile", "subject", "details", "prev", "hash")


def entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _line_hash_matches(raw: bytes, entry: dict[str, Any]) -> bool:
    """Whether the entry's hash matches its content: quickly for a line as `append` writes it
    (canonical JSON, whose bytes less the `"hash":"…",` member are what was hashed), by
    re-serialising the entry otherwise."""
    stored = str(entry.get("hash", ""))
    member = b'"hash":"' + stored.encode() + b'",'
    if hashlib.sha256(raw.rstrip(b"\n").replace(member, b"", 1)).hexdigest() == stored:
        return True
    return entry_hash(entry) == stored


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


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
                try:
                    parsed = json.loads(last)
                except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
                    raise LogError(f"{path}: the last line is not JSON: the log is damaged") from None
                if not isinstance(parsed, dict):
                    raise LogError(f"{path}: the last line is not a log entry")
                return parsed
            if len(data) > MAX_LINE:
                raise LogError(f"{path}: the last line is longer than {MAX_LINE} bytes: the log is damaged")
            chunk *= 2
    return None


def append(path: Path, *, event: str, serial: str | None = None, node: str | None = None,
           profile: str | None = None, subject: str | None = None,
           details: dict[str, Any] | None = None, time: str | None = None,
           last: dict[str, Any] | bool | None = False) -> dict[str, Any]:
    """Append one entry durably (written and fsync'ed before this returns; the caller holds
    the CA lock). `last`: the log's last entry when the caller knows it (None: the log is
    empty), else it is read from the end of the file. Returns the entry written."""
    if event not in EVENTS:
        raise LogError(f"unknown log event '{event}'")
    if last is False:
        last = last_entry(path)
    assert last is not True
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
            fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise LogError(f"{path}: cannot append to the issuance log: {exc.strerror or exc}") from None
    return entry


def repair_tail(path: Path) -> str | None:
    """Finish or cut a last line that a crash left without its newline (an append is
    acknowledged only once its whole line, newline included, is on disk). A complete entry
    gets its newline; a torn one, never acknowledged, is cut. Returns what was done."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        kind = special_kind(os.fstat(fd).st_mode)
        if kind is not None:  # a FIFO or device in the log's place: neither read nor written
            os.close(fd)
            raise LogError(f"{path}: cannot repair the issuance log: it is a {kind}, not a regular file")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb+") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size == 0:
                return None
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return None
            start = max(0, size - (1 << 20))
            fh.seek(start)
            tail = fh.read()
            cut = tail.rfind(b"\n")
            line_start = start + cut + 1 if cut >= 0 else start
            line = tail[cut + 1:]
            try:
                entry = json.loads(line)
                complete = isinstance(entry, dict) and set(entry) == set(FIELDS) and entry_hash(entry) == entry["hash"]
            except (ValueError, RecursionError):
                complete = False
            if complete:
                fh.write(b"\n")
                what = "finished the last entry's line (its newline was missing)"
            else:
                fh.truncate(line_start)
                what = f"cut a torn last line of {len(line)} bytes (a crash during an append it never acknowledged)"
            fh.flush()
            fsync(fh.fileno())
            return what
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LogError(f"{path}: cannot repair the issuance log: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class LogReport:
    """What `verify` found: entry count, last hash, problems (tampering) and notes (such as
    an interrupted issuance the next change reconciles, or a cache to bring up to date)."""

    entries: int
    head: str
    problems: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def read(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
    """(line number, entry or None, problem) for each line; the entry's chain is not checked."""
    for number, entry, problem, _raw in _lines(path):
        yield number, entry, problem


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str, bytes]]:
    try:
        fh = open_regular(path)
    except ReadError as exc:
        if exc.why == "missing":
            raise LogError(f"{path}: the issuance log is missing") from None
        raise LogError(f"{path}: cannot read the issuance log: {exc.reason}") from None
    with fh:
        number = 0
        while raw := fh.readline(MAX_LINE + 1):
            number += 1
            if len(raw) > MAX_LINE:  # damaged: skip the rest of the line unread
                while raw and not raw.endswith(b"\n"):
                    raw = fh.readline(MAX_LINE)
                yield number, None, f"longer than {MAX_LINE} bytes", b""
                continue
            try:
                value = json.loads(raw)
            except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
                yield number, None, "not JSON", raw
                continue
            if not isinstance(value, dict) or set(value) != set(FIELDS):
                yield number, None, "not a log entry (fields differ)", raw
                continue
            yield number, value, "", raw


def chain(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, list[str]]]:
    """Each line with the problems of its place in the hash chain: unreadable, edited (its
    hash does not match its content), out of sequence, not linked to the entry before it."""
    prev = GENESIS
    seq = 0
    for number, entry, problem, raw in _lines(path):
        if entry is None:
            yield number, None, [f"line {number}: {problem}"]
            continue
        problems = []
        if not _line_hash_matches(raw, entry):
            problems.append(f"line {number} (seq {entry['seq']}): edited: its hash does not match its content")
        if entry["seq"] != seq + 1:
            problems.append(f"line {number}: seq {entry['seq']} follows seq {seq}: entries removed or reordered")
        elif entry["prev"] != prev:
            problems.append(f"line {number} (seq {entry['seq']}): does not chain to the entry before it")
        if isinstance(entry["seq"], int) and not isinstance(entry["seq"], bool):
            seq = entry["seq"]
        prev = str(entry["hash"])
        yield number, entry, problems


def verify(path: Path, *, expected_count: int | None = None, expected_head: str | None = None,
           issued_serials: set[str] | None = None) -> LogReport:
    """Check the chain alone; with the inventory's figures, also that nothing was cut off
    the end and that every certificate in the inventory was logged. (`pki.records.audit`
    also rebuilds the inventory from the log and compares it row by row.)"""
    problems: list[str] = []
    count = 0
    prev = GENESIS
    logged: set[str] = set()
    for _number, entry, found in chain(path):
        count += 1
        problems += found
        if entry is None:
            continue
        prev = str(entry["hash"])
        if entry["event"] in COMPLETIONS and entry["serial"]:
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
