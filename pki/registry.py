"""Named implementations of one seam, imported only when one is asked for.

The one registry mechanism of the project: collectors, renderers and secret engines (in
`auditor`) and key backends (here) are each a :class:`Registry` from a name to a dotted
`module:Class` path. Listing the names (the command line's choices, an inventory's check)
imports nothing; loading one imports its module alone and checks that it is what the seam
expects.

It lives in `pki` because that is the lower layer: `auditor` may import `pki`, `pki` never
imports `auditor`, and both need the same mechanism.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time

if TYPE_CHECKING:
    from typing import Generic, TypeVar, cast
else:  # the same at run time without importing typing (3 ms; a kept secrets report, 50 ms in
    # all, loads this module: see auditor._cli._replay): Registry[X] is for type checkers only
    class Generic:
        def __class_getitem__(cls, item: object) -> type:
            return cls

    def TypeVar(name: str) -> str:
        return name

    def cast(kind: object, value: object) -> object:
        return value

B = TypeVar("B")


class UnknownName(LookupError):
    """A name that is not in a registry; carries the registry's noun, the name and the known names."""

    def __init__(self, what: str, name: str, known: tuple[str, ...]) -> None:
        super().__init__(f"unknown {what} '{name}' (known: {', '.join(known) or 'none'})")
        self.what = what
        self.name = name
        self.known = known


def _resolve(dotted: str) -> object:
    module_name, _, attribute = dotted.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


class Registry(Generic[B]):
    """`name -> module:Class`, each class a subclass of `base` (itself given as `module:Class`).

    `error` turns the message about an unknown name into the exception the seam raises
    (default :class:`UnknownName`, a LookupError carrying the name and the known names).
    """

    def __init__(
        self,
        what: str,
        base: str,
        entries: Mapping[str, str],
        *,
        error: Callable[[UnknownName], Exception] | None = None,
    ) -> None:
        self.what = what
        self.base = base
        self._entries = dict(entries)
        self._error = error

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def path(self, name: str) -> str:
        """The `module:Class` registered under `name`."""
        try:
            return self._entries[name]
        except KeyError:
            unknown = UnknownName(self.what, name, self.names())
            raise (self._error(unknown) if self._error else unknown) from None

    def load(self, name: str) -> type[B]:
        """The class registered under `name`, imported now; TypeError if it is not a `base`."""
        dotted = self.path(name)
        cls = _resolve(dotted)
        base = _resolve(self.base)
        if not (isinstance(cls, type) and isinstance(base, type) and issubclass(cls, base)):
            raise TypeError(f"{self.what} '{name}': {dotted} is not a subclass of {self.base}")
        return cast("type[B]", cls)
