"""The nats.conf parser: the server's whole configuration syntax, with file and line of everything.

No parser on PyPI reads this format exactly, so this one is ours: an original implementation
(a scanner with a recursive-descent parser) written from the documented syntax and from the
behaviour observed on the real nats-server 2.15.1 (`nats-server -c FILE -t` and the values
it reports in /varz; docs/nats.md, the tests), not from the server's source. It reproduces
the server's quirks: a plain number directly before `]` is read as text, so `[1]` holds the
string "1]" and misses its `]` (an error) while `[1, 2 ]` holds integers; an unquoted
`$2a$...` is a bcrypt hash, while `$2b$...` is a variable reference; `foo #x` sets foo to
the string "#x"; `3secret`, `1k5` and `1.2.3` are strings; an unquoted value processes
escapes as a double-quoted one does and ends at a `'`, which is dropped.
Differences, all deliberate and documented in docs/nats.md:

- errors are :class:`ConfError` naming the file and line (an error in an included file names
  that file, and the include line of its parent);
- a size suffix the server does not know (`1kbb`) is an error (the server silently drops the
  value and shifts later keys), and so is a size beyond 64 bits (`8eb`, which the server
  wraps to a negative number);
- include cycles and includes that leave the confinement folder (`confine=`, the scanned
  node's root) are errors;
- environment variables come from the `env` mapping given to the parser, never implicitly
  from the auditor's own environment (the CLI passes its environment; a scan passes the
  source's `environment` option);
- a NUL character, a lone `/` or a `(` block inside an array and nesting deeper than
  MAX_NESTING levels are errors (the server stops reading at a NUL).

Everything else is read as the server reads it; tests/auditor/_nats/test_conf_oracle.py and
test_conf_generated.py compare verdicts and parsed values (the configuration digest, see
:mod:`auditor._nats.digest`) with the real `nats-server -t`. What the server then refuses in
the parsed values (unknown keys, wrong types, bad listen addresses or TLS names) is
:mod:`auditor._nats.options`.

Values are :class:`Value` nodes: `data` (a dict of Values, a list of Values, str, int, float,
bool or datetime), the file and line (a map entry carries its key's line, as the server's
pedantic parser does), and `used` when a variable reference read it.
"""

from __future__ import annotations

import os
import re
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor import _limits as limits
from auditor._fsutil import on_node
from auditor._gcpause import gc_paused
from auditor.errors import ConfigError

if TYPE_CHECKING:
    import datetime as dt

MAX_INCLUDE_DEPTH = 16
MAX_NESTING = 64
"""Maps, arrays and environment variable lookups nested deeper than this are refused."""


class ConfError(ConfigError):
    """A nats.conf file cannot be parsed; names the file and the line."""


@dataclass(eq=False, slots=True)
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
    source: str  # "config" or "environment"


@dataclass
class ParsedConfig:
    """A parsed top-level config: the root map, the files read, the variables referenced."""

    root: Value
    files: list[str] = field(default_factory=list)
    variables: list[VariableUse] = field(default_factory=list)


def go_join(folder: str, name: str) -> str:
    """Go's filepath.Join(folder, name): an absolute `name` stays under `folder`."""
    joined = os.path.join(folder or ".", name.lstrip("/")) if name else (folder or ".")
    return os.path.normpath(joined)


def read_text(path: Path) -> str:
    """A config file's text; invalid UTF-8 is kept as escapes (the lexer reads them as characters).
    Only a regular file is read, at most the file-bytes limit; OSError says why not."""
    from auditor._fsutil import read_error_text
    from pki.fsutil import ReadError, read_regular

    try:
        data = read_regular(on_node(path), limits.get("file-bytes"))
    except ReadError as exc:
        raise OSError(read_error_text(exc)) from None
    return data.decode("utf-8", "surrogateescape")


# ------------------------------------------------------------------ the scanner's patterns

