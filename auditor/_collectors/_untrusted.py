"""Values read from a source the collector does not control (a server's JSON answer, a device's
metadata, a tool's listing), checked where the collector builds its evidence from them.

msgspec checks types when it decodes, not when a Struct is built from values, so a collector
that builds its evidence types directly checks each untrusted value it copies unchanged: a
value of the wrong type raises :class:`UnexpectedValue`, which the collector turns into a
failure record for that resource (never an internal error). The message has the form msgspec
gives (`Expected ..., got ... - at $.field`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class UnexpectedValue(ValueError):
    """An untrusted value of the wrong type for the evidence field it is meant for."""

    def __init__(self, expected: str, value: object, where: str) -> None:
        super().__init__(f"unexpected value: Expected `{expected}`, got `{_type_name(value)}` - at `$.{where}`")

    @classmethod
    def invalid(cls, value: str, where: str) -> UnexpectedValue:
        """A string that is not one of the values a field allows (as msgspec says it, value shortened)."""
        exc = cls("str", value, where)
        exc.args = (f"unexpected value: Invalid enum value {value[:40]!r} - at `$.{where}`",)
        return exc


def _type_name(value: object) -> str:
    names = {type(None): "null", bool: "bool", int: "int", float: "float", str: "str", list: "array", dict: "object"}
    return names.get(type(value), "array" if isinstance(value, list | tuple) else "object")


def text(value: object, where: str) -> str:
    """`value`, which must be a string."""
    if not isinstance(value, str):
        raise UnexpectedValue("str", value, where)
    return value


def text_or_none(value: object, where: str) -> str | None:
    """`value`, which must be a string or None."""
    if value is not None and not isinstance(value, str):
        raise UnexpectedValue("str | null", value, where)
    return value


def flag_or_none(value: object, where: str) -> bool | None:
    """`value`, which must be a boolean or None."""
    if value is not None and not isinstance(value, bool):
        raise UnexpectedValue("bool | null", value, where)
    return value


def one_of(value: object, allowed: Collection[T], where: str) -> T:
    """`value`, which must be one of the strings `allowed` (the values of a Literal type)."""
    if not isinstance(value, str):
        raise UnexpectedValue("str", value, where)
    for option in allowed:
        if value == option:
            return option
    raise UnexpectedValue.invalid(value, where)


def one_of_or_none(value: object, allowed: Collection[T], where: str) -> T | None:
    """`value`, which must be one of `allowed` or None."""
    return None if value is None else one_of(value, allowed, where)


def mapping(value: object, where: str) -> Mapping[str, Any]:
    """`value`, which must be a JSON object; None (absent) is an empty one."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise UnexpectedValue("object", value, where)
    return value


def texts(values: Any, where: str) -> tuple[str, ...]:
    """`values`, which must be a list of strings, as a tuple."""
    if not isinstance(values, list | tuple):
        raise UnexpectedValue("array", values, where)
    return tuple(text(v, f"{where}[{i}]") for i, v in enumerate(values))
