"""The nats.conf parser: the server's whole configuration syntax, with file and line of everything.

No parser on PyPI reads this format exactly, so this one is ours. It reproduces the syntax and
the quirks of nats-server as observed on the real server (see docs/nats.md and the tests): `[1]`
is the string "1" but `[1, 2]` starts with the integer 1; an unquoted `$2a$...` is a bcrypt
hash, while `$2b$...` is a variable reference; `foo #x` sets foo to the string "#x".
Differences, all deliberate and documented in docs/nats.md:

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

MAX_INCLUDE_DEPTH = 16
MAX_FILE_BYTES = 8 * 1024 * 1024

# item types
ERROR, EOF_ITEM, KEY, TEXT, STRING, BOOL, INTEGER, FLOAT, DATETIME = range(9)
ARRAY_START, ARRAY_END, MAP_START, MAP_END, COMMENT_START, VARIABLE, INCLUDE = range(9, 16)

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


def go_join(folder: str, name: str) -> str:
    """Go's filepath.Join(folder, name): an absolute `name` stays under `folder`."""
    joined = os.path.join(folder or ".", name.lstrip("/")) if name else (folder or ".")
    return os.path.normpath(joined)


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
    raise NotImplementedError("to be written")


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
