"""`auditor schedule list|export` and `auditor serve`: scheduled scans."""

from __future__ import annotations

import argparse
import json
from typing import Any

from auditor._cli import _common, _history
from auditor._severity import severity_names
from auditor._terminal import log_handler, printable, warn


def register(sub: Any) -> None:
    p = sub.add_parser("schedule", help="list the inventory's schedules or export them for systemd, NixOS or Kubernetes")
    ssub = p.add_subparsers(dest="schedule_command", metavar="ACTION", required=True)
    lst = ssub.add_parser("list", help="each schedule, its targets and its next runs")
    _common.add_inventory(lst)
    lst.add_argument("--format", choices=("text", "json"), default="text")
    lst.set_defaults(handler=run_list)

    ex = ssub.add_parser(
        "export",
        help="write systemd units, a NixOS module or Kubernetes CronJobs for the schedules",
        description=(
            "Write the inventory's schedules for the host's own scheduler. Files are written "
            "atomically; a file that exists with other content is not overwritten without --force."
        ),
    )
    kind = ex.add_mutually_exclusive_group(required=True)
    kind.add_argument("--systemd", dest="kind", action="store_const", const="systemd", help="a .service and a .timer per schedule")
    kind.add_argument("--nixos", dest="kind", action="store_const", const="nixos", help="a NixOS module (auditor-schedules.nix)")
    kind.add_argument("--kubernetes", dest="kind", action="store_const", const="kubernetes", help="a CronJob manifest per schedule")
    _common.add_inventory(ex, demo_fallback=False)
    ex.add_argument("--output-dir", "-o", metavar="DIR", default=".", help="where to write the files (default: .)")
    ex.add_argument("--force", action="store_true", help="overwrite files that exist with other content")
    ex.add_argument("--exec", metavar="PATH", help="the auditor command on the host (default: /usr/bin/auditor; NixOS: /run/current-system/sw/bin/auditor)")
    ex.add_argument("--timeout", metavar="DURATION", default="10m", help="time limit per target (default: 10m)")
    ex.add_argument("--retries", type=int, default=2, metavar="N", help="Kubernetes: retries of a failed run (default: 2)")
    ex.add_argument("--jitter", metavar="DURATION", default="5m", help="systemd/NixOS: random delay of each run (default: 5m)")
    ex.add_argument("--image", metavar="REF", help="Kubernetes: the auditor image, pinned by digest (name@sha256:...)")
    ex.add_argument("--namespace", default="auditor", help="Kubernetes namespace (default: auditor)")
    ex.add_argument("--configmap", default="auditor-inventory", help="Kubernetes ConfigMap holding auditor.yaml")
    ex.add_argument("--history-secret", default="auditor-history", help="Kubernetes Secret whose key `url` is the history's PostgreSQL URL")
    fleet = ex.add_argument_group("the fleet's agent and worker units (systemd, NixOS; see docs/fleet.md)")
    fleet.add_argument("--nats", metavar="URL", help="the fleet's NATS URL, without user or password (else AUDITOR_NATS in /etc/auditor/fleet.env)")
    for option, what in (("--nats-creds", "credentials file"), ("--nats-cert", "client certificate"),
                         ("--nats-key", "client key"), ("--nats-ca", "CA certificates")):
        fleet.add_argument(option, metavar="PATH", help=f"the {what} on the host (passed with LoadCredential=)")
    fleet.add_argument("--fleet", action="store_true",
                       help="the agent and worker units are wanted: written even when the inventory has no schedules")
    fleet.add_argument("--worker-concurrency", type=int, default=2, metavar="N", help="the worker's --concurrency (default: 2)")
    ex.set_defaults(handler=run_export)

    s = sub.add_parser(
        "serve",
        help="run the inventory's schedules: store every scan, raise events on regressions",
        description=(
            "Run scheduled scans until stopped (SIGTERM or Ctrl-C: running scans get --grace to "
            "finish and be stored; a second signal stops them at once). On a new failure at or "
            "above --threshold, publish an event on NATS subject audit.findings.<target> and/or "
            "post it to a webhook."
        ),
    )
    _common.add_inventory(s, demo_fallback=False)
    _common.add_catalog(s)
    _history.add_db(s)
    s.add_argument("--concurrency", "-j", type=int, default=4, metavar="N", help="scans at once (default: 4)")
    s.add_argument("--timeout", metavar="DURATION", default="10m", help="time limit of one scan (default: 10m)")
    s.add_argument("--jitter", metavar="DURATION", help="largest random delay of a run (default: a tenth of the interval, at most 1m)")
    s.add_argument("--retries", type=int, default=2, metavar="N", help="retries of a failed or incomplete scan (default: 2)")
    s.add_argument("--backoff", metavar="DURATION", default="10s", help="first retry delay, doubled each time (default: 10s)")
    s.add_argument("--grace", metavar="DURATION", default="30s", help="time running scans get after a stop (default: 30s)")
    s.add_argument("--threshold", choices=severity_names(), help="a new failure at or above this is a regression (default: the policy's fail_on)")
    from auditor._cli._nats import add_nats

    add_nats(s, required=False)
    s.add_argument("--webhook", metavar="URL", help="post regression events here (signed with $AUDITOR_WEBHOOK_SECRET if set)")
    s.set_defaults(handler=run_serve)


