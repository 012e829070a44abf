"""Which rules a line of a pack names: a rule id (wildcards allowed), an area or a tag."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass


@dataclass(frozen=True)
class Selector:
    """`id: CERT-*`, `area: certificates` or `tag: high-security`."""

    key: str  # id | area | tag
    value: str

    def matches(self, rule_id: str, area: str, tags: tuple[str, ...]) -> bool:
        """True when the rule with this id, area and tags is one this selector names."""
        if self.key == "id":
            return fnmatch.fnmatchcase(rule_id, self.value)
        if self.key == "area":
            return area == self.value
        return self.value in tags

    def __str__(self) -> str:
        return f"{self.key}: {self.value}"
