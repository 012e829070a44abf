"""Subject matching, subsets, overlaps and the server's trie, checked against brute force."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._nats.subjects import (
    Sublist,
    all_valid_subjects,
    collide,
    is_subset,
    is_valid_subject,
    meet,
    queue_matches,
)

UNIVERSE = [".".join(t) for n in range(1, 5) for t in itertools.product("abcd", repeat=n)]
"""Every literal subject of up to 4 tokens over a, b, c and d (d never appears in patterns)."""


def matches(pattern: str, subject: str) -> bool:
    p, s = pattern.split("."), subject.split(".")
    for i, t in enumerate(p):
        if t == ">":
            return len(s) > i
        if i >= len(s) or (t != "*" and t != s[i]):
            return False
    return len(p) == len(s)


patterns = st.builds(
    lambda toks, fwc: ".".join(toks + ([">"] if fwc or not toks else [])),
    st.lists(st.sampled_from(["a", "b", "c", "*"]), max_size=2),
    st.booleans(),
)


@pytest.mark.parametrize(
    ("subject", "test", "expected"),
    [("foo.*", ">", True), ("foo.*", "*.*", True), ("foo.*", "foo.*", True), ("foo.*", "foo.bar", False),
     ("foo.>", ">", True), ("foo.>", "*.>", True), ("foo.>", "foo.>", True), ("foo.>", "foo.bar", False),
     ("foo.bar", "foo.*", True), ("foo.bar.baz", "foo.*", False), ("foo.>", "foo.*", False)],
)
def test_is_subset_server_table(subject: str, test: str, expected: bool) -> None:
    assert is_subset(subject, test) is expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [("foo.*", "foo.*.bar.>", False), ("foo.*", "*.foo", True), ("foo.bar.>", "*.bar.foo", True), ("a", "a", True), ("a", "b", False)],
)
def test_collide_server_table(a: str, b: str, expected: bool) -> None:
    assert collide(a, b) is expected


@pytest.mark.parametrize("subject", ["", "a..b", ".a", "a.", "a.>.b", "a b", "a.\tb"])
def test_invalid_subjects(subject: str) -> None:
    assert not is_valid_subject(subject)


def test_valid_subjects() -> None:
    assert all(is_valid_subject(s) for s in ["a", ">", "*", "a.*.>", "$SYS.>", "foo*", "a.b>"])


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(patterns, st.text(alphabet="ab.*> \t\n\r\f\v\x85$", max_size=6)), max_size=6))
def test_all_valid_subjects_is_each_subject_valid(subjects: list[str]) -> None:
    """The one-pass check over a list (subjects joined by new lines) says what the check of each says."""
    assert all_valid_subjects(subjects) == all(is_valid_subject(s) for s in subjects)


@pytest.mark.parametrize("subjects", [["a", "b\nc"], ["a\n"], ["\n"], ["a.>.b", "c"], ["a", ""], ["a b"]])
def test_all_valid_subjects_refuses_a_list_with_one_invalid_subject(subjects: list[str]) -> None:
    assert not all_valid_subjects(subjects)
    assert all_valid_subjects(["a.>", "$SYS.>", "b.*"]) and all_valid_subjects([])


@settings(max_examples=300, deadline=None)
@given(patterns, patterns)
def test_subset_collide_and_meet_agree_with_brute_force(a: str, b: str) -> None:
    in_a = {s for s in UNIVERSE if matches(a, s)}
    in_b = {s for s in UNIVERSE if matches(b, s)}
    assert is_subset(a, b) == (in_a <= in_b)
    assert collide(a, b) == bool(in_a & in_b)
    m = meet(a, b)
    assert ({s for s in UNIVERSE if matches(m, s)} if m is not None else set()) == in_a & in_b


@settings(max_examples=300, deadline=None)
@given(st.lists(patterns, max_size=5), st.sampled_from(UNIVERSE))
def test_sublist_matches_literal_subjects_like_brute_force(entries: list[str], subject: str) -> None:
    assert sorted(Sublist(entries).match(subject).plain) == sorted(e for e in entries if matches(e, subject))


def test_sublist_matches_wildcard_subscriptions_as_text() -> None:
    """The observed server behaviour: entry `foo.*` matches the subscription `foo.>`."""
    assert Sublist(["foo.*"]).match("foo.>").plain == ["foo.*"]
    assert Sublist(["*"]).match(">").plain == ["*"]
    assert Sublist(["foo.bar"]).match("foo.*").plain == []
    assert Sublist(["foo.>"]).match("foo.*").plain == ["foo.>"]


def test_queue_entries() -> None:
    m = Sublist(["a.> q1", "a.b", "a.* q.*"]).match("a.b")
    assert m.plain == ["a.b"] and set(m.queues) == {"q1", "q.*"}
    assert queue_matches("q1", m.queues) and queue_matches("q.x", m.queues)
    assert not queue_matches("q2", m.queues)
