"""The allowed-signers file and the sign-off statement: parsed strictly, errors located."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor._signoff.allowed import load_allowed_signers
from auditor._signoff.model import make_statement, parse_statement
from auditor.errors import ConfigError

FPR = "0123456789ABCDEF0123456789ABCDEF01234567"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "allowed.yaml"
    path.write_text(text)
    return path


def test_reads_signers_and_roles(tmp_path: Path) -> None:
    spaced = " ".join(FPR[i : i + 4] for i in range(0, 40, 4)).lower()
    allowed = load_allowed_signers(write(tmp_path, f"version: 1\nsigners:\n  - name: R. Okafor\n    fingerprint: {spaced}\n    roles: [security, operations]\n"))
    assert allowed.allows(FPR, "security") and allowed.allows(FPR.lower(), "operations")
    assert not allowed.allows(FPR, "development")
    assert allowed.name_of(FPR) == "R. Okafor"
    assert allowed.allowed_for("security") == ["R. Okafor"]


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ("signers:\n  - {fingerprint: ABCD, roles: [security]}\n", ":2", "full OpenPGP key fingerprint"),
        (f"signers:\n  - {{fingerprint: {FPR}, roles: [cfo]}}\n", ":2", "'cfo' is not one of"),
        (f"signers:\n  - {{fingerprint: {FPR}, roles: [security]}}\n  - {{fingerprint: {FPR}, roles: [operations]}}\n", ":3", "listed twice"),
        (f"signers:\n  - {{fingerprint: {FPR}, roles: [security], team: x}}\n", ":2", "unknown field 'team'"),
        ("signer: []\n", ":1", "unknown field"),
    ],
)
def test_errors_are_located(tmp_path: Path, text: str, where: str, what: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_allowed_signers(write(tmp_path, text))
    message = info.value.diagnostics()
    assert f"allowed.yaml{where}" in message and what in message


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_fuzz_only_config_errors(tmp_path: Path, text: str) -> None:
    try:
        load_allowed_signers(write(tmp_path, text))
    except ConfigError:
        pass


def test_statement_round_trip_and_junk() -> None:
    data = make_statement(role="security", decision="approve", comment="ok", fingerprint=FPR,
                          signed_at="2026-01-01T00:00:00Z", result_sha256="0" * 64,
                          document={"target": {"name": "n"}, "evaluated_at": "t", "bundle_digest": "b"})
    statement = parse_statement(data)
    assert statement is not None and statement["result"]["target"] == "n"
    assert data == data.strip() and b" " not in data.replace(b"ok", b"")  # canonical: no spaces
    for junk in (b"", b"\xff", b"[]", b'{"format": "auditor-signoff"}', data.replace(b'"findings"', b'"nothing"')):
        assert parse_statement(junk) is None


@given(st.binary(max_size=200))
def test_statement_fuzz(data: bytes) -> None:
    assert parse_statement(data) is None or isinstance(parse_statement(data), dict)
