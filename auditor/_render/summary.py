"""Large finding sets summarised: what a report lists of many problems of one rule, and what it counts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from auditor._models import Problem

SHOWN_PER_RULE = 25
"""How many problems of one rule (or one set of rules) the text, Markdown, HTML and PDF reports
list, and how many passing resources of a rule they name: the rest are counted in one line. The
findings document (`--format json`, SARIF, JUnit) and `--appendix` keep every finding, each with
its stable id."""

_T = TypeVar("_T")


@dataclass(frozen=True)
class Elided:
    """Problems of one rule (or set of rules) that a report counts instead of listing."""

    rules: tuple[str, ...]
    title: str
    count: int
    shown: int

    @property
    def text(self) -> str:
        """`… and 99,975 more NATS-003 problems (User passwords are ...): ...`."""
        return (f"… and {self.count:,} more {', '.join(self.rules)} problem{'s' if self.count != 1 else ''} "
                f"({self.title}), {self.shown} shown: every one is in the findings document "
                f"(`--format json`) with its id")


def summarised(rows: Sequence[_T], problem: Callable[[_T], Problem],
               per_rule: int | None = None) -> tuple[tuple[_T, ...], tuple[Elided, ...]]:
    """`rows` (problems, in order) with at most `per_rule` (default SHOWN_PER_RULE) of each set of
    rules, and what was left out, one Elided per set of rules: a report of 100,000 failing users
    lists 25 of them and counts the rest."""
    limit = SHOWN_PER_RULE if per_rule is None else per_rule
    seen: dict[tuple[str, ...], int] = {}
    shown: list[_T] = []
    titles: dict[tuple[str, ...], str] = {}
    for row in rows:
        found = problem(row)
        rules = tuple(sorted({f.rule_id for f in found.findings}))
        seen[rules] = seen.get(rules, 0) + 1
        if seen[rules] <= limit:
            shown.append(row)
        else:
            titles.setdefault(rules, found.primary.title)
    elided = tuple(Elided(rules, title, seen[rules] - limit, limit) for rules, title in titles.items())
    return tuple(shown), elided


def itself(problem: Problem) -> Problem:
    """`summarised(result.problems, itself)`: the rows are the problems."""
    return problem
