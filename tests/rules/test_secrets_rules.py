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


def coverage(record: Record) -> Any:
    """SEC-013's finding (every file in scope was read, whole) on `record`."""
    policy = production()
    only = dataclasses.replace(policy, rules=tuple(r for r in policy.rules if r.id == "SEC-013"), waivers=())
    (finding,) = evaluate_rules(only, [record], target=TARGET, now=NOW).findings
    return finding


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
    assert coverage(record_of(tree, config)).status is Status.FAIL  # it read every file: never for this one
    assert coverage(record_of(tree)).status is Status.PASS
    assert statuses(record_of(tree))["SEC-005"] is Status.FAIL  # no limit: the token is found


def test_a_file_that_could_not_be_read_leaves_the_rules_undecided(tmp_path: Path) -> None:
    """A file the scan could not read (permissions, I/O errors: a root-owned 0600 agent.env
    scanned as another user over SSH) may hold any secret: every SEC rule is undecided, as for a
    file over the size limit, and what was found still fails (was: every rule passed, and only
    SEC-013, medium, said a file was not read)."""
    import msgspec

    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "found.env").write_text("VAULT_TOKEN=hvs.CAESIJlW3q0bXa1r9Yv8Lk2m4Nn6Pp8Qq0Rr2Ss4T\n")
    record = record_of(tree)
    assert isinstance(record, Evidence)
    assert {rule for rule, status in statuses(record).items() if status is not Status.PASS} == {"SEC-005"}
    locked = dataclasses.replace(record, id="", data=msgspec.structs.replace(
        record.data, unreadable=("agent.env: [Errno 13] Permission denied",)))
    got = statuses(locked)
    assert got["SEC-005"] is Status.FAIL
    assert {rule for rule, status in got.items() if status is Status.ERROR} == set(RULES) - {"SEC-005"}
    assert coverage(locked).status is Status.FAIL


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


def test_a_secret_repeated_in_a_file_is_one_failure_that_says_how_often(tmp_path: Path) -> None:
    """A log repeating a token is one problem: one failure, at its first line, saying how many
    times the file holds it (it made a failure for each line: 400,000 for a 12 MB log)."""
    import random

    from tests.secrets_corpus import github_token

    rng = random.Random(2)
    repeated, once = github_token(rng), github_token(rng)
    (tmp_path / "app.log").write_text("".join(f"{n} GET /?t={repeated}\n" for n in range(1, 51)) + f"t={once}\n")
    policy = production()
    only = dataclasses.replace(policy, rules=tuple(r for r in policy.rules if r.id == "SEC-006"), waivers=())
    failed = [f for f in evaluate_rules(only, [record_of(tmp_path)], target=TARGET, now=NOW).findings
              if f.status is Status.FAIL]
    assert sorted((f.resource.rsplit("/", 1)[-1], f.message.endswith("(50 times in the file) (github-token)"))
                  for f in failed) == [("app.log:1:11", True), ("app.log:51:3", False)]


def test_findings_past_the_limit_fail_and_leave_the_rules_undecided(tmp_path: Path,
                                                                    monkeypatch: Any) -> None:
    """Past the secret-findings limit the scan keeps the first findings: they fail, and every
    secrets rule is undecided (an error), never a pass, for what was not kept."""
    import random

    from tests.secrets_corpus import github_token

    rng = random.Random(3)
    (tmp_path / "tokens.txt").write_text("".join(f"t={github_token(rng)}\n" for _ in range(3)))
    monkeypatch.setenv("AUDITOR_LIMIT_SECRET_FINDINGS", "2")
    policy = production()
    only = dataclasses.replace(policy, rules=tuple(r for r in policy.rules if r.id in RULES), waivers=())
    findings = evaluate_rules(only, [record_of(tmp_path)], target=TARGET, now=NOW).findings
    assert sorted(f.resource.rsplit("/", 1)[-1] for f in findings if f.status is Status.FAIL) == [
        "tokens.txt:1:3", "tokens.txt:2:3"]
    assert {f.rule_id for f in findings if f.status is Status.ERROR} == set(RULES)
    assert not any(f.status is Status.PASS for f in findings)
    assert any("secret-findings limit of 2" in f.message for f in findings if f.status is Status.ERROR)
    assert "secret-findings limit of 2" in coverage(record_of(tmp_path)).message
