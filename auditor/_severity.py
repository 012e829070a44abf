"""How much a failure matters: the one vocabulary of severities (the CLI's choices come from it).

A module of its own, importing nothing heavy, so the command line can offer the choices
without loading the models.
"""

from __future__ import annotations

import enum


class Severity(enum.Enum):
    """How much a failure matters. Ordered: critical is the highest."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """4 for critical down to 0 for info."""
        return _RANK_OF_VALUE[self._value_]  # by value: an enum member hashes in Python

    def at_least(self, other: Severity) -> bool:
        """True when this severity is `other` or higher."""
        return _RANK_OF_VALUE[self._value_] >= _RANK_OF_VALUE[other._value_]


_SEVERITY_RANK = {
    Severity.CRITICAL: 4,
    Severity.HIGH: 3,
    Severity.MEDIUM: 2,
    Severity.LOW: 1,
    Severity.INFO: 0,
}
_RANK_OF_VALUE = {s.value: rank for s, rank in _SEVERITY_RANK.items()}


def severity_names() -> list[str]:
    """The severities as `--fail-on` and `--threshold` take them, highest first."""
    return [s.value for s in Severity]
