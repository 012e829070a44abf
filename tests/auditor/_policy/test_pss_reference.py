"""Cross-check of the PSS packs against k8s.io/pod-security-admission's own fixtures.

The reference implementation ships, for every level and version, pods that must pass and pods
that must fail (test/testdata/{baseline,restricted}/v1.N/{pass,fail}/*.yaml). Those files are
not copied into this repository, so this cross-check is marked `reference` and excluded from
the default run: `PSA_TESTDATA=<checkout>/test/testdata pytest -m reference`. Without
PSA_TESTDATA it fails rather than pretend. tests/auditor/_policy/test_pss.py holds our own
corpus, always run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from auditor.evidence.record import Failure
from tests.k8s import collect, pss_verdicts

DATA = os.environ.get("PSA_TESTDATA")
pytestmark = pytest.mark.reference


def _cases() -> list[tuple[str, str]]:
    if not DATA:
        return [("PSA_TESTDATA", "unset")]
    root = Path(DATA)
    return sorted((level, d.name) for level in ("baseline", "restricted") for d in (root / level).iterdir() if d.is_dir())


@pytest.mark.parametrize(("level", "version"), _cases())
def test_reference_fixtures(level: str, version: str) -> None:
    assert DATA, "set PSA_TESTDATA to pod-security-admission's test/testdata"
    folder = Path(DATA) / level / version
    records = collect(folder, ["pass", "fail"])
    errors = [(r.resource, r.error) for r in records if isinstance(r, Failure)]
    assert errors == []
    verdicts = pss_verdicts(records, level, version)
    wrong = sorted(res for res, allowed in verdicts.items() if allowed != res.startswith("pass/"))
    assert verdicts and wrong == []
