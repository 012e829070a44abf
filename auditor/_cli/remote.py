"""`auditor agent`, `auditor worker` and `auditor fleet collect|status`: the fleet over NATS JetStream
(the work is auditor._remote; docs/fleet.md)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor._cli import _common, _history
from auditor._severity import severity_names
from auditor._terminal import printable

if TYPE_CHECKING:
    import asyncio

    from auditor._inventory.model import Inventory, Target
    from auditor._remote.control import TargetVerdict
    from auditor._remote.envelope import Signer
    from auditor._remote.worker import InventorySource


def _inventory(args: argparse.Namespace) -> tuple[Inventory, InventorySource]:
    """The inventory of --inventory, ./auditor.yaml or --demo (never the demo unasked: these
    commands run unattended, as `serve` does), and how a worker's processes load it again."""
    from auditor._remote.worker import InventorySource

    inventory = _common.load_inventory(args, demo_fallback=False)
    if inventory.embedded:
        return inventory, InventorySource(None, demo=True)
    return inventory, InventorySource(str(Path(inventory.file).resolve()))


def _logging(name: str) -> logging.Logger:
    from auditor._terminal import log_handler

    logger = logging.getLogger(f"auditor.{name}")
    logger.addHandler(log_handler(f"%(asctime)s auditor {name}: %(message)s", "%Y-%m-%dT%H:%M:%S"))
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def _run_until_signal(main: Any, stop: asyncio.Event) -> Any:
    """Run coroutine `main` until it ends; SIGTERM and SIGINT set `stop`."""
    import asyncio

    async def runner() -> Any:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await main

    return asyncio.run(runner())


def register(sub: Any) -> None:
    from auditor._cli._nats import add_nats

    a = sub.add_parser(
        "agent",
        help="the node agent: collect on request (audit.collect.<target>) or schedule, sign, publish to JetStream",
        description=(
            "Run on the node: answer collection requests on audit.collect.<target>, collect with the "
            "inventory's sources (and on the target's schedules), sign each bundle with the node's key "
            "and publish it to JetStream stream AUDIT_EVIDENCE. It holds no policy and evaluates "
            "nothing. Reconnects for ever; SIGTERM stops it cleanly."
        ),
    )
    a.add_argument("--target", "-t", metavar="NAME", required=True)
    _common.add_inventory(a, demo_fallback=False)
    add_nats(a)
    a.add_argument("--key", metavar="FILE", type=Path, help="the node's signing key (default: the inventory's agent.key, else --nats-key)")
    a.add_argument("--cert", metavar="FILE", type=Path, help="its certificate, with intermediates (default: agent.certificate, else --nats-cert)")
    a.add_argument("--chain", metavar="FILE", type=Path, action="append", default=[],
                   help="intermediate certificates sent with each bundle; repeatable (default: the inventory's "
                        "agent.chain; with the mTLS certificate, --nats-ca)")
    a.add_argument("--collect-timeout", metavar="DURATION", default="10m", help="time limit of one collection (default: 10m)")
    a.add_argument("--no-schedule", action="store_true", help="collect only on request, not on the target's schedules")
    a.set_defaults(handler=run_agent)

    w = sub.add_parser(
        "worker",
        help="verify, evaluate and store the fleet's signed evidence (JetStream consumer auditor-workers)",
        description=(
            "Pull signed evidence from JetStream, refuse what is unsigned, forged, untrusted or replayed, "
            "evaluate the rest with this machine's rules and the inventory's policies, store each scan "
            "once in the history, then acknowledge; publish verdicts and regressions on "
            "audit.findings.<target>. Run as many as you like, on any machines."
        ),
    )
    _common.add_inventory(w, demo_fallback=False)
    add_nats(w)
    _history.add_db(w)
    _common.add_catalog(w)
    w.add_argument("--concurrency", "-j", type=int, default=2, metavar="N", help="bundles evaluated at once (default: 2)")
    w.add_argument("--ack-wait", metavar="DURATION", default="60s", help="a new consumer's redelivery delay (default: 60s)")
    w.add_argument("--max-deliver", type=int, default=10, metavar="N", help="a new consumer's deliveries of one message (default: 10)")
    w.add_argument("--max-age", metavar="DURATION", default="7d", help="refuse evidence collected longer ago (default: 7d)")
    w.add_argument("--threshold", choices=severity_names(), help="a new failure at or above this is a regression (default: the policy's fail_on)")
    w.set_defaults(handler=run_worker)

    f = sub.add_parser("fleet", help="ask the agents to collect now, or show the fleet's state (NATS)")
    fsub = f.add_subparsers(dest="fleet_command", metavar="ACTION", required=True)
    c = fsub.add_parser(
        "collect",
        help="ask agents to collect now; with --wait, print the verdicts as workers store them",
        description="Exit codes as for `auditor scan` (the worst of the targets); a target whose agent does not "
                    "answer, or whose verdict does not come in time, is 3.",
    )
    which = c.add_mutually_exclusive_group(required=True)
    which.add_argument("--target", "-t", metavar="NAME", help="one target")
    which.add_argument("--tag", metavar="TAG", help="every target of the inventory with this tag")
    which.add_argument("--all", action="store_true", help="every target of the inventory")
    _common.add_inventory(c, demo_fallback=False)
    add_nats(c)
    c.add_argument("--wait", metavar="SECONDS", type=float, help="wait this long for the verdicts and print them")
    c.add_argument("--format", choices=("text", "json"), default="text")
    c.set_defaults(handler=run_collect)
    s = fsub.add_parser("status", help="agents seen, last bundle per target, the workers' consumer lag")
    add_nats(s)
    s.add_argument("--listen", metavar="SECONDS", type=float, default=1.0, help="how long agents have to answer (default: 1)")
    s.add_argument("--format", choices=("text", "json"), default="text")
    s.set_defaults(handler=run_status)


