"""`auditor agent`: the node's agent. It collects, signs and publishes; it evaluates nothing.

It answers collection requests on `audit.collect.<target>` (at once, saying it will collect),
and collects on its own on the target's schedules when the inventory gives any. Each
collection runs the existing collectors in a child process with a time limit (a hanging
collector is killed, the agent goes on), is sealed into signed evidence with the node's key
(auditor._remote.envelope) and published to JetStream stream AUDIT_EVIDENCE on
`audit.evidence.<target>`, with the bundle's digest as `Nats-Msg-Id` so that a publication
retried after a lost acknowledgement is stored once. A publication that fails (no stream yet,
no connection) is retried with exponential backoff. The agent answers `audit.agents.ping`
with what it is and what it published last (`auditor fleet status`).

Requests are served one at a time, in order; a few wait in a queue, more are turned down
("busy"). The NATS connection reconnects for ever. SIGTERM (stop) ends waits at once, kills a
collection in progress, and closes the connection after flushing what was published.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import pickle
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor import __version__
from auditor._exitcodes import ExitCode
from auditor._inventory.model import Target
from auditor._remote import wire
from auditor._remote.connection import NatsSettings, close, connect_unless_stopped, describe_error
from auditor._remote.envelope import Signer, seal
from auditor._schedule import Schedule
from auditor._timeutil import rfc3339, utcnow
from auditor.errors import AuditorError, CollectionError
from auditor.evidence.bundle import Bundle

log = logging.getLogger("auditor.agent")

QUEUE_LIMIT = 8
MAX_REQUEST_BYTES = 4096
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
MAX_CHILD_OUTPUT = 512 * 1024 * 1024


@dataclass(frozen=True)
class AgentOptions:
    collect_timeout: float = 600.0
    """Seconds one collection may take."""
    backoff: float = 1.0
    """First delay before retrying a publication; doubled each time."""
    max_backoff: float = 60.0
    publish_timeout: float = 10.0


@dataclass(frozen=True)
class Request:
    request_id: str | None
    why: str
    """"request" (audit.collect) or "schedule NAME"."""


@dataclass
class Published:
    digest: str
    collected_at: str
    published_at: str
    request_id: str | None
    sequence: int | None


@dataclass
class _State:
    started_at: str = field(default_factory=lambda: rfc3339(utcnow()))
    collecting: Request | None = None
    last: Published | None = None
    published: int = 0


# -- collecting in a child process --------------------------------------------------------------


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(int(ExitCode.INTERNAL))


def collect_child() -> None:
    """The collecting process: a pickled Target on stdin, ("ok", Bundle) or ("error", text) out."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints go to stderr, not into the reply
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    target = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 - from our own parent
    from auditor._scan import collect_here

    reply: tuple[Any, ...]
    try:
        reply = ("ok", collect_here(target))  # on the node itself, whatever the target's `ssh` says
    except AuditorError as exc:
        reply = ("error", exc.diagnostics())
    except Exception as exc:
        reply = ("error", f"internal error: {type(exc).__name__}: {exc}")
    out.write(pickle.dumps(reply))
    out.close()


