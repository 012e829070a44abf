"""Message templates: text with `{expr}` placeholders, each a CEL expression.

`{{` and `}}` stand for literal braces. Placeholders are compiled at load, like conditions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from auditor.errors import ConfigError
from auditor.policy.cel import EvaluationError, Expression, compile_expression, evaluate


@dataclass(frozen=True)
class Template:
    source: str
    parts: tuple[str | Expression, ...]

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


def _show(value: Any) -> str:
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
    return str(value)


def split_template(source: str) -> list[tuple[bool, str]]:
    """[(is_expression, text)], or ValueError naming the problem."""
    parts: list[tuple[bool, str]] = []
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
            while j < len(source) and depth:
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
            expr = source[i + 1 : j - 1].strip()
            if not expr:
                raise ValueError(f"empty placeholder '{{}}' at character {i + 1}")
            if buf:
                parts.append((False, "".join(buf)))
                buf = []
            parts.append((True, expr))
            i = j
        elif ch == "}":
            raise ValueError(f"unmatched '}}' at character {i + 1} (write '}}}}' for a brace)")
        else:
            buf.append(ch)
            i += 1
    if buf:
        parts.append((False, "".join(buf)))
    return parts


def compile_template(
    source: str, *, mode: str, file: str, line: int | None, field: str, rule_id: str
) -> Template:
    try:
        pieces = split_template(source)
    except ValueError as exc:
        raise ConfigError(f"bad message template: {exc}", file=file, line=line, field=field) from None
    parts: list[str | Expression] = []
    for is_expr, text in pieces:
        if is_expr:
            parts.append(
                compile_expression(
                    text, mode=mode, file=file, line=line, field=field, rule_id=rule_id, want_bool=False
                )
            )
        else:
            parts.append(text)
    return Template(source=source, parts=tuple(parts))
