"""The detectors' own forms held to plainer ones: the value pattern to the form that asks its
look-aheads of every character, a Hit made by its __new__ to one a dataclass makes."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._secrets import detectors
from auditor._secrets.detectors import Hit

_BARE_SPELT_OUT = (detectors._BARE_FIRST + rb"(?:(?![ \t]+[\"']?[A-Za-z_][A-Za-z0-9_.-]*=|&[A-Za-z_][A-Za-z0-9_.%\[\]-]*=)"
                   rb"[^\r\n#;,}\]]|(?<![ \t])#){0,512}")
"""An unquoted value as it was first written: each character asked both look-aheads."""

_PATTERNS = [(name, getattr(detectors, name)) for name in ("_ASSIGNMENT", "_NAME_VALUE")]
_PIECES = [*" \t&#=;,}]\r\n\"'`|>:\\aZ_.%[]-9", "&a=", " b=", "\tc.d=", "&%5B=", " \"e=", "x", "ab", "\\\""]
_TEXT = st.lists(st.sampled_from(_PIECES), max_size=16).map("".join)
"""Values made of the characters the pattern tells apart, and of the next assignments it stops at."""


def _spelt_out(pattern: bytes) -> re.Pattern[bytes]:
    assert detectors._BARE in pattern
    return re.compile(pattern.replace(detectors._BARE, _BARE_SPELT_OUT), re.IGNORECASE)


@pytest.mark.parametrize(("name", "pattern"), _PATTERNS)
@settings(max_examples=400, deadline=None)
@given(value=_TEXT, more=_TEXT)
def test_the_value_pattern_matches_what_its_spelt_out_form_matches(name: str, pattern: bytes, value: str,
                                                                   more: str) -> None:
    """Every match, at every place, with every group where it is: the same."""
    ours, theirs = re.compile(pattern, re.IGNORECASE), _spelt_out(pattern)
    prefix = 'name: "DB_PASSWORD"\nvalue: ' if name == "_NAME_VALUE" else "x api_token := "
    data = (prefix + value + " password=" + more).encode()
    for at in range(len(data)):
        mine, old = ours.match(data, at), theirs.match(data, at)
        assert (mine is None) == (old is None)
        if mine is not None and old is not None:
            assert mine.span() == old.span()
            assert {g: mine.span(g) for g in ours.groupindex} == {g: old.span(g) for g in theirs.groupindex}


@pytest.mark.parametrize("text", [
    b"token=abc def=ghi", b"password=a b&c=d", b"password=a b&=d", b"password=a #c", b"password=a#c",
    b"password=a \t b c", b"password=x&y", b"password=x& y=1", b"password=" + b"y" * 600,
])
def test_the_value_pattern_on_the_cases_it_names(text: bytes) -> None:
    ours, theirs = re.compile(detectors._ASSIGNMENT, re.IGNORECASE), _spelt_out(detectors._ASSIGNMENT)
    mine, old = ours.match(text), theirs.match(text)
    assert mine is not None and old is not None and mine.group("bare") == old.group("bare")


@dataclass(frozen=True)
class _PlainHit:
    """Hit as a plain frozen dataclass writes it."""

    rule: str
    category: str
    start: int
    end: int
    secret: bytes
    confidence: str = "high"
    details: Any = field(default_factory=dict)
    span: tuple[int, int] | None = None


_HIT_ARGS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    (("github-token", "cloud-token", 4, 44, b"ghp_x"), {}),
    (("password", "password", 0, 3, b"abc", "medium"), {}),
    (("nats-creds", "nats-creds", 10, 20, b"SUA"), {"details": {"kind": "user"}, "span": (0, 99)}),
    ((), {"rule": "r", "category": "c", "start": 1, "end": 2, "secret": b"s", "confidence": "low"}),
]


@pytest.mark.parametrize(("args", "kwargs"), _HIT_ARGS)
def test_a_hit_is_what_a_dataclass_makes_of_its_fields(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    hit, plain = Hit(*args, **kwargs), _PlainHit(*args, **kwargs)
    assert dataclasses.astuple(hit) == dataclasses.astuple(plain)
    assert [f.name for f in dataclasses.fields(hit)] == [f.name for f in dataclasses.fields(plain)]
    assert type(hit) is Hit and repr(hit).removeprefix("Hit") == repr(plain).removeprefix("_PlainHit")
    assert hit.cover == (plain.span or (plain.start, plain.end))
    assert hit == Hit(*args, **kwargs) and hit != dataclasses.replace(hit, start=hit.start + 1)
    assert pickle.loads(pickle.dumps(hit)) == hit  # noqa: S301 - a copy of our own value
    assert copy.copy(hit) == hit and copy.deepcopy(hit) == hit
    with pytest.raises(dataclasses.FrozenInstanceError):
        hit.start = 0  # type: ignore[misc]
    assert not hasattr(hit, "__dict__")


def test_each_hit_gets_details_of_its_own() -> None:
    first, second = Hit("r", "c", 0, 1, b"s"), Hit("r", "c", 0, 1, b"s")
    assert first.details == {} and first.details is not second.details
