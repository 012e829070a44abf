"""The configuration digest nats-server prints for `-t` and reports in /varz as `config_digest`.

The server hashes its parsed configuration as JSON, the way Go's encoding/json writes a map
of parsed values: keys sorted by their bytes, no blanks, strings escaped for HTML (`<`, `>`
and `&` as `\\u003c` ...; U+2028 and U+2029 escaped; each byte that is not valid UTF-8
replaced by U+FFFD), floats in the shortest form that reads back (exponent form below 1e-6
and from 1e21), times as RFC 3339, and a final new line; the digest is `sha256:` and the
SHA-256 of that text in hex. Observed on nats-server 2.15.1 (`nats-server -t -c FILE` prints
`configuration file FILE is valid (sha256:...)`) and checked against it by
tests/auditor/_nats/test_conf_oracle.py.

Equal digests mean the server and this parser read the same keys and values from a file,
so the digest is the oracle for the parser's values; it is also what a running server
reports, so a file on disk can be matched with the configuration the server loaded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from decimal import Decimal
from typing import Any

from auditor._nats.conf import Value
from auditor._timeutil import go_time

_SHORT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
_ESCAPED = {**_SHORT, "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _string(text: str) -> str:
    out = ['"']
    for c in text:
        code = ord(c)
        if c in _ESCAPED:
            out.append(_ESCAPED[c])
        elif code < 0x20:
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:  # a byte that was not UTF-8 (kept as a surrogate escape)
            out.append("\ufffd")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def _float(x: float) -> str:
    """strconv.FormatFloat(x, 'f' or 'e', -1, 64) as encoding/json picks and trims it."""
    if math.isnan(x) or math.isinf(x):  # the parser never makes these
        raise ValueError(f"{x} has no JSON form")
    if x == 0:
        return "-0" if math.copysign(1.0, x) < 0 else "0"
    shortest = Decimal(repr(x)).normalize()  # the shortest digits that read back, as Go finds them
    if 1e-6 <= abs(x) < 1e21:
        return format(shortest, "f")
    sign, digits, exponent = shortest.as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    power = exponent + len(text) - 1
    return f"{'-' if sign else ''}{mantissa}e{'-' if power < 0 else '+'}{abs(power):0{1 if power < 0 else 2}d}"


def go_json(data: Any) -> str:
    """`data` (plain values: dicts, lists, str, int, float, bool, datetime) as Go's encoding/json."""
    if isinstance(data, bool):
        return "true" if data else "false"
    if isinstance(data, int):
        return str(data)
    if isinstance(data, float):
        return _float(data)
    if isinstance(data, str):
        return _string(data)
    if isinstance(data, dt.datetime):
        return _string(go_time(data))
    if isinstance(data, dict):
        keys = sorted(data, key=lambda k: k.encode("utf-8", "surrogateescape"))
        return "{" + ",".join(f"{_string(k)}:{go_json(data[k])}" for k in keys) + "}"
    if isinstance(data, list):
        return "[" + ",".join(go_json(v) for v in data) + "]"
    raise TypeError(f"no JSON form for {type(data).__name__}")


def config_digest(root: Value) -> str:
    """The server's digest of a parsed configuration (`sha256:<hex>`)."""
    text = go_json(root.plain()) + "\n"
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
