"""The secrets rules on real scan records: a file left unscanned leaves every rule undecided."""

from __future__ import annotations

import dataclasses
import datetime as dt
from functools import cache
from pathlib import Path
from typing import Any

from auditor._engine import evaluate_rules
from auditor._models import Status
from auditor._policy.catalog import Catalog, ResolvedPolicy
from auditor.evidence.record import Evidence, Record
from tests.collecting import collect_source

NOW = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)
TARGET = {"name": "n", "environment": "production", "tags": [], "names": [], "vars": {}}
RULES = [f"SEC-{i:03d}" for i in range(1, 13)]


@cache
def production() -> ResolvedPolicy:
    return Catalog.load([], []).resolve(["cim-production"])


def record_of(root: Path, config: Path | None = None) -> Record:
    """The secrets collector's record of `root` (scanned with `config`, when given)."""
    options: dict[str, Any] = {"paths": ["."]}
    if config is not None:
        options["config"] = str(config)
    (record,) = collect_source("secrets", root, options)
    assert isinstance(record, Evidence), record
    return record


def statuses(record: Record) -> dict[str, Status]:
    policy = production()
    only = dataclasses.replace(policy, rules=tuple(r for r in policy.rules if r.id in RULES), waivers=())
    return {f.rule_id: f.status for f in evaluate_rules(only, [record], target=TARGET, now=NOW).findings}


def test_a_file_over_the_configured_limit_leaves_the_rules_undecided(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "small.env").write_text("DB_PASSWORD=Hunter2-Hunter2\n")
    assert statuses(record_of(tree))["SEC-005"] is Status.PASS
    (tree / "big.env").write_text("x" * 5000 + "\nVAULT_TOKEN=hvs.CAESIJlW3q0bXa1r9Yv8Lk2m4Nn6Pp8Qq0Rr2Ss4T\n")
    config = tmp_path / "scan.yaml"
    config.write_text("version: 1\nmax_file_bytes: 4096\n")
    got = statuses(record_of(tree, config))
    assert got["SEC-007"] is Status.FAIL  # what was found still fails
    assert {rule for rule, status in got.items() if status is Status.ERROR} == set(RULES) - {"SEC-007"}
    assert statuses(record_of(tree))["SEC-005"] is Status.FAIL  # no limit: the token is found


def test_a_secret_found_base64_encoded_says_so(tmp_path: Path) -> None:
    """Whoever fixes it finds base64 where the finding points, not the token: the message says
    the secret is encoded there (and a plain one's does not)."""
    import base64
    import random

    from tests.secrets_corpus import github_token

    token = github_token(random.Random(8))
    (tmp_path / "secret.yaml").write_text(f"kind: Secret\ndata:\n  GITHUB_TOKEN: {base64.b64encode(token.encode()).decode()}\n")
    (tmp_path / "plain.env").write_text(f"GITHUB_TOKEN={token}\n")
    policy = production()
    only = dataclasses.replace(policy, rules=tuple(r for r in policy.rules if r.id == "SEC-006"), waivers=())
    failed = [f for f in evaluate_rules(only, [record_of(tmp_path)], target=TARGET, now=NOW).findings
              if f.status is Status.FAIL]
    messages = {f.resource.rsplit(":", 2)[0].rsplit("/", 1)[-1]: f.message for f in failed}
    assert set(messages) == {"secret.yaml", "plain.env"}, messages
    assert "(base64-encoded) (github-token)" in messages["secret.yaml"]
    assert "encoded" not in messages["plain.env"]
