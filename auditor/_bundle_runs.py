"""Evaluating evidence bundles: `auditor evaluate B1 B2 ... --jobs N`.

A bundle is judged by the inventory's entry for its target (its policies, environment, names,
vars and owners) where the inventory has one, as a fleet worker judges what a node sends: what
a bundle says of its own target is input like its records, and a bundle that names a weaker
policy or another environment must not get a better verdict by it (`judged_target`). Only a
target the inventory does not know is judged as its bundle describes it, saying so.

Bundles are evaluated in a pool of `jobs` processes (forked once the rules are loaded, so each
starts with the catalog, and keeps what it learns from one bundle for the next: the programs it
compiled, the outcomes of auditor._policy.batch), or in this process when `jobs` is 1. The
objects alive before the first bundle (the catalog, in a pool those the workers inherit) are
kept out of the collections that follow (_gcpause.frozen_alive).
With the history on, a worker also makes each result's stored document
(_history.document.pack_ahead): this process, the history's one writer, then only writes it.
Results come back pickled (a Finding as its class and its values); where nothing is stored, a
worker sends back what the caller reads of a run instead (`sent`: its counts for a text
summary, its part of a JSON one): taking a result of thousands of findings back costs this
process about what sending it cost the worker, and this process alone would pace the pool.
Every bundle is judged at the same instant. A bundle that cannot be read or judged costs that
bundle only: its run carries the error and the exit code it would have had alone. Runs come
back in the order the bundles were given, as the fleet's `TargetRun`s (the `target` being the
bundle's path), so the exit code is the worst of the bundles' (docs/exit-codes.md).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING

from auditor._exitcodes import ExitCode, result_exit_code
from auditor._fleet import FleetResult, TargetRun
from auditor._gcpause import frozen_alive
from auditor._history.document import drop_packed
from auditor._timeutil import parse_time, rfc3339, utcnow, whole_days
from auditor.errors import AuditorError, ConfigError, EvidenceError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from auditor._inventory.model import Inventory
    from auditor._policy.catalog import Catalog
    from auditor._scan import EvaluateOptions
    from auditor.evidence.bundle import Bundle

RunDone = Callable[[TargetRun], TargetRun]
"""What the caller does with each run as it ends (store it); returns the run as kept."""
Progress = Callable[[int, int, Sequence[str]], None]
"""progress(done, total, running): as auditor._progress.Bar draws it."""

_SHARED: tuple[Catalog, EvaluateOptions, bool, Inventory | None, dt.timedelta | None,
               Callable[[TargetRun], TargetRun] | None] | None = None
"""The catalog and options of the run, whether its results will be stored, the inventory the
bundles' targets are looked up in, the oldest evidence accepted and what a worker sends back of
a run (evaluate_bundles' `sent`), set before the pool forks: each worker inherits them."""


def judged_target(bundle: Bundle, inventory: Inventory | None, file: str) -> tuple[Mapping[str, Any] | None, str]:
    """The description to judge `bundle` by (for evaluate_bundle's `target`; None: the bundle's
    own) and a note saying how, if the user should know ('' otherwise): the inventory's entry
    for the bundle's target where it has one, naming what the bundle says otherwise; the
    bundle's own description, saying so, for a target the inventory does not know."""
    from auditor._models import canonical_plain_json

    if inventory is None:
        return None, ""
    carried = bundle.target
    name = str(carried.get("name", ""))
    entry = next((t for t in inventory.targets if t.name == name), None)
    if entry is None:
        policies = ", ".join(str(p) for p in carried.get("policies", ())) or "none"
        return None, (f"{file}: target '{name}' is not in the inventory ({inventory.file}): judged as the bundle "
                      f"describes it (environment '{carried.get('environment', '')}', policies {policies})")
    described = entry.describe()
    differ = sorted(key for key in described.keys() | carried.keys() if key != "description"
                    and canonical_plain_json(described.get(key)) != canonical_plain_json(carried.get(key)))
    note = ""
    if differ:
        note = (f"{file}: judged by the inventory's entry for target '{name}' ({inventory.file}), not by the "
                f"description the bundle carries, which differs in {', '.join(differ)}")
    return described, note


NOTED_AGE = dt.timedelta(days=1)
"""Evidence older than this, at the time judged, is noted (`age_note`)."""
CLOCK_SKEW = dt.timedelta(minutes=5)
"""Evidence collected up to this long after the time judged is not noted (clocks differ)."""


def age_note(bundle: Bundle, now: dt.datetime, file: str, max_age: dt.timedelta | None = None) -> str:
    """A note naming when the evidence of `bundle` was collected (its oldest record, else the
    bundle) where that is more than NOTED_AGE before `now`, the time it is judged at, or after
    it: a verdict speaks of the node as it was then. '' otherwise. An EvidenceError where it is
    more than `max_age` before `now` (the fleet worker's --max-age, for evaluate)."""
    try:
        oldest = min(parse_time(at) for at in (bundle.created_at, *(r.collected_at for r in bundle.records)))
    except ConfigError:  # pragma: no cover - the bundle's schema admits RFC 3339 times only
        return ""
    age = now - oldest
    if max_age is not None and age > max_age:
        raise EvidenceError(f"evidence collected {rfc3339(oldest)}, {_span(age)} before the time judged "
                            f"({rfc3339(now)}): older than --max-age ({_span(max_age)}) allows", file=file)
    if age > NOTED_AGE:
        return (f"{file}: evidence collected {rfc3339(oldest)}, {_span(age)} before the time judged "
                f"({rfc3339(now)}): the verdict speaks of the node as it was then")
    if age < -CLOCK_SKEW:
        return (f"{file}: evidence collected {rfc3339(oldest)}, after the time judged ({rfc3339(now)}): "
                "it is judged as of a time before it existed")
    return ""


def _span(age: dt.timedelta) -> str:
    """`age` in whole days from two days on, else in whole hours, else in minutes."""
    if age >= dt.timedelta(days=2):
        return f"{whole_days(age)} days"
    seconds = int(age.total_seconds())
    return f"{seconds // 3600} hours" if seconds >= 3600 else f"{seconds // 60} minutes"


def judged(bundle: Bundle, inventory: Inventory | None, file: str, now: dt.datetime,
           max_age: dt.timedelta | None = None) -> tuple[Mapping[str, Any] | None, str]:
    """What to judge `bundle` by (judged_target) and the notes the user should read beside its
    result, one a line (by whose description it is judged, how old its evidence is: age_note);
    an EvidenceError for evidence older than `max_age`. `auditor evaluate` of one bundle or many."""
    aged = age_note(bundle, now, file, max_age)
    target, note = judged_target(bundle, inventory, file)
    return target, "\n".join(n for n in (note, aged) if n)


def evaluate_one(path: str) -> TargetRun:
    """Read and evaluate one bundle with the run's catalog and options."""
    from auditor._scan import evaluate_bundle
    from auditor.evidence.bundle import read_bundle

    assert _SHARED is not None
    catalog, options, ahead, inventory, max_age, _ = _SHARED
    start = time.monotonic()
    note = ""
    try:
        bundle = read_bundle(Path(path))
        target, note = judged(bundle, inventory, path, options.now or utcnow(), max_age)
        result = evaluate_bundle(bundle, options, catalog=catalog, target=target)
    except AuditorError as exc:
        return TargetRun(path, int(exc.exit_code), error=exc.diagnostics(), seconds=time.monotonic() - start)
    except Exception as exc:  # a bug: this bundle's run says so, the others go on
        return TargetRun(path, int(ExitCode.INTERNAL), error=f"internal error: {type(exc).__name__}: {exc}",
                         seconds=time.monotonic() - start)
    if ahead:
        from auditor._history.document import pack_ahead

        with contextlib.suppress(Exception):  # then the history packs it, as without a pool
            pack_ahead(result)
    return TargetRun(path, result_exit_code(result), result, seconds=time.monotonic() - start, note=note)


def _evaluate_sent(path: str) -> TargetRun:
    """evaluate_one, the run as evaluate_bundles' `sent` makes it (in a pool: in the worker)."""
    assert _SHARED is not None
    *_, sent = _SHARED
    run = evaluate_one(path)
    return run if sent is None else sent(run)


def evaluate_bundles(
    paths: Sequence[str],
    options: EvaluateOptions,
    catalog: Catalog,
    *,
    jobs: int = 1,
    done: RunDone | None = None,
    progress: Progress | None = None,
    stored: bool = False,
    inventory: Inventory | None = None,
    max_age: dt.timedelta | None = None,
    sent: Callable[[TargetRun], TargetRun] | None = None,
) -> FleetResult:
    """Evaluate every bundle of `paths`; the runs in the order of `paths`. `stored`: `done`
    stores each run's result in the history (a pool's workers then make its stored document
    beside the evaluation: _history.document.pack_ahead). `inventory`: where the bundles'
    targets are described (judged_target); None: each as its bundle describes it. `max_age`:
    a bundle collected longer before `options.now` is refused (age_note); the notes of each
    run say which bundles are old. `sent`: what is made of each run before `done` gets it, in a
    pool by the worker, before sending it back (a function of the module level, e.g.
    TargetRun.summarised when `done` reads a run's counts alone); never for runs to be stored."""
    global _SHARED
    if stored and sent is not None:
        raise ValueError("a run to be stored is sent back whole")
    pooled = jobs > 1 and len(paths) > 1
    _SHARED = (catalog, options, stored and pooled, inventory, max_age, sent)
    runs: list[TargetRun | None] = [None] * len(paths)
    finished = 0

    def record(index: int, run: TargetRun) -> None:
        nonlocal finished
        runs[index] = done(run) if done is not None else run
        if run.result is not None:
            drop_packed(run.result)  # stored: the runs are held to the end, the document need not be
        finished += 1
        if progress is not None:
            progress(finished, len(paths), ())

    try:
        if not pooled:
            with frozen_alive():
                for index, path in enumerate(paths):
                    if progress is not None:
                        progress(finished, len(paths), (path,))
                    record(index, _evaluate_sent(path))
        else:
            context = multiprocessing.get_context("fork")  # the workers inherit _SHARED
            with frozen_alive(), ProcessPoolExecutor(max_workers=min(jobs, len(paths)), mp_context=context) as pool:
                futures: dict[Future[TargetRun], int] = {pool.submit(_evaluate_sent, p): i for i, p in enumerate(paths)}
                for future in as_completed(futures):
                    try:
                        run = future.result()
                    except Exception as exc:  # the worker died (killed, out of memory)
                        run = TargetRun(paths[futures[future]], int(ExitCode.INTERNAL),
                                        error=f"the evaluating process ended unexpectedly: {type(exc).__name__}")
                    record(futures[future], run)
    finally:
        _SHARED = None
    return FleetResult(tuple(r for r in runs if r is not None))
