"""The nats.conf parser: the server's whole configuration syntax, with file and line of everything.

A port of the state machine of nats-server's `conf/lex.go` and the item processing of
`conf/parse.go` (the server's own parser; no other parser reads this format exactly), so that
quirks match the server: `[1]` is the string "1" but `[1, 2]` starts with the integer 1; an
unquoted `$2a$...` is a bcrypt hash, while `$2b$...` is a variable reference; `foo #x` sets foo
to the string "#x". Differences, all deliberate and documented in docs/nats.md:

- errors are :class:`ConfError` naming the file and line (an error in an included file names
  that file, and the include line of its parent);
- a size suffix the server does not know (`1kbb`) is an error (the server silently drops the
  value and shifts later keys);
- include cycles and includes that leave the confinement folder (`confine=`, the scanned
  node's root) are errors;
- environment variables come from the `env` mapping given to the parser, never implicitly
  from the auditor's own environment (the CLI passes its environment; a scan passes the
  source's `environment` option).

Values are :class:`Value` nodes: `data` (a dict of Values, a list of Values, str, int, float,
bool or datetime), the file and line (a map entry carries its key's line, as the server's
pedantic parser does), and `used` when a variable reference read it.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.errors import ConfigError

EOF = "\x00"
"""The lexer's end of input; like the server's (rune 0), a NUL byte in the input reads as it."""

MAX_INCLUDE_DEPTH = 16
MAX_FILE_BYTES = 8 * 1024 * 1024

# item types
ERROR, EOF_ITEM, KEY, TEXT, STRING, BOOL, INTEGER, FLOAT, DATETIME = range(9)
ARRAY_START, ARRAY_END, MAP_START, MAP_END, COMMENT_START, VARIABLE, INCLUDE = range(9, 16)

_GO_EXTRA_NOT_SPACE = frozenset("\x1c\x1d\x1e\x1f")


def _is_space(ch: str) -> bool:
    """Go's unicode.IsSpace (Python's isspace also counts the ASCII separators 0x1c-0x1f)."""
    return ch.isspace() and ch not in _GO_EXTRA_NOT_SPACE


def _is_ws(ch: str) -> bool:
    return ch == " " or ch == "\t"


def _is_nl(ch: str) -> bool:
    return ch == "\n" or ch == "\r"


def _is_digit(ch: str) -> bool:
    return ch.isdecimal()


def _is_key_sep(ch: str) -> bool:
    return ch == "=" or ch == ":"


_NUMBER_SUFFIX = frozenset("kKmMgGtTpPeE")
_ASCII_INT = re.compile(r"-?[0-9]+")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_SUFFIXES: dict[str, int] = {
    "": 1,
    **{s: 1000**n for n, s in enumerate("kmgtpe", start=1)},
    **{s + tail: 1024**n for n, s in enumerate("kmgtpe", start=1) for tail in ("b", "i", "ib")},
}


class ConfError(ConfigError):
    """A nats.conf file cannot be parsed; names the file and the line."""


@dataclass(eq=False)
class Value:
    """One parsed value with where it was written."""

    data: Any
    kind: str  # map, array, string, integer, float, bool, datetime
    file: str
    line: int
    raw: str = ""
    """The source text of a scalar (e.g. `8MB` for the integer 8388608)."""
    used: bool = False
    """A variable reference read this value (the server then accepts it as an unknown key)."""
    variable: str | None = None
    """The variable this value was taken from, if any."""

    def plain(self) -> Any:
        """The value as plain Python data (dicts, lists, scalars)."""
        if self.kind == "map":
            return {k: v.plain() for k, v in self.data.items()}
        if self.kind == "array":
            return [v.plain() for v in self.data]
        return self.data

    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class VariableUse:
    name: str
    file: str
    line: int
    source: str  # "config", "environment" or "bcrypt"


@dataclass
class ParsedConfig:
    """A parsed top-level config: the root map, the files read, the variables referenced."""

    root: Value
    files: list[str] = field(default_factory=list)
    variables: list[VariableUse] = field(default_factory=list)


# ---------------------------------------------------------------------------------- lexer

State = Callable[[], "State | None"]


class _Lexer:
    """The server's lexer state machine (conf/lex.go), one state per method."""

    def __init__(self, text: str) -> None:
        self.input = text
        self.n = len(text)
        self.start = 0
        self.pos = 0
        self.width = 0
        self.line = 1
        self.stack: list[State] = []
        self.parts: list[str] = []
        self.string_state: State = self.lex_string
        self.items: list[tuple[int, str, int]] = []

    # -- primitives
    def run(self) -> list[tuple[int, str, int]]:
        state: State | None = self.lex_top
        while state is not None:
            state = state()
        return self.items

    def next(self) -> str:
        if self.pos >= self.n:
            self.width = 0
            return EOF
        ch = self.input[self.pos]
        if ch == "\n":
            self.line += 1
        self.width = 1
        self.pos += 1
        return ch

    def backup(self) -> None:
        self.pos -= self.width
        if self.pos < self.n and self.input[self.pos] == "\n":
            self.line -= 1

    def peek(self) -> str:
        ch = self.next()
        self.backup()
        return ch

    def ignore(self) -> None:
        self.start = self.pos

    def skip_to(self, stops: re.Pattern[str]) -> None:
        """Advance (as repeated next() would) up to the first character matching `stops`."""
        m = stops.search(self.input, self.pos)
        end = m.start() if m else self.n
        if end > self.pos:
            self.line += self.input.count("\n", self.pos, end)
            self.pos = end
            self.width = 1

    def emit(self, typ: int) -> None:
        val = "".join(self.parts) + self.input[self.start : self.pos]
        self.items.append((typ, val, self.line))
        self.start = self.pos

    def emit_string(self) -> None:
        val = "".join(self.parts) + self.input[self.start : self.pos]
        self.parts = []
        self.items.append((STRING, _normalise(val), self.line))
        self.start = self.pos

    def errorf(self, message: str) -> State | None:
        """Emit an error item; lexing stops (the caller returns this None as its next state)."""
        self.items.append((ERROR, message, self.line))
        return None

    def push(self, state: State) -> None:
        self.stack.append(state)

    def pop(self) -> State | None:
        if not self.stack:
            return self.errorf("BUG in lexer: no states to pop.")
        return self.stack.pop()

    def skip(self, state: State) -> State:
        self.ignore()
        return state

    def comment_or(self, back_to: State) -> State | None:
        """After a '/': a second '/' starts a comment; otherwise None (the '/' is backed up)."""
        if self.next() == "/":
            self.push(back_to)
            return self.lex_comment_start
        self.backup()
        return None

    def close(self, emit: Callable[[], None]) -> State | None:
        """Emit the token before the closing quote, then step over the quote."""
        self.backup()
        emit()
        self.next()
        self.ignore()
        return self.pop()

    def eof(self) -> State | None:
        """End of input where a value may end: an error if something was started."""
        if self.pos > self.start:
            return self.errorf("Unexpected EOF.")
        self.emit(EOF_ITEM)
        return None

    # -- top level
    def lex_top(self) -> State | None:
        r = self.next()
        if _is_space(r):
            return self.skip(self.lex_top)
        if r == "{":
            self.push(self.lex_top)
            return self.skip(self.lex_block_start)
        if r == "#":
            self.push(self.lex_top)
            return self.lex_comment_start
        if r == "/":
            nxt = self.comment_or(self.lex_top)
            if nxt:
                return nxt
            r = EOF  # the server falls through to its EOF case
        if r == EOF:
            return self.eof()
        self.backup()
        self.push(self.lex_top_value_end)
        return self.lex_key_start

    def lex_top_value_end(self) -> State | None:
        r = self.next()
        if r == "#":
            self.push(self.lex_top)
            return self.lex_comment_start
        if r == "/":
            return self.comment_or(self.lex_top) or self.lex_top_value_end
        if _is_ws(r):
            return self.lex_top_value_end
        if _is_nl(r) or r == EOF or r in ";,}":
            self.ignore()
            return self.lex_top
        return self.errorf(
            "Expected a top-level value to end with a new line, comment or EOF, "
            f"but got '{_show(r)}' instead."
        )

    def lex_block_start(self) -> State | None:
        r = self.next()
        if _is_space(r):
            return self.skip(self.lex_block_start)
        if r == "{":
            self.push(self.lex_block_end)
            return self.skip(self.lex_block_start)
        if r == "}":
            self.ignore()
            return self.pop()
        if r == "#":
            self.push(self.lex_block_start)
            return self.lex_comment_start
        if r == "/":
            nxt = self.comment_or(self.lex_block_start)
            if nxt:
                return nxt
            r = EOF
        if r == EOF:
            return self.eof()
        self.backup()
        self.push(self.lex_block_value_end)
        return self.lex_key_start

    def lex_block_value_end(self) -> State | None:
        r = self.next()
        if r == "#":
            self.push(self.lex_block_value_end)
            return self.lex_comment_start
        if r == "/":
            return self.comment_or(self.lex_block_value_end) or self.lex_block_value_end
        if _is_ws(r):
            return self.lex_block_value_end
        if _is_nl(r) or r == ";" or r == ",":
            self.ignore()
            return self.lex_block_start
        if r == "}":
            self.backup()
            return self.lex_block_end
        return self.errorf(
            "Expected a block-level value to end with a new line, comment or EOF, "
            f"but got '{_show(r)}' instead."
        )

    def lex_block_end(self) -> State | None:
        r = self.next()
        if r == "#":
            self.push(self.lex_block_start)
            return self.lex_comment_start
        if r == "/":
            return self.comment_or(self.lex_block_start) or self.lex_block_end
        if _is_nl(r) or _is_ws(r):
            return self.lex_block_end
        if r == ";" or r == ",":
            self.ignore()
            return self.lex_block_start
        if r == "}":
            self.ignore()
            return self.pop()
        return self.errorf(f"Expected a block-level to end with a '}}', but got '{_show(r)}' instead.")

    # -- keys
    def lex_key_start(self) -> State | None:
        r = self.peek()
        if _is_key_sep(r):
            return self.errorf(f"Unexpected key separator '{r}'")
        if _is_space(r):
            self.next()
            return self.skip(self.lex_key_start)
        if r == '"':
            self.next()
            return self.skip(self.lex_dq_key)
        if r == "'":
            self.next()
            return self.skip(self.lex_sq_key)
        self.ignore()
        self.next()
        return self.lex_key

    def _quoted_key(self, quote: str, stops: re.Pattern[str], after: State, eof_message: str | None) -> State | None:
        self.skip_to(stops)
        r = self.peek()
        if r == quote:
            self.emit(KEY)
            self.next()
            return self.skip(after)
        # r is EOF (or a NUL byte, which the server reads as EOF)
        if eof_message is not None:
            return self.errorf(eof_message)
        return self.eof()

    def lex_dq_key(self) -> State | None:
        return self._quoted_key('"', _STOP_DQ, self.lex_key_end, None)

    def lex_sq_key(self) -> State | None:
        return self._quoted_key("'", _STOP_SQ, self.lex_key_end, None)

    def keyword(self, fall_through: State, push: State | None) -> State:
        if self.input[self.start : self.pos].lower() == "include":
            self.ignore()
            if push is not None:
                self.push(push)
            return self.lex_include_start
        self.emit(KEY)
        return fall_through

    def lex_key(self) -> State | None:
        while True:
            self.skip_to(_STOP_KEY)
            r = self.peek()
            if _is_space(r):
                return self.keyword(self.lex_key_end, None)
            if _is_key_sep(r) or r == EOF:
                self.emit(KEY)
                return self.lex_key_end
            self.next()  # a character \s matched but Go's IsSpace does not (0x1c-0x1f)

    def lex_key_end(self) -> State | None:
        r = self.next()
        if _is_space(r):
            return self.skip(self.lex_key_end)
        if _is_key_sep(r):
            return self.skip(self.lex_value)
        if r == EOF:
            self.emit(EOF_ITEM)
            return None
        self.backup()
        return self.lex_value

    # -- include
    def lex_include_start(self) -> State | None:
        r = self.next()
        if _is_ws(r):
            return self.skip(self.lex_include_start)
        self.backup()
        return self.lex_include

    def _include_quoted(self, quote: str, message: str) -> State | None:
        while True:
            r = self.next()
            if r == quote:
                return self.close(lambda: self.emit(INCLUDE))
            if r == EOF:
                return self.errorf(message)

    def lex_include_sq(self) -> State | None:
        return self._include_quoted("'", "Unexpected EOF in quoted include")

    def lex_include_dq(self) -> State | None:
        return self._include_quoted('"', "Unexpected EOF in double quoted include")

    def lex_include_string(self) -> State | None:
        r = self.next()
        if _is_nl(r) or r == EOF or r == ";" or r == "}" or _is_ws(r):
            self.backup()
            self.emit(INCLUDE)
            return self.pop()
        if r == "'":
            return self.close(lambda: self.emit(INCLUDE))
        return self.lex_include_string

    def lex_include(self) -> State | None:
        r = self.next()
        if r == "'":
            self.ignore()
            return self.lex_include_sq
        if r == '"':
            self.ignore()
            return self.lex_include_dq
        found = {"[": "start of an array", "{": "start of a map", "(": "start of a block",
                 "\\": "escape sequence"}.get(r)
        if found is None and (_is_digit(r) or r == "-"):
            found = "start of a number"
        if found is None and _is_nl(r):
            found = "new line"
        if found is not None:
            return self.errorf(f"Expected include value but found {found}")
        self.backup()
        return self.lex_include_string

    # -- values
    def lex_value(self) -> State | None:
        r = self.next()
        if _is_ws(r):
            return self.skip(self.lex_value)
        if r == "[":
            self.ignore()
            self.emit(ARRAY_START)
            return self.lex_array_value
        if r == "{":
            self.ignore()
            self.emit(MAP_START)
            return self.lex_map_key_start
        if r == "'":
            self.ignore()
            return self.lex_sq_string
        if r == '"':
            self.ignore()
            self.string_state = self.lex_dq_string
            return self.lex_dq_string
        if r == "-":
            return self.lex_neg_number_start
        if r == "(":
            self.ignore()
            return self.lex_block
        if _is_digit(r):
            self.backup()
            return self.lex_number_start
        if r == ".":
            return self.errorf("Floats must start with a digit")
        if _is_nl(r):
            return self.errorf("Expected value but found new line")
        self.backup()
        self.string_state = self.lex_string
        return self.lex_string

    def lex_array_value(self) -> State | None:
        r = self.next()
        if _is_space(r):
            return self.skip(self.lex_array_value)
        if r == "#":
            self.push(self.lex_array_value)
            return self.lex_comment_start
        if r == "/":
            nxt = self.comment_or(self.lex_array_value)
            if nxt:
                return nxt
            r = ","  # falls through to the terminator error
        if r == ",":
            return self.errorf("Unexpected array value terminator ','.")
        if r == "]":
            return self.lex_array_end
        self.backup()
        self.push(self.lex_array_value_end)
        return self.lex_value

    def lex_array_value_end(self) -> State | None:
        r = self.next()
        if _is_ws(r):
            return self.skip(self.lex_array_value_end)
        if r == "#":
            self.push(self.lex_array_value_end)
            return self.lex_comment_start
        if r == "/":
            return self.comment_or(self.lex_array_value_end) or self.skip(self.lex_array_value)
        if r == "," or _is_nl(r):
            return self.skip(self.lex_array_value)
        if r == "]":
            return self.lex_array_end
        return self.errorf(
            "Expected an array value terminator \",\" or an array terminator \"]\", "
            f"but got '{_show(r)}' instead."
        )

    def lex_array_end(self) -> State | None:
        self.ignore()
        self.emit(ARRAY_END)
        return self.pop()

    def lex_map_key_start(self) -> State | None:
        r = self.peek()
        if _is_key_sep(r):
            return self.errorf(f"Unexpected key separator '{r}'.")
        if r == "]":
            return self.errorf(f"Unexpected array end '{r}' processing map.")
        if _is_space(r):
            self.next()
            return self.skip(self.lex_map_key_start)
        if r == "}":
            self.next()
            return self.skip(self.lex_map_end)
        if r == "#":
            self.next()
            self.push(self.lex_map_key_start)
            return self.lex_comment_start
        if r == "/":
            self.next()
            nxt = self.comment_or(self.lex_map_key_start)
            if nxt:
                return nxt
            # the server drops the '/' and reads the key from the next character
        elif r == "'":
            self.next()
            return self.skip(self.lex_map_sq_key)
        elif r == '"':
            self.next()
            return self.skip(self.lex_map_dq_key)
        elif r == EOF:
            return self.errorf("Unexpected EOF processing map.")
        self.ignore()
        self.next()
        return self.lex_map_key

    def lex_map_sq_key(self) -> State | None:
        return self._quoted_key("'", _STOP_SQ, self.lex_map_key_end, "Unexpected EOF processing quoted map key.")

    def lex_map_dq_key(self) -> State | None:
        return self._quoted_key('"', _STOP_DQ, self.lex_map_key_end, "Unexpected EOF processing double quoted map key.")

    def lex_map_key(self) -> State | None:
        while True:
            self.skip_to(_STOP_KEY)
            r = self.peek()
            if r == EOF:
                return self.errorf("Unexpected EOF processing map key.")
            if _is_space(r):
                return self.keyword(self.lex_map_key_end, self.lex_map_value_end)
            if _is_key_sep(r):
                self.emit(KEY)
                return self.lex_map_key_end
            self.next()

    def lex_map_key_end(self) -> State | None:
        r = self.next()
        if _is_space(r):
            return self.skip(self.lex_map_key_end)
        if _is_key_sep(r):
            return self.skip(self.lex_map_value)
        self.backup()
        return self.lex_map_value

    def lex_map_value(self) -> State | None:
        r = self.next()
        if _is_space(r):
            return self.skip(self.lex_map_value)
        if r == ",":
            return self.errorf('Unexpected map value terminator ",".')
        if r == "}":
            return self.skip(self.lex_map_end)
        self.backup()
        self.push(self.lex_map_value_end)
        return self.lex_value

    def lex_map_value_end(self) -> State | None:
        r = self.next()
        if _is_ws(r):
            return self.skip(self.lex_map_value_end)
        if r == "#":
            self.push(self.lex_map_value_end)
            return self.lex_comment_start
        if r == "/":
            return self.comment_or(self.lex_map_value_end) or self.skip(self.lex_map_key_start)
        if r == ";" or r == "," or _is_nl(r):
            return self.skip(self.lex_map_key_start)
        if r == "}":
            return self.skip(self.lex_map_end)
        return self.errorf(
            "Expected a map value terminator \",\" or a map terminator \"}\", "
            f"but got '{_show(r)}' instead."
        )

    def lex_map_end(self) -> State | None:
        self.ignore()
        self.emit(MAP_END)
        return self.pop()

    # -- strings
    def lex_sq_string(self) -> State | None:
        self.skip_to(_STOP_SQ)
        r = self.next()
        if r == "'":
            return self.close(lambda: self.emit(STRING))
        return self.eof()

    def lex_dq_string(self) -> State | None:
        self.skip_to(_STOP_DQ_STRING)
        r = self.next()
        if r == "\\":
            self.add_current_part(1)
            return self.lex_string_escape
        if r == '"':
            return self.close(self.emit_string)
        return self.eof()

    def lex_string(self) -> State | None:
        self.skip_to(_STOP_STRING)
        r = self.next()
        if r == "\\":
            self.add_current_part(1)
            return self.lex_string_escape
        if r == "'":
            return self.close(self.emit_string)
        # a terminator: new line, EOF, ; , ] } or blank
        self.backup()
        text = self.input[self.start : self.pos]
        if self.parts:
            self.emit_string()
        elif text.lower() in _BOOLS:
            self.emit(BOOL)
        elif text.startswith("$"):
            self.start += 1
            self.emit(VARIABLE)
        else:
            self.emit_string()
        return self.pop()

    def add_current_part(self, offset: int) -> None:
        self.parts.append(self.input[self.start : self.pos - offset])
        self.start = self.pos

    def add_part(self, text: str) -> State:
        self.parts.append(text)
        self.start = self.pos
        return self.string_state

    def lex_string_escape(self) -> State | None:
        r = self.next()
        if r == "x":
            return self.lex_string_binary
        plain = {"t": "\t", "n": "\n", "r": "\r", '"': '"', "\\": "\\"}.get(r)
        if plain is not None:
            return self.add_part(plain)
        return self.errorf(
            f"Invalid escape character '{_show(r)}'. Only the following escape characters are "
            "allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\."
        )

    def lex_string_binary(self) -> State | None:
        for _ in range(2):
            if _is_nl(self.next()):
                return self.errorf("Expected two hexadecimal digits after '\\x', but hit end of line")
        digits = self.input[max(self.pos - 2, 0) : self.pos]
        if not re.fullmatch(r"[0-9A-Fa-f]{2}", digits):
            return self.errorf(f"Expected two hexadecimal digits after '\\x', but got '{digits}'")
        byte = int(digits, 16)
        return self.add_part(chr(byte) if byte < 0x80 else chr(0xDC00 + byte))

    def lex_block(self) -> State | None:
        while True:
            r = self.next()
            if r == ")":
                self.backup()
                self.backup()
                if self.next() != "\n":
                    self.next()
                    continue
                self.next()
                if self.next() in ("\n", EOF):
                    self.backup()
                    self.backup()
                    self.emit(STRING)
                    self.next()
                    self.ignore()
                    return self.pop()
                self.backup()
            elif r == EOF:
                return self.errorf("Unexpected EOF processing block.")

    # -- numbers, dates, IP addresses
    def lex_number_start(self) -> State | None:
        r = self.next()
        if not _is_digit(r):
            if r == ".":
                return self.errorf("Floats must start with a digit, not '.'.")
            return self.errorf(f"Expected a digit but got '{_show(r)}'.")
        return self.lex_number

    def lex_number(self) -> State | None:
        while True:
            r = self.next()
            if r == "-":
                if self.pos - self.start != 5:
                    return self.errorf("All ISO8601 dates must be in full Zulu form.")
                return self.lex_date_after_year
            if _is_digit(r):
                continue
            if r == ".":
                return self.lex_float_start
            if r in _NUMBER_SUFFIX:
                return self.lex_convenient_number
            if not (_is_nl(r) or r == EOF or r in "};," or _is_ws(r)):
                self.string_state = self.lex_string
                return self.lex_string
            self.backup()
            self.emit(INTEGER)
            return self.pop()

    def lex_convenient_number(self) -> State | None:
        while True:
            r = self.next()
            if r not in "bBiI" or r == EOF:
                break
        self.backup()
        # nats-server 2.15.1: only a terminator ends a suffixed number ("1k5" is a string)
        if _is_nl(r) or r == EOF or r in "};," or _is_ws(r):
            self.emit(INTEGER)
            return self.pop()
        self.string_state = self.lex_string
        return self.lex_string

    def lex_date_after_year(self) -> State | None:
        for expected in "00-00T00:00:00Z":
            r = self.next()
            if expected == "0":
                if not _is_digit(r):
                    return self.errorf(f"Expected digit in ISO8601 datetime, but found '{_show(r)}' instead.")
            elif r != expected:
                return self.errorf(f"Expected '{expected}' in ISO8601 datetime, but found '{_show(r)}' instead.")
        self.emit(DATETIME)
        return self.pop()

    def lex_neg_number_start(self) -> State | None:
        r = self.next()
        if not _is_digit(r):
            if r == ".":
                return self.errorf("Floats must start with a digit, not '.'.")
            return self.errorf(f"Expected a digit but got '{_show(r)}'.")
        return self.lex_neg_number

    def lex_neg_number(self) -> State | None:
        while True:
            r = self.next()
            if _is_digit(r):
                continue
            if r == ".":
                return self.lex_float_start
            if r in _NUMBER_SUFFIX:
                return self.lex_convenient_number
            self.backup()
            self.emit(INTEGER)
            return self.pop()

    def lex_float_start(self) -> State | None:
        r = self.next()
        if not _is_digit(r):
            return self.errorf(f"Floats must have a digit after the '.', but got '{_show(r)}' instead.")
        return self.lex_float

    def lex_float(self) -> State | None:
        while True:
            r = self.next()
            if _is_digit(r):
                continue
            if r == ".":
                return self.lex_ip
            self.backup()
            self.emit(FLOAT)
            return self.pop()

    def lex_ip(self) -> State | None:
        while True:
            r = self.next()
            if _is_digit(r) or (r in ".:-" and r != EOF):
                continue
            self.backup()
            self.emit(STRING)
            return self.pop()

    # -- comments
    def lex_comment_start(self) -> State | None:
        self.ignore()
        self.emit(COMMENT_START)
        return self.lex_comment

    def lex_comment(self) -> State | None:
        self.skip_to(_STOP_COMMENT)
        self.emit(TEXT)
        return self.pop()


