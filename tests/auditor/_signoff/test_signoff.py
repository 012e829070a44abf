"""Sign-off with real OpenPGP keys (GnuPG in a temporary GNUPGHOME), then verify: every edited
byte is caught and named, signers are held to their roles, findings are checked against evidence."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor._demo import demo_inventory
from auditor._policy.catalog import Catalog
from auditor._signoff.allowed import load_allowed_signers
from auditor._signoff.gpg import GpgError
from auditor._signoff.model import SignoffFiles, signoff_dir
from auditor._signoff.record import record_signoff
from auditor._signoff.verify import verify
from auditor.errors import ConfigError
from tests.auditor._render.reports import DemoScan, demo_scan
from tests.conftest import run_cli
from tests.gpg import LEADS, keyring

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Keys:
    home: Path
    fpr: dict[str, str]

    @property
    def env(self) -> dict[str, str]:
        return {"GNUPGHOME": str(self.home)}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keys]:
    with keyring(tmp_path_factory.mktemp("keys"), LEADS) as (home, fpr):
        yield Keys(home, fpr)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> DemoScan:
    return demo_scan(tmp_path_factory.mktemp("scan"))


@pytest.fixture
def result(scanned: DemoScan, tmp_path: Path) -> Path:
    """A private copy of the demo's findings document (and its bundle beside it)."""
    shutil.copy(scanned.bundle_path, tmp_path / "bundle.json")
    return Path(shutil.copy(scanned.result_path, tmp_path / "result.json"))


def demo_catalog() -> Catalog:
    inventory = demo_inventory()
    return Catalog.load(inventory.rule_paths, inventory.policy_paths)


def allowed_file(folder: Path, keys: Keys, roles: dict[str, str]) -> Path:
    path = folder / "allowed-signers.yaml"
    lines = ["version: 1", "signers:"]
    for role, who in roles.items():
        lines.append(f"  - {{name: {who}, fingerprint: '{keys.fpr[who]}', roles: [{role}]}}")
    path.write_text("\n".join(lines) + "\n")
    return path


def sign(result: Path, keys: Keys, role: str, who: str | None = None, **kw: str) -> None:
    record_signoff(result, role=role, key=keys.fpr[who or role], gnupghome=str(keys.home), **kw)  # type: ignore[arg-type]


def test_signoff_then_verify_on_the_command_line(result: Path, keys: Keys) -> None:
    for role in ("security", "infrastructure"):
        run = run_cli("signoff", str(result), "--role", role, "--key", keys.fpr[role],
                      "--comment", "checked on the console", env=keys.env)
        assert run.code == 0, run.err
    folder = signoff_dir(result)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{r}{ext}" for r in ("security", "infrastructure") for ext in (".json", ".json.asc", ".pub.asc")
    )
    allowed = allowed_file(result.parent, keys, {"security": "security", "infrastructure": "infrastructure"})
    run = run_cli("verify", str(result), "--allowed-signers", str(allowed),
                  "--bundle", str(result.parent / "bundle.json"))
    assert run.code == 0, run.out + run.err
    assert "verified: 2 sign-offs, 2 approve" in run.out
    assert "not yet" not in run.out and "no valid sign-off yet from: operations, development" in run.out
    assert "follow from the evidence" in run.out
    statement = json.loads((folder / "security.json").read_text())
    assert statement["result"]["bundle_digest"] == json.loads(result.read_text())["bundle_digest"]
    assert statement["findings"] == json.loads(result.read_text())


def test_a_one_byte_edit_is_caught_and_named(result: Path, keys: Keys) -> None:
    sign(result, keys, "security")
    text = result.read_text()
    at = text.index('"status": "fail"') + len('"status": "')
    result.write_text(text[:at] + "p" + text[at + 1 :])  # "fail" -> "pail"
    run = run_cli("verify", str(result))
    assert run.code == 1
    assert "NOT VERIFIED" in run.out
    assert "result.json changed since security signed it" in run.out
    assert 'status: "fail" → "pail"' in run.out
    assert "(CERT-" in run.out  # the finding is named by rule and resource


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_single_byte_edit_fails_verification(result: Path, keys: Keys, data: st.DataObject) -> None:
    if not (signoff_dir(result) / "security.json").exists():
        sign(result, keys, "security")
    original = result.read_bytes()
    at = data.draw(st.integers(0, len(original) - 1), label="offset")
    new = data.draw(st.integers(0, 255).filter(lambda b: b != original[at]), label="byte")
    result.write_bytes(original[:at] + bytes([new]) + original[at + 1 :])
    try:
        outcome = verify(result)
        assert not outcome.ok
        problems = [p for c in outcome.checks for p in c.problems]
        assert problems and all("changed since security signed it: " in p for p in problems)
        assert all(len(p.split("signed it: ", 1)[1]) > 10 for p in problems)
    finally:
        result.write_bytes(original)


