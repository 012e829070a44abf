"""`auditor serve`: run the inventory's schedules, store every scan, raise regression events.

One loop waits for the next schedule to come due and hands each of its targets to a worker
thread, unless that target's previous run is still going (runs of one target never overlap).
A worker waits a random jitter, scans the target in a child process (auditor._fleet) with a
time limit, retries a scan that failed or came back incomplete with exponential backoff, and
stores the result in one transaction. When the new scan has failures at or above the
threshold that the target's previous stored scan did not have, the notifiers get an event.

Stopping (`stop`, set on SIGTERM): no new runs start, waits end at once, running scans get
`grace` seconds to finish and be stored; then `abort` kills what is left. A scan is either
stored whole or not at all, so neither a clean stop nor a kill loses a stored scan.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from auditor._exitcodes import ExitCode
from auditor._fleet import TargetRun, run_isolated
from auditor._history import Store
from auditor._history.diff import diff_results
from auditor._inventory.model import Target
from auditor._models import Severity
from auditor._scan import EvaluateOptions
from auditor._schedule import Schedule
from auditor._schedule.notify import Notifier, notify_all, regression_event
from auditor.errors import AuditorError

log = logging.getLogger("auditor.serve")

MAX_AUTO_JITTER_SECONDS = 60.0
STORE_ATTEMPTS = 4
_IDLE_RECHECK_SECONDS = 60.0


@dataclass(frozen=True)
class ServeOptions:
    concurrency: int = 4
    """Scans running at once, over all targets."""
    timeout: float = 600.0
    """Seconds one scan may take."""
    jitter: float | None = None
    """Largest random delay before a run; None: a tenth of the schedule's interval, at most 60s."""
    retries: int = 2
    """Further attempts after a scan that failed or came back incomplete."""
    backoff: float = 10.0
    """Seconds before the first retry; doubled for each further one."""
    grace: float = 30.0
    """Seconds running scans get to finish after a stop is asked for."""
    threshold: Severity | None = None
    """Severity from which a new failure is a regression; default the scan's fail_on."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Server:
    def __init__(
        self,
        schedules: Sequence[Schedule],
        store: Store,
        *,
        evaluate: EvaluateOptions | None = None,
        options: ServeOptions | None = None,
        notifiers: Sequence[Notifier] = (),
    ) -> None:
        self.schedules = list(schedules)
        self.store = store
        self.evaluate = evaluate or EvaluateOptions()
        self.options = options or ServeOptions()
        self.notifiers = list(notifiers)
        self.stop = threading.Event()
        """Set to stop: no new runs; running scans get the grace period."""
        self.abort = threading.Event()
        """Set to kill running scans at once."""
        self._lock = threading.Lock()
        self._running: set[str] = set()
        self.stored = 0

    def jitter_for(self, schedule: Schedule) -> float:
        if self.options.jitter is not None:
            return max(0.0, self.options.jitter)
        first = schedule.cron.next_after(_now())
        interval = (schedule.cron.next_after(first) - first).total_seconds()
        return min(MAX_AUTO_JITTER_SECONDS, interval / 10)

    def run(self) -> int:
        """Serve until `stop` is set; return the number of scans stored."""
        due = {s.name: s.cron.next_after(_now()) for s in self.schedules}
        futures: set[Future[None]] = set()
        with ThreadPoolExecutor(max_workers=max(1, self.options.concurrency), thread_name_prefix="auditor-serve") as pool:
            while not self.stop.is_set() and self.schedules:
                pause = (min(due.values()) - _now()).total_seconds()
                if pause > 0:
                    self.stop.wait(min(pause, _IDLE_RECHECK_SECONDS))
                    continue
                moment = _now()
                for s in self.schedules:
                    if due[s.name] <= moment:
                        futures |= self._fire(pool, s)
                        due[s.name] = s.cron.next_after(moment)
                futures = {f for f in futures if not f.done()}
            self._drain(futures)
        return self.stored

    def _fire(self, pool: ThreadPoolExecutor, schedule: Schedule) -> set[Future[None]]:
        started = set()
        jitter = self.jitter_for(schedule)
        for target in schedule.targets:
            with self._lock:
                if target.name in self._running:
                    log.info("%s: skipped (%s): its previous run is still going", target.name, schedule.name)
                    continue
                self._running.add(target.name)
            started.add(pool.submit(self._job, target, jitter))
        return started

    def _drain(self, futures: set[Future[None]]) -> None:
        pending = {f for f in futures if not f.done()}
        if pending:
            log.info("stopping: %d run(s) going; waiting up to %gs for them", len(pending), self.options.grace)
            _, pending = wait(pending, timeout=self.options.grace)
        if pending:
            log.warning("stopping: the grace period is over; killing %d scan(s) (not stored)", len(pending))
            self.abort.set()
            wait(pending, timeout=30)

    def _job(self, target: Target, jitter: float) -> None:
        try:
            if self.stop.wait(random.uniform(0, jitter)):  # noqa: S311 - jitter, not cryptography
                return
            run = self._scan(target)
            if run is not None and run.result is not None:
                self._record(target, run)
        except Exception:  # a bug must not end the server: log it and go on
            log.exception("%s: unexpected error in a scheduled run", target.name)
        finally:
            with self._lock:
                self._running.discard(target.name)

    def _scan(self, target: Target) -> TargetRun | None:
        opts = self.options
        run: TargetRun | None = None
        for attempt in range(opts.retries + 1):
            if self.stop.is_set() and run is not None:
                break
            log.info("%s: scan started (attempt %d of %d)", target.name, attempt + 1, opts.retries + 1)
            run = run_isolated(target, self.evaluate, timeout=opts.timeout, cancel=self.abort)
            complete = run.result is not None and run.exit_code != ExitCode.COLLECTION_FAILED
            if complete or run.exit_code == ExitCode.USAGE or self.abort.is_set():
                break
            why = run.error or "a required evidence source could not be collected"
            if attempt == opts.retries:
                log.warning("%s: %s; no retries left", target.name, why)
                break
            delay = opts.backoff * 2**attempt
            log.warning("%s: %s; retrying in %gs", target.name, why, delay)
            if self.stop.wait(delay):
                break
        if run is not None and run.result is None:
            log.error("%s: no result: %s", target.name, run.error)
        return run

    def _record(self, target: Target, run: TargetRun) -> None:
        assert run.result is not None
        result = run.result  # redacted when it was made: stored, compared and sent as it is
        previous = None
        scan_id = None
        for attempt in range(STORE_ATTEMPTS):
            try:
                entries = self.store.entries(target.name, limit=1)
                previous = entries[0] if entries else None
                scan_id = self.store.save(result, origin="serve", exit_code=run.exit_code)
                break
            except AuditorError as exc:
                delay = 2.0**attempt
                log.warning("%s: cannot store the scan: %s (attempt %d)", target.name, exc.diagnostics(), attempt + 1)
                if attempt + 1 < STORE_ATTEMPTS and not self.abort.wait(delay):
                    continue
                log.error("%s: the scan was not stored", target.name)
                return
        with self._lock:
            self.stored += 1
        failures = len(result.failures())
        log.info(
            "%s: scan %s stored (exit %d, %d failure(s) at or above %s, %.1fs)",
            target.name, scan_id, run.exit_code, failures, result.fail_on.value, run.seconds,
        )
        if previous is None:
            return
        try:
            before = self.store.result(previous.id)
        except AuditorError as exc:
            log.warning("%s: cannot read scan %d to compare: %s", target.name, previous.id, exc.diagnostics())
            return
        diff = diff_results(before, result, before_id=previous.id, after_id=scan_id)
        threshold = self.options.threshold or result.fail_on
        regressions = diff.regressions(threshold)
        if not regressions:
            return
        log.warning(
            "%s: regression: %d new failure(s) at or above %s since scan %d (%s)",
            target.name, len(regressions), threshold.value, previous.id,
            ", ".join(f"{c.rule_id} {c.resource}" for c in regressions[:5]),
        )
        event = regression_event(diff, threshold, scan_id=scan_id)
        delivered, problems = notify_all(self.notifiers, event)
        for problem in problems:
            log.error("%s: event not delivered: %s", target.name, problem)
        if delivered:
            log.info("%s: regression event sent to %s", target.name, ", ".join(delivered))