_BOOLS = frozenset({"true", "false", "on", "off", "yes", "no"})
# characters at which the fast scans stop; each state then decides as the server's would
_STOP_DQ = re.compile(r'["\x00]')
_STOP_SQ = re.compile(r"['\x00]")
_STOP_DQ_STRING = re.compile(r'["\\\x00]')
_STOP_STRING = re.compile(r"[\\'\n\r\x00;,\]} \t]")
_STOP_COMMENT = re.compile(r"[\n\r\x00]")
_STOP_KEY = re.compile(r"[=:\x00\s]")


_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


def _show(ch: str) -> str:
    return {"\n": "\\n", EOF: "EOF"}.get(ch, ch)


def _normalise(text: str) -> str:
    """Join `\\xHH` escapes of bytes >= 0x80 into UTF-8 text (invalid sequences become U+FFFD)."""
    if not _ESCAPED_BYTE.search(text):
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def lex(text: str) -> list[tuple[int, str, int]]:
    """The items (type, value, line) the server's lexer yields, up to EOF or the first error."""
    return _Lexer(text).run()


# --------------------------------------------------------------------------------- parser


def go_join(folder: str, name: str) -> str:
    """Go's filepath.Join(folder, name): an absolute `name` stays under `folder`."""
    joined = os.path.join(folder or ".", name.lstrip("/")) if name else (folder or ".")
    return os.path.normpath(joined)