_SKIP = re.compile(r"(?:[ \t\r\n]+|#[^\r\n]*|//[^\r\n]*)*")  # blanks, new lines, comments
_BLANKS = re.compile(r"[ \t]*")
_SPACE = re.compile(r"[ \t\r\n]*")
_KEY = re.compile(r"[^ \t\r\n=:]+")
_WORD_PART = re.compile(r"[^ \t\r\n,;\]}'\\]*")  # an unquoted value ends at a blank , ; ] } or '
_INCLUDE_PATH = re.compile(r"[^ \t\r\n;}]+")
_DIGITS = re.compile(r"[0-9]+")
_SIZE_TAIL = re.compile(r"[bBiI]*")
_DATETIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")
_PLAIN_DQ = re.compile(r'"([^"\\]*)"')
_SQ = re.compile(r"'([^']*)'")
_DQ_ITEM = re.compile(r'"([^"\\\n]*)"')
_SIMPLE_ARRAY = re.compile(  # the rest of an array of plain "..." strings (no escapes, comments or other values)
    r'[ \t\r\n]*(?:((?:"[^"\\\n]*"[ \t]*(?:,[ \t\r\n]*|\r?\n[ \t\r\n]*))*"[^"\\\n]*")[ \t]*(?:,|\r?\n)?)?[ \t\r\n]*\]'
)
_PLAIN_KEY = re.compile(r"([A-Za-z0-9_$.\-]+)[ \t]*[:=][ \t]*(?=[^ \t\r\n])")
"""A key of common characters, its separator and blanks, with the value on the same line."""
_SEPARATOR = re.compile(r"[ \t]*,[ \t\r]*")  # between the strings of a one-line array
_TRAILING = re.compile(r"[ \t]*,?[ \t\r]*")  # after its last string
_PLAIN_ENTRY = re.compile(r"""([A-Za-z0-9_$.\-]+)[ \t]*[:=][ \t]*(?=[^ \t\r\n])(?:"([^"\\]*)"|'([^']*)')?""")
"""_PLAIN_KEY and, when the value is a quoted string without escapes, that string ("..." or '...')."""
_SKIP_PLAIN_ENTRY = re.compile(r"(?:[ \t\r\n]+|#[^\r\n]*|//[^\r\n]*)*+" + _PLAIN_ENTRY.pattern)
"""_SKIP (possessive: a key never starts inside a comment) and _PLAIN_ENTRY: a map's next plain entry."""
_QUOTED = re.compile(r'"([^"\\]*)"|\'([^\']*)\'')  # a quoted string without escapes
_DQ_PART = re.compile(r'[^"\\]*')  # a double-quoted string's text up to '"' or a backslash
_HEX2 = re.compile(r"[0-9A-Fa-f]{2}")

_NUMBER_END = frozenset(" \t\r\n,;}")  # what may directly follow a plain integer
_VALUE_END = frozenset(",;]}")  # what cannot start a value
_SIZE_START = frozenset("kmgtpeKMGTPE")
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", '"': '"', "\\": "\\"}
_TRUE = frozenset({"true", "yes", "on"})
_FALSE = frozenset({"false", "no", "off"})
_INT64 = (-(2**63), 2**63 - 1)


def _size_factors() -> dict[str, int]:
    factors = {}
    for power, letter in enumerate("kmgtpe", start=1):
        factors[letter] = 1000**power
        for binary in (letter + "b", letter + "i", letter + "ib"):
            factors[binary] = 1024**power
    return factors


_SIZES = _size_factors()


