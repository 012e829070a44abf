"""Scanning many targets: each in its own process, a few at a time, each with a time limit.

A target's scan runs in a child process (`run_isolated`), so a collector that hangs or
crashes costs that target only: the child is killed at its time limit and the others go on.
`run_fleet` runs a list of targets with bounded concurrency, stores each result as it comes
in (when given a store) and returns one `TargetRun` per target, in the order given. The
fleet's exit code is the worst of its targets' (docs/exit-codes.md).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from typing import IO, TYPE_CHECKING, Any, Self

import msgspec

from auditor._exitcodes import ExitCode, result_exit_code
from auditor._models import RedactedResult, Summary, canonical_plain_json
from auditor.errors import AuditorError, ConfigError

if TYPE_CHECKING:
    from auditor._history import Store
    from auditor._inventory.model import Target
    from auditor._scan import EvaluateOptions

_RANK: dict[int, int] = {
    ExitCode.OK: 0,
    ExitCode.FINDINGS: 1,
    ExitCode.INCOMPLETE: 2,
    ExitCode.COLLECTION_FAILED: 3,
    ExitCode.USAGE: 4,
    ExitCode.INTERNAL: 5,
}
"""How bad each exit code is, for the worst-of-the-fleet rule: a target that could not be
scanned at all (2) outranks an incomplete scan (3), which outranks a verdict that could not be
judged (4), which outranks findings (1). Unknown codes count as internal errors."""

_POLL_SECONDS = 0.1


def worst_exit_code(codes: Iterable[int]) -> int:
    return max(codes, key=lambda code: _RANK.get(code, _RANK[ExitCode.INTERNAL]), default=int(ExitCode.OK))


@dataclass(frozen=True)
class TargetRun:
    """What became of one target's scan."""

    target: str
    exit_code: int
    result: RedactedResult | None = None
    error: str = ""
    """One line saying why there is no result (time limit, bad configuration, crash)."""
    seconds: float = 0.0
    timed_out: bool = False
    scan_id: int | None = None
    """The id the result was stored under, if it was."""
    store_error: str = ""
    note: str = ""
    """Lines the user should read beside the result (by whose description a bundle was
    judged: auditor._bundle_runs.judged_target; how old its evidence is: age_note)."""
    summary: Summary | None = None
    """The result's counts, kept when the result itself is let go of (summarised)."""
    part: str | None = None
    """Its part of a JSON summary document, made while the result was held (`parted`: a
    worker of `evaluate --jobs` sends that, not the result); SpooledRuns.keep writes it."""

    def summarised(self) -> TargetRun:
        """This run without its result, its counts kept: all a text summary of many runs reads
        (`evaluate` of thousands of bundles holds a line's worth of each, not its findings)."""
        if self.result is None:
            return self
        return replace(self, result=None, summary=self.result.summary)

    def parted(self) -> TargetRun:
        """This run summarised, holding its part of a JSON summary document made from it first
        (SpooledRuns.keep writes that part): for a run that is not stored, whose result goes
        nowhere but into the document."""
        if self.result is None:
            return self
        return replace(self.summarised(), part=_run_json(self))

    @property
    def counts(self) -> Summary | None:
        """The result's counts (Summary), whether the result is held or was let go of."""
        return self.result.summary if self.result is not None else self.summary

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "target": self.target,
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 3),
            "timed_out": self.timed_out,
            "error": self.error or None,
            "scan_id": self.scan_id,
            "store_error": self.store_error or None,
        }
        if self.counts is not None:
            out["summary"] = self.counts.to_dict()
        if self.result is not None:
            out["result"] = self.result.to_dict()
        return out


@dataclass(frozen=True)
class FleetResult:
    runs: tuple[TargetRun, ...]

    @property
    def exit_code(self) -> int:
        return worst_exit_code(r.exit_code for r in self.runs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "auditor-fleet",
            "version": 1,
            "exit_code": self.exit_code,
            "targets": [r.to_dict() for r in self.runs],
        }


