"""Scheduled scans: the schedules of an inventory, the `auditor serve` loop, exports.

A schedule comes from a target's `schedule` (that target) or from the inventory's
`schedules` list (every target with a tag). `plan()` turns an inventory into schedules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from auditor._schedule.cron import Cron, parse_cron

if TYPE_CHECKING:
    from auditor._inventory.model import Inventory, Target

__all__ = ["Cron", "Schedule", "parse_cron", "plan"]


@dataclass(frozen=True)
class Schedule:
    kind: str
    """"target" or "tag"."""
    selector: str
    """The target's name or the tag."""
    cron: Cron
    targets: tuple[Target, ...]

    @property
    def name(self) -> str:
        """A stable name: target-NAME or tag-TAG."""
        return f"{self.kind}-{self.selector}"

    def scan_args(self) -> list[str]:
        """The `auditor scan` arguments that run this schedule once."""
        return ["--target", self.selector] if self.kind == "target" else ["--tag", self.selector]


def plan(inventory: Inventory) -> list[Schedule]:
    """Every schedule of `inventory` (already validated when it was loaded)."""
    out = [
        Schedule("target", t.name, parse_cron(t.schedule), (t,))
        for t in inventory.targets
        if t.schedule is not None
    ]
    for s in inventory.schedules:
        out.append(Schedule("tag", s.tag, parse_cron(s.schedule), tuple(inventory.with_tag(s.tag))))
    return out
