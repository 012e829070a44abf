"""`auditor nats can|permissions` as a user meets them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.auditor._cli.test_cli import assert_clean_error
from tests.conftest import run_cli

CONF = """
authorization {
  default_permissions: { publish: "SANDBOX.*" }
  users = [
    {user: agent, password: "$2a$11$abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabc",
     permissions: {publish: ["agent.>"], subscribe: {allow: ["events.*", "jobs.> workers"], deny: ["events.secret"]}}}
    {user: guest, password: guestpw}
  ]
}
"""


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    path = tmp_path / "nats.conf"
    path.write_text(CONF)
    return path


def test_can_exit_codes_and_reasons(conf: Path) -> None:
    allow = run_cli("nats", "can", "--config", str(conf), "--user", "agent", "--publish", "agent.x.y")
    assert allow.code == 0 and allow.out.startswith("allow: ") and "agent.>" in allow.out
    deny = run_cli("nats", "can", "--config", str(conf), "--user", "agent", "--publish", "events.x")
    assert deny.code == 1 and deny.out.startswith("deny: ")
    quirk = run_cli("nats", "can", "--config", str(conf), "--user", "agent", "--subscribe", "events.>")
    assert quirk.code == 0 and "admits 'events.>'" in quirk.out and "filtered" in quirk.out
    queue = run_cli("nats", "can", "--config", str(conf), "--user", "agent", "--subscribe", "jobs.x", "--queue", "workers", "--format", "json")
    doc = json.loads(queue.out)
    assert queue.code == 0 and doc["verdict"] == "allow" and doc["queue"] == "workers"
    default = run_cli("nats", "can", "--config", str(conf), "--user", "guest", "--publish", "other")
    assert default.code == 1 and "default_permissions" in default.out


def test_can_bad_input_exits_2(conf: Path, tmp_path: Path) -> None:
    assert_clean_error(run_cli("nats", "can", "--config", str(conf), "--user", "nobody", "--publish", "x"), "no user 'nobody'")
    assert_clean_error(run_cli("nats", "can", "--config", str(conf), "--user", "agent", "--publish", "a.*"), "literal")
    assert_clean_error(run_cli("nats", "can", "--config", str(conf), "--user", "agent", "--subscribe", "a..b"), "not a valid subject")
    bad = tmp_path / "bad.conf"
    bad.write_text("authorization {\n  users = [\n    {user: a, permissions: {publish: ['a b']}}\n  ]\n}\n")
    assert_clean_error(run_cli("nats", "can", "--config", str(bad), "--user", "a", "--publish", "x"), f"{bad}:3:")
    assert_clean_error(run_cli("nats", "can", "--config", str(tmp_path / "none.conf"), "--user", "a", "--publish", "x"), "none.conf")
    usage = run_cli("nats", "can", "--config", str(conf), "--user", "agent")
    assert usage.code == 2 and "Traceback" not in usage.err


def test_permissions_matrix(conf: Path) -> None:
    text = run_cli("nats", "permissions", "--config", str(conf))
    assert text.code == 0 and "agent" in text.out and "permissions: default" in text.out and "plaintext" in text.out
    doc = json.loads(run_cli("nats", "permissions", "--config", str(conf), "--format", "json").out)
    agent = next(u for u in doc["users"] if u["name"] == "agent")
    assert agent["subscribe"]["deny"] == ["events.secret"] and agent["reach"]["publish"][">"] == "some"
    assert "guestpw" not in json.dumps(doc)
