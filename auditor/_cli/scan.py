"""`auditor scan`: collect and evaluate in one go; `auditor evaluate`: a bundle from elsewhere."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from auditor._cli import _common, _fleet, _history

if TYPE_CHECKING:
    import datetime as dt

    from auditor._inventory.model import Target
    from auditor._models import RedactedResult


def register(sub: Any) -> None:
    p = sub.add_parser(
        "scan",
        help="collect evidence from a target and evaluate the rules on it",
        description=(
            "Collect evidence from the target's sources, evaluate its policy packs and report "
            "the findings. Without --inventory, ./auditor.yaml is used, else the embedded demo "
            "inventory (target cim-prod-001), saying so on stderr; --all and --tag refuse that "
            "fallback unless --demo is given."
        ),
    )
    _fleet.add_options(p)
    _common.add_inventory(p)
    _common.add_evaluation(p)
    _common.add_catalog(p)
    p.add_argument("--bundle", metavar="FILE", help="also write the evidence bundle here")
    _history.add_store(p)
    p.set_defaults(handler=run_scan)

    e = sub.add_parser(
        "evaluate",
        help="evaluate an evidence bundle (written by `auditor collect`, perhaps elsewhere)",
        description=(
            "Evaluate a bundle written by `auditor collect`: the air-gapped half of a scan. A bundle "
            "is judged by the inventory's entry for its target (policies, environment, vars), not by "
            "what the bundle says of it, where the inventory has one; a note says where they differ. Given "
            "several bundles (or --jobs), each is evaluated, in --jobs processes, all as of one "
            "instant, and a summary (text or json) lists each bundle's verdict in the order given; "
            "the exit code is the worst of the bundles'. A verdict speaks of the node as it was when "
            "the evidence was collected: a note names evidence collected over a day before the time "
            "judged, and --max-age refuses it."
        ),
    )
    e.add_argument("bundle", metavar="BUNDLE", nargs="+", help="evidence bundle (JSON); several allowed")
    e.add_argument(
        "--jobs", "-j", type=int, default=None, metavar="N",
        help="evaluate several bundles in N processes at once (default: 1)",
    )
    e.add_argument(
        "--max-age", metavar="DURATION", default=None,
        help="refuse a bundle whose evidence was collected longer before the time judged (e.g. 7d; "
             "default: any age, noted when over a day)",
    )
    _common.add_inventory(e)
    _common.add_evaluation(e)
    _common.add_catalog(e)
    _history.add_store(e)
    e.set_defaults(handler=run_evaluate)


def run_scan(args: argparse.Namespace) -> int:
    from auditor._gcpause import fewer_collections, one_shot

    if _fleet.requested(args):
        with fewer_collections():
            return _fleet.run(args)
    with one_shot():
        return _run_scan(args)


def _run_scan(args: argparse.Namespace) -> int:
    from auditor._ending import keep_until_exit
    from auditor.errors import ConfigError

    wait = None
    if args.demo and not args.path:
        from auditor._demo import start_build, wait_built

        start_build()  # the demo is built in a child process while this one imports and loads the rules
        wait = wait_built
    from auditor._progress import Steps
    from auditor._scan import EvaluateOptions, scan_target

    if args.path:
        from auditor._inventory.adhoc import path_target

        if args.inventory or args.demo:
            raise ConfigError("--path scans files without an inventory; drop --inventory and --demo", field="--path")
        if not args.policy:
            raise ConfigError("scanning paths needs --policy PACK (for example --policy pss-restricted)")
        target = path_target(args.path, args.policy)
        catalog = _common.load_catalog(args)
    else:
        inventory = _common.load_inventory(args)
        target = inventory.target(args.target)
        catalog = _common.load_catalog(args, inventory, before_extra=None if wait is None else _preload(target, wait))
    options = EvaluateOptions(policies=args.policy, now=_common.parse_at(args), fail_on=_common.fail_on(args))
    bundle, result = scan_target(target, options, catalog=catalog, progress=Steps())
    if args.bundle:
        _common.emit(bundle.to_json(), args.bundle)
    del bundle  # the report needs none of its records: a large scan lets them go before rendering
    keep_until_exit(catalog, result)
    return _print_and_store(args, result, origin="scan")


def _preload(target: Target, wait: Callable[[], object]) -> Callable[[], object]:
    """`wait`, after importing the collectors of `target`'s sources: done while the demo is
    still being built, instead of after."""

    def preload_then_wait() -> object:
        from auditor._collectors import COLLECTORS
        from auditor.errors import AuditorError

        for name in dict.fromkeys(source.collector for source in target.sources):
            with contextlib.suppress(AuditorError, ImportError, TypeError):  # reported when the source runs
                COLLECTORS.load(name)
        return wait()

    return preload_then_wait


def run_evaluate(args: argparse.Namespace) -> int:
    if len(args.bundle) > 1 or args.jobs is not None:
        return _evaluate_many(args)
    from auditor._gcpause import one_shot

    with one_shot():
        return _evaluate_one(args)


def _evaluate_one(args: argparse.Namespace) -> int:
    from pathlib import Path

    from auditor._bundle_runs import judged
    from auditor._ending import keep_until_exit
    from auditor._scan import EvaluateOptions, evaluate_bundle
    from auditor._terminal import warn
    from auditor._timeutil import utcnow
    from auditor.evidence.bundle import read_bundle

    max_age = _max_age(args)
    bundle = read_bundle(Path(args.bundle[0]))
    inventory = _common.load_inventory(args)
    catalog = _common.load_catalog(args, inventory)
    now = _common.parse_at(args) or utcnow()
    target, notes = judged(bundle, inventory, args.bundle[0], now, max_age)
    for line in notes.splitlines():
        warn(f"auditor: note: {line}")
    options = EvaluateOptions(policies=args.policy, now=now, fail_on=_common.fail_on(args))
    result = evaluate_bundle(bundle, options, catalog=catalog, target=target)
    keep_until_exit(bundle, catalog, result)
    return _print_and_store(args, result, origin="evaluate", inputs=tuple(args.bundle))


def _print_and_store(args: argparse.Namespace, result: RedactedResult, *, origin: str, inputs: tuple[str, ...] = ()) -> int:
    """Print `result` and store it in the history (unless --no-store) while it is printed, once
    the output is known to be writable: a result is stored only once printed. The exit code."""
    _common.check_output(args.output, inputs=inputs)
    text = _common.render_result(args, result)  # refuses binary output to a terminal before anything is stored
    storing = _history.Storing(args, result, origin=origin)
    try:
        _common.emit(text, args.output, inputs=inputs, styled=True)
    except BaseException:
        storing.abandon()
        raise
    return storing.done()


def _max_age(args: argparse.Namespace) -> dt.timedelta | None:
    from auditor._timeutil import parse_duration

    return None if args.max_age is None else parse_duration(args.max_age, what="--max-age")


def _evaluate_many(args: argparse.Namespace) -> int:
    """Several bundles: a summary of their verdicts, each result stored as it comes."""
    from auditor._bundle_runs import evaluate_bundles
    from auditor._fleet import SpooledRuns, TargetRun, store_run
    from auditor._progress import Bar
    from auditor._scan import EvaluateOptions
    from auditor._terminal import warn
    from auditor._timeutil import utcnow
    from auditor.errors import ConfigError

    jobs = 1 if args.jobs is None else args.jobs
    if jobs < 1:
        raise ConfigError("must be at least 1", field="--jobs")
    if args.format not in ("text", "json"):
        raise ConfigError(f"several bundles make a summary in text or json, not {args.format}", field="--format")
    max_age = _max_age(args)
    inventory = _common.load_inventory(args)
    catalog = _common.load_catalog(args, inventory)
    now = _common.parse_at(args) or utcnow()  # one instant for every bundle
    options = EvaluateOptions(policies=args.policy, now=now, fail_on=_common.fail_on(args))
    store = None if args.no_store else _history.open_store(args)
    with SpooledRuns() as spool:
        held = spool.keep if args.format == "json" else TargetRun.summarised  # never every result at once

        def stored(run: TargetRun) -> TargetRun:
            return held(store_run(run, store, origin="evaluate"))

        try:
            sent = None if store is not None else TargetRun.parted if args.format == "json" else TargetRun.summarised
            runs = evaluate_bundles(args.bundle, options, catalog, jobs=jobs, done=stored, progress=Bar(),
                                    stored=store is not None, inventory=inventory, max_age=max_age, sent=sent)
        finally:
            if store is not None:
                store.close()
        text = spool.document(runs) if args.format == "json" else _fleet.summary_table(runs, noun="bundle")
        _common.emit(text, args.output, inputs=tuple(args.bundle))
    for r in runs.runs:
        for line in r.note.splitlines():
            warn(f"auditor: note: {line}")
        if r.store_error:
            warn(f"auditor: warning: {r.target}: not stored in the history: {r.store_error}")
    return runs.exit_code
