"""Bounded JSON: one decoder for every JSON document auditor reads from outside.

The limits of :mod:`auditor._limits` are checked before and while parsing, so a hostile document
costs bounded time and memory and never reaches the user as an internal error: the number of
values (counted on the raw bytes before parsing: memory grows with values, not bytes), the
nesting depth (a document nested 200,000 deep is refused, not a RecursionError) and the digits
of an integer (a 5,000-digit number is refused, not a ValueError). Errors are located: file,
line and column.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from auditor import _limits as limits
from auditor.errors import ConfigError, LocatedError

_DECODER = msgspec.json.Decoder()
_AT_BYTE = re.compile(r"\s*\(byte (\d+)\)$")


def load_json(data: bytes | str, *, file: str | None = None, cls: type[LocatedError] = ConfigError) -> Any:
    """The value of the JSON document `data`, within the limits; `cls` (located at `file`) otherwise."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    lim = limits.current()
    if len(raw) > lim.json_values:  # else it cannot hold more: each value counted takes a byte of its own
        values = json_values(raw)
        if values > lim.json_values:
            raise cls(limits.exceeded("json-values", f"the document holds up to {values:,} values"), file=file)
    try:
        value = _DECODER.decode(raw)
    except msgspec.ValidationError:  # msgspec's own bound on integers (Python's 4,300 digits)
        raise cls(limits.exceeded("integer-digits", "an integer has too many digits"), file=file) from None
    except msgspec.DecodeError as exc:
        raise _syntax_error(raw, str(exc), file, cls) from None
    except RecursionError:
        raise cls(limits.exceeded("json-depth", "nested too deep"), file=file) from None
    check_value(value, file=file, cls=cls, digits=_long_digits(raw, lim.integer_digits))
    return value


def json_values(raw: bytes) -> int:
    """The values the json-values limit counts in the JSON text `raw` (at most: a comma, bracket
    or brace in a string counts too): its members and items, arrays and objects."""
    return raw.count(b",") + raw.count(b"[") + raw.count(b"{")


def check_value(value: Any, *, file: str | None = None, cls: type[LocatedError] = ConfigError,
                digits: bool = True) -> None:
    """`value` (decoded JSON) nests no deeper than json-depth and, with `digits`, holds no
    integer longer than integer-digits; `cls` otherwise."""
    lim = limits.current()
    depth_limit = lim.json_depth
    biggest = 10 ** lim.integer_digits if digits else 0
    if type(value) is int and digits and abs(value) >= biggest:
        raise cls(limits.exceeded("integer-digits", "an integer has too many digits"), file=file)
    if type(value) is not dict and type(value) is not list:
        return
    stack: list[tuple[Any, int]] = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        if depth > depth_limit:
            raise cls(limits.exceeded("json-depth", "nested too deep"), file=file)
        for item in (node.values() if type(node) is dict else node):
            kind = type(item)
            if kind is dict or kind is list:
                push((item, depth + 1))
            elif digits and kind is int and abs(item) >= biggest:
                raise cls(limits.exceeded("integer-digits", "an integer has too many digits"), file=file)


def _long_digits(raw: bytes, limit: int) -> bool:
    """Whether `raw` has a run of more than `limit` digits anywhere (in a string or not): only
    then are the integers checked one by one. Each digit made `1` (no other byte is), a run is
    a search for limit + 1 ones (at C speed: a fifteenth of a regular expression's time,
    which tries the digit class at every byte), DIGIT_CHUNK bytes at a time (each chunk reaching
    `limit` bytes into the next, where a run begun in it ends): a large document is not copied
    whole."""
    run = b"1" * (limit + 1)
    return any(run in raw[start:start + DIGIT_CHUNK + limit].translate(_DIGIT_ONES)
               for start in range(0, len(raw), DIGIT_CHUNK))


DIGIT_CHUNK = 1 << 20
"""Bytes of a document looked at per step by _long_digits."""
_DIGIT_ONES = bytes.maketrans(b"0123456789", b"1" * 10)
"""bytes.translate's table: the ASCII digits to `1`, every other byte as it is."""


def _syntax_error(raw: bytes, message: str, file: str | None, cls: type[LocatedError]) -> LocatedError:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return cls(f"not UTF-8 text (byte {exc.start} is {raw[exc.start]:#04x}); is this JSON?", file=file)
    text = message.removeprefix("JSON is malformed: ")
    m = _AT_BYTE.search(text)
    if m is None:
        if text == "Input data was truncated":
            text = "the document ends too early" if raw.strip() else "the document is empty"
        return cls(f"invalid JSON: {text}", file=file)
    offset = int(m.group(1))
    line = raw.count(b"\n", 0, offset) + 1
    column = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
    return cls(f"invalid JSON: {text[: m.start()]}", file=file, line=line, column=column)
