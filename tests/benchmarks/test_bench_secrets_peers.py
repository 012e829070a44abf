"""Recall and false-positive rate on peers' own rule samples (issue 17: agree with outside references).

Run (after fetching snapshots of mongodb/kingfisher and gitleaks/gitleaks, see peer_samples.py):
`AUDITOR_PEER_MIRRORS=/work/.mirror .venv/bin/python -m pytest tests/benchmarks/test_bench_secrets_peers.py -m benchmark -s`

Each sample is scanned alone, as the peers test them, as a text file. A positive counts as
found when auditor reports any finding that is not a vendor example; a negative counts as a
false positive when it does. Private-key samples that peers truncate (a few lines of base64)
do not parse and are not reported by design (auditor confirms keys structurally).
"""

from __future__ import annotations

import collections
import os
from pathlib import Path

import pytest

from auditor._secrets.scanner import Scanner
from tests.benchmarks.peer_samples import all_samples

pytestmark = pytest.mark.benchmark


def test_peer_rule_samples() -> None:
    mirrors = Path(os.environ.get("AUDITOR_PEER_MIRRORS", "/work/.mirror"))
    samples = all_samples(mirrors)
    if not samples:
        pytest.skip(f"no peer snapshots under {mirrors}")
    scanner = Scanner()
    tally: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0, 0, 0])  # tp, pos, fp, neg
    missed: dict[str, list[str]] = collections.defaultdict(list)
    flagged: dict[str, list[str]] = collections.defaultdict(list)
    for sample in samples:
        hits = [h for h in scanner.scan_bytes(sample.text.encode(), "sample.txt") if h.category != "example"]
        row = tally[sample.family]
        if sample.positive:
            row[1] += 1
            row[0] += bool(hits)
            if not hits:
                missed[sample.family].append(sample.source)
        else:
            row[3] += 1
            row[2] += bool(hits)
            if hits:
                flagged[sample.family].append(sample.source)
    print(f"\n{len(samples)} samples from {mirrors}")
    print(f"{'family':<18} {'recall':>12} {'FP rate':>10}")
    total = [0, 0, 0, 0]
    for family in sorted(tally):
        tp, pos, fp, neg = tally[family]
        total = [a + b for a, b in zip(total, (tp, pos, fp, neg), strict=True)]
        print(f"{family:<18} {tp:>4}/{pos:<4} {tp / pos if pos else 1:.2f} {fp:>3}/{neg:<3} "
              f"{fp / neg if neg else 0:.2f}")
    tp, pos, fp, neg = total
    print(f"{'all':<18} {tp:>4}/{pos:<4} {tp / pos:.2f} {fp:>3}/{neg:<3} {fp / neg:.2f}")
    for family in sorted(missed):
        print(f"missed {family}: " + ", ".join(f"{k} x{v}" for k, v in collections.Counter(missed[family]).items()))
    for family in sorted(flagged):
        print(f"flagged {family}: " + ", ".join(f"{k} x{v}" for k, v in collections.Counter(flagged[family]).items()))