class SpooledRuns:
    """A JSON summary of many runs (FleetResult.to_dict) without their results held in memory:
    as each run ends, `keep` writes its part of the document to a temporary file (0600, gone
    when closed) and the run is held by its counts (TargetRun.summarised). `document` then
    writes the whole, part by part, in the runs' order: the text json.dumps(indent=1,
    sort_keys=True) makes of the runs as they were, results included. `evaluate --format json`
    of thousands of bundles, or a fleet's, holds a line's worth of each run, as a text summary
    does."""

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        """Made by the first `keep` (in TMPDIR): a text summary never needs one."""
        self._parts: dict[int, tuple[int, int, TargetRun]] = {}
        """By the id of a run `keep` returned: where its part is in the file, its length, and the
        run (held, so that id is never another's)."""

    def keep(self, run: TargetRun) -> TargetRun:
        """Spool `run`'s part of the document; the run to hold instead (its counts, no result).
        ConfigError naming the temporary folder when it cannot be written (full, missing)."""
        data = _run_json(run).encode("utf-8", "surrogatepass")  # the text back as it was, whatever it holds
        try:
            if self._file is None:
                self._file = tempfile.TemporaryFile()
            offset = self._file.seek(0, io.SEEK_END)
            self._file.write(data)
        except OSError as exc:
            raise ConfigError(f"cannot write the JSON summary's temporary file: {exc.strerror or exc} "
                              "(set TMPDIR to a folder with room for the whole output)",
                              file=tempfile.gettempdir()) from None
        held = replace(run.summarised(), part=None)
        self._parts[id(held)] = (offset, len(data), held)
        return held

    def document(self, fleet: FleetResult) -> Iterator[str]:
        """The summary document of `fleet` (runs `keep` returned, or any others), part by part."""
        head, _, tail = _dumps({**fleet.to_dict(), "targets": []}).partition('"targets": []')
        yield head + '"targets": ['
        for i, run in enumerate(fleet.runs):
            found = self._parts.get(id(run))
            if found is not None and found[2] is run and self._file is not None:
                self._file.seek(found[0])
                text = self._file.read(found[1]).decode("utf-8", "surrogatepass")
            else:
                text = _run_json(run)
            yield ("," if i else "") + "\n" + text
        yield ("\n ]" if fleet.runs else "]") + tail + "\n"

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _dumps(value: Any) -> str:
    """The summary document's JSON form (`auditor evaluate`, `auditor scan --all`): the text of
    `json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False)`, written by msgspec (json's
    indenting encoder is pure Python: 57 ms a result of 2,574 findings, msgspec 7) from the
    value's canonical JSON; json writes what msgspec cannot (a non-finite float, a lone
    surrogate)."""
    try:
        return msgspec.json.format(canonical_plain_json(value), indent=1).decode()
    except (ValueError, TypeError):
        return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False)


def _run_json(run: TargetRun) -> str:
    """`run`'s part of the summary document: its JSON, each line indented as an item of
    `targets` is (json escapes every newline within a string, so lines are the document's);
    the part it holds, if it was made before (TargetRun.parted). Every line is indented at once:
    one by one, the 60,000 lines of a result of 2,574 findings took a third of the part's time."""
    if run.part is not None:
        return run.part
    return "  " + _dumps(run.to_dict()).replace("\n", "\n  ")


@dataclass(frozen=True)
class FleetOptions:
    concurrency: int = 4
    """How many targets are scanned at once."""
    timeout: float | None = 600.0
    """Seconds one target's scan may take; None for no limit."""


FleetProgress = Callable[[int, int, Sequence[str]], None]
"""progress(done, total, running target names), called from worker threads."""


def _watch_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(int(ExitCode.INTERNAL))
        time.sleep(0.5)


def worker_main() -> None:
    """The scan process: read (target, options, limit) pickled on stdin, scan, write
    ("ok", result) or ("error", exit code, text) pickled on stdout.

    It runs in a session of its own (a Ctrl-C or a signal to the parent's process group does
    not reach it: the parent decides when it stops), ends when its parent goes away, and ends
    by SIGALRM shortly after its time limit even if the parent could not kill it.
    """
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed by accident goes to stderr, not into the reply
    parent = os.getppid()
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    target, options, limit = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 - from our own parent
    if limit:
        signal.alarm(int(limit) + 5)
    from auditor._scan import scan_target

    reply: tuple[Any, ...]
    try:
        _, result = scan_target(target, options)
        reply = ("ok", result)
    except AuditorError as exc:
        reply = ("error", int(exc.exit_code), exc.diagnostics())
    except Exception as exc:
        reply = ("error", int(ExitCode.INTERNAL), f"internal error: {type(exc).__name__}: {exc}")
    out.write(pickle.dumps(reply))
    out.close()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.communicate(timeout=5)