def _signer(args: argparse.Namespace, target: Target) -> Signer:
    from auditor._remote.envelope import Signer
    from auditor.errors import ConfigError

    if args.key or args.cert:
        if not (args.key and args.cert):
            raise ConfigError("give both --key and --cert", field="--key")
        return Signer.load(args.key, args.cert, args.chain)
    spec = target.agent
    if spec is not None and spec.key is not None and spec.certificate is not None:
        return Signer.load(spec.key, spec.certificate, args.chain or spec.chain)
    if args.nats_key and args.nats_cert:
        return Signer.load(args.nats_key, args.nats_cert, args.chain or ([args.nats_ca] if args.nats_ca else []))
    raise ConfigError(
        "the agent signs every bundle: give --key and --cert, or the target's `agent: {key, certificate}` in the "
        "inventory, or the node's mTLS certificate (--nats-cert, --nats-key)", field="--key",
    )


def run_agent(args: argparse.Namespace) -> int:
    from auditor._cli._nats import nats_settings
    from auditor._remote.agent import Agent, AgentOptions
    from auditor._schedule import plan
    from auditor._timeutil import parse_duration

    inventory, _ = _inventory(args)
    target = inventory.target(args.target)
    signer = _signer(args, target)
    settings = nats_settings(args, name=f"auditor agent {target.name}")
    options = AgentOptions(collect_timeout=parse_duration(args.collect_timeout, what="--collect-timeout").total_seconds())
    log = _logging("agent")
    agent = Agent(target, signer, settings, schedules=() if args.no_schedule else plan(inventory), options=options)
    published = _run_until_signal(agent.run(), agent.stop)
    log.info("stopped; %d bundle(s) published", published)
    return 0


def run_worker(args: argparse.Namespace) -> int:
    from auditor._cli._nats import nats_settings
    from auditor._models import Severity
    from auditor._remote.worker import Worker, WorkerOptions, make_judge
    from auditor._scan import EvaluateOptions
    from auditor._timeutil import parse_duration
    from auditor.errors import ConfigError

    if args.concurrency < 1:
        raise ConfigError("must be at least 1", field="--concurrency")
    if args.max_deliver < 1:
        raise ConfigError("must be at least 1", field="--max-deliver")
    inventory, source = _inventory(args)
    options = WorkerOptions(
        concurrency=args.concurrency,
        ack_wait=parse_duration(args.ack_wait, what="--ack-wait").total_seconds(),
        max_deliver=args.max_deliver,
        max_age=parse_duration(args.max_age, what="--max-age").total_seconds(),
        threshold=Severity(args.threshold) if args.threshold else None,
    )
    evaluate = EvaluateOptions(rule_paths=tuple(args.rules), policy_paths=tuple(args.policies))
    make_judge(inventory, evaluate, options)  # anchors, rules and packs load now: a mistake is exit 2 here
    settings = nats_settings(args, name="auditor worker")
    log = _logging("worker")
    with _history.open_store(args) as store:
        worker = Worker(source, store, settings, evaluate=evaluate, options=options)
        stored = _run_until_signal(worker.run(), worker.stop)
        log.info("stopped; %d scan(s) stored, %d redelivery(ies) recognised, %d refused", stored,
                 worker.duplicates, worker.refused)
    return 0


