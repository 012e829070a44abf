"""`auditor fleet collect` and `auditor fleet status`: the fleet seen from a workstation.

`collect` asks each target's agent to collect now (a request on `audit.collect.<target>`
carrying a fresh request id; the agent answers at once) and, when asked to wait, listens on
`audit.findings.>` for the workers' `auditor.scan` (or `auditor.refused`) events carrying that
request id. `status` gathers the agents' answers to `audit.agents.ping`, the last message of
each target in stream AUDIT_EVIDENCE, and the work consumer's lag.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor._exitcodes import ExitCode
from auditor._remote import wire
from auditor._remote.connection import NatsSettings, describe_error
from auditor.errors import CollectionError

REQUEST_TIMEOUT = 5.0
MAX_EVENT_BYTES = 1024 * 1024
MAX_STATUS_SUBJECTS = 500


class FleetError(CollectionError):
    """NATS could not be reached or answered wrongly (exit 3: no verdict could be had)."""


@dataclass
class TargetVerdict:
    target: str
    request_id: str
    exit_code: int = int(ExitCode.COLLECTION_FAILED)
    accepted: bool = False
    note: str = ""
    event: dict[str, Any] | None = None
    done: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "request_id": self.request_id, "accepted": self.accepted,
                "exit_code": self.exit_code, "note": self.note or None, "event": self.event}


@dataclass
class CollectRun:
    verdicts: list[TargetVerdict] = field(default_factory=list)
    waited: float | None = None

    @property
    def exit_code(self) -> int:
        from auditor._fleet import worst_exit_code

        return worst_exit_code(v.exit_code for v in self.verdicts)

    def to_dict(self) -> dict[str, Any]:
        return {"format": "auditor-fleet-collect", "version": 1, "exit_code": self.exit_code,
                "waited": self.waited, "targets": [v.to_dict() for v in self.verdicts]}


Report = Callable[[TargetVerdict], None]


async def collect(settings: NatsSettings, targets: Sequence[str], *, wait: float | None = None,
                  report: Report | None = None) -> CollectRun:
    """Ask every target's agent to collect; with `wait`, gather the stored verdicts for that long."""
    try:
        nc = await settings.connect(reconnect=False)
    except Exception as exc:
        raise FleetError(f"cannot connect to {settings.shown}: {describe_error(exc, settings)}") from None
    run = CollectRun(waited=wait)
    by_request = {}
    for name in targets:
        verdict = TargetVerdict(name, uuid.uuid4().hex)
        run.verdicts.append(verdict)
        by_request[verdict.request_id] = verdict
    finished = asyncio.Event()

    def settle(verdict: TargetVerdict) -> None:
        verdict.done = True
        if report is not None:
            report(verdict)
        if all(v.done for v in run.verdicts):
            finished.set()

    async def on_event(msg: Any) -> None:
        if len(msg.data) > MAX_EVENT_BYTES:
            return
        try:
            event = json.loads(msg.data)
        except (ValueError, UnicodeDecodeError):
            return
        if not isinstance(event, dict):
            return
        verdict = by_request.get(str(event.get("request_id")))
        if verdict is None or verdict.done or event.get("target") != verdict.target:
            return
        if event.get("type") == "auditor.scan" and isinstance(event.get("exit_code"), int):
            verdict.exit_code, verdict.event = int(event["exit_code"]), event
            settle(verdict)
        elif event.get("type") == "auditor.refused":
            verdict.exit_code, verdict.event = int(ExitCode.COLLECTION_FAILED), event
            verdict.note = f"refused by worker {event.get('worker')}: {event.get('reason')}"
            settle(verdict)

    try:
        if wait is not None:
            await nc.subscribe(wire.FINDINGS_ALL, cb=on_event)
            await nc.flush()
        host = socket.gethostname()

        async def ask(verdict: TargetVerdict) -> None:
            body = json.dumps({"request_id": verdict.request_id, "requested_by": host}).encode()
            try:
                reply = await nc.request(wire.collect_subject(verdict.target), body, timeout=REQUEST_TIMEOUT)
                answer = json.loads(reply.data)
            except Exception as exc:
                name = type(exc).__name__
                verdict.note = ("no agent answers for this target" if name == "NoRespondersError"
                                else f"the agent did not answer ({describe_error(exc, settings)})")
                settle(verdict)
                return
            if not isinstance(answer, dict) or not answer.get("accepted"):
                reason = answer.get("reason") if isinstance(answer, dict) else None
                verdict.note = f"the agent turned the request down: {reason or 'no reason given'}"
                settle(verdict)
                return
            verdict.accepted = True
            if wait is None:
                verdict.exit_code, verdict.note = int(ExitCode.OK), f"requested from agent {answer.get('agent')}"
                settle(verdict)

        await asyncio.gather(*(ask(v) for v in run.verdicts))
        if wait is not None and not finished.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(finished.wait(), wait)
        for v in run.verdicts:
            if not v.done:
                v.note = f"no verdict within {wait:g}s (the agent accepted the request)"
                settle(v)
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
    return run


