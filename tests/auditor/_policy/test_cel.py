from __future__ import annotations

import datetime as dt

import pytest

from auditor._policy.cel import EvaluationError, activation, compile_expression, evaluate
from auditor.errors import ConfigError

NOW = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)


def run(source: str, evidence: object, params: dict[str, object] | None = None) -> object:
    expr = compile_expression(source, mode="each", file="r.yaml", line=1, field="condition", rule_id="T-001")
    act = activation("each", evidence, rule_params={"T-001": params or {}}, target={"names": []}, now=NOW)
    return evaluate(expr, act)


def test_syntax_error_names_file_line_and_column() -> None:
    with pytest.raises(ConfigError) as info:
        compile_expression("evidence.a &&\n  evidence.b ||\n  foo(1)", mode="each", file="r.yaml", line=10, field="condition", rule_id="T-001")
    err = info.value
    assert err.file == "r.yaml"
    assert err.line == 12  # line 3 of an expression that starts on line 10
    assert "undeclared reference to 'foo'" in err.diagnostics()
    assert "column" in err.diagnostics()


def test_type_error_at_compile_time() -> None:
    with pytest.raises(ConfigError, match="no matching overload"):
        compile_expression('1 + "a" == 2', mode="each", file="r.yaml", line=1, field="condition", rule_id="T-001")


def test_condition_must_be_boolean() -> None:
    with pytest.raises(ConfigError, match="true or false"):
        compile_expression("1 + 2", mode="each", file="r.yaml", line=1, field="condition", rule_id="T-001")


def test_items_only_in_mode_all() -> None:
    with pytest.raises(ConfigError, match="items"):
        compile_expression("items.size() > 0", mode="each", file="r.yaml", line=1, field="condition", rule_id="T-001")
    compile_expression("items.size() > 0", mode="all", file="r.yaml", line=1, field="condition", rule_id="T-001")


def test_missing_field_is_an_evaluation_error() -> None:
    with pytest.raises(EvaluationError, match="nope"):
        run("evidence.nope == 1", {"a": 1})


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("*.example.com", "a.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "a.b.example.com", False),
        ("A.Example.com", "a.example.com.", True),
        ("a.example.com", "b.example.com", False),
    ],
)
def test_dns_covers(pattern: str, name: str, expected: bool) -> None:
    assert run(f'dnsCovers("{pattern}", evidence.n)', {"n": name}) is expected


def test_days_and_time_arithmetic() -> None:
    assert run('days(timestamp(evidence.t) - now) > 9.9', {"t": "2026-12-03T00:00:00Z"}) is True
    assert run('days(timestamp(evidence.t) - now) > 10.1', {"t": "2026-12-03T00:00:00Z"}) is False


def test_glob_ip_and_loopback() -> None:
    assert run('globMatch(evidence.s, "agent.*")', {"s": "agent.x"}) is True
    assert run('ipInNetwork(evidence.ip, "10.0.0.0/8")', {"ip": "10.1.2.3"}) is True
    assert run('ipInNetwork(evidence.ip, "10.0.0.0/8")', {"ip": "not-an-ip"}) is False
    assert run("isLoopback(evidence.h)", {"h": "127.0.0.1"}) is True
    assert run("isLoopback(evidence.h)", {"h": "0.0.0.0"}) is False


def test_params_references_are_found() -> None:
    """`params.NAME` and `params["NAME"]` must be declared; a string that mentions params is not a read."""
    from auditor._policy.contract import problems, roots
    from auditor.evidence.kinds import KINDS

    assert "x509.certificate" in KINDS
    expr = compile_expression(
        'evidence.key.size > params.x && params["y"] == "params.z"', mode="each", file="r", line=1, field="c", rule_id="T-001"
    )
    found = problems(expr.checked(), expr.compiled, roots("x509.certificate", "each", {"x": 1}))
    assert [p.message.split(":")[0] for p in found] == ["params.y"]
