"""Saying what changed between the signed document and the current one."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from auditor._signoff.diff import describe, json_diff

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=12,
)


def test_names_findings_by_rule_and_resource() -> None:
    old = {"findings": [{"rule_id": "CERT-004", "resource": "a.pem", "status": "fail"}], "n": 1}
    new = {"findings": [{"rule_id": "CERT-004", "resource": "a.pem", "status": "pass"}], "m": 1}
    assert json_diff(old, new) == [
        "findings[0] (CERT-004 a.pem).status: \"fail\" → \"pass\"",
        "m: added (1)",
        "n: removed (was 1)",
    ]


def test_describe_limits_and_counts() -> None:
    old = {str(i): i for i in range(6)}
    new = {str(i): i + 1 for i in range(6)}
    assert describe(old, new).endswith("(and 3 more)")
    assert describe(old, old) == ""
    assert json_diff([1, 2], [1]) == ["(the document): 2 → 1 entries"]
    assert json_diff(1, True) != []  # a bool is not the number 1


@given(JSON, JSON)
def test_diff_is_empty_exactly_when_equal(a: Any, b: Any) -> None:
    same = json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert (json_diff(a, b) == []) == same
    assert json_diff(a, a) == []
