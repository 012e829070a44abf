"""Rules checked against the evidence contract when they are loaded.

Every path a rule's CEL reads from the evidence must exist in the type of its kind:
`evidence.a.b` (mode each, and filters), paths off the elements of `items` (mode all) and off
any comprehension variable (`items.exists(c, c.san.dns ...)`, `.all`, `.map`, `.filter`),
`has(...)` tests and `["key"]` indexing with a constant key. Fields typed as maps accept any
key. `params.NAME` must be a param the rule declares. The checker walks the checked syntax
tree the CEL compiler produced (:mod:`auditor._policy.celast`), with the real parser's
positions, so an error names the line and column of the unknown field and the nearest names.
"""

from __future__ import annotations

import difflib
import functools
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import msgspec.inspect as mi

from auditor._policy.celast import Checked, Expr
from auditor.evidence._schema import optional_parts, type_name, type_of, unwrap
from auditor.evidence.kinds import KINDS


@dataclass(frozen=True)
class Shape:
    """What an expression holds, as far as the contract knows: a type and how to name it."""

    type: mi.Type
    label: str


@dataclass(frozen=True)
class Params:
    """The `params` variable: the rule's declared params."""

    names: frozenset[str]


ANY = Shape(mi.AnyType(), "")
Bound = Shape | Params


@dataclass(frozen=True)
class Problem:
    offset: int
    """Where the unknown name starts in the compiled text."""
    message: str


def roots(kind: str, mode: str, params: Mapping[str, object], item: Shape | None = None) -> dict[str, Bound]:
    """The variables an expression of a rule starts from (`item`: what applies_to.each yields)."""
    struct = type_of(kind)
    out: dict[str, Bound] = {"params": Params(frozenset(params))}
    if mode in ("each", "item"):
        out["evidence"] = Shape(struct, kind)
        if mode == "item" and item is not None:
            out["item"] = item
    else:
        out["items"] = Shape(mi.ListType(struct), f"items ({kind})")
    return out


@dataclass(frozen=True)
class Each:
    """What a rule's applies_to.each iterates: a list in the evidence, and its elements."""

    path: tuple[str, ...]
    """The field names from the record's data to the list."""
    identified: type | None
    """The element's type, which declares its IDENTITY; None for a list of plain values (each is
    its own identity)."""
    kind: str
    """The evidence kind whose data holds the list."""

    @property
    def text(self) -> str:
        return ".".join(("evidence", *self.path))

    @functools.cached_property
    def element(self) -> Shape:
        """The shape of an element, for the contract check of what reads `item`: made when
        asked (a rule known to pass the check never asks), from the kind's inspected type."""
        found = _resolved_each(self.kind, self.text)
        assert isinstance(found, tuple), found  # this path resolved when the rule was loaded
        return found[1]


def resolve_each(kind: str, text: str) -> Each | str:
    """The list `text` (`evidence.a.b`) names in `kind`, or why it names none (a message).

    Most paths are a chain of fields each holding one struct, or none, down to a list of structs
    that declare their IDENTITY or of strings: those are followed through the structs' own
    fields (about a millisecond), without inspecting the kind's whole type as `_resolved_each`
    does (ten for a Kubernetes workload, at every start); anything else goes that way, with its
    messages. Both give the same Each for the same path (tests/auditor/_policy/test_contract.py)."""
    parts = text.split(".")[1:]
    simple = _simple_each(KINDS[kind], parts)
    if simple is not None:
        return Each(tuple(parts), simple if isinstance(simple, type) else None, kind)
    found = _resolved_each(kind, text)
    return found if isinstance(found, str) else Each(tuple(parts), found[0], kind)


_PLAIN_ELEMENTS = (str, int)


def _simple_each(cls: type, parts: list[str]) -> type | bool | None:
    """For a path through fields of one struct each (or None) to a list (`list[X]`,
    `tuple[X, ...]`) of structs with an IDENTITY: the element's class; of strings or integers:
    False; None for any other path (not necessarily wrong: _resolved_each decides)."""
    current: Any = cls
    for name in parts:
        if not (isinstance(current, type) and issubclass(current, msgspec.Struct)):
            return None
        found = next((f for f in _struct_fields(current) if f.encode_name == name), None)
        if found is None:
            return None
        current = _one_of(found.type)
    origin, args = typing.get_origin(current), typing.get_args(current)
    if (origin is tuple and len(args) == 2 and args[1] is Ellipsis) or (origin is list and len(args) == 1):
        element = _one_of(args[0])
        if isinstance(element, type) and issubclass(element, msgspec.Struct):
            return element if getattr(element, "IDENTITY", ()) else None
        if element in _PLAIN_ELEMENTS:
            return False
    return None


@functools.cache
def _struct_fields(cls: type[msgspec.Struct]) -> tuple[msgspec.structs.FieldInfo, ...]:
    """msgspec.structs.fields(cls), once per class (it reads the annotations every time)."""
    return msgspec.structs.fields(cls)