async def collect_isolated(target: Target, timeout: float) -> Bundle:
    """`target`'s bundle, collected by a child process that is killed at `timeout` or on cancel."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from auditor._remote.agent import collect_child; collect_child()",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, start_new_session=True,
        limit=MAX_CHILD_OUTPUT,
    )
    try:
        reply, _ = await asyncio.wait_for(proc.communicate(pickle.dumps(target)), timeout)
    except TimeoutError:
        raise CollectionError(f"the collection did not finish within {timeout:g} s and was stopped") from None
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGKILL)
            with contextlib.suppress(Exception):
                await proc.wait()
    try:
        message = pickle.loads(reply)  # noqa: S301 - from our own child
    except Exception:
        raise CollectionError(f"the collecting process ended unexpectedly (exit {proc.returncode})") from None
    if message[0] != "ok":
        raise CollectionError(str(message[1]))
    bundle: Bundle = message[1]
    return bundle


# -- the agent ----------------------------------------------------------------------------------


class Agent:
    def __init__(
        self,
        target: Target,
        signer: Signer,
        nats: NatsSettings,
        *,
        schedules: Sequence[Schedule] = (),
        options: AgentOptions | None = None,
    ) -> None:
        self.target = target
        self.signer = signer
        self.nats = nats
        self.schedules = [s for s in schedules if any(t.name == target.name for t in s.targets)]
        self.options = options or AgentOptions()
        self.host = socket.gethostname()
        self.queue: asyncio.Queue[Request] = asyncio.Queue(QUEUE_LIMIT)
        self.state = _State()
        self.stop = asyncio.Event()
        self._nc: Any = None

    async def run(self) -> int:
        """Serve until stopped; return the number of bundles published."""
        nc = await connect_unless_stopped(self.nats, self.stop, log)
        if nc is None:
            return self.state.published
        log.info("agent for %s connected to %s; signing as %s", self.target.name, self.nats.shown,
                 self.signer.chain[0].subject.rfc4514_string())
        subject = wire.collect_subject(self.target.name)
        self._nc = nc
        await nc.subscribe(subject, queue=f"auditor-agent.{wire.token(self.target.name)}", cb=self._on_collect)
        await nc.subscribe(wire.AGENTS_PING, cb=self._on_ping)
        for s in self.schedules:
            log.info("schedule %s: %s (UTC)", s.name, s.cron.text)
        tasks = [asyncio.create_task(self._serve(nc))] + [asyncio.create_task(self._timer(s)) for s in self.schedules]
        try:
            await self.stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await close(nc)
        return self.state.published

    async def _reply(self, msg: Any, document: dict[str, Any]) -> None:
        if msg.reply and self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.publish(msg.reply, wire.encode_event(document))

    async def _on_collect(self, msg: Any) -> None:
        request_id = None
        if len(msg.data) <= MAX_REQUEST_BYTES:
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                body = json.loads(msg.data or b"{}")
                rid = body.get("request_id") if isinstance(body, dict) else None
                request_id = rid if isinstance(rid, str) and REQUEST_ID.match(rid) else None
        answer: dict[str, Any] = {"type": "auditor.collect.reply", "target": self.target.name,
                                  "request_id": request_id, "agent": self.host}
        try:
            self.queue.put_nowait(Request(request_id, "request"))
            answer.update(accepted=True, queued=self.queue.qsize())
            log.info("collection requested (request %s)", request_id or "without id")
        except asyncio.QueueFull:
            answer.update(accepted=False, reason=f"busy: {QUEUE_LIMIT} collections already wait")
            log.warning("collection request %s turned down: %d already wait", request_id, QUEUE_LIMIT)
        await self._reply(msg, answer)

    async def _on_ping(self, msg: Any) -> None:
        last = self.state.last
        await self._reply(msg, {
            "type": "auditor.agent",
            "target": self.target.name,
            "host": self.host,
            "version": __version__,
            "started_at": self.state.started_at,
            "signer": self.signer.chain[0].subject.rfc4514_string(),
            "collecting": self.state.collecting is not None,
            "queued": self.queue.qsize(),
            "published": self.state.published,
            "schedules": [s.cron.text for s in self.schedules],
            "last": None if last is None else {
                "bundle_digest": last.digest, "collected_at": last.collected_at,
                "published_at": last.published_at, "request_id": last.request_id, "stream_seq": last.sequence,
            },
        })

    async def _timer(self, schedule: Schedule) -> None:
        while True:
            now = dt.datetime.now(dt.UTC)
            delay = (schedule.cron.next_after(now) - now).total_seconds()
            await asyncio.sleep(max(0.0, delay))
            try:
                self.queue.put_nowait(Request(f"schedule-{uuid.uuid4().hex[:12]}", f"schedule {schedule.name}"))
            except asyncio.QueueFull:
                log.warning("schedule %s: skipped, %d collections already wait", schedule.name, QUEUE_LIMIT)

    async def _serve(self, nc: Any) -> None:
        while True:
            request = await self.queue.get()
            self.state.collecting = request
            try:
                await self._collect_and_publish(nc, request)
            except asyncio.CancelledError:
                raise
            except AuditorError as exc:
                log.error("collection (%s) failed: %s", request.why, exc.diagnostics())
            except Exception:  # a bug must not end the agent
                log.exception("collection (%s): unexpected error", request.why)
            finally:
                self.state.collecting = None

    async def _collect_and_publish(self, nc: Any, request: Request) -> None:
        started = time.monotonic()
        bundle = await collect_isolated(self.target, self.options.collect_timeout)
        document = seal(bundle, self.signer, request_id=request.request_id,
                        agent={"host": self.host, "version": __version__})
        data = wire.pack(document)
        log.info("collected %d records, %d collection errors in %.1fs; bundle sha256:%s (%d bytes sent)",
                 len(bundle.records), len(bundle.errors), time.monotonic() - started, bundle.digest, len(data))
        limit = nc.max_payload
        if limit and len(data) > limit:
            raise CollectionError(f"the signed bundle is {len(data)} bytes, more than the server's max_payload "
                                  f"({limit}); raise max_payload (see docs/fleet.md)")
        headers = {
            "Nats-Msg-Id": bundle.digest,
            "Content-Type": wire.CONTENT_TYPE,
            "Content-Encoding": "gzip",
            wire.HEADER_REQUEST: request.request_id or "",
        }
        js = nc.jetstream(timeout=self.options.publish_timeout)
        delay = self.options.backoff
        subject = wire.evidence_subject(self.target.name)
        while True:
            try:
                ack = await js.publish(subject, data, headers=headers, timeout=self.options.publish_timeout)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("cannot publish on %s: %s; retrying in %gs", subject, describe_error(exc, self.nats), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.options.max_backoff)
        self.state.published += 1
        self.state.last = Published(bundle.digest, bundle.created_at, rfc3339(utcnow()), request.request_id,
                                    getattr(ack, "seq", None))
        log.info("published sha256:%s on %s (stream %s seq %s%s; %s)", bundle.digest, subject,
                 getattr(ack, "stream", "?"), getattr(ack, "seq", "?"),
                 ", a duplicate" if getattr(ack, "duplicate", False) else "",
                 f"request {request.request_id}" if request.request_id else request.why)