def run_isolated(
    target: Target,
    options: EvaluateOptions,
    *,
    timeout: float | None = None,
    cancel: threading.Event | None = None,
) -> TargetRun:
    """Scan `target` in a child process; kill it at `timeout` seconds or when `cancel` is set."""
    start = time.monotonic()

    def ended(code: int, error: str = "", *, result: RedactedResult | None = None, timed_out: bool = False) -> TargetRun:
        return TargetRun(target.name, code, result, error, time.monotonic() - start, timed_out)

    request = pickle.dumps((target, options, timeout))
    proc = subprocess.Popen(
        [sys.executable, "-c", "from auditor._fleet import worker_main; worker_main()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    pending: bytes | None = request
    while True:
        try:
            reply, _ = proc.communicate(pending, timeout=_POLL_SECONDS)
            break
        except subprocess.TimeoutExpired:
            pending = None
        if cancel is not None and cancel.is_set():
            _kill(proc)
            return ended(int(ExitCode.COLLECTION_FAILED), "cancelled before the scan finished")
        if timeout is not None and time.monotonic() - start > timeout:
            _kill(proc)
            return ended(
                int(ExitCode.COLLECTION_FAILED), f"timed out after {timeout:g}s: the scan was stopped", timed_out=True
            )
    try:
        message = pickle.loads(reply)  # noqa: S301 - from our own child
    except Exception:
        return ended(int(ExitCode.INTERNAL), f"the scan process ended unexpectedly (exit {proc.returncode})")
    if message[0] == "ok":
        result: RedactedResult = message[1]
        return ended(result_exit_code(result), result=result)
    return ended(int(message[1]), str(message[2]))


def store_run(run: TargetRun, store: Store | None, *, origin: str) -> TargetRun:
    """`run` with the id its result was stored under, or with the reason it was not."""
    if store is None or run.result is None:
        return run
    try:
        return replace(run, scan_id=store.save(run.result, origin=origin, exit_code=run.exit_code))
    except AuditorError as exc:
        return replace(run, store_error=exc.diagnostics())


def run_fleet(
    targets: Sequence[Target],
    options: EvaluateOptions,
    fleet: FleetOptions | None = None,
    *,
    store: Store | None = None,
    origin: str = "fleet",
    progress: FleetProgress | None = None,
    cancel: threading.Event | None = None,
    held: Callable[[TargetRun], TargetRun] | None = None,
) -> FleetResult:
    """Scan every target; one failing, hanging or crashing target never stops the others.
    `held`: what is kept of each run once stored, instead of the run: TargetRun.summarised for
    a text summary, SpooledRuns.keep for a JSON one, so memory does not grow with the targets."""
    settings = fleet or FleetOptions()
    stop = cancel or threading.Event()
    lock = threading.Lock()
    running: list[str] = []
    done = 0
    total = len(targets)

    def report() -> None:
        if progress is not None:
            progress(done, total, tuple(running))

    def one(target: Target) -> TargetRun:
        with lock:
            running.append(target.name)
            report()
        try:
            return run_isolated(target, options, timeout=settings.timeout, cancel=stop)
        finally:
            with lock:
                running.remove(target.name)

    runs: dict[str, TargetRun] = {}
    with ThreadPoolExecutor(max_workers=max(1, settings.concurrency), thread_name_prefix="auditor-fleet") as pool:
        futures = [pool.submit(one, t) for t in targets]
        try:
            for future in as_completed(futures):
                run = store_run(future.result(), store, origin=origin)
                if held is not None:
                    run = held(run)
                with lock:
                    runs[run.target] = run
                    done += 1
                    report()
        except BaseException:
            stop.set()
            raise
    return FleetResult(tuple(runs[t.name] for t in targets))