def _one_of(t: Any) -> Any:
    """`t` without Annotated metadata and without None as an alternative; None when more
    than one other alternative remains (not a simple path)."""
    while typing.get_origin(t) is typing.Annotated:
        t = typing.get_args(t)[0]
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        alts = [a for a in typing.get_args(t) if a is not type(None)]
        if len(alts) != 1:
            return None
        t = alts[0]
        while typing.get_origin(t) is typing.Annotated:
            t = typing.get_args(t)[0]
    return t


def _resolved_each(kind: str, text: str) -> tuple[type | None, Shape] | str:
    """(the element's class or None, its shape) for the list `text` names in `kind`, from the
    kind's inspected type; or why it names none (a message)."""
    parts = text.split(".")[1:]
    bound: Shape = Shape(type_of(kind), kind)
    walked = "evidence"
    for name in parts:
        alts, _ = optional_parts(bound.type)
        structs = [t for t in alts if isinstance(t, mi.StructType)]
        found = next((f for s in structs for f in s.fields if f.encode_name == name), None)
        if found is None:
            names = sorted({f.encode_name for s in structs for f in s.fields})
            near = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
            hint = f"did you mean {', '.join(near)}?" if near else f"its fields: {', '.join(names[:12])}"
            return f"{walked}.{name}: {bound.label} has no field '{name}' ({hint})" if structs else \
                f"{walked}.{name}: {walked} is a {_kind_of(alts)}, it has no fields"
        walked = f"{walked}.{name}"
        bound = Shape(unwrap(found.type), walked)
    alts, _ = optional_parts(bound.type)
    lists = [t for t in alts if isinstance(t, mi.ListType | mi.VarTupleType)]
    if not lists:
        return f"{text}: each needs a list, but {text} is a {_kind_of(alts)}"
    element = unwrap(lists[0].item_type)
    if isinstance(element, mi.StructType):
        if not getattr(element.cls, "IDENTITY", ()):
            return (f"{text}: its elements ({element.cls.__name__}) declare no IDENTITY in the evidence contract, "
                    "so their findings could not keep their ids across scans")
        return element.cls, Shape(element, f"an element of {text}")
    if isinstance(element, mi.StrType | mi.IntType | mi.LiteralType):
        return None, Shape(element, f"an element of {text}")
    return f"{text}: each needs a list of objects or of plain values, not of {type_name(element)}"


def problems(checked: Checked, source: str, scope: Mapping[str, Bound]) -> list[Problem]:
    """Every read of a field the contract does not have, in source order."""
    found = set(_Walker(checked, source).check(checked.expr, dict(scope)))
    return sorted(found, key=lambda p: (p.offset, p.message))


