"""An outside oracle's answers beside auditor's, case by case, for the generated agreement tests."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Agreement:
    """Yes/no answers of auditor (ours) and of the real program (theirs)."""

    seen: Counter[tuple[bool, bool]] = field(default_factory=Counter)
    disagree: list[str] = field(default_factory=list)

    def add(self, ours: bool, theirs: bool, case: str) -> None:
        """One case's answers; `case` says what it was."""
        self.seen[ours, theirs] += 1
        if ours != theirs:
            self.disagree.append(f"{case}: auditor {'yes' if ours else 'no'}, the oracle {'yes' if theirs else 'no'}")

    def check(self, summary: str, shown: int = 20) -> None:
        """Print `summary` with the tally; fail unless both answers were reached and every case agreed."""
        print(f"\n{summary}: (auditor, oracle) {dict(self.seen)}; {len(self.disagree)} disagree")
        assert self.seen[True, True] and self.seen[False, False], self.seen  # both answers reached
        assert not self.disagree, "\n".join(self.disagree[:shown])