class _Parser:
    def __init__(
        self,
        text: str,
        file: str,
        *,
        env: Mapping[str, str],
        env_refs: set[str],
        result: ParsedConfig,
        include_stack: tuple[str, ...],
        confine: Path | None,
        shown: Callable[[str], str],
    ) -> None:
        self.text = text
        self.file = file
        self.shown_file = shown(file) if file else "<environment>"
        self.dir = os.path.dirname(file) if file else "."
        self.env = env
        self.env_refs = env_refs
        self.result = result
        self.include_stack = include_stack
        self.confine = confine
        self.shown = shown
        self.root = Value({}, "map", self.shown_file, 1)
        self.ctxs: list[Value] = [self.root]
        self.keys: list[tuple[str, int]] = []

    def fail(self, message: str, line: int | None) -> ConfError:
        return ConfError(message, file=self.shown_file, line=line)

    def parse(self) -> Value:
        prev: tuple[int, str, int] | None = None
        for item in lex(self.text):
            typ, val, line = item
            if typ == EOF_ITEM:
                if prev is not None and prev[0] == KEY and prev[1] != "}":
                    raise self.fail(f"config is invalid: key '{prev[1]}' has no value", prev[2])
                break
            prev = item
            self.process(typ, val, line)
        return self.root

    def set_value(self, value: Value) -> None:
        ctx = self.ctxs[-1]
        if ctx.kind == "array":
            ctx.data.append(value)
            return
        if not self.keys:
            raise self.fail("a value without a key", value.line)
        key, line = self.keys.pop()
        value.line = line
        ctx.data[key] = value

    def process(self, typ: int, val: str, line: int) -> None:
        f = self.shown_file
        if typ == ERROR:
            raise self.fail(val, line)
        if typ == KEY:
            self.keys.append((val, line))
        elif typ == MAP_START:
            self.ctxs.append(Value({}, "map", f, line))
        elif typ == MAP_END or typ == ARRAY_END:
            if len(self.ctxs) < 2:
                raise self.fail("unbalanced '}' or ']'", line)
            self.set_value(self.ctxs.pop())
        elif typ == ARRAY_START:
            self.ctxs.append(Value([], "array", f, line))
        elif typ == STRING:
            self.set_value(Value(val, "string", f, line, raw=val))
        elif typ == INTEGER:
            self.set_value(Value(self.integer(val, line), "integer", f, line, raw=val))
        elif typ == FLOAT:
            try:
                number = float(val)
            except ValueError:
                raise self.fail(f"expected float, but got '{val}'", line) from None
            self.set_value(Value(number, "float", f, line, raw=val))
        elif typ == BOOL:
            self.set_value(Value(val.lower() in ("true", "yes", "on"), "bool", f, line, raw=val))
        elif typ == DATETIME:
            try:
                moment = dt.datetime.strptime(val, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
            except ValueError:
                raise self.fail(f"expected Zulu formatted DateTime, but got '{val}'", line) from None
            self.set_value(Value(moment, "datetime", f, line, raw=val))
        elif typ == VARIABLE:
            found = self.lookup(val, line)
            self.set_value(Value(found.data, found.kind, f, line, raw=found.raw, variable=val))
        elif typ == INCLUDE:
            for key, value in self.include(val, line).data.items():
                self.keys.append((key, value.line))
                self.set_value(value)

    def integer(self, val: str, line: int) -> int:
        digits = 0
        for ch in val:
            if not (_is_digit(ch) or ch == "-"):
                break
            digits += 1
        text, suffix = val[:digits], val[digits:].strip().lower()
        if not _ASCII_INT.fullmatch(text):
            raise self.fail(f"expected integer, but got '{val}'", line)
        number = int(text)
        if not _INT64_MIN <= number <= _INT64_MAX:
            raise self.fail(f"integer '{val}' is out of the range", line)
        if suffix not in _SUFFIXES:
            raise self.fail(f"unknown size suffix '{suffix}' in '{val}' (the server would drop this value)", line)
        # the server multiplies in int64 and wraps silently on overflow; so do we
        product = (number * _SUFFIXES[suffix]) & 0xFFFFFFFFFFFFFFFF
        return product - (1 << 64) if product > _INT64_MAX else product

    def lookup(self, name: str, line: int) -> Value:
        if name.startswith("2a$"):
            self.result.variables.append(VariableUse(name[:3], self.shown_file, line, "bcrypt"))
            return Value("$" + name, "string", self.shown_file, line, raw="$" + name)
        for ctx in reversed(self.ctxs):
            if ctx.kind == "map" and name in ctx.data:
                found: Value = ctx.data[name]
                found.used = True
                self.result.variables.append(VariableUse(name, self.shown_file, line, "config"))
                return found
        if name in self.env_refs:
            raise self.fail(f"variable reference for '{name}' could not be parsed: variable reference cycle for '{name}'", line)
        if name in self.env:
            self.env_refs.add(name)
            try:
                sub = _Parser(
                    f"pk={self.env[name]}", "", env=self.env, env_refs=self.env_refs,
                    result=self.result, include_stack=self.include_stack, confine=self.confine,
                    shown=self.shown,
                )
                try:
                    parsed = sub.parse()
                except ConfError as exc:
                    inner = exc.message
                    if not inner.startswith("variable reference"):
                        inner = f"variable reference for '{name}' could not be parsed: {inner}"
                    raise self.fail(inner, line) from None
            finally:
                self.env_refs.discard(name)
            value = parsed.data.get("pk")
            if value is None:
                raise self.fail(f"variable reference for '{name}' can not be found", line)
            value.file = f"<environment ${name}>"
            self.result.variables.append(VariableUse(name, self.shown_file, line, "environment"))
            return value  # type: ignore[no-any-return]
        raise self.fail(f"variable reference for '{name}' can not be found", line)

    def include(self, name: str, line: int) -> Value:
        path = go_join(self.dir, name)
        real = os.path.realpath(path)
        if self.confine is not None:
            root = os.path.realpath(self.confine)
            if real != root and not real.startswith(root.rstrip("/") + "/"):
                raise self.fail(f"include '{name}' resolves outside the scanned folder {self.confine}", line)
        if real in self.include_stack:
            raise self.fail(f"include '{name}' includes itself (an include cycle)", line)
        if len(self.include_stack) >= MAX_INCLUDE_DEPTH:
            raise self.fail(f"include '{name}': includes nested deeper than {MAX_INCLUDE_DEPTH}", line)
        try:
            text = read_text(Path(path))
        except OSError as exc:
            raise self.fail(f"cannot read include file '{name}': {exc.strerror or exc}", line) from None
        self.result.files.append(self.shown(path))
        sub = _Parser(
            text, path, env=self.env, env_refs=self.env_refs, result=self.result,
            include_stack=(*self.include_stack, real), confine=self.confine, shown=self.shown,
        )
        return sub.parse()


def read_text(path: Path) -> str:
    """A config file's text; invalid UTF-8 is kept as escapes (the lexer reads them as characters)."""
    with path.open("rb") as fh:
        data = fh.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise OSError(f"larger than the {MAX_FILE_BYTES}-byte limit")
    return data.decode("utf-8", "surrogateescape")


def parse_text(
    text: str,
    *,
    file: str = "",
    env: Mapping[str, str] | None = None,
    confine: Path | None = None,
    shown: Callable[[str], str] | None = None,
) -> ParsedConfig:
    """Parse config text. `file` (a path) is where includes are resolved from and errors name."""
    result = ParsedConfig(root=Value({}, "map", file, 1))
    show = shown or (lambda p: p)
    if file:
        result.files.append(show(file))
    parser = _Parser(
        text, file, env=dict(env or {}), env_refs=set(), result=result,
        include_stack=(os.path.realpath(file),) if file else (), confine=confine, shown=show,
    )
    if not file:
        parser.shown_file = "<string>"
        parser.root.file = "<string>"
    result.root = parser.parse()
    return result


def parse_file(
    path: Path,
    *,
    env: Mapping[str, str] | None = None,
    confine: Path | None = None,
    shown: Callable[[str], str] | None = None,
) -> ParsedConfig:
    """Parse a nats.conf file and its includes. `shown` maps paths to how errors name them."""
    show = shown or (lambda p: p)
    try:
        text = read_text(path)
    except OSError as exc:
        raise ConfError(f"cannot read: {exc.strerror or exc}", file=show(str(path))) from None
    return parse_text(text, file=str(path), env=env, confine=confine, shown=show)


def walk(value: Value, path: str = "") -> Iterator[tuple[str, Value]]:
    """Every (dotted path, value) below `value`, depth first."""
    yield path, value
    if value.kind == "map":
        for k, v in value.data.items():
            yield from walk(v, f"{path}.{k}" if path else k)
    elif value.kind == "array":
        for i, v in enumerate(value.data):
            yield from walk(v, f"{path}[{i}]")
