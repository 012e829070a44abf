"""Finding and loading the inventory: --inventory PATH, then ./auditor.yaml, then the demo."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from auditor._inventory.model import (
    AgentSpec,
    Inventory,
    SourceSpec,
    SshSpec,
    TagSchedule,
    Target,
    resolve_path,
)
from auditor._loader.schema import schema_errors, validate_document
from auditor._loader.yamlfile import Document, dotted_path, load_yaml
from auditor._policy.owners import load_ownership
from auditor._urls import split_tree

DEFAULT_NAME = "auditor.yaml"


def locate_inventory(explicit: str | None, cwd: Path | None = None) -> Path | None:
    """The inventory file the user meant: an explicit path, else ./auditor.yaml if there is
    one; None when there is neither (a caller may then fall back to the embedded demo)."""
    if explicit:
        return Path(explicit)
    local = (cwd or Path.cwd()) / DEFAULT_NAME
    return local if local.is_file() else None


def find_inventory(explicit: str | None, cwd: Path | None = None) -> Inventory:
    """The inventory the user meant: an explicit path, ./auditor.yaml, or the embedded demo
    (`Inventory.embedded` then says so: the command line announces it)."""
    path = locate_inventory(explicit, cwd)
    if path is not None:
        return load_inventory(path)
    from auditor._demo import demo_inventory

    return demo_inventory()


def load_inventory(path: Path, *, text: str | None = None, base: Path | None = None, embedded: bool = False) -> Inventory:
    """The inventory in the YAML file `path` (or `text`), relative paths resolved against `base` (default its folder)."""
    doc = load_yaml(path, text=text)
    return parse_inventory(doc, base or path.parent, embedded=embedded)


def parse_inventory(doc: Document, base: Path, *, embedded: bool = False) -> Inventory:
    """The inventory in `doc`. Every URL in it loses its user-info first: a source keeps the
    credentials apart (SourceSpec.credentials), and nothing else, errors included, sees them."""
    from auditor._collectors import COLLECTORS, options_schema_name

    clean, credentials = split_tree(doc.value)
    doc = dataclasses.replace(doc, value=clean)
    validate_document(doc, "inventory")
    raw = doc.value
    rule_paths = tuple(resolve_path(base, p) for p in raw.get("rule_paths", ()))
    policy_paths = tuple(resolve_path(base, p) for p in raw.get("policy_paths", ()))
    targets: list[Target] = []
    seen: dict[str, int] = {}
    for ti, t in enumerate(raw["targets"]):
        where = ("targets", ti)
        if t["name"] in seen:
            raise doc.error(f"duplicate target name '{t['name']}'", (*where, "name"))
        seen[t["name"]] = ti
        ssh = _ssh(doc, t["ssh"], base, (*where, "ssh")) if "ssh" in t else None
        if ssh is not None:  # the root is a folder on the remote machine
            root = Path(t.get("root", "/"))
            if not root.is_absolute():
                raise doc.error("the root of a target collected over SSH is an absolute path there", (*where, "root"))
        else:
            root = resolve_path(base, t.get("root", "."))
        sources = []
        labels: set[str] = set()
        for si, s in enumerate(t["sources"]):
            spath = (*where, "sources", si)
            collector = s["collector"]
            if collector not in COLLECTORS:
                raise doc.error(
                    f"unknown collector '{collector}' (known: {', '.join(sorted(COLLECTORS.names()))})",
                    (*spath, "collector"),
                )
            errors = schema_errors(s, options_schema_name(collector), remember=True)
            if errors:
                epath, message = errors[0]
                raise doc.error(message, (*spath, *epath))
            label = s.get("name") or f"{collector}#{si}"
            if label in labels:
                raise doc.error(f"duplicate source name '{label}'", (*spath, "name"))
            labels.add(label)
            options = {k: v for k, v in s.items() if k not in {"collector", "name", "required"}}
            spath_len = len(spath)
            source_credentials = {
                dotted_path(p[spath_len:]): c for p, c in credentials.items() if p[:spath_len] == spath
            }
            sources.append(
                SourceSpec(
                    collector=collector,
                    name=label,
                    required=bool(s.get("required", True)),
                    options=options,
                    credentials=source_credentials,
                    file=doc.file,
                    line=doc.line_of(spath),
                )
            )
        targets.append(
            Target(
                name=t["name"],
                environment=t["environment"],
                policies=tuple(t["policies"]),
                sources=tuple(sources),
                root=root,
                description=t.get("description", ""),
                tags=tuple(t.get("tags", ())),
                names=tuple(t.get("names", ())),
                trust_anchors=tuple(resolve_path(root, a) for a in t.get("trust_anchors", ())),
                vars=dict(t.get("vars") or {}),
                schedule=t.get("schedule"),
                inventory_file=doc.file,
                rule_paths=rule_paths,
                policy_paths=policy_paths,
                definition=t,
                ownership=load_ownership(doc, (*where, "ownership")),
                ssh=ssh,
                agent=_agent(t["agent"], root) if "agent" in t else None,
            )
        )
    return Inventory(
        file=doc.file,
        targets=tuple(targets),
        rule_paths=rule_paths,
        policy_paths=policy_paths,
        embedded=embedded,
        schedules=_schedules(doc, targets),
    )


def _agent(raw: dict[str, Any], root: Path) -> AgentSpec:
    def path(key: str) -> Path | None:
        return resolve_path(root, raw[key]) if key in raw else None

    return AgentSpec(
        key=path("key"),
        certificate=path("certificate"),
        chain=tuple(resolve_path(root, p) for p in raw.get("chain", ())),
        trust_anchors=tuple(resolve_path(root, p) for p in raw.get("trust_anchors", ())),
    )


def _ssh(doc: Document, raw: str | dict[str, Any], base: Path, where: tuple[str | int, ...]) -> SshSpec:
    """The `ssh` of a target: `user@host[:port]` or a mapping (shape checked by the schema)."""
    spec = {"destination": raw} if isinstance(raw, str) else raw
    text = spec["destination"]
    user, _, hostport = text.rpartition("@")
    host, port = hostport, 22
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        if rest:
            port = int(rest[1:])
    elif ":" in hostport:
        host, _, number = hostport.partition(":")
        port = int(number)
    if not 0 < port < 65536:
        raise doc.error(f"port {port} is not between 1 and 65535", (*where, "destination") if isinstance(raw, dict) else where)
    known = spec.get("known_hosts")
    return SshSpec(
        host=host,
        port=port,
        user=user or None,
        identity_file=resolve_path(base, spec["identity_file"]) if "identity_file" in spec else None,
        known_hosts=resolve_path(base, known) if known else Path("~/.ssh/known_hosts").expanduser(),
        command=spec.get("auditor", "auditor"),
        connect_timeout=float(spec.get("connect_timeout", 30.0)),
    )


def _schedules(doc: Document, targets: list[Target]) -> tuple[TagSchedule, ...]:
    """Check every cron expression (a bad one is an error at its line) and every tag."""
    from auditor._schedule.cron import parse_cron
    from auditor.errors import ConfigError

    def check(text: str, path: tuple[str | int, ...]) -> None:
        try:
            parse_cron(text)
        except ConfigError as exc:
            raise doc.error(exc.message, path) from None

    for ti, t in enumerate(targets):
        if t.schedule is not None:
            check(t.schedule, ("targets", ti, "schedule"))
    out = []
    tags = {tag for t in targets for tag in t.tags}
    for si, item in enumerate(doc.value.get("schedules", ())):
        check(item["schedule"], ("schedules", si, "schedule"))
        if item["tag"] not in tags:
            raise doc.error(
                f"no target has tag '{item['tag']}' (tags: {', '.join(sorted(tags)) or 'none'})",
                ("schedules", si, "tag"),
            )
        out.append(TagSchedule(item["tag"], item["schedule"], doc.line_of(("schedules", si))))
    return tuple(out)