class _Walker:
    def __init__(self, checked: Checked, source: str) -> None:
        self.checked = checked
        self.source = source

    def where(self, node: Expr, name: str = "") -> int:
        """Offset of `name` at or after the node's position (the position of a select is its dot)."""
        start = self.checked.positions.get(node.id, 0)
        if name:
            at = self.source.find(name, start)
            if at >= 0:
                return at
        return start

    def check(self, node: Expr, scope: dict[str, Bound]) -> Iterator[Problem]:
        self.out: list[Problem] = []
        self.shape(node, scope)
        yield from self.out

    # Each method returns what the node holds, recording problems as it goes.
    def shape(self, node: Expr, scope: dict[str, Bound]) -> Bound:
        if node.kind == "ident":
            return scope.get(node.name, ANY)
        if node.kind == "select" and node.operand is not None:
            return self.field(node, self.shape(node.operand, scope), node.name, self.text(node.operand))
        if node.kind == "call":
            return self.call(node, scope)
        if node.kind == "comprehension":
            return self.comprehension(node, scope)
        for child in node.children():
            self.shape(child, scope)
        return ANY

    def call(self, node: Expr, scope: dict[str, Bound]) -> Bound:
        if node.name in ("_[_]", "_[?_]") and len(node.args) == 2:
            container = self.shape(node.args[0], scope)
            key = node.args[1]
            self.shape(key, scope)
            if key.kind == "const" and key.string is not None:
                return self.field(key, container, key.string, self.text(node.args[0]), index=True)
            return self.element(container, self.text(node.args[0]), values=True)
        if node.name == "_?._" and len(node.args) == 2 and node.args[1].string is not None:
            base = self.shape(node.args[0], scope)
            return self.field(node, base, node.args[1].string, self.text(node.args[0]))
        for child in node.children():
            self.shape(child, scope)
        return ANY

    def comprehension(self, node: Expr, scope: dict[str, Bound]) -> Bound:
        assert node.iter_range is not None and node.accu_init is not None
        iterated = self.shape(node.iter_range, scope)
        init = self.shape(node.accu_init, scope)
        inner = dict(scope)
        if node.name and node.name != "#unused":
            inner[node.name] = self.element(iterated, self.text(node.iter_range))
        if node.iter_var2:
            inner[node.iter_var2] = ANY
        binds_params = node.accu_var == "params" and self.text(node.accu_init).startswith("rule_params")
        inner[node.accu_var] = scope.get("params", ANY) if binds_params else (init if node.accu_var != "@result" else ANY)
        for part in (node.loop_condition, node.loop_step):
            if part is not None:
                self.shape(part, inner)
        added = _appended(node.loop_step, node.accu_var)
        if added is not None:  # map() and filter() build a list: of what?
            item = self.shape(added, inner)
            if isinstance(item, Shape):
                return Shape(mi.ListType(item.type), f"the list built from {self.text(node.iter_range)}")
        return self.shape(node.result, inner) if node.result is not None else ANY

    def element(self, bound: Bound, label: str, *, values: bool = False) -> Bound:
        """What iterating over (or indexing) a value yields."""
        if isinstance(bound, Params):
            return ANY
        alts, _ = optional_parts(bound.type)
        for t in alts:
            if isinstance(t, mi.ListType | mi.VarTupleType | mi.SetType):
                return Shape(unwrap(t.item_type), f"an element of {label}")
            if isinstance(t, mi.DictType):
                return Shape(unwrap(t.value_type) if values else unwrap(t.key_type), f"a {'value' if values else 'key'} of {label}")
        return ANY

    def field(self, node: Expr, bound: Bound, name: str, owner: str, *, index: bool = False) -> Bound:
        """Read `name` from `bound`, recording a problem if the contract has no such field."""
        if isinstance(bound, Params):
            if name not in bound.names:
                near = difflib.get_close_matches(name, sorted(bound.names), n=3, cutoff=0.6)
                known = ", ".join(near or sorted(bound.names)) or "none"
                label = "did you mean" if near else "its params:"
                self.out.append(Problem(self.where(node, f'"{name}"' if index else name),
                                        f"params.{name}: the rule does not declare '{name}' under 'params' ({label} {known})"))
            return ANY
        alts, _ = optional_parts(bound.type)
        structs = [t for t in alts if isinstance(t, mi.StructType)]
        if any(isinstance(t, mi.AnyType | mi.DictType) for t in alts) or not alts:
            maps = [t for t in alts if isinstance(t, mi.DictType)]
            return Shape(unwrap(maps[0].value_type), f"{owner}.{name}") if maps and len(alts) == 1 else ANY
        for struct in structs:
            for f in struct.fields:
                if f.encode_name == name:
                    return Shape(unwrap(f.type), f"{owner}.{name}")
        names = sorted({f.encode_name for s in structs for f in s.fields})
        what = bound.label or owner
        if not structs:
            self.out.append(Problem(self.where(node, name), f"{owner}.{name}: {what} is a {_kind_of(alts)}, it has no fields"))
            return ANY
        self.unknown(node, name, f"{owner}.{name}", what, names, index)
        return ANY

    def unknown(self, node: Expr, name: str, path: str, what: str, names: list[str], index: bool) -> None:
        near = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(near)}?" if near else f"its fields: {', '.join(names[:12])}{', …' if len(names) > 12 else ''}"
        if not names:
            hint = "it declares none"
        self.out.append(Problem(self.where(node, f'"{name}"' if index else name), f"{path}: {what} has no field '{name}' ({hint})"))

    def text(self, node: Expr) -> str:
        """How the source names a path (`evidence.chain`, `c.san`), for messages."""
        if node.kind == "ident":
            return node.name
        if node.kind == "select" and node.operand is not None:
            return f"{self.text(node.operand)}.{node.name}"
        if node.kind == "call" and node.name == "_[_]" and len(node.args) == 2:
            key = node.args[1]
            inner = f'"{key.string}"' if key.string is not None else "…"
            return f"{self.text(node.args[0])}[{inner}]"
        return "(…)"


def _appended(step: Expr | None, accu: str) -> Expr | None:
    """`x` when a comprehension's step is `accu + [x]` (map) or `cond ? accu + [x] : accu` (filter)."""
    if step is None or step.kind != "call":
        return None
    if step.name == "_?_:_" and len(step.args) == 3:
        return _appended(step.args[1], accu)
    if step.name == "_+_" and len(step.args) == 2:
        first, second = step.args
        if first.kind == "ident" and first.name == accu and second.kind == "list" and len(second.args) == 1:
            return second.args[0]
    return None


def _kind_of(alts: list[mi.Type]) -> str:
    t = alts[0] if alts else mi.AnyType()
    if isinstance(t, mi.ListType | mi.VarTupleType):
        return "list"
    if isinstance(t, mi.StrType | mi.LiteralType):
        return "string"
    if isinstance(t, mi.IntType | mi.FloatType):
        return "number"
    if isinstance(t, mi.BoolType):
        return "boolean"
    return type(t).__name__.removesuffix("Type").lower()