def _past(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """Where a pattern that also matches the empty string stops matching, from `pos`."""
    m = pattern.match(text, pos)
    assert m is not None
    return m.end()


@dataclass
class _Session:
    """What one parse shares across its files: options, files read, variables, the include chain."""

    env: Mapping[str, str]
    confine: Path | None
    show: Callable[[str], str]
    files: list[str] = field(default_factory=list)
    variables: list[VariableUse] = field(default_factory=list)
    reading: list[str] = field(default_factory=list)  # real paths of the files being parsed
    expanding: list[str] = field(default_factory=list)  # environment variables being parsed
    nesting: int = 0


class _Parser:
    """Recursive descent over one text (a file, or an environment variable's value).

    The parser reads straight from the text with anchored patterns: which characters end a
    token depends on where it stands (`#` starts a comment before a key but is text at the
    start of a value), so there is no separate token stream.
    """

    def __init__(self, text: str, path: str, session: _Session, *, at_line: int | None = None) -> None:
        self.text = text
        self.end = len(text)
        self.path = path
        self.file = session.show(path)
        self.session = session
        self.at_line = at_line  # an environment value: everything is located at its reference
        self.pos = 0
        self.newlines = [m.start() for m in re.finditer("\n", text)] if at_line is None else []
        self.scopes: list[dict[str, Value]] = []

    # ------------------------------------------------------------------ helpers

    def line(self, pos: int) -> int:
        return self.at_line if self.at_line is not None else bisect_left(self.newlines, pos) + 1

    def fail(self, message: str, pos: int | None = None) -> ConfError:
        return ConfError(message, file=self.file or None, line=self.line(self.pos if pos is None else pos))

    def char(self, pos: int) -> str:
        return self.text[pos] if pos < self.end else ""

    def shown_char(self, pos: int) -> str:
        c = self.char(pos)
        return "EOF" if not c else "new line" if c in "\r\n" else repr(c)

    def skip(self) -> None:
        """Blanks, new lines and comments."""
        self.pos = _past(_SKIP, self.text, self.pos)

    def blanks(self) -> None:
        self.pos = _past(_BLANKS, self.text, self.pos)

    def at_comment(self) -> bool:
        c = self.char(self.pos)
        return c == "#" or (c == "/" and self.char(self.pos + 1) == "/")

    def rest_is_blank(self, pos: int) -> bool:
        return _past(_SKIP, self.text, pos) == self.end

    def nest(self, delta: int) -> None:
        self.session.nesting += delta
        if self.session.nesting > MAX_NESTING:
            raise self.fail(f"nested deeper than {MAX_NESTING} levels")

    # ------------------------------------------------------------------ documents and maps

    def document(self) -> dict[str, Value]:
        """A whole file: key/value entries, in any number of anonymous `{ ... }` blocks.

        As on the server, a `{` where a key could start opens a block whose keys belong to
        the top level (so a config may be wrapped in braces, JSON style, and blocks may nest:
        `{ { listen: 0.0.0.0:4222 } }`). Inside a block, a nested block must be followed by
        the `}` that closes the enclosing one or by a separator (`,`, `;` or a comment) before
        more keys; at the top level, keys may follow a block directly. A `}` with no block open may end the
        file if only blanks and new lines follow it.
        """
        if len(self.text) > limits.get("file-bytes"):
            raise ConfError(limits.exceeded("file-bytes", "the config is too large"), file=self.file or None)
        nul = self.text.find("\x00")
        if nul >= 0:
            raise self.fail("a NUL character (nats-server ignores everything after it)", nul)
        if self.text.startswith("\ufeff"):  # nats-server -t refuses it: unknown field "\ufeff..." or a parse error
            raise self.fail("the file starts with a byte order mark (U+FEFF), which nats-server reads as part of "
                            "the first key and refuses: save it as UTF-8 without one", 0)
        root: dict[str, Value] = {}
        self.scopes.append(root)
        opened: list[int] = []  # where each open block's '{' stands
        while True:
            self.skip()
            c = self.char(self.pos)
            if not c:  # the server closes blocks still open at the end
                return root
            if c == "{":
                opened.append(self.pos)
                self.pos += 1
                self.nest(1)
                continue
            if c == "}":
                if not opened:
                    if _past(_SPACE, self.text, self.pos + 1) == self.end:  # a stray '}' at the very end
                        return root
                    raise self.fail("unexpected '}' (no block is open here)")
                opened.pop()
                self.nest(-1)
                self.pos += 1
                if opened:
                    self.after_block(opened[-1])
                continue
            self.entry(root, nested=False, in_block=bool(opened))

    def after_block(self, enclosing: int) -> None:
        """After a nested anonymous block: the enclosing block's `}`, or a separator and more keys.

        A separator is one `,` or `;`, or a comment (on the same line or a later one); new
        lines alone are not.
        """
        self.pos = _past(_SPACE, self.text, self.pos)
        c = self.char(self.pos)
        if self.at_comment() or c in (",", ";"):
            self.pos = _past(_SKIP, self.text, self.pos) if self.at_comment() else self.pos + 1
        elif c != "}":
            shown = self.shown_char(self.pos)
            raise self.fail(f"Expected the '}}' that closes the block opened on line {self.line(enclosing)}, but got {shown}")

    def map_body(self, opened: int) -> dict[str, Value]:
        """The entries of a `{...}` map, after its '{'.

        The common entry (`name: value` on one line, the value quoted, a map or an array, then
        `,`, `;`, a new line or the closing `}`) is read here; entry() reads every other.
        """
        entries: dict[str, Value] = {}
        self.scopes.append(entries)
        session = self.session
        session.nesting += 1  # nest(1), inline
        if session.nesting > MAX_NESTING:
            raise self.fail(f"nested deeper than {MAX_NESTING} levels")
        text, end, file, newlines, at_line = self.text, self.end, self.file, self.newlines, self.at_line
        plain = _SKIP_PLAIN_ENTRY.match
        while True:
            m = plain(text, self.pos)
            if m is None or m.group(1).lower() == "include":
                self.pos = pos = _past(_SKIP, text, self.pos)
                c = text[pos] if pos < end else ""
                if c == "}":
                    self.pos += 1
                    break
                if not c:
                    raise self.fail(f"Unexpected EOF processing map (opened on line {self.line(opened)})")
                if c == "/":  # the server drops a lone '/' before a key (not one alone)
                    if self.char(self.pos + 1) in ("", " ", "\t", "\r", "\n", "}"):
                        raise self.fail("unexpected '/' where a map key was expected")
                    self.pos += 1
                    continue
                self.entry(entries, nested=True)
                continue
            pos = m.start(1)
            line = at_line if at_line is not None else bisect_left(newlines, pos) + 1
            after = m.end()
            if m.group(2) is not None:
                value = Value(m.group(2), "string", file, line, text[m.start(2) - 1 : after])
            elif m.group(3) is not None:
                value = Value(m.group(3), "string", file, line, text[m.start(3) - 1 : after])
            else:
                c = text[after] if after < end else ""
                self.pos = after + 1
                if c == "{":  # what value() does for a map or an array, inline
                    value = Value(self.map_body(after), "map", file, line)
                elif c == "[":
                    value = Value(self.array(after), "array", file, line)
                else:
                    self.pos = after
                    value = self.value(line, in_array=False)
                after = self.pos
            c = text[after] if after < end else ""
            if c == "," or c == ";":
                self.pos = after + 1
            else:
                self.pos = after
                if c != "\n" and c != "}":
                    self.entry_end(nested=True)
            entries[m.group(1)] = value
        session.nesting -= 1
        self.scopes.pop()
        return entries

    def entry(self, target: dict[str, Value], *, nested: bool, in_block: bool = False) -> None:
        """One `key [=|:] value` (or `include path`) at the current position, into `target`."""
        start = self.pos
        key_line = self.line(start)
        fast = _PLAIN_KEY.match(self.text, start)  # the common `name: value` on one line
        if fast is not None and fast.group(1).lower() != "include":
            quoted = _QUOTED.match(self.text, fast.end())
            if quoted is not None:
                self.pos = quoted.end()
                value = Value(quoted.group(1) if quoted.group(2) is None else quoted.group(2), "string", self.file,
                              key_line, quoted.group())
            else:
                self.pos = fast.end()
                value = self.value(key_line, in_array=False)
            self.entry_end(nested=nested, in_block=in_block)
            target[fast.group(1)] = value
            return
        c = self.char(start)
        if c in ('"', "'"):
            close = self.text.find(c, start + 1)
            if close < 0:
                raise self.fail("Unexpected EOF processing a quoted key", self.end)
            key = self.text[start + 1 : close]
            self.pos = close + 1
        else:
            m = _KEY.match(self.text, start)
            if m is None or c == "/":
                raise self.fail(f"Expected a key, but got {self.shown_char(start)}")
            key = m.group()
            self.pos = m.end()
            if key.lower() == "include" and self.char(self.pos) in (" ", "\t", "\r", "\n"):
                self.include(target, key_line, nested=nested, in_block=in_block)
                return
        self.pos = _past(_SPACE, self.text, self.pos)
        if self.char(self.pos) in ("=", ":"):
            self.pos += 1
            if nested:  # in a map the value may stand on a later line
                self.pos = _past(_SPACE, self.text, self.pos)
            else:
                self.blanks()
                if self.char(self.pos) in ("\r", "\n"):
                    raise self.fail("Expected value but found new line", start)
        if self.pos >= self.end:
            if nested:
                raise self.fail("Unexpected EOF processing map key", start)
            raise self.fail("config is invalid: a key without a value", start)
        value = self.value(key_line, in_array=False)
        self.entry_end(nested=nested, in_block=in_block)
        target[key] = value

    def entry_end(self, *, nested: bool, in_block: bool = False) -> None:
        """After a value: a new line, a comment, `;`, `,`, the closing `}` or (top level) EOF.

        At the top level, outside any block, a `}` ends a value as `;` does (the server's
        lexTopValueEnd takes it as a terminator): `port: 4222 }` then more keys is one valid
        config. In an anonymous top-level block the file may not end right after a value (nor
        after a comment on the value's line): the server wants a new line or a terminator first.
        """
        c = self.text[self.pos] if self.pos < self.end else ""
        if c in (",", ";"):  # the common cases first
            self.pos += 1
            return
        if c == "\n" or (c == "}" and (nested or in_block)):
            return
        self.blanks()
        while self.char(self.pos) == "/" and self.char(self.pos + 1) != "/":  # the server skips a lone '/'
            self.pos += 1
            self.blanks()
        c = self.char(self.pos)
        if c in (";", ",") or (c == "}" and not nested and not in_block):
            self.pos += 1
        elif self.at_comment() and in_block and self.text.find("\n", self.pos) < 0:
            raise self.fail("Unexpected EOF after a value in a '{' block (a new line must follow it)")
        elif c in ("\r", "\n", "}") or self.at_comment() or (not c and not nested and not in_block):
            pass
        elif not c and in_block:
            raise self.fail("Unexpected EOF after a value in a '{' block (a new line must follow it)")
        elif nested:
            raise self.fail(f"Expected a map value terminator ',' or '}}', but got {self.shown_char(self.pos)}")
        else:
            raise self.fail(
                f"Expected a top-level value to end with a new line, comment or EOF, but got {self.shown_char(self.pos)}"
            )

    def include(self, target: dict[str, Value], line: int, *, nested: bool, in_block: bool = False) -> None:
        """`include path`: parse that file on its own and merge its keys into `target`."""
        self.blanks()
        c = self.char(self.pos)
        m = _INCLUDE_PATH.match(self.text, self.pos)
        if c in ('"', "'"):
            name, _ = self.quoted()
        elif m is None:
            raise self.fail(f"Expected include value but found {self.shown_char(self.pos)}")
        else:
            name = m.group()
            self.pos = m.end()
        self.entry_end(nested=nested, in_block=in_block)
        target.update(self.read_include(name, line))

    def read_include(self, name: str, line: int) -> dict[str, Value]:
        """The keys of the file `include name` (on `line`) names, read from this file's folder."""
        session = self.session

        def refused(message: str) -> ConfError:
            return ConfError(message, file=self.file or None, line=line)

        path = go_join(os.path.dirname(self.path), name)
        try:
            real = os.path.realpath(on_node(Path(path)))  # a node's link followed from its root
            if session.confine is not None:
                root = os.path.realpath(session.confine)
                if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
                    raise refused(f"include file '{name}' is outside the scanned folder {session.show(root)} "
                                  "(includes are read only from inside it)")
            if real in session.reading:
                raise refused(f"include cycle: '{name}' is already being read")
            if len(session.reading) > MAX_INCLUDE_DEPTH:
                raise refused(f"includes nested deeper than {MAX_INCLUDE_DEPTH} levels")
            text = read_text(Path(path))
        except (OSError, ValueError) as exc:  # ValueError: a NUL or lone surrogate in the name
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise refused(f"cannot read include file '{name}': {detail}") from None
        shown = session.show(path)
        if shown not in session.files:
            session.files.append(shown)
        session.reading.append(real)
        try:
            return _Parser(text, path, session).document()
        except ConfError as exc:
            raise ConfError(f"{exc.message} (included from {self.file}:{line})", file=exc.file, line=exc.line) from None
        finally:
            session.reading.pop()

    # ------------------------------------------------------------------ values

    def value(self, line: int, *, in_array: bool) -> Value:
        """The value at the current position; `line` is where it is reported (its key's line)."""
        text, start = self.text, self.pos
        c = self.char(start)
        data: Any
        if c == "{":
            self.pos += 1
            return Value(self.map_body(start), "map", self.file, line)
        if c == "[":
            self.pos += 1
            return Value(self.array(start), "array", self.file, line)
        if c in ('"', "'"):
            data, kind = self.quoted()
        elif c == "(":
            if in_array:
                raise self.fail("a '(' block cannot stand in an array")
            data, kind = self.block()
        elif c == "$":
            return self.variable(line)
        elif c == "-" or "0" <= c <= "9":
            data, kind = self.number()
        elif c == ".":
            raise self.fail("Floats must start with a digit")
        elif c in _VALUE_END:
            raise self.fail(f"Expected a value, but got {self.shown_char(start)}")
        else:
            data, quoted = self.word(start)
            lowered = data.lower()
            kind = "string"
            if not quoted and (lowered in _TRUE or lowered in _FALSE):
                data, kind = lowered in _TRUE, "bool"
        return Value(data, kind, self.file, line, text[start : self.pos])

    def array(self, opened: int) -> list[Value]:
        """The elements of a `[...]` array, after its '['.

        The loop is written for speed (configs with thousands of users are mostly arrays of
        quoted subjects): plain quoted strings are read with one pattern, the rest by value().
        """
        self.nest(1)
        text, end, file = self.text, self.end, self.file
        one_line = self.one_line_strings()
        if one_line is not None:
            self.nest(-1)
            line = self.line(self.pos)
            self.pos = one_line[1] + 1
            return [Value(x, "string", file, line) for x in one_line[0]]
        simple = _SIMPLE_ARRAY.match(text, self.pos)
        if simple is not None:  # only "..." strings, commas and new lines
            body, at = simple.group(1), simple.start(1)
            self.pos = simple.end()
            self.nest(-1)
            if not body:
                return []
            if "\n" not in body:
                line = self.line(at)
                # every '"' of the body delimits a string (they hold none): the strings are every second part
                return [Value(x, "string", file, line) for x in body.split('"')[1::2]]
            return [Value(x.group(1), "string", file, self.line(at + x.start()), x.group())
                    for x in _DQ_ITEM.finditer(body)]
        items: list[Value] = []
        quick = _QUOTED.match
        pos = self.pos
        while True:
            pos = _past(_SKIP, text, pos)  # after '[', ',' or a new line
            c = text[pos] if pos < end else ""
            if c == "]":
                pos += 1
                break
            if c == ",":
                raise self.fail("Unexpected array value terminator ','", pos)
            if c == "/":  # `//` (a comment) is skipped; the server refuses a lone '/' here
                raise self.fail("unexpected '/' where an array value was expected", pos)
            if not c:
                raise self.fail(f"Unexpected EOF processing array (opened on line {self.line(opened)})", pos)
            m = quick(text, pos) if c in ('"', "'") else None
            if m is not None:
                items.append(Value(m.group(1) if c == '"' else m.group(2), "string", file, self.line(pos), m.group()))
                pos = m.end()
            else:
                self.pos = pos
                items.append(self.value(self.line(pos), in_array=True))
                pos = self.pos
            pos = _past(_BLANKS, text, pos)
            c = text[pos] if pos < end else ""
            if c == ",":
                pos += 1
            elif c == "]":
                pos += 1
                break
            elif c == "/" and text[pos + 1 : pos + 2] != "/":  # a lone '/' separates like a new line
                pos += 1
            elif c not in ("\r", "\n", "#") and c != "/":
                raise self.fail(
                    f"Expected an array value terminator ',' or an array terminator ']', but got {self.shown_char(pos)}",
                    pos,
                )
        self.pos = pos
        self.nest(-1)
        return items

    def one_line_strings(self) -> tuple[list[str], int] | None:
        """The strings of an array that holds, on one line, only "..." strings without escapes
        separated by commas (what _SIMPLE_ARRAY reads on one line), read with string methods,
        and where its ']' stands; None for any other array (then read by _SIMPLE_ARRAY or the loop)."""
        text, pos = self.text, self.pos
        close = text.find("]", pos)
        if close < 0:
            return None
        part = text[pos:close]  # up to the first ']': the array's end unless a string holds one
        if "\n" in part or "\\" in part:
            return None
        pieces = part.split('"')  # blanks, string, separator, string, ..., string, blanks: an odd count
        if len(pieces) % 2 == 0 or len(pieces) < 3 or pieces[0].strip(" \t\r"):
            return None
        if _TRAILING.fullmatch(pieces[-1]) is None:
            return None
        for separator in set(pieces[2:-1:2]):
            if _SEPARATOR.fullmatch(separator) is None:
                return None
        return pieces[1::2], close

    def quoted(self) -> tuple[str, str]:
        """A '...' (raw) or "..." (escaped) string at the current position."""
        text, start = self.text, self.pos
        m = (_SQ if text[start] == "'" else _PLAIN_DQ).match(text, start)
        if m is not None:
            self.pos = m.end()
            return m.group(1), "string"
        if text[start] == "'":
            raise self.fail("Unexpected EOF processing a quoted string", self.end)
        data, end = self.escaped(start + 1, _DQ_PART)
        if end >= self.end:
            raise self.fail("Unexpected EOF processing a quoted string", end)
        self.pos = end + 1
        return data, "string"

    def escaped(self, pos: int, plain: re.Pattern[str]) -> tuple[str, int]:
        """Text from `pos` while `plain` matches, with backslash escapes; returns it and its end.

        `\\xHH` gives a byte: runs of them are decoded as UTF-8 (invalid bytes are kept as
        surrogate escapes, as read_text keeps them).
        """
        text = self.text
        parts: list[str] = []
        raw = bytearray()
        while True:
            end = _past(plain, text, pos)
            if end > pos:
                if raw:
                    parts.append(raw.decode("utf-8", "surrogateescape"))
                    raw.clear()
                parts.append(text[pos:end])
            pos = end
            if self.char(pos) != "\\":
                if raw:
                    parts.append(raw.decode("utf-8", "surrogateescape"))
                return "".join(parts), pos
            e = self.char(pos + 1)
            if e == "x":
                h = _HEX2.match(text, pos + 2)
                if h is None:
                    raise self.fail(f"Expected two hexadecimal digits after '\\x', but got {text[pos + 2 : pos + 4]!r}", pos)
                raw.append(int(h.group(), 16))
                pos += 4
                continue
            if e not in _ESCAPES:
                raise self.fail(
                    f"Invalid escape character {self.shown_char(pos + 1)}; only \\xXX, \\t, \\n, \\r, \\\" and \\\\ are allowed",
                    pos,
                )
            if raw:
                parts.append(raw.decode("utf-8", "surrogateescape"))
                raw.clear()
            parts.append(_ESCAPES[e])
            pos += 2

    def word(self, pos: int) -> tuple[str, bool]:
        """An unquoted value's text from `pos` (escapes processed); True if a `'` ended it.

        The server ends an unquoted value at a `'` and drops the quote.
        """
        end = _past(_WORD_PART, self.text, pos)
        if self.char(end) != "\\":  # no escapes (what escaped() returns then)
            data, pos = self.text[pos:end], end
        else:
            data, pos = self.escaped(pos, _WORD_PART)
        quoted = self.char(pos) == "'"
        self.pos = pos + 1 if quoted else pos
        return data, quoted

    def block(self) -> tuple[str, str]:
        """`( ... )`: raw text up to a line holding only ')'."""
        start = self.pos + 1
        close = self.text.find("\n)\n", start)
        if close >= 0:
            self.pos = close + 2
            return self.text[start : close + 1], "string"
        if self.text.endswith("\n)") and self.end - 2 >= start:
            self.pos = self.end  # the server keeps a final ')' with no new line after it
            return self.text[start:], "string"
        raise self.fail(f"Unexpected EOF processing block (opened on line {self.line(start)})", self.end)

    def number(self) -> tuple[Any, str]:
        """A value starting with a digit or '-': integer, size, float, datetime, or a string."""
        text, start = self.text, self.pos
        negative = text[start] == "-"
        m = _DIGITS.match(text, start + 1 if negative else start)
        if m is None:
            raise self.fail(f"Expected a digit but got {self.shown_char(start + 1)}")
        digits_end = m.end()
        c = self.char(digits_end)
        if c == ".":
            f = _DIGITS.match(text, digits_end + 1)
            if f is None:
                raise self.fail(f"Floats must have a digit after the '.', but got {self.shown_char(digits_end + 1)}")
            if self.char(f.end()) == ".":  # an IP address, a version: text
                return self.word(start)[0], "string"
            self.pos = f.end()
            return float(text[start : self.pos]), "float"
        if c in _SIZE_START:
            suffix_end = _past(_SIZE_TAIL, text, digits_end + 1)
            after = self.char(suffix_end)
            if not after or after in _NUMBER_END:
                self.pos = suffix_end
                return self.sized(start, digits_end, suffix_end), "integer"
            return self.text_from(start, digits_end), "string"  # `1k5`, `1kx`; `[1k]` is "1k"
        if c == "-" and not negative:
            return self.datetime()
        if negative or not c or c in _NUMBER_END:
            self.pos = digits_end
            return self.integer(start, digits_end, 1), "integer"
        return self.text_from(start, digits_end), "string"  # `3secret`, `1:2`; `[1]` is "1]"

    def text_from(self, start: int, switch: int) -> str:
        """A value that started like a number but is text from `switch` on.

        As on the server, the character at `switch` is taken as it is, whatever it is (so
        the `]` of `[1]` is part of the string), and the rest is read as an unquoted value.
        """
        return self.text[start : switch + 1] + self.word(switch + 1)[0]

    def integer(self, start: int, digits_end: int, factor: int) -> int:
        """The digits at start:digits_end times `factor`, which must fit in 64 bits."""
        literal = self.text[start : self.pos]
        try:
            n = int(self.text[start:digits_end]) * factor
        except ValueError:  # more digits than Python converts
            n = _INT64[1] + 1
        if not _INT64[0] <= n <= _INT64[1]:
            raise self.fail(f"integer '{literal}' is out of the range of a 64-bit integer", start)
        return n

    def sized(self, start: int, digits_end: int, end: int) -> int:
        suffix = self.text[digits_end:end]
        factor = _SIZES.get(suffix.lower())
        if factor is None:
            raise self.fail(f"unknown size suffix '{suffix}' (known: k, kb, ki, kib, m, mb, ... e, eb, ei, eib)", start)
        return self.integer(start, digits_end, factor)

    def datetime(self) -> tuple[dt.datetime, str]:
        import datetime as dt  # here: few configs hold a date

        m = _DATETIME.match(self.text, self.pos)
        try:
            if m is None:
                raise ValueError
            year, month, day, hour, minute, second = (int(g) for g in m.groups())
            stamp = dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
        except ValueError:
            raise self.fail("expected Zulu formatted DateTime (2006-01-02T15:04:05Z)") from None
        self.pos = m.end()
        return stamp, "datetime"

    # ------------------------------------------------------------------ variables

    def variable(self, line: int) -> Value:
        """`$NAME`: the innermost map that defines NAME so far, then the environment."""
        start = self.pos
        token, _ = self.word(start)
        if token.startswith("$2a$"):  # a bcrypt hash, not a reference
            return Value(token, "string", self.file, line, self.text[start : self.pos])
        name = token[1:]
        for scope in reversed(self.scopes):
            found = scope.get(name)
            if found is not None:
                found.used = True
                self.session.variables.append(VariableUse(name, self.file, line, "config"))
                return Value(found.data, found.kind, self.file, line, found.raw, variable=name)
        if name in self.session.env:
            return self.from_environment(name, line, start)
        raise self.fail(f"variable reference for '{name}' can not be found", start)

    def from_environment(self, name: str, line: int, start: int) -> Value:
        """An environment variable's value, parsed as a config value located at its reference."""
        session = self.session
        if name in session.expanding:
            raise self.fail(f"variable reference cycle for '{name}'", start)
        session.variables.append(VariableUse(name, self.file, line, "environment"))
        session.expanding.append(name)
        try:
            self.nest(1)
            value = _Parser(session.env[name], self.path, session, at_line=line).lone_value()
            self.nest(-1)
        except ConfError as exc:
            raise self.fail(f"variable reference for '{name}' could not be parsed: {exc.message}", start) from None
        finally:
            session.expanding.pop()
        value.variable = name
        return value

    def lone_value(self) -> Value:
        """The whole text as one value (an environment variable's), as if after `key=`."""
        if "\x00" in self.text:
            raise self.fail("a NUL character")
        self.blanks()
        if self.pos >= self.end:
            return Value("", "string", self.file, self.line(0), "")
        if self.char(self.pos) in ("\r", "\n"):
            raise self.fail("Expected value but found new line")
        value = self.value(self.line(0), in_array=False)
        self.entry_end(nested=False)
        self.skip()
        if self.char(self.pos) == "}":  # as in a file, a stray '}' may end it
            self.pos += 1
        if not self.rest_is_blank(self.pos):
            raise self.fail(f"Expected the end of the value, but got {self.shown_char(_past(_SKIP, self.text, self.pos))}")
        return value


def parse_text(
    text: str,
    *,
    file: str = "",
    env: Mapping[str, str] | None = None,
    confine: Path | None = None,
    shown: Callable[[str], str] | None = None,
) -> ParsedConfig:
    """Parse config text. `file` (a path) is where includes are resolved from and errors name."""
    show = shown or (lambda p: p)
    session = _Session(env or {}, confine, show)
    if file:
        try:
            session.reading.append(os.path.realpath(file))
        except (OSError, ValueError):
            raise ConfError("not a usable file name", file=show(file)) from None
        session.files.append(show(file))
    with gc_paused():  # the values made hold no reference cycles: collecting while they are made is lost time
        root = _Parser(text, file, session).document()
    return ParsedConfig(Value(root, "map", show(file), 1), session.files, session.variables)


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
