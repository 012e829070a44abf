from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._policy.cel import activation
from auditor._policy.template import compile_template, split_template
from auditor.errors import ConfigError


def render(source: str, evidence: object) -> str:
    t = compile_template(source, mode="each", file="r.yaml", line=3, field="message", rule_id="T-001")
    act = activation("each", evidence, rule_params={"T-001": {}}, target={}, now=dt.datetime.now(dt.UTC))
    return t.render(act)


def test_placeholders_and_braces() -> None:
    assert render("key {evidence.k} of {evidence.n} bits {{literal}}", {"k": "rsa", "n": 1024}) == "key rsa of 1024 bits {literal}"
    assert render("{evidence.l}", {"l": ["a", "b"]}) == "a, b"
    assert render("{evidence.l}", {"l": [[], ["a"], [], ["b", "c"]]}) == "a, b, c"
    assert render("{evidence.b}", {"b": True}) == "true"
    assert render('{ {"a": 1}["a"] }', {}) == "1"


def test_missing_field_renders_a_marker_not_a_crash() -> None:
    out = render("x {evidence.nope} y", {})
    assert out.startswith("x <evidence.nope:") and out.endswith("> y")


@pytest.mark.parametrize("bad", ["{", "a } b", "{}", "{ evidence.x"])
def test_bad_templates_are_located(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        compile_template(bad, mode="each", file="r.yaml", line=3, field="message", rule_id="T-001")
    assert info.value.line == 3 and info.value.field == "message"


@given(st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=50))
def test_text_without_braces_is_literal(text: str) -> None:
    parts = split_template(text)
    assert "".join(t for _, t in parts) == text
    assert all(not is_expr for is_expr, _ in parts)


@given(st.text(max_size=60))
def test_split_never_crashes_unexpectedly(text: str) -> None:
    try:
        parts = split_template(text)
    except ValueError:
        return
    for is_expr, chunk in parts:
        if is_expr:
            assert chunk.strip()


def test_a_map_renders_the_same_every_time() -> None:
    """The CEL runtime iterates a map in an order that changes from one activation to the next
    (SOPS-004's message shows two maps of selectors): a message, resource or correlation key
    showing one must not change between runs, nor between a batch and one-by-one evaluation."""
    keys = ["encrypted_comment_regex", "encrypted_suffix", "unencrypted_suffix", "unencrypted_regex",
            "unencrypted_comment_regex", "mac_only_encrypted", "encrypted_regex"]
    shown = {render("{evidence.m} / {evidence.l}", {"m": dict.fromkeys(keys, ""), "l": [{"b": {"y": 1, "x": 2}}],
                                                    "pad": list(range(n))})
             for n in range(60)}
    assert len(shown) == 1, shown
    assert shown.pop().startswith("{'encrypted_comment_regex': '', 'encrypted_regex': '', 'encrypted_suffix'")
    assert render("{evidence.m}", {"m": {2: "b", 1: {"z": 0, "a": True}}}) == "{1: {'a': True, 'z': 0}, 2: 'b'}"


_SHOWN = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(-1e9, 1e9, allow_nan=False)
    | st.text(st.characters(blacklist_characters="\0", blacklist_categories=["Cs"]), max_size=5),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=5,
)
"""Values a placeholder may have, as plain data (the CEL runtime cuts a string at a NUL)."""
_TEXT = st.text(alphabet="ab %s{}\\%d", max_size=6)
"""Literal text with what a printf-style or format pattern would read: `%`, `%s`, braces."""


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_TEXT, _SHOWN), max_size=4), _TEXT)
def test_fill_shows_the_values_as_render_does(pieces: list[tuple[str, object]], tail: str) -> None:
    """`fill` (a batch's failure message, from its placeholders' values) is the text `render`
    gives from the evidence holding those values, literal `%` and braces included."""

    def literal(text: str) -> str:
        return text.replace("{", "{{").replace("}", "}}")

    source = "".join(f"{literal(text)}{{evidence.v{i}}}" for i, (text, _) in enumerate(pieces)) + literal(tail)
    evidence = {f"v{i}": value for i, (_, value) in enumerate(pieces)}
    t = compile_template(source, mode="each", file="r.yaml", line=3, field="message", rule_id="T-001")
    act = activation("each", evidence, rule_params={"T-001": {}}, target={}, now=dt.datetime.now(dt.UTC))
    assert [p.source for p in t.placeholders] == [f"evidence.v{i}" for i in range(len(pieces))]
    assert t.fill([value for _, value in pieces]) == t.render(act)


class _Shown(str):
    """A string whose own str() is other text."""

    def __str__(self) -> str:
        return "other text"


class _Odd:
    """A value of a type `render` shows by its str(), which gives a string of another type."""

    def __str__(self) -> str:
        return _Shown("odd")


@pytest.mark.parametrize("value", [_Odd(), _Shown("sub"), dt.date(2026, 1, 2), b"%s", 10**20, 2.5, "%s %%"])
def test_fill_puts_each_value_shown_in_its_place(value: object) -> None:
    """`fill` puts the characters `render` joins for a value (what _show gives) in its place, even
    when they come as a string of another type (whose own str() a printf pattern would call)."""
    from auditor._policy.template import _show

    t = compile_template("a {evidence.v} 100% b", mode="each", file="r.yaml", line=3, field="message", rule_id="T-001")
    assert t.fill([value]) == "a " + _show(value) + " 100% b"
