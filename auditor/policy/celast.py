"""The checked syntax tree of a compiled CEL expression, read from its protobuf encoding.

cel-expr-python serializes a compiled expression as a `google.protobuf.Any` holding a
`cel.expr.CheckedExpr` (cel-spec, proto/cel/expr/checked.proto and syntax.proto). This module
decodes the parts the rule checker needs (expressions, identifiers, selections, calls,
comprehensions, constants and source positions) with a small protobuf wire-format reader, so
no generated protobuf code is needed. Macros (`exists`, `all`, `map`, `filter`, `cel.bind`)
arrive expanded into comprehensions, exactly as the runtime evaluates them.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

_CHECKED_EXPR = "type.googleapis.com/cel.expr.CheckedExpr"


class DecodeError(ValueError):
    """The bytes are not the protobuf message expected."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
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


def fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of each field of a message: ints for varint and fixed fields,
    bytes for length-delimited ones (sub-messages, strings, packed repeated values)."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, value
        elif wire == 1:
            if pos + 8 > len(data):
                raise DecodeError("truncated fixed64")
            yield number, struct.unpack_from("<Q", data, pos)[0]
            pos += 8
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise DecodeError("truncated field")
            yield number, data[pos : pos + size]
            pos += size
        elif wire == 5:
            if pos + 4 > len(data):
                raise DecodeError("truncated fixed32")
            yield number, struct.unpack_from("<I", data, pos)[0]
            pos += 4
        else:
            raise DecodeError(f"unsupported wire type {wire}")


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


def _text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise DecodeError("expected a string")
    return value.decode("utf-8", "replace")


def _msg(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise DecodeError("expected a message")
    return value


def _expr(data: bytes, depth: int = 0) -> Expr:
    if depth > 400:
        raise DecodeError("expression nested too deeply")
    node_id = 0
    node: Expr | None = None
    for number, value in fields(data):
        if number == 2 and isinstance(value, int):
            node_id = value
        elif number == 3:
            node = _const(_msg(value))
        elif number == 4:
            name = next((_text(v) for n, v in fields(_msg(value)) if n == 1), "")
            node = Expr(0, "ident", name=name)
        elif number == 5:
            node = _select(_msg(value), depth)
        elif number == 6:
            node = _call(_msg(value), depth)
        elif number == 7:
            elements = tuple(_expr(_msg(v), depth + 1) for n, v in fields(_msg(value)) if n == 1)
            node = Expr(0, "list", args=elements)
        elif number == 8:
            node = _struct(_msg(value), depth)
        elif number == 9:
            node = _comprehension(_msg(value), depth)
    if node is None:
        raise DecodeError("an expression without a kind")
    return Expr(**{**node.__dict__, "id": node_id})


def _const(data: bytes) -> Expr:
    text = next((_text(v) for n, v in fields(data) if n == 6), None)
    return Expr(0, "const", string=text)


def _select(data: bytes, depth: int) -> Expr:
    operand: Expr | None = None
    name, test_only = "", False
    for number, value in fields(data):
        if number == 1:
            operand = _expr(_msg(value), depth + 1)
        elif number == 2:
            name = _text(value)
        elif number == 3:
            test_only = bool(value)
    return Expr(0, "select", name=name, operand=operand, test_only=test_only)


def _call(data: bytes, depth: int) -> Expr:
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
    return Expr(0, "call", name=function, operand=target, args=tuple(args))


def _struct(data: bytes, depth: int) -> Expr:
    values: list[Expr] = []
    for number, value in fields(data):
        if number == 2:
            for n, v in fields(_msg(value)):
                if n in (3, 4):
                    values.append(_expr(_msg(v), depth + 1))
    return Expr(0, "struct", args=tuple(values))


def _comprehension(data: bytes, depth: int) -> Expr:
    parts: dict[str, Expr] = {}
    names = {1: "", 3: "", 8: ""}
    exprs = {2: "iter_range", 4: "accu_init", 5: "loop_condition", 6: "loop_step", 7: "result"}
    for number, value in fields(data):
        if number in names:
            names[number] = _text(value)
        elif number in exprs:
            parts[exprs[number]] = _expr(_msg(value), depth + 1)
    return Expr(0, "comprehension", name=names[1], accu_var=names[3], iter_var2=names[8], **parts)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Checked:
    """A decoded CheckedExpr: the tree and where each node starts in the source."""

    expr: Expr
    positions: dict[int, int] = field(default_factory=dict)
    """Node id -> offset (in code points) into the compiled text."""


def decode_checked(serialized: bytes) -> Checked:
    """The tree of `Expression.serialize()` (an Any holding a cel.expr.CheckedExpr)."""
    type_url = ""
    payload = b""
    for number, value in fields(serialized):
        if number == 1:
            type_url = _text(value)
        elif number == 2:
            payload = _msg(value)
    if type_url != _CHECKED_EXPR:
        raise DecodeError(f"not a checked expression ({type_url or 'no type'})")
    expr: Expr | None = None
    positions: dict[int, int] = {}
    for number, value in fields(payload):
        if number == 4:
            expr = _expr(_msg(value))
        elif number == 5:
            for n, v in fields(_msg(value)):
                if n == 4:
                    entry = dict(fields(_msg(v)))
                    key, offset = entry.get(1, 0), entry.get(2, 0)
                    if isinstance(key, int) and isinstance(offset, int):
                        positions[key] = offset
    if expr is None:
        raise DecodeError("a checked expression without an expression")
    return Checked(expr, positions)
