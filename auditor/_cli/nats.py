"""`auditor nats can|permissions`: subject permissions of a nats.conf, as the server applies them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from auditor._cli import _common

if TYPE_CHECKING:
    import argparse

    from auditor._nats.config import NatsConfig


ROOT_HELP = "includes are read only from inside this folder (default: the config's folder)"


def register(sub: Any) -> None:
    p = sub.add_parser("nats", help="NATS subject permissions of a nats.conf")
    nsub = p.add_subparsers(dest="nats_command", metavar="ACTION", required=True)
    can = nsub.add_parser(
        "can",
        help="may USER publish or subscribe to SUBJECT? (exit 0 allow, 1 deny, 2 bad input)",
        description=(
            "Answer with the server's own semantics (deny wins; `*` and `>`; queue groups; "
            "allow_responses; default_permissions; `subscribe allow: foo.*` admits `foo.>`). "
            "Variables in the config fall back to this process's environment, as for the "
            "server. Exit 0: allow; 1: deny; 2: bad input."
        ),
    )
    can.add_argument("--config", required=True, metavar="FILE", help="the nats.conf (includes are followed)")
    can.add_argument("--user", required=True, metavar="NAME", help="user name (or nkey) in the config")
    action = can.add_mutually_exclusive_group(required=True)
    action.add_argument("--publish", metavar="SUBJECT", help="a literal subject to publish to")
    action.add_argument("--subscribe", metavar="SUBJECT", help="a subject (wildcards allowed) to subscribe to")
    can.add_argument("--queue", metavar="GROUP", help="subscribe in this queue group")
    can.add_argument("--format", choices=("text", "json"), default="text")
    can.add_argument("--root", metavar="DIR", help=ROOT_HELP)
    can.set_defaults(handler=run_can)
    perms = nsub.add_parser("permissions", help="every user's effective permissions (the matrix)")
    perms.add_argument("--config", required=True, metavar="FILE", help="the nats.conf (includes are followed)")
    perms.add_argument("--format", choices=("text", "json"), default="text")
    perms.add_argument("--root", metavar="DIR", help=ROOT_HELP)
    perms.set_defaults(handler=run_permissions)


def load(path: str, user: str | None = None, root: str | None = None) -> NatsConfig:
    """The config checked as the server checks it; with `user`, only that user is interpreted.
    Includes are read only from inside `root` (default: the config's folder), as a scan reads
    them only from inside the scanned folder."""
    import os
    from pathlib import Path

    from auditor._gcpause import gc_paused
    from auditor._nats.conf import parse_file
    from auditor._nats.config import interpret

    confine = Path(root) if root else Path(path).parent
    with gc_paused():  # the parsed values hold no cycles and are freed (by reference counts) before it is back on
        return interpret(parse_file(Path(path), env=os.environ, confine=confine), only_user=user)


def run_can(args: argparse.Namespace) -> int:
    from auditor._nats.permissions import can_publish, can_subscribe
    from auditor.errors import ConfigError

    cfg = load(args.config, args.user, args.root)
    user = cfg.user(args.user)
    if args.queue is not None and args.publish is not None:
        raise ConfigError("--queue applies to --subscribe only")
    if args.publish is not None:
        action, subject = "publish", args.publish
        decision = can_publish(user.permissions, subject)
    else:
        action, subject = "subscribe", args.subscribe
        decision = can_subscribe(user.permissions, subject, args.queue)
    if args.format == "json":
        import json

        doc = {
            "verdict": decision.verdict, "user": user.name, "account": user.account,
            "action": action, "subject": subject, "queue": args.queue,
            "reason": decision.reason, "filtered": list(decision.filtered),
            "permissions_source": user.permissions_source,
        }
        _common.emit(json.dumps(doc, indent=2) + "\n", None)
    else:
        source = {"default": " (from default_permissions)", "none": " (user has no permissions)"}.get(user.permissions_source, "")
        _common.emit(f"{decision.verdict}: {user.name} {action} {subject}"
                     f"{' queue ' + args.queue if args.queue else ''}: {decision.reason}{source}\n", None)
    return 0 if decision.allowed else 1


def run_permissions(args: argparse.Namespace) -> int:
    import json

    import msgspec

    from auditor._collectors.nats_config import permissions_facts, user_facts

    cfg = load(args.config, root=args.root)
    mode = cfg.settings.authorization.mode if cfg.settings is not None else "none"
    defaults = cfg.settings.authorization.default_permissions if cfg.settings is not None else None
    rows = [msgspec.to_builtins(user_facts(u)) for u in cfg.users]
    if args.format == "json":
        doc = {"config": args.config, "users": rows,
               "default_permissions": msgspec.to_builtins(permissions_facts(defaults)) if defaults is not None else None}
        _common.emit(json.dumps(doc, indent=2) + "\n", None)
        return 0
    lines = [f"{args.config}: {len(rows)} users, authentication: {mode}"]
    for row in rows:
        auth = row["auth"] + (f" ({row['password']['kind']})" if row["password"] else "")
        lines.append(f"\n{row['name']}  account {row['account']}, {auth}, permissions: {row['permissions_source']}")
        for act in ("publish", "subscribe"):
            side = row[act]
            allow = "everything" if side["allow"] is None else (", ".join(side["allow"]) or "nothing")
            deny = f"; deny {', '.join(side['deny'])}" if side["deny"] else ""
            lines.append(f"  {act:<10} allow {allow}{deny}")
        r = row["allow_responses"]
        if r:
            lines.append(f"  {'responses':<10} max {'unlimited' if r['max'] < 0 else r['max']}, "
                         f"expires {'never' if r['expires_seconds'] < 0 else str(r['expires_seconds']) + 's'}")
        reach = "; ".join(
            f"{p} pub {row['reach']['publish'][p]}, sub {row['reach']['subscribe'][p]}"
            for p in row["reach"]["publish"]
        )
        lines.append(f"  {'reach':<10} {reach}")
    _common.emit("\n".join(lines) + "\n", None)
    return 0
