"""The collector seam: every evidence source is a Collector that yields records.

A collector builds the typed evidence of its kinds (:mod:`auditor.evidence.kinds`) from what
the domain packages (pki, auditor._nats, auditor._sops, auditor._secrets, ...) return: collectors
are the only adapters between those and the evidence layer. A collector never raises for a
source it cannot read: it yields a :class:`~auditor.evidence.record.Failure` (see
:meth:`CollectContext.error`), and the runner turns any unexpected exception into one too.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from auditor._inventory.model import SourceSpec, Target, resolve_path
from auditor._timeutil import rfc3339
from auditor.evidence.contract import Facts
from auditor.evidence.record import Evidence, Failure, Record

if TYPE_CHECKING:
    from auditor._host.system import Host


@dataclass(frozen=True)
class CollectContext:
    """What a collector knows about the scan: the target, the source and the time."""

    target: Target
    source: SourceSpec
    now: dt.datetime
    remote: Host | None = None
    """The target's machine reached over SSH (its files and commands, auditor._remote.sshhost),
    for the collectors that read a host through that seam; None: the target is read here."""

    @property
    def root(self) -> Path:
        return self.target.root

    def path(self, value: str) -> Path:
        return resolve_path(self.target.root, value)

    @property
    def tree_root(self) -> Path | None:
        """The node's `/` its links are followed from (the target's root), or None when the
        target is not a node's tree (Target.node_tree: files named on the command line, whose
        links this machine follows)."""
        return self.target.root if self.target.node_tree else None

    def real(self, path: Path) -> Path:
        """Where the node's file `path` (under its root) really is: symbolic links followed as
        the node follows them, an absolute link from the node's `/` (auditor._fsutil.in_root: a
        tree mounted or copied here, NixOS linking /etc into /nix/store); for a link to nothing
        there, where the node would look (it does not exist). `path` itself when it is not under
        the root or the target is not a node's tree (Target.node_tree: this machine then follows
        the links)."""
        from auditor._fsutil import on_node

        return path if self.tree_root is None else on_node(path, self.tree_root)

    def display(self, path: Path) -> str:
        """A path as findings show it: relative to the target's root where possible; bytes of a
        name that are not UTF-8 shown as `\\xNN` (see :func:`auditor._fsutil.path_text`)."""
        from auditor._fsutil import path_text

        try:
            return path_text(path.relative_to(self.target.root))
        except ValueError:
            return path_text(path)

    def record(self, resource: str, data: Facts, *, source: str | None = None) -> Evidence:
        """Evidence of `data`'s kind about `resource`."""
        return Evidence(
            source=source or self.source.name,
            resource=resource,
            collected_at=rfc3339(self.now),
            data=data,
        )

    def errors(self, kinds: Iterable[str], resource: str, message: str) -> Iterator[Failure]:
        """The failure to collect `resource`, once for each of `kinds`: what could not be read may
        have held evidence of each (a manifest any object, a nats.conf its users), so the rules of
        each are undecided for it, never judged on the rest alone."""
        for kind in kinds:
            yield self.error(kind, resource, message)

    def error(self, kind: str, resource: str, message: str, *, source: str | None = None) -> Failure:
        """The failure to collect `resource` (evidence of `kind`)."""
        return Failure(
            kind=kind,
            source=source or self.source.name,
            resource=resource,
            collected_at=rfc3339(self.now),
            error=" ".join(message.split()),
            required=self.source.required,
        )


class Collector(abc.ABC):
    """Collects one source's evidence."""

    name: ClassVar[str]
    """The `collector:` value in an inventory; its options schema is collectors/<name>."""
    kinds: ClassVar[tuple[str, ...]]
    """The evidence kinds it yields: a collector that fails is an error record for each
    (run_collector); what one of its inputs could not give is one for each kind that input may
    have held (CollectContext.errors)."""
    reads_host: ClassVar[bool] = False
    """It reads its machine only through the host package's seam (files and command runner,
    auditor._host.system), so for a target with `ssh` it runs here with CollectContext.remote;
    the others run on that machine in the remote auditor (auditor._remote.ssh)."""

    def __init__(self, context: CollectContext) -> None:
        self.context = context

    @abc.abstractmethod
    def collect(self) -> Iterator[Record]:
        """Yield evidence, and failures for what cannot be read."""