def _targets(args: argparse.Namespace) -> list[str]:
    from auditor.errors import ConfigError

    if args.target and not (args.inventory or args.demo):
        import re

        if not re.match(r"^[a-z0-9][a-z0-9._-]{0,62}$", args.target):
            raise ConfigError(f"'{args.target}' is not a target name", field="--target")
        return [args.target]
    inventory = _common.load_inventory(args, demo_fallback=False)
    if args.target:
        return [inventory.target(args.target).name]
    chosen = list(inventory.targets) if args.all else inventory.with_tag(args.tag)
    if not chosen:
        raise ConfigError(f"no target has tag '{args.tag}'", file=inventory.file)
    return [t.name for t in chosen]


def _verdict_lines(v: TargetVerdict) -> list[str]:
    from auditor._remote.wire import VERDICTS

    event = v.event if v.event and v.event.get("type") == "auditor.scan" else None
    if event is None:
        return [f"{v.target}: {'NOT SCANNED' if v.exit_code else 'REQUESTED'} (exit {v.exit_code}): {v.note}"]
    counts = event.get("counts") or {}
    nums = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("fail", "error", "not-evaluated", "waived", "pass"))
    lines = [f"{v.target}: {VERDICTS.get(v.exit_code, 'ERROR')} (exit {v.exit_code}) · scan #{event.get('scan_id')} "
             f"stored by worker {event.get('worker')} · {nums} · collected {event.get('collected_at')}"]
    for failure in event.get("failures") or []:
        lines.append(f"  FAIL {str(failure.get('severity', '')).upper():8} {failure.get('rule_id')}  "
                     f"{failure.get('resource')}")
    return lines


def run_collect(args: argparse.Namespace) -> int:
    from auditor._cli._nats import nats_settings
    from auditor._remote.control import collect
    from auditor.errors import ConfigError

    if args.wait is not None and not 0 < args.wait <= 86400:
        raise ConfigError("must be between 0 and 86400 seconds", field="--wait")
    targets = _targets(args)
    settings = nats_settings(args, name="auditor fleet collect")

    def report(v: TargetVerdict) -> None:
        if args.format == "text":
            for line in _verdict_lines(v):
                print(printable(line), flush=True)

    import asyncio

    run = asyncio.run(collect(settings, targets, wait=args.wait, report=report))
    if args.format == "json":
        _common.emit(json.dumps(run.to_dict(), indent=1, sort_keys=True) + "\n", None)
    else:
        n = len(run.verdicts)
        print(f"{n} target{'s' if n != 1 else ''}; exit code {run.exit_code} (the worst of the targets)")
    return run.exit_code


def run_status(args: argparse.Namespace) -> int:
    from auditor._cli._nats import nats_settings
    from auditor._remote.control import status

    settings = nats_settings(args, name="auditor fleet status")
    import asyncio

    doc = asyncio.run(status(settings, listen=max(0.1, args.listen)))
    if args.format == "json":
        _common.emit(json.dumps(doc, indent=1, sort_keys=True) + "\n", None)
        return 0
    lines = [f"NATS {doc['nats']}", f"agents answering ({len(doc['agents'])}):"]
    for a in doc["agents"]:
        last = a.get("last") or {}
        lines.append(f"  {a.get('target')} on {a.get('host')} (auditor {a.get('version')}, up since {a.get('started_at')})"
                     f"{' collecting' if a.get('collecting') else ''}; last published "
                     f"{last.get('published_at') or 'nothing yet'}")
    if doc.get("stream") is None:
        lines.append(f"no stream {'AUDIT_EVIDENCE'} yet (start a worker)")
    else:
        st = doc["stream"]
        lines.append(f"stream {st['name']}: {st['messages']} bundle(s), {st['bytes']} bytes; last bundle per target:")
        for t in doc["targets"]:
            digest = t.get("bundle_digest") or "?"
            lines.append(f"  {t['target']}: {t['messages']} kept, last at {t.get('last_at')} (seq {t.get('last_seq')}, "
                         f"sha256:{digest[:16]})")
        if doc.get("targets_not_shown"):
            lines.append(f"  ... and {doc['targets_not_shown']} more")
        c = doc.get("consumer")
        if c is None:
            lines.append("no consumer auditor-workers yet (start a worker)")
        else:
            lines.append(f"consumer {c['name']}: lag {c['lag']} ({c['pending']} not yet delivered, "
                         f"{c['ack_pending']} being evaluated, {c['redelivered']} redelivered)")
    _common.emit("\n".join(printable(line) for line in lines) + "\n", None)
    return 0