def test_edited_statement_or_swapped_key_fails(result: Path, keys: Keys) -> None:
    sign(result, keys, "security")
    files = SignoffFiles.of(signoff_dir(result), "security")
    statement = files.statement.read_bytes()
    files.statement.write_bytes(statement.replace(b'"decision":"approve"', b'"decision":"reject"'))
    outcome = verify(result)
    assert not outcome.ok
    assert any("signature does not verify" in p for p in outcome.checks[0].problems)

    # Mallory re-signs the edited statement with her own key and puts her key beside it
    files.statement.write_bytes(statement)
    sign(result, keys, "security", who="stranger", replace="yes")
    allowed = load_allowed_signers(allowed_file(result.parent, keys, {"security": "security"}))
    outcome = verify(result, allowed=allowed)
    (check,) = outcome.checks
    assert check.fingerprint == keys.fpr["stranger"]
    assert check.authorised is False
    assert any("is not allowed to sign for security" in p for p in check.problems)


def test_signer_allowed_only_for_their_own_role(result: Path, keys: Keys) -> None:
    sign(result, keys, "operations", who="development")
    allowed = load_allowed_signers(allowed_file(result.parent, keys, {"operations": "operations", "development": "development"}))
    outcome = verify(result, allowed=allowed)
    assert not outcome.ok
    assert "not allowed to sign for operations" in outcome.checks[0].problems[0]


def test_findings_that_do_not_follow_from_the_bundle_fail(result: Path, keys: Keys, scanned: DemoScan) -> None:
    doc = json.loads(result.read_text())
    doc["findings"][0]["message"] = "rewritten before anyone signed"
    result.write_text(json.dumps(doc, indent=2))
    sign(result, keys, "security")
    outcome = verify(result, bundle=result.parent / "bundle.json", catalog=demo_catalog)
    assert [c.ok for c in outcome.checks] == [True]  # the signature is fine ...
    assert not outcome.ok  # ... but the findings are not what the evidence says
    assert "do not follow from the evidence bundle" in outcome.problems[0]
    assert "findings[0]" in outcome.problems[0] and "message" in outcome.problems[0]

    other = result.parent / "other-bundle.json"
    raw = json.loads((result.parent / "bundle.json").read_text())
    raw["created_at"] = "2020-01-01T00:00:00Z"
    other.write_text(json.dumps(raw))
    outcome = verify(result, bundle=other, catalog=demo_catalog)
    assert "digest mismatch" in outcome.problems[0]


def test_signoff_refusals(result: Path, keys: Keys) -> None:
    sign(result, keys, "security")
    with pytest.raises(ConfigError, match="has signed this document already"):
        sign(result, keys, "security")
    sign(result, keys, "security", decision="reject", replace="yes")
    result.write_text(result.read_text().replace('"fail_on": "high"', '"fail_on": "medium"'))
    with pytest.raises(ConfigError, match="changed since security signed it"):
        sign(result, keys, "operations")
    with pytest.raises(ConfigError, match="full OpenPGP key fingerprint"):
        record_signoff(result, role="operations", key="DEADBEEF", gnupghome=str(keys.home))
    with pytest.raises(GpgError, match="no secret key"):
        record_signoff(result, role="security", key="A" * 40, replace=True, gnupghome=str(keys.home))


def test_verify_without_signoffs_and_cli_errors(result: Path, keys: Keys) -> None:
    run = run_cli("verify", str(result))
    assert run.code == 1 and "no sign-offs recorded" in run.out
    run = run_cli("verify", str(result.parent / "missing.json"))
    assert run.code == 2 and run.err.startswith("auditor: error: ") and "file not found" in run.err
    run = run_cli("signoff", str(result), "--role", "cfo", "--key", keys.fpr["security"], env=keys.env)
    assert run.code == 2 and "invalid choice" in run.err
    bad = result.parent / "allowed.yaml"
    bad.write_text("signers:\n  - {fingerprint: 'ABC', roles: [security]}\n")
    sign(result, keys, "security")
    run = run_cli("verify", str(result), "--allowed-signers", str(bad))
    assert run.code == 2 and "Traceback" not in run.err
    assert "allowed.yaml:2: field 'signers[0].fingerprint'" in run.err


def test_report_without_gnupg_still_renders_and_says_unchecked(result: Path, keys: Keys) -> None:
    sign(result, keys, "security")
    run = run_cli("report", str(result), "--format", "md", env={"PATH": "/nonexistent"})
    assert run.code == 0, run.err
    assert "not checked: GnuPG is not available" in run.out and "apt-get install gnupg" in run.out
    run = run_cli("verify", str(result), env={"PATH": "/nonexistent"})
    assert run.code == 2 and run.err.count("\n") == 1 and "install it" in run.err


def test_a_sign_off_statement_that_is_not_json_is_not_a_statement() -> None:
    """Found by the fuzz harness: deep nesting (RecursionError) and a long integer (ValueError)."""
    from auditor._signoff.model import parse_statement

    assert parse_statement(b"[" * 200_000 + b"]" * 200_000) is None
    assert parse_statement(b'{"format": ' + b"9" * 5000 + b"}") is None