async def status(settings: NatsSettings, *, listen: float = 1.0) -> dict[str, Any]:
    """The agents that answer within `listen` seconds, the stream's targets and the consumer's lag."""
    from nats.js.errors import NotFoundError

    try:
        nc = await settings.connect(reconnect=False)
    except Exception as exc:
        raise FleetError(f"cannot connect to {settings.shown}: {describe_error(exc, settings)}") from None
    agents: list[dict[str, Any]] = []
    out: dict[str, Any] = {"format": "auditor-fleet-status", "version": 1, "nats": settings.shown}
    try:
        async def on_agent(msg: Any) -> None:
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                answer = json.loads(msg.data)
                if isinstance(answer, dict) and answer.get("type") == "auditor.agent":
                    agents.append(answer)

        inbox = nc.new_inbox()
        await nc.subscribe(inbox, cb=on_agent)
        await nc.publish(wire.AGENTS_PING, b"{}", reply=inbox)
        await nc.flush()
        await asyncio.sleep(listen)
        out["agents"] = sorted(agents, key=lambda a: (str(a.get("target")), str(a.get("host"))))
        js = nc.jetstream(timeout=REQUEST_TIMEOUT)
        try:
            info = await js.stream_info(wire.STREAM, subjects_filter=wire.EVIDENCE + ".>")
        except NotFoundError:
            out["stream"] = None
            out["targets"] = []
            out["consumer"] = None
            return out
        subjects = dict(sorted((info.state.subjects or {}).items()))
        out["stream"] = {"name": wire.STREAM, "messages": info.state.messages, "bytes": info.state.bytes,
                         "first_seq": info.state.first_seq, "last_seq": info.state.last_seq}
        rows = []
        for subject, count in list(subjects.items())[:MAX_STATUS_SUBJECTS]:
            row: dict[str, Any] = {"subject": subject, "target": subject.removeprefix(wire.EVIDENCE + "."),
                                   "messages": count}
            with contextlib.suppress(Exception):
                last = await js.get_last_msg(wire.STREAM, subject)
                headers = last.headers or {}
                row.update(last_seq=last.seq, last_at=last.time.isoformat().replace("+00:00", "Z") if last.time else None,
                           bundle_digest=headers.get("Nats-Msg-Id"), request_id=headers.get(wire.HEADER_REQUEST) or None)
            rows.append(row)
        out["targets"] = rows
        out["targets_not_shown"] = max(0, len(subjects) - MAX_STATUS_SUBJECTS)
        try:
            ci = await js.consumer_info(wire.STREAM, wire.CONSUMER)
            out["consumer"] = {
                "name": wire.CONSUMER,
                "pending": ci.num_pending,
                "ack_pending": ci.num_ack_pending,
                "redelivered": ci.num_redelivered,
                "waiting_pulls": ci.num_waiting,
                "delivered_seq": ci.delivered.stream_seq if ci.delivered else None,
                "ack_floor_seq": ci.ack_floor.stream_seq if ci.ack_floor else None,
                "lag": (ci.num_pending or 0) + (ci.num_ack_pending or 0),
            }
        except NotFoundError:
            out["consumer"] = None
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
    return out


async def consumer_lag(js: Any) -> tuple[int, int]:
    """(pending, ack pending) of the work consumer."""
    ci = await js.consumer_info(wire.STREAM, wire.CONSUMER)
    return int(ci.num_pending or 0), int(ci.num_ack_pending or 0)


def monotonic() -> float:
    return time.monotonic()
