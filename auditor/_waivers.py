"""Waivers across an inventory: which apply to which targets, and which lapse soon.

Each waiver comes from a policy pack; it applies to every target whose packs include that
pack. A waiver is `expired` once its day has passed, `expiring` when it lapses within the
window, else `active`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from auditor._inventory.model import Inventory
from auditor._models import Waiver
from auditor._policy.catalog import Catalog


@dataclass(frozen=True)
class WaiverState:
    waiver: Waiver
    targets: tuple[str, ...]
    state: str
    """active, expiring or expired."""
    days_left: int
    """Days until the waiver lapses (0: its last day is today; negative: expired)."""

    def to_dict(self) -> dict[str, Any]:
        return {**self.waiver.to_dict(), "targets": list(self.targets), "state": self.state, "days_left": self.days_left}


def waiver_states(inventory: Inventory, catalog: Catalog, *, now: dt.datetime, window: dt.timedelta) -> list[WaiverState]:
    """Every waiver of the packs the inventory's targets use, soonest to lapse first."""
    users: dict[Waiver, list[str]] = {}
    for target in inventory.targets:
        for ref in target.policies:
            for w in catalog.pack(ref).waivers:
                names = users.setdefault(w, [])
                if target.name not in names:
                    names.append(target.name)
    today = now.astimezone(dt.UTC).date()
    out = []
    for w, names in users.items():
        days = (dt.date.fromisoformat(w.expires) - today).days
        state = "expired" if days < 0 else "expiring" if days <= window.days else "active"
        out.append(WaiverState(w, tuple(names), state, days))
    return sorted(out, key=lambda s: (s.days_left, s.waiver.policy, s.waiver.rule, s.waiver.resource))
