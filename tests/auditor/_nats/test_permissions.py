"""Permissions as the server applies them: config interpretation, can_*, reach (vs brute force)."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._collectors.nats_config import config_facts, user_facts
from auditor._nats.conf import ConfError, parse_text
from auditor._nats.config import NatsConfig, interpret
from auditor._nats.permissions import (
    BadSubject,
    Permissions,
    SubjectPermission,
    _reach,
    can_publish,
    can_subscribe,
    publish_reach,
    subscribe_reach,
)
from tests.auditor._nats.test_subjects import UNIVERSE, matches, patterns

CONF = """
authorization {
  default_permissions { publish: "SANDBOX.*", subscribe: ["PUBLIC.>"] }
  users = [
    {user: a, password: pw, permissions: {subscribe: "foo.*", publish: {allow: ["foo.>"], deny: ["foo.secret.*"]}}}
    {user: e, password: pw, permissions: {publish: [], subscribe: []}}
    {user: f, password: pw, permissions: {publish: {deny: ["x.y"]}, allow_responses: true}}
    {user: g, password: pw, permissions: {subscribe: {allow: ["q.a workers", "q.b"], deny: ["q.b.> bad"]}}}
    {user: h, password: pw, permissions: {subscribe: {allow: "*", deny: "secret"}}}
    {user: d, password: "$2a$11$abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabc"}
    {user: empty, password: pw, permissions: {}}
    {user: r, password: pw, permissions: {publish: "a", allow_responses: {max: -1, expires: "5m"}}}
  ]
}
"""

# what nats-server 2.15.1 did (the differential test checks the same semantics at random)
OBSERVED = [
    ("a", "pub", "foo.secret.k", None, False), ("a", "pub", "bar", None, False), ("a", "pub", "foo.x.y", None, True),
    ("a", "pub", "foo.secret", None, True), ("a", "sub", "foo.bar", None, True), ("a", "sub", "foo.*", None, True),
    ("a", "sub", "foo.bar.baz", None, False), ("a", "sub", ">", None, False), ("a", "sub", "*.bar", None, False),
    ("a", "sub", "foo.>", None, True),
    ("e", "pub", "any.thing", None, True), ("e", "sub", "any.>", None, True),
    ("f", "pub", "any", None, False), ("f", "pub", "x.y", None, False),
    ("g", "sub", "q.a", None, False), ("g", "sub", "q.a", "workers", True), ("g", "sub", "q.a", "other", False),
    ("g", "sub", "q.b", None, True), ("g", "sub", "q.b", "workers", True),
    ("h", "sub", ">", None, True), ("h", "sub", "foo", None, True), ("h", "sub", "foo.bar", None, False),
    ("h", "sub", "secret", None, False),
    ("d", "pub", "SANDBOX.x", None, True), ("d", "pub", "other", None, False),
    ("d", "sub", "PUBLIC.x", None, True), ("d", "sub", "private", None, False),
    ("empty", "pub", "anything", None, True),
]


@pytest.fixture(scope="module")
def cfg() -> NatsConfig:
    return interpret(parse_text(CONF))


@pytest.mark.parametrize(("user", "action", "subject", "queue", "allowed"), OBSERVED)
def test_decisions_match_the_observed_server(cfg: NatsConfig, user: str, action: str, subject: str, queue: str | None, allowed: bool) -> None:
    perms = cfg.user(user).permissions
    d = can_publish(perms, subject) if action == "pub" else can_subscribe(perms, subject, queue)
    assert d.allowed is allowed, d.reason
    assert d.reason


def test_reasons_explain(cfg: NatsConfig) -> None:
    a = cfg.user("a").permissions
    assert "deny wins" in can_publish(a, "foo.secret.k").reason
    assert "admits 'foo.>'" in can_subscribe(a, "foo.>").reason
    h = cfg.user("h").permissions
    assert "filtered out" in can_subscribe(h, ">").reason and can_subscribe(h, ">").filtered == ("secret",)
    f = cfg.user("f").permissions
    assert "allow_responses" in can_publish(f, "any").reason


def test_sources_and_defaults(cfg: NatsConfig) -> None:
    assert cfg.user("d").permissions_source == "default"
    assert cfg.user("empty").permissions_source == "own"
    ev = user_facts(cfg.user("empty"))
    assert ev.restricted is False and ev.reach.publish[">"] == "all"
    assert msgspec.to_builtins(user_facts(cfg.user("r")).allow_responses) == {"max": -1, "expires_seconds": 300.0,
                                                                              "unlimited": True}


def test_evidence_never_holds_a_password(cfg: NatsConfig) -> None:
    text = json.dumps([msgspec.to_builtins(user_facts(u)) for u in cfg.users] + [msgspec.to_builtins(config_facts(cfg))])
    assert '"pw"' not in text and "abcdefghij" not in text
    kinds = {u.name: msgspec.to_builtins(user_facts(u))["password"]["kind"] for u in cfg.users}
    assert kinds["a"] == "plaintext" and kinds["d"] == "bcrypt"
    assert [p["user"] for p in msgspec.to_builtins(config_facts(cfg))["plaintext_passwords"]] == ["a", "e", "f", "g", "h", "empty", "r"]


def test_bad_subjects_are_refused(cfg: NatsConfig) -> None:
    with pytest.raises(BadSubject, match="literal"):
        can_publish(None, "a.*")
    with pytest.raises(BadSubject):
        can_subscribe(None, "a..b")
    with pytest.raises(BadSubject):
        can_subscribe(None, "a", "two words")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("authorization { users = [{user: a, permissions: {publish: ['a b']}}] }", "is not a valid subject"),
        ("authorization { users = [{user: a, permissions: {subscribe: ['a b c']}}] }", "is not a valid subject"),
        ("authorization { users = [{user: a, permissions: {bogus: 1}}] }", "unknown field 'bogus'"),
        ("authorization { users = [{user: a, permissions: {publish: {allow: 1}}}] }", "expected a string"),
        ("authorization { users = [{nkey: UABC}] }", "not a valid public nkey"),
        ("authorization { users = [{password: x}] }", "requires a user"),
        ("authorization { users = [{user: a, permissions: {allow_responses: {expires: 'soon'}}}] }", "invalid duration"),
        ("listen: 'nonsense'", "could not parse address"),
    ],
)
def test_config_errors_are_located(text: str, fragment: str) -> None:
    with pytest.raises(ConfError, match=fragment) as info:
        interpret(parse_text(text, file="n.conf"))
    assert info.value.file == "n.conf" and info.value.line == 1


def _allowed(allow: tuple[str, ...] | None, deny: tuple[str, ...], s: str) -> bool:
    return (allow is None or any(matches(a, s) for a in allow)) and not any(matches(d, s) for d in deny)


@settings(max_examples=300, deadline=None)
@given(st.none() | st.lists(patterns, max_size=3).map(tuple), st.lists(patterns, max_size=3).map(tuple), patterns)
def test_reach_agrees_with_brute_force(allow: tuple[str, ...] | None, deny: tuple[str, ...], pattern: str) -> None:
    inside = [s for s in UNIVERSE if matches(pattern, s)]
    ok = [_allowed(allow, deny, s) for s in inside]
    want = "all" if all(ok) else "some" if any(ok) else "none"
    assert _reach(allow, deny, pattern) == want
    perms = Permissions(SubjectPermission(allow, deny), None)
    assert publish_reach(perms, pattern) == want


def test_subscribe_reach() -> None:
    only = Permissions(None, SubjectPermission(("events.>",), ()))
    assert subscribe_reach(only, "$SYS.>") == "none"
    assert subscribe_reach(only, ">") == "some"
    monitor = Permissions(None, SubjectPermission(("events.>", "$SYS.>"), ()))
    assert subscribe_reach(monitor, "$SYS.>") == "all"
    star = Permissions(None, SubjectPermission(("*",), ("secret",)))
    assert subscribe_reach(star, ">") == "some"  # accepted, but deliveries of `secret` are filtered
    assert subscribe_reach(None, ">") == "all"
