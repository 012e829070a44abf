"""`auditor worker`: verify, evaluate and store the fleet's signed evidence.

A worker pulls from the durable JetStream consumer `auditor-workers` of stream AUDIT_EVIDENCE
(creating both if missing), so any number of workers on any machines share the work and each
message goes to one of them. Each message is handled in a process of a pool of
`--concurrency` processes: inflated with a bound, its signature, certificate chain and names
checked (auditor._remote.envelope) against the worker's own inventory, its age checked, then
evaluated with the worker's rules and the target's policies as the worker's inventory gives
them (never as the node's bundle says). The worker then stores the scan in the history in one
transaction that also refuses a replay (a bundle collected before the last accepted one of its
target) and recognises a bundle already stored (by digest: a redelivery makes no second
scan), and only then acknowledges the message. Events follow on `audit.findings.<target>`:
`auditor.scan` for the stored verdict, `auditor.regression` when new failures appear,
`auditor.refused` for evidence not accepted.

While a scan is stored, the pool evaluates the next messages: a worker holds at most twice
`--concurrency` messages, at most `--concurrency` of them being evaluated.

A message is kept alive (in progress) while it is evaluated; one whose worker dies is
redelivered after the consumer's ack wait to another worker. Refused evidence is terminated
(never redelivered, never stored). A store failure is negatively acknowledged and retried
after a delay; after `max_deliver` deliveries JetStream gives up on a message, which is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import multiprocessing
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor._exitcodes import result_exit_code
from auditor._history import Provenance, Store
from auditor._inventory.model import Inventory, Target
from auditor._models import RedactedResult, Severity
from auditor._remote import wire
from auditor._remote.connection import NatsSettings, close, connect_unless_stopped, describe_error
from auditor._remote.envelope import Refused, Trust, open_sealed
from auditor._scan import EvaluateOptions
from auditor.errors import AuditorError

log = logging.getLogger("auditor.worker")

HELD = 2
"""Messages a worker holds, at most, per process of its pool: one evaluated, one stored."""


@dataclass(frozen=True)
class WorkerOptions:
    concurrency: int = 2
    """Messages evaluated at once (processes)."""
    ack_wait: float = 60.0
    """Seconds JetStream waits for an acknowledgement before redelivering (a new consumer's)."""
    max_deliver: int = 10
    max_age: float = 7 * 86400.0
    """Evidence collected longer ago than this is refused as stale."""
    max_skew: float = 300.0
    """Evidence dated further than this in the future is refused."""
    threshold: Severity | None = None
    """New failures at or above this are a regression (default: the scan's fail_on)."""
    fetch_wait: float = 2.0
    store_retry: float = 5.0
    """Seconds before a message whose scan could not be stored is delivered again."""
    stream_max_age: float = 7 * 86400.0
    stream_max_per_target: int = 20


@dataclass(frozen=True)
class InventorySource:
    """How a pool process finds the worker's inventory: a file, or the embedded demo."""

    path: str | None
    demo: bool = False

    def load(self) -> Inventory:
        from auditor._inventory import load_inventory

        if self.demo:
            from auditor._demo import demo_inventory

            return demo_inventory()
        assert self.path is not None
        return load_inventory(Path(self.path))


@dataclass(frozen=True)
class Evaluated:
    result: RedactedResult
    exit_code: int
    provenance: Provenance
    seconds: float


@dataclass(frozen=True)
class NotAccepted:
    target: str
    reason: str


# -- in a pool process ---------------------------------------------------------------------------


@dataclass
class _Judge:
    targets: dict[str, Target]
    trusts: dict[str, Trust]
    evaluate: EvaluateOptions
    catalog: Any
    options: WorkerOptions


_JUDGE: _Judge | None = None


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(70)


def _start(source: InventorySource, evaluate: EvaluateOptions, options: WorkerOptions, parent: int) -> None:
    """Pool process initializer: load the inventory, trust anchors and rules once."""
    global _JUDGE
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    _JUDGE = make_judge(source.load(), evaluate, options)


def _ready() -> bool:
    time.sleep(0.2)  # long enough for every process of the pool to be asked
    return _JUDGE is not None


def make_judge(inventory: Inventory, evaluate: EvaluateOptions, options: WorkerOptions) -> _Judge:
    from auditor._policy.catalog import Catalog

    targets = {wire.token(t.name): t for t in inventory.targets}
    trusts = {wire.token(t.name): Trust.load(t.name, t.names, t.evidence_anchors) for t in inventory.targets}
    catalog = Catalog.load([*inventory.rule_paths, *evaluate.rule_paths], [*inventory.policy_paths, *evaluate.policy_paths])
    return _Judge(targets, trusts, evaluate, catalog, options)


def judge(subject: str, data: bytes, judge_state: _Judge | None = None) -> Evaluated | NotAccepted:
    """Verify and evaluate one evidence message (in a pool process)."""
    from auditor._remote.envelope import _short

    state = judge_state or _JUDGE
    assert state is not None, "the pool process was not initialised"
    token = subject.removeprefix(wire.EVIDENCE + ".")
    target = state.targets.get(token)
    if target is None:
        return NotAccepted(_short(token), f"no target '{_short(token)}' in the worker's inventory")
    started = time.monotonic()
    now = dt.datetime.now(dt.UTC)
    try:
        opened = open_sealed(wire.unpack(data), state.trusts[token], now=now)
        collected = dt.datetime.fromisoformat(opened.collected_at.replace("Z", "+00:00"))
        if collected.tzinfo is None:
            raise Refused("the bundle's created_at has no time zone")
        if (collected - now).total_seconds() > state.options.max_skew:
            raise Refused(f"collected at {opened.collected_at}, in the future (more than "
                          f"{state.options.max_skew:g}s ahead of this worker's clock)")
        if (now - collected).total_seconds() > state.options.max_age:
            raise Refused(f"stale: collected at {opened.collected_at}, more than {state.options.max_age:g}s ago")
    except Refused as exc:
        return NotAccepted(target.name, exc.diagnostics())
    except ValueError:
        return NotAccepted(target.name, "the bundle's created_at is not an RFC 3339 time")
    result = evaluate_for(target, opened.bundle, state)
    provenance = Provenance(opened.digest, target.name, opened.collected_at, opened.signer, opened.request_id)
    return Evaluated(result, result_exit_code(result), provenance, time.monotonic() - started)


def evaluate_for(target: Target, bundle: Any, state: _Judge) -> RedactedResult:
    from auditor._scan import evaluate_bundle

    return evaluate_bundle(bundle, state.evaluate, catalog=state.catalog, target=target.describe())


# -- the worker ---------------------------------------------------------------------------------


def stream_config(options: WorkerOptions) -> Any:
    from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

    return StreamConfig(
        name=wire.STREAM,
        subjects=[wire.EVIDENCE + ".>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=options.stream_max_age,
        max_msgs_per_subject=options.stream_max_per_target,
        duplicate_window=120.0,
    )


def consumer_config(options: WorkerOptions) -> Any:
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    return ConsumerConfig(
        durable_name=wire.CONSUMER,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=options.ack_wait,
        max_deliver=options.max_deliver,
        filter_subject=wire.EVIDENCE + ".>",
        max_ack_pending=max(64, options.concurrency * 4),
    )


async def ensure_stream(js: Any, options: WorkerOptions) -> float:
    """Create stream AUDIT_EVIDENCE and consumer auditor-workers unless they exist (an existing
    one is used as it is: an operator may have tuned it); return the consumer's ack wait."""
    from nats.js.errors import NotFoundError

    try:
        await js.stream_info(wire.STREAM)
    except NotFoundError:
        await js.add_stream(stream_config(options))
        log.info("created stream %s (%s.>)", wire.STREAM, wire.EVIDENCE)
    try:
        info = await js.consumer_info(wire.STREAM, wire.CONSUMER)
        if info.config.ack_wait and abs(info.config.ack_wait - options.ack_wait) > 0.5:
            log.info("consumer %s exists with ack wait %gs (kept)", wire.CONSUMER, info.config.ack_wait)
        return float(info.config.ack_wait or options.ack_wait)
    except NotFoundError:
        await js.add_consumer(wire.STREAM, consumer_config(options))
        log.info("created durable consumer %s (ack wait %gs, at most %d deliveries)", wire.CONSUMER,
                 options.ack_wait, options.max_deliver)
        return options.ack_wait


class Worker:
    def __init__(
        self,
        source: InventorySource,
        store: Store,
        nats: NatsSettings,
        *,
        evaluate: EvaluateOptions | None = None,
        options: WorkerOptions | None = None,
    ) -> None:
        self.source = source
        self.store = store
        self.nats = nats
        self.evaluate = evaluate or EvaluateOptions()
        self.options = options or WorkerOptions()
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.stop = asyncio.Event()
        self.stored = 0
        self.refused = 0
        self.duplicates = 0
        self._pool: ProcessPoolExecutor | None = None
        self._nc: Any = None
        self.ack_wait = self.options.ack_wait
        """The consumer's (an existing consumer keeps its own)."""
        self._judging = 0
        """Messages in hand not yet judged (evaluated in the pool, or waiting for it)."""
        self._judged: asyncio.Event | None = None
        """Set as each message's judging ends: a process of the pool is free for another."""

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.options.concurrency,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(self.source, self.evaluate, self.options, os.getpid()),
        )

    async def run(self) -> int:
        """Work until stopped; return the number of scans stored."""
        nc = self._nc = await connect_unless_stopped(self.nats, self.stop, log)
        if nc is None:
            return self.stored
        js = nc.jetstream()
        log.info("worker %s connected to %s; history at %s; %d at once", self.name, self.nats.shown,
                 self.store.location, self.options.concurrency)
        self._pool = self._new_pool()
        await self._warm()
        inflight: set[asyncio.Task[None]] = set()
        judged = self._judged = asyncio.Event()
        stopped = asyncio.create_task(self.stop.wait())
        try:
            sub = await self._subscribe(js)
            while not self.stop.is_set() and sub is not None:
                # a process of the pool is free once a message is judged: the next is evaluated
                # while that one is stored (at most HELD x concurrency messages in hand)
                concurrency = self.options.concurrency
                free = min(concurrency - self._judging, HELD * concurrency - len(inflight))
                if free <= 0:
                    judged.clear()
                    freed = asyncio.create_task(judged.wait())
                    try:
                        await asyncio.wait({*inflight, stopped, freed}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        freed.cancel()
                    continue
                try:
                    messages = await sub.fetch(free, timeout=self.options.fetch_wait)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if type(exc).__name__ != "TimeoutError":
                        log.warning("fetching from %s: %s", wire.CONSUMER, describe_error(exc, self.nats))
                        await self._pause(1.0)
                    continue
                for msg in messages:
                    self._judging += 1
                    task = asyncio.create_task(self._handle(msg))
                    inflight.add(task)
                    task.add_done_callback(inflight.discard)
        finally:
            stopped.cancel()
            if inflight:
                log.info("stopping: %d message(s) in hand; unacknowledged ones go to another worker", len(inflight))
                await asyncio.wait(inflight, timeout=30)
            self._pool.shutdown(wait=False, cancel_futures=True)
            await close(nc)
        return self.stored

    async def _warm(self) -> None:
        """Start the pool's processes (each loads the inventory, anchors and rules) before work comes."""
        assert self._pool is not None
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        await asyncio.gather(*(loop.run_in_executor(self._pool, _ready) for _ in range(self.options.concurrency)))
        log.info("%d evaluating process(es) ready in %.1fs", self.options.concurrency, time.monotonic() - started)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), seconds)

    async def _subscribe(self, js: Any) -> Any:
        delay = 1.0
        while not self.stop.is_set():
            try:
                self.ack_wait = await ensure_stream(js, self.options)
                return await js.pull_subscribe_bind(durable=wire.CONSUMER, stream=wire.STREAM)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("cannot set up stream %s: %s; retrying in %gs", wire.STREAM,
                            describe_error(exc, self.nats), delay)
                await self._pause(delay)
                delay = min(delay * 2, 30.0)
        return None

    async def _keep_alive(self, msg: Any) -> None:
        while True:
            await asyncio.sleep(max(0.5, self.ack_wait / 3))
            with contextlib.suppress(Exception):
                await msg.in_progress()

    async def _handle(self, msg: Any) -> None:
        """Judge and store one message (counted in _judging by the loop that took it)."""
        released = False

        def judged() -> None:
            """The message's judging has ended (once, however it ended)."""
            nonlocal released
            if not released:
                released = True
                self._judging -= 1
                if self._judged is not None:
                    self._judged.set()

        delivered = getattr(getattr(msg, "metadata", None), "num_delivered", 1) or 1
        log.info("evaluating %s (delivery %d, %d bytes)", msg.subject, delivered, len(msg.data))
        alive = asyncio.create_task(self._keep_alive(msg))
        try:
            await self._judge_and_store(msg, judged)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug must not end the worker: the message is retried later
            log.exception("%s: unexpected error; the message will be delivered again", msg.subject)
            with contextlib.suppress(Exception):
                await msg.nak(delay=self.options.store_retry)
            if delivered >= self.options.max_deliver:
                log.error("%s: delivered %d times; JetStream gives up on it", msg.subject, delivered)
        finally:
            judged()
            alive.cancel()

    async def _judge_and_store(self, msg: Any, judged: Callable[[], None]) -> None:
        """Judge `msg` in the pool (`judged` called as that ends), then store and acknowledge it."""
        assert self._pool is not None
        loop = asyncio.get_running_loop()
        header_request = (msg.headers or {}).get(wire.HEADER_REQUEST) or None
        try:
            try:
                verdict = await loop.run_in_executor(self._pool, judge, msg.subject, msg.data)
            finally:
                judged()
        except BrokenProcessPool:
            log.error("%s: an evaluating process died; restarting the pool, the message will be delivered again",
                      msg.subject)
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            await msg.nak(delay=self.options.store_retry)
            return
        if isinstance(verdict, NotAccepted):
            self.refused += 1
            log.warning("refused evidence on %s: %s", msg.subject, verdict.reason)
            await msg.term()
            await self._publish(verdict.target, wire.refused_event(verdict.target, verdict.reason,
                                                                    request_id=_safe_id(header_request), worker=self.name))
            return
        try:
            outcome = await asyncio.to_thread(self.store.save_signed, verdict.result, origin="worker",
                                              exit_code=verdict.exit_code, provenance=verdict.provenance)
        except AuditorError as exc:
            log.error("%s: cannot store the scan: %s; the message will be delivered again in %gs",
                      msg.subject, exc.diagnostics(), self.options.store_retry)
            await msg.nak(delay=self.options.store_retry)
            return
        p = verdict.provenance
        if outcome.status == "replayed":
            self.refused += 1
            reason = f"replayed: {outcome.reason}"
            log.warning("refused evidence on %s: %s", msg.subject, reason)
            await msg.term()
            await self._publish(p.target, wire.refused_event(p.target, reason, request_id=p.request_id, worker=self.name))
            return
        await msg.ack()
        assert outcome.scan_id is not None
        if outcome.status == "duplicate":
            self.duplicates += 1
            log.info("%s: bundle sha256:%s %s (a redelivery); acknowledged", p.target, p.bundle_digest, outcome.reason)
        else:
            self.stored += 1
            log.info("%s: scan %d stored (exit %d, %d failure(s) at or above %s, sha256:%s, %.1fs)", p.target,
                     outcome.scan_id, verdict.exit_code, len(verdict.result.failures()),
                     verdict.result.fail_on.value, p.bundle_digest[:16], verdict.seconds)
        await self._publish(p.target, wire.scan_event(
            verdict.result, scan_id=outcome.scan_id, exit_code=verdict.exit_code, request_id=p.request_id,
            collected_at=p.collected_at, worker=self.name, duplicate=outcome.status == "duplicate"))
        if outcome.status == "stored":
            event = await asyncio.to_thread(self._regression, verdict.result, outcome.scan_id)
            if event is not None:
                await self._publish(p.target, event)

    def _regression(self, result: RedactedResult, scan_id: int) -> Mapping[str, Any] | None:
        from auditor._history.diff import diff_results
        from auditor._schedule.notify import regression_event

        try:
            previous = self.store.previous(scan_id)
            if previous is None:
                return None
            diff = diff_results(self.store.result(previous.id), result, before_id=previous.id, after_id=scan_id)
        except AuditorError as exc:
            log.warning("%s: cannot compare with the previous scan: %s", result.target.get("name"), exc.diagnostics())
            return None
        threshold = self.options.threshold or result.fail_on
        if not diff.regressions(threshold):
            return None
        log.warning("%s: regression: %d new failure(s) at or above %s since scan %d", result.target.get("name"),
                    len(diff.regressions(threshold)), threshold.value, previous.id)
        return regression_event(diff, threshold, scan_id=scan_id)

    async def _publish(self, target: str, event: Mapping[str, Any]) -> None:
        try:
            await self._nc.publish(wire.findings_subject(target), wire.encode_event(event),
                                   headers={"Content-Type": "application/json"})
        except Exception as exc:
            log.warning("%s: event %s not published: %s", target, event.get("type"), describe_error(exc, self.nats))


def _safe_id(value: str | None) -> str | None:
    from auditor._remote.agent import REQUEST_ID

    return value if value and REQUEST_ID.match(value) else None
