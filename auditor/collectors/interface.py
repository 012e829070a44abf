"""The collector seam: every evidence source is a Collector that yields EvidenceRecords.

A collector never raises for a source it cannot read: it yields an error record (see
:meth:`CollectContext.error`), and the runner turns any unexpected exception into one too.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from auditor.inventory.model import SourceSpec, Target, resolve_path
from auditor.models import EvidenceRecord
from auditor.timeutil import rfc3339


@dataclass(frozen=True)
class CollectContext:
    """What a collector knows about the scan: the target, the source and the time."""

    target: Target
    source: SourceSpec
    now: dt.datetime

    @property
    def root(self) -> Path:
        return self.target.root

    def path(self, value: str) -> Path:
        return resolve_path(self.target.root, value)

    def display(self, path: Path) -> str:
        """A path as findings show it: relative to the target's root where possible."""
        try:
            return str(path.relative_to(self.target.root))
        except ValueError:
            return str(path)

    def record(self, kind: str, resource: str, data: Mapping[str, Any], *, source: str | None = None) -> EvidenceRecord:
        return EvidenceRecord(
            kind=kind,
            source=source or self.source.name,
            resource=resource,
            collected_at=rfc3339(self.now),
            data=dict(data),
        )

    def error(self, kind: str, resource: str, message: str, *, source: str | None = None) -> EvidenceRecord:
        return EvidenceRecord(
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
    """The evidence kinds it yields; the first is used for error records."""

    def __init__(self, context: CollectContext) -> None:
        self.context = context

    @abc.abstractmethod
    def collect(self) -> Iterator[EvidenceRecord]:
        """Yield evidence records, and error records for what cannot be read."""
