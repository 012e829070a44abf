"""How much a failure matters: the one vocabulary of severities (the CLI's choices come from it).

A module of its own, importing nothing heavy, so the command line can offer the choices
without loading the models.
"""

from __future__ import annotations

import enum
import operator


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
        return _RANK_BY_VALUE[self._value_]  # by the value: a str hashes in C, an Enum member in Python

    def at_least(self, other: Severity) -> bool:
        """True when this severity is `other` or higher."""
        return _RANK_BY_VALUE[self._value_] >= _RANK_BY_VALUE[other._value_]


def fast_value(cls: type[enum.Enum]) -> None:
    """Give the members of `cls` a `value` read in C (the member's `_value_`, what Enum's own
    property returns through a Python-level descriptor, about ten times slower): reports and
    results read a finding's status and severity tens of thousands of times."""
    type.__setattr__(cls, "value", property(operator.attrgetter("_value_"), doc="The member's value."))


fast_value(Severity)

_RANK_BY_VALUE = {
    Severity.CRITICAL.value: 4,
    Severity.HIGH.value: 3,
    Severity.MEDIUM.value: 2,
    Severity.LOW.value: 1,
    Severity.INFO.value: 0,
}


def severity_names() -> list[str]:
    """The severities as `--fail-on` and `--threshold` take them, highest first."""
    return [s.value for s in Severity]
