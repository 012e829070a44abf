"""Message templates: text with `{expr}` placeholders, each a CEL expression.

`{{` and `}}` stand for literal braces. Placeholders are compiled at load, like conditions.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from auditor._policy.cel import EvaluationError, Expression, compile_expression, evaluate
from auditor.errors import ConfigError


@dataclass(frozen=True)
class Template:
    source: str
    parts: tuple[str | Expression, ...]
    offsets: tuple[int, ...] = ()
    """Where each part starts in `source` (for an expression part: its text inside the braces)."""

    def expressions(self) -> list[tuple[Expression, int]]:
        """Each placeholder's compiled expression and where its text starts in `source`."""
        return [(p, o) for p, o in zip(self.parts, self.offsets, strict=True) if isinstance(p, Expression)]

    def render(self, activation: Any) -> str:
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            try:
                value = evaluate(part, activation)
            except EvaluationError as exc:
                value = f"<{part.source}: {exc}>"
            out.append(_show(value))
        return "".join(out)

    def fill(self, values: Sequence[Any]) -> str:
        """The text with the placeholders' values, in order, shown as `render` shows them."""
        return self.pattern % tuple(map(_show, values))

    @functools.cached_property
    def pattern(self) -> str:
        """The text as a printf-style pattern (`%`): each placeholder `%s`, a literal `%` doubled."""
        return "".join(p.replace("%", "%%") if isinstance(p, str) else "%s" for p in self.parts)

    @functools.cached_property
    def placeholders(self) -> tuple[Expression, ...]:
        """Each placeholder's compiled expression, in order."""
        return tuple(p for p in self.parts if isinstance(p, Expression))


def _show(value: Any) -> str:
    kind = type(value)
    if kind is str:  # most values: shown as they are (what str() gives, at the cost of a test)
        return value  # type: ignore[no-any-return]
    if kind is int:
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, list | tuple):  # nested lists are flattened; empty ones add nothing
        return ", ".join(_show(v) for v in value if not (isinstance(v, list | tuple) and not v))
    if value is None:
        return "null"
    if isinstance(value, dict):
        return str(_ordered(value))
    return str.__str__(str(value))  # its characters, as a str: a subclass's own str() is not what a join shows


def _ordered(value: Any) -> Any:
    """`value` with the keys of its maps sorted: the CEL runtime iterates a map in an order that
    changes from one activation to the next, and a rendered message must not."""
    if isinstance(value, dict):
        return {k: _ordered(value[k]) for k in sorted(value, key=lambda k: (type(k).__name__, k))}
    if isinstance(value, list | tuple):
        return type(value)(_ordered(v) for v in value)
    return value


_BRACE = re.compile(r"[{}]")
_CODE = re.compile(r"""[{}'"]""")
"""What matters in a placeholder outside quotes: braces and quotes."""
_QUOTED = {"'": re.compile(r"[\\']"), '"': re.compile(r'[\\"]')}
"""What matters inside quotes: a backslash (it escapes the next character) or the closing quote."""


def split_template(source: str) -> list[tuple[bool, str]]:
    """[(is_expression, text)], or ValueError naming the problem."""
    return [(is_expr, text) for is_expr, text, _ in _split(source)]


def _split(source: str) -> list[tuple[bool, str, int]]:
    """[(is_expression, text, offset in source)]."""
    parts: list[tuple[bool, str, int]] = []
    start = 0
    buf: list[str] = []
    i = 0
    while i < len(source):
        ch = source[i]
        if ch == "{" and source.startswith("{{", i):
            buf.append("{")
            i += 2
        elif ch == "}" and source.startswith("}}", i):
            buf.append("}")
            i += 2
        elif ch == "{":
            depth, j = 1, i + 1
            quote: str | None = None
            while j < len(source) and depth:  # from one character that matters to the next
                found = (_QUOTED[quote] if quote else _CODE).search(source, j)
                if found is None:
                    j = len(source)
                    break
                j = found.start()
                c = source[j]
                if quote:
                    if c == "\\":
                        j += 1
                    elif c == quote:
                        quote = None
                elif c in "'\"":
                    quote = c
                elif c == "{":
                    depth += 1
                elif c == "}":
                    depth -= 1
                j += 1
            if depth:
                raise ValueError(f"unclosed '{{' at character {i + 1}")
            inner = source[i + 1 : j - 1]
            expr = inner.strip()
            if not expr:
                raise ValueError(f"empty placeholder '{{}}' at character {i + 1}")
            if buf:
                parts.append((False, "".join(buf), start))
                buf = []
            parts.append((True, expr, i + 1 + len(inner) - len(inner.lstrip())))
            i = j
            start = i
        elif ch == "}":
            raise ValueError(f"unmatched '}}' at character {i + 1} (write '}}}}' for a brace)")
        else:  # plain text up to the next brace
            brace = _BRACE.search(source, i)
            end = len(source) if brace is None else brace.start()
            buf.append(source[i:end])
            i = end
    if buf:
        parts.append((False, "".join(buf), start))
    return parts


def compile_template(
    source: str, *, mode: str, file: str, line: int | None, field: str, rule_id: str
) -> Template:
    try:
        pieces = _split(source)
    except ValueError as exc:
        raise ConfigError(f"bad message template: {exc}", file=file, line=line, field=field) from None
    parts: list[str | Expression] = []
    for is_expr, text, _ in pieces:
        if is_expr:
            parts.append(
                compile_expression(
                    text, mode=mode, file=file, line=line, field=field, rule_id=rule_id, want_bool=False
                )
            )
        else:
            parts.append(text)
    return Template(source=source, parts=tuple(parts), offsets=tuple(offset for _, _, offset in pieces))
