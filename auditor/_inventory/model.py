"""Inventory value types."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor._policy.owners import Ownership
from auditor._urls import Credentials
from auditor.errors import ConfigError


@dataclass(frozen=True)
class SourceSpec:
    """One evidence source of a target: a collector name and its options."""

    collector: str
    name: str
    required: bool
    options: Mapping[str, Any]
    """The options as the inventory gives them, every URL without its user-info."""
    credentials: Mapping[str, Credentials] = field(default_factory=dict, repr=False, compare=False)
    """The user-info taken out of the URLs of `options`, by option (dotted path, e.g. `address`):
    for the collector that must authenticate, never for showing."""
    file: str = ""
    line: int | None = None

    def path_option(self, root: Path, key: str) -> list[Path]:
        """Option `key` (a list of paths) resolved against the target's root folder."""
        return [resolve_path(root, p) for p in self.options.get(key, ())]


@dataclass(frozen=True)
class SshSpec:
    """Agentless collection: the target's evidence is collected over SSH (auditor._remote.ssh)."""

    host: str
    port: int = 22
    user: str | None = None
    identity_file: Path | None = None
    """Private key to log in with; None: ssh-agent or asyncssh's default keys."""
    known_hosts: Path = Path("~/.ssh/known_hosts")
    """The host key is always verified against this file."""
    command: str = "auditor"
    """The auditor command on the remote machine."""
    connect_timeout: float = 30.0

    @property
    def destination(self) -> str:
        """user@host:port, fit to show (an IPv6 address in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user + '@' if self.user else ''}{host}:{self.port}"


@dataclass(frozen=True)
class AgentSpec:
    """How the node agent signs the target's evidence, and what workers accept (docs/fleet.md)."""

    key: Path | None = None
    certificate: Path | None = None
    chain: tuple[Path, ...] = ()
    trust_anchors: tuple[Path, ...] = ()
    """Roots a worker accepts the node's chain to; empty: the target's trust_anchors."""


@dataclass(frozen=True)
class Target:
    """One node to audit: its environment, policy packs, evidence sources, names and trust anchors."""

    name: str
    environment: str
    policies: tuple[str, ...]
    sources: tuple[SourceSpec, ...]
    root: Path
    description: str = ""
    tags: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    trust_anchors: tuple[Path, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict)
    schedule: str | None = None
    inventory_file: str = ""
    rule_paths: tuple[Path, ...] = ()
    """The inventory's extra rule folders: this target's rules may come from them."""
    policy_paths: tuple[Path, ...] = ()
    """The inventory's extra policy folders (e.g. a node's waivers)."""
    definition: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    ssh: SshSpec | None = None
    """Collect over SSH instead of on this machine."""
    agent: AgentSpec | None = None
    ownership: Ownership | None = None
    """Owners and times to fix the target sets (they win over its packs')."""
    node_tree: bool = True
    """`root` is the node's `/` (its tree, here, copied or mounted): its links are followed from
    there (auditor._fsutil.node_root). False for files named on the command line (`--path`),
    read as this machine's."""

    @property
    def evidence_anchors(self) -> tuple[Path, ...]:
        """The roots a signed bundle of this target must chain to."""
        return (self.agent.trust_anchors if self.agent else ()) or self.trust_anchors

    def describe(self) -> dict[str, Any]:
        """What travels with the evidence: enough to evaluate it on another machine."""
        return {
            "name": self.name,
            "environment": self.environment,
            "description": self.description,
            "tags": list(self.tags),
            "policies": list(self.policies),
            "names": list(self.names),
            "vars": dict(self.vars),
            **({"ownership": self.definition["ownership"]} if "ownership" in self.definition else {}),
        }


@dataclass(frozen=True)
class TagSchedule:
    """A schedule for every target with `tag` (the inventory's `schedules` list)."""

    tag: str
    schedule: str
    line: int | None = None


@dataclass(frozen=True)
class Inventory:
    """The targets of an inventory file, its extra rule and policy folders and its schedules."""

    file: str
    targets: tuple[Target, ...]
    rule_paths: tuple[Path, ...] = ()
    policy_paths: tuple[Path, ...] = ()
    embedded: bool = False
    schedules: tuple[TagSchedule, ...] = ()

    def target(self, name: str) -> Target:
        """The target called `name`; ConfigError naming the known ones if there is none."""
        for t in self.targets:
            if t.name == name:
                return t
        known = ", ".join(t.name for t in self.targets) or "none"
        raise ConfigError(f"unknown target '{name}' (targets in this inventory: {known})", file=self.file)

    def with_tag(self, tag: str) -> list[Target]:
        """The targets that have `tag`."""
        return [t for t in self.targets if tag in t.tags]


def cel_target_view(described: Mapping[str, Any]) -> dict[str, Any]:
    """The `target` variable rules see, from a target's description (as a bundle holds it)."""
    return {
        "name": str(described.get("name") or ""),
        "environment": str(described.get("environment") or ""),
        "tags": list(described.get("tags") or ()),
        "names": list(described.get("names") or ()),
        "vars": dict(described.get("vars") or {}),
    }


def resolve_path(root: Path, value: str) -> Path:
    """`value` (an inventory's path: absolute, `~/...`, or relative to `root`) as a path, each
    `..` below `root` taken back with the name before it where that name is not a symbolic link
    (`etc/nats/../nats/certs` is `etc/nats/certs`: the file the node reads, named as findings
    name it whichever way it was spelled). After a link, `..` leads out of the link's target, so
    the path stays as spelled; a `..` above `root` (`../pki-ca`) stays too."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    if ".." not in path.parts:
        return root / path
    kept: list[str] = []
    for part in path.parts:
        if part == ".." and kept and kept[-1] != ".." and not root.joinpath(*kept).is_symlink():
            kept.pop()
        else:
            kept.append(part)
    return root.joinpath(*kept)
