"""The checked syntax tree of a compiled CEL expression, read from its protobuf encoding.

cel-expr-python serializes a compiled expression as a `google.protobuf.Any` holding a
`cel.expr.CheckedExpr` (cel-spec, proto/cel/expr/checked.proto and syntax.proto). This module
decodes the parts the rule checker needs (expressions, identifiers, selections, calls,
comprehensions, constants and source positions) with a small protobuf wire-format reader, so
no generated protobuf code is needed. Macros (`exists`, `all`, `map`, `filter`, `cel.bind`)
arrive expanded into comprehensions, exactly as the runtime evaluates them.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_CHECKED_EXPR = "type.googleapis.com/cel.expr.CheckedExpr"


class DecodeError(ValueError):
    """The bytes are not the protobuf message expected."""


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise DecodeError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes | memoryview) -> list[tuple[int, int | memoryview]]:
    """(field number, value) of each field of a message: ints for varint and fixed fields,
    memoryviews for length-delimited ones (sub-messages, strings, packed repeated values)."""
    view = memoryview(data)
    out: list[tuple[int, int | memoryview]] = []
    pos, end = 0, len(view)
    while pos < end:
        key = view[pos]
        pos += 1
        if key >= 0x80:
            key, pos = _varint(view, pos - 1)
        wire = key & 7
        if wire == 0:
            value = view[pos] if pos < end else 0x80
            pos += 1
            if value >= 0x80:
                value, pos = _varint(view, pos - 1)
            out.append((key >> 3, value))
        elif wire == 2:
            size = view[pos] if pos < end else 0x80
            pos += 1
            if size >= 0x80:
                size, pos = _varint(view, pos - 1)
            if pos + size > end:
                raise DecodeError("truncated field")
            out.append((key >> 3, view[pos : pos + size]))
            pos += size
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if pos + width > end:
                raise DecodeError("truncated fixed field")
            out.append((key >> 3, int.from_bytes(view[pos : pos + width], "little")))
            pos += width
        else:
            raise DecodeError(f"unsupported wire type {wire}")
    return out


@dataclass(frozen=True)
class Expr:
    """One node of the tree. `kind` is ident, select, call, list, struct, comprehension or const."""

    id: int
    kind: str
    name: str = ""
    """ident: the name; select: the field; call: the function; comprehension: the iteration variable."""
    operand: Expr | None = None
    """select: what is selected from; call: the receiver of a member call."""
    args: tuple[Expr, ...] = ()
    """call: the arguments; list: the elements; struct: the entry values."""
    test_only: bool = False
    """select: a `has()` test."""
    string: str | None = None
    """const: the value of a string constant."""
    constant: tuple[str, Any] | None = None
    """const: its type (null, bool, int, uint, double, string or bytes) and Python value."""
    accu_var: str = ""
    iter_range: Expr | None = None
    accu_init: Expr | None = None
    loop_condition: Expr | None = None
    loop_step: Expr | None = None
    result: Expr | None = None
    iter_var2: str = ""

    def children(self) -> tuple[Expr, ...]:
        found = (self.operand, *self.args, self.iter_range, self.accu_init, self.loop_condition,
                 self.loop_step, self.result)
        return tuple(e for e in found if e is not None)


def _text(value: int | memoryview) -> str:
    if not isinstance(value, memoryview):
        raise DecodeError("expected a string")
    return bytes(value).decode("utf-8", "replace")


def _msg(value: int | memoryview) -> memoryview:
    if not isinstance(value, memoryview):
        raise DecodeError("expected a message")
    return value


def _expr(data: memoryview, depth: int = 0) -> Expr:
    if depth > 400:
        raise DecodeError("expression nested too deeply")
    node_id = 0
    part: tuple[int, memoryview] | None = None
    for number, value in fields(data):
        if number == 2 and isinstance(value, int):
            node_id = value
        elif 3 <= number <= 9:
            part = (number, _msg(value))
    if part is None:
        raise DecodeError("an expression without a kind")
    number, body = part
    if number == 4:
        return Expr(node_id, "ident", name=next((_text(v) for n, v in fields(body) if n == 1), ""))
    if number == 7:
        return Expr(node_id, "list", args=tuple(_expr(_msg(v), depth + 1) for n, v in fields(body) if n == 1))
    return _BUILDERS[number](node_id, body, depth)


_CONSTANTS = {1: "null", 2: "bool", 3: "int", 4: "uint", 5: "double", 6: "string", 7: "bytes"}
"""The fields of cel.expr.Constant this module reads (the deprecated duration and timestamp not)."""


def _const(node_id: int, data: memoryview, depth: int) -> Expr:
    text: str | None = None
    constant: tuple[str, Any] | None = None
    for number, value in fields(data):
        kind = _CONSTANTS.get(number)
        if kind is None:
            continue
        if isinstance(value, memoryview):
            if kind == "string":
                text = str(value, "utf-8")  # the runtime holds only valid UTF-8
                constant = (kind, text)
            elif kind == "bytes":
                constant = (kind, bytes(value))
        elif kind == "null":
            constant = (kind, None)
        elif kind == "bool":
            constant = (kind, bool(value))
        elif kind == "int":
            constant = (kind, value - (1 << 64) if value >= 1 << 63 else value)
        elif kind == "uint":
            constant = (kind, value)
        elif kind == "double":
            constant = (kind, struct.unpack("<d", value.to_bytes(8, "little"))[0])
    return Expr(node_id, "const", string=text, constant=constant)


def _select(node_id: int, data: memoryview, depth: int) -> Expr:
    operand: Expr | None = None
    name, test_only = "", False
    for number, value in fields(data):
        if number == 1:
            operand = _expr(_msg(value), depth + 1)
        elif number == 2:
            name = _text(value)
        elif number == 3:
            test_only = bool(value)
    return Expr(node_id, "select", name=name, operand=operand, test_only=test_only)


def _call(node_id: int, data: memoryview, depth: int) -> Expr:
    target: Expr | None = None
    function = ""
    args: list[Expr] = []
    for number, value in fields(data):
        if number == 1:
            target = _expr(_msg(value), depth + 1)
        elif number == 2:
            function = _text(value)
        elif number == 3:
            args.append(_expr(_msg(value), depth + 1))
    return Expr(node_id, "call", name=function, operand=target, args=tuple(args))


def _struct(node_id: int, data: memoryview, depth: int) -> Expr:
    values: list[Expr] = []
    for number, value in fields(data):
        if number == 2:
            for n, v in fields(_msg(value)):
                if n in (3, 4):
                    values.append(_expr(_msg(v), depth + 1))
    return Expr(node_id, "struct", args=tuple(values))


def _comprehension(node_id: int, data: memoryview, depth: int) -> Expr:
    parts: dict[str, Expr] = {}
    names = {1: "", 3: "", 8: ""}
    exprs = {2: "iter_range", 4: "accu_init", 5: "loop_condition", 6: "loop_step", 7: "result"}
    for number, value in fields(data):
        if number in names:
            names[number] = _text(value)
        elif number in exprs:
            parts[exprs[number]] = _expr(_msg(value), depth + 1)
    return Expr(node_id, "comprehension", name=names[1], accu_var=names[3], iter_var2=names[8], **parts)  # type: ignore[arg-type]


_BUILDERS: dict[int, Callable[[int, memoryview, int], Expr]] = {
    3: _const, 5: _select, 6: _call, 8: _struct, 9: _comprehension,
}


@dataclass(frozen=True)
class Checked:
    """A decoded CheckedExpr: the tree and where each node starts in the source."""

    expr: Expr
    source_info: bytes = b""

    @functools.cached_property
    def positions(self) -> dict[int, int]:
        """Node id -> offset (in code points) into the compiled text (decoded when first needed)."""
        out: dict[int, int] = {}
        for n, v in fields(self.source_info):
            if n == 4:
                entry = dict(fields(_msg(v)))
                key, offset = entry.get(1, 0), entry.get(2, 0)
                if isinstance(key, int) and isinstance(offset, int):
                    out[key] = offset
        return out


def _wanted(data: memoryview, numbers: tuple[int, ...]) -> list[tuple[int, memoryview]]:
    """The length-delimited fields `numbers` of a message, skipping every other field unread
    (a checked expression's type and reference maps are most of its bytes)."""
    out = []
    pos, end = 0, len(data)
    while pos < end:
        key, pos = _varint(data, pos)
        wire = key & 7
        if wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > end:
                raise DecodeError("truncated field")
            if key >> 3 in numbers:
                out.append((key >> 3, data[pos : pos + size]))
            pos += size
        elif wire == 0:
            _, pos = _varint(data, pos)
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise DecodeError(f"unsupported wire type {wire}")
    return out


def decode_checked(serialized: bytes) -> Checked:
    """The tree of `Expression.serialize()` (an Any holding a cel.expr.CheckedExpr)."""
    type_url = ""
    payload = memoryview(b"")
    for number, value in fields(serialized):
        if number == 1:
            type_url = _text(value)
        elif number == 2:
            payload = _msg(value)
    if type_url != _CHECKED_EXPR:
        raise DecodeError(f"not a checked expression ({type_url or 'no type'})")
    expr: Expr | None = None
    source_info = b""
    for number, value in _wanted(payload, (4, 5)):
        if number == 4:
            expr = _expr(value)
        else:
            source_info = bytes(value)
    if expr is None:
        raise DecodeError("a checked expression without an expression")
    return Checked(expr, source_info)