def run_list(args: argparse.Namespace) -> int:
    from auditor._schedule import plan
    from auditor._timeutil import rfc3339, utcnow

    inventory = _common.load_inventory(args)
    now = utcnow()
    rows = []
    for s in plan(inventory):
        first = s.cron.next_after(now)
        rows.append({
            "name": s.name,
            "schedule": s.cron.text,
            "targets": [t.name for t in s.targets],
            "next": [rfc3339(first), rfc3339(s.cron.next_after(first))],
        })
    if args.format == "json":
        _common.emit(json.dumps({"inventory": inventory.file, "schedules": rows}, indent=1) + "\n", None)
        return 0
    if not rows:
        _common.emit(f"no schedules in {inventory.file}\n", None)
        return 0
    lines = [f"schedules in {inventory.file} (UTC):"]
    for r in rows:
        lines.append(f"  {r['name']}: {r['schedule']}  next {r['next'][0]}, then {r['next'][1]}")
        lines.append(f"    targets: {', '.join(r['targets'])}")
    _common.emit("\n".join(lines) + "\n", None)
    return 0


def run_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from auditor._schedule import plan
    from auditor._schedule.export import ExportOptions, export, image_pinned, write_files
    from auditor._timeutil import parse_duration
    from auditor.errors import ConfigError

    inventory = _common.load_inventory(args)
    if args.retries < 0:
        raise ConfigError("must be 0 or more", field="--retries")
    if args.kind == "kubernetes" and not args.image:
        raise ConfigError("a Kubernetes CronJob needs the auditor image: give --image NAME@sha256:DIGEST", field="--image")
    default_exec = "/run/current-system/sw/bin/auditor" if args.kind == "nixos" else "/usr/bin/auditor"
    opts = ExportOptions(
        executable=args.exec or default_exec,
        inventory=None if inventory.embedded else str(Path(inventory.file).resolve()),
        timeout=parse_duration(args.timeout, what="--timeout").total_seconds(),
        retries=args.retries,
        jitter=parse_duration(args.jitter, what="--jitter").total_seconds(),
        image=args.image or "",
        namespace=args.namespace,
        configmap=args.configmap,
        history_secret=args.history_secret,
        nats=args.nats,
        nats_files=tuple((option, str(Path(value).resolve())) for option, value in (
            ("--nats-creds", args.nats_creds), ("--nats-cert", args.nats_cert), ("--nats-key", args.nats_key),
            ("--nats-ca", args.nats_ca)) if value),
        worker_concurrency=args.worker_concurrency,
    )
    files = export(args.kind, plan(inventory), opts, fleet=args.fleet)
    if args.kind == "kubernetes" and not image_pinned(opts.image):
        warn("auditor: warning: the image is not pinned by digest (NAME@sha256:...); a tag can change under you")
    for w in write_files(files, Path(args.output_dir), force=args.force):
        if w.action == "unchanged":
            warn(f"{w.action:<11} {w.path}")
        else:
            print(printable(f"{w.action:<11} {w.path}"))
    return 0


def run_serve(args: argparse.Namespace) -> int:
    import logging
    import signal

    from auditor._models import Severity
    from auditor._scan import EvaluateOptions
    from auditor._schedule import plan
    from auditor._schedule.notify import NatsNotifier, Notifier, WebhookNotifier
    from auditor._schedule.serve import ServeOptions, Server
    from auditor._timeutil import parse_duration
    from auditor.errors import ConfigError

    def seconds(value: str | None, flag: str) -> float | None:
        return parse_duration(value, what=flag).total_seconds() if value else None

    if args.concurrency < 1:
        raise ConfigError("must be at least 1", field="--concurrency")
    if args.retries < 0:
        raise ConfigError("must be 0 or more", field="--retries")
    inventory = _common.load_inventory(args)
    schedules = plan(inventory)
    if not schedules:
        raise ConfigError(
            "the inventory has no schedules: give a target a `schedule` or add a `schedules` list "
            "(see docs/scheduling.md)",
            file=inventory.file,
        )
    notifiers: list[Notifier] = []
    if args.nats:
        from auditor._cli._nats import nats_settings

        notifiers.append(NatsNotifier(nats_settings(args, name="auditor serve")))
    if args.webhook:
        notifiers.append(WebhookNotifier(args.webhook))
    options = ServeOptions(
        concurrency=args.concurrency,
        timeout=seconds(args.timeout, "--timeout") or 600.0,
        jitter=seconds(args.jitter, "--jitter"),
        retries=args.retries,
        backoff=seconds(args.backoff, "--backoff") or 0.0,
        grace=seconds(args.grace, "--grace") or 0.0,
        threshold=Severity(args.threshold) if args.threshold else None,
    )
    evaluate = EvaluateOptions(rule_paths=tuple(args.rules), policy_paths=tuple(args.policies))
    logger = logging.getLogger("auditor.serve")
    logger.addHandler(log_handler("%(asctime)s auditor serve: %(message)s", "%Y-%m-%dT%H:%M:%S"))
    logger.setLevel(logging.INFO)
    with _history.open_store(args) as store:
        server = Server(schedules, store, evaluate=evaluate, options=options, notifiers=notifiers)

        def on_signal(signum: int, _frame: Any) -> None:
            if server.stop.is_set():
                server.abort.set()
            server.stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        logger.info(
            "serving %d schedule(s) of %s; history at %s; events: %s",
            len(schedules), inventory.file, store.location,
            ", ".join(n.name for n in notifiers) or "none",
        )
        for s in schedules:
            logger.info("schedule %s: %s (UTC) for %s", s.name, s.cron.text, ", ".join(t.name for t in s.targets))
        stored = server.run()
        logger.info("stopped; %d scan(s) stored", stored)
    return 0
