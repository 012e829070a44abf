"""The JSON loader's checks (auditor._loader.jsonfile)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._loader import jsonfile


@settings(max_examples=400, deadline=None)
@given(raw=st.binary(max_size=60).map(lambda b: bytes(b"09a:1"[x % 5] for x in b)),
       limit=st.integers(0, 6), chunk=st.integers(1, 9))
def test_long_digits_is_the_regular_expression(raw: bytes, limit: int, chunk: int) -> None:
    """A run of more than `limit` digits, found chunk by chunk (runs across chunk edges too), is
    what a regular expression over the whole finds."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(jsonfile, "DIGIT_CHUNK", chunk)
        found = jsonfile._long_digits(raw, limit)
    assert found == (re.search(rb"[0-9]{%d}" % (limit + 1), raw) is not None)


def test_long_digits_across_a_chunk_edge(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonfile, "DIGIT_CHUNK", 4)
    assert jsonfile._long_digits(b"abc12345x", 4)  # begins in the first chunk, ends in the second
    assert not jsonfile._long_digits(b"abc1234x5678", 4)
    every_byte = bytes(range(256)) * 3  # its digits: ten in a row, three times
    assert jsonfile._long_digits(every_byte, 9)
    assert not jsonfile._long_digits(every_byte, 10)  # no other byte is a digit


def test_an_integer_beyond_the_digit_limit_is_refused() -> None:
    from auditor._limits import current
    from auditor.errors import ConfigError

    digits = current().integer_digits
    assert jsonfile.load_json(b'{"a": "' + b"7" * (digits + 1) + b'"}', file="x.json") == {"a": "7" * (digits + 1)}
    with pytest.raises(ConfigError, match="too many digits"):
        jsonfile.load_json(b'{"a": [1, ' + b"7" * (digits + 1) + b"]}", file="x.json")
