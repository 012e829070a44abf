"""Reading sops files in every store format: the values as sops's Go code types them, and the metadata.

sops (getsops/sops) walks a tree of branches; each leaf is a string, int, float, bool or time,
and its path is the list of keys above it (list items add no index). The MAC is SHA-512 over
each leaf's `ToBytes` form in document order, so this reader keeps the order and converts
plaintext leaves the way Go would: YAML scalars by YAML 1.2 core resolution (yaml.v3),
JSON numbers as float64, dotenv and INI values as strings. Comments are not leaves of the MAC
and PyYAML does not keep them, so YAML comments are not read.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from auditor._loader.yamlfile import compose_yaml_nodes
from auditor.errors import ConfigError

FORMATS = ("yaml", "json", "dotenv", "ini", "binary")
ENC = re.compile(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]$", re.DOTALL)
METADATA_KEY = "sops"
_LIST = "__list_"
_MAP = "__map_"

GoValue = str | int | float | bool | dt.datetime


@dataclass(frozen=True)
class Leaf:
    """One value of the tree: its key path, its Go-typed value and its line (1-based) if known."""

    path: tuple[str, ...]
    value: GoValue
    line: int | None = None

    @property
    def encrypted(self) -> bool:
        return isinstance(self.value, str) and ENC.match(self.value) is not None

    @property
    def empty(self) -> bool:
        """sops leaves empty strings unencrypted (it cannot encrypt nothing)."""
        return self.value == ""

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class SopsDocument:
    path: str
    format: str
    leaves: tuple[Leaf, ...]
    metadata: Mapping[str, Any] | None = None
    """The `sops` block (unflattened for dotenv/INI), or None when the file has none."""
    raw_metadata_lines: Mapping[str, int] = field(default_factory=dict)

    @property
    def is_sops(self) -> bool:
        """sops's own test (filestatus): metadata with a MAC and a version."""
        md = self.metadata
        return bool(md) and bool(md.get("mac")) and bool(md.get("version"))  # type: ignore[union-attr]


def detect_format(path: Path, text: str) -> str:
    """The store format of a file, from its name (as sops does), else from its content."""
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if suffix == ".json":
        return _json_or_binary(text)
    if suffix == ".env":
        return "dotenv"
    if suffix == ".ini":
        return "ini"
    stripped = text.lstrip()
    if stripped.startswith("{"):
        return _json_or_binary(text)
    if re.search(r"^sops_mac=", text, re.MULTILINE):
        return "dotenv"
    if re.search(r"^\[sops\]\s*$", text, re.MULTILINE):
        return "ini"
    return "yaml"


def _json_or_binary(text: str) -> str:
    try:
        value = json.loads(text)
    except ValueError:
        return "json"
    if isinstance(value, dict) and set(value) == {"data", METADATA_KEY}:
        return "binary"
    return "json"


def parse(path: Path | str, text: str, fmt: str | None = None) -> SopsDocument:
    """Parse a (possibly sops-encrypted) file. Raises ConfigError naming the file and line."""
    name = str(path)
    fmt = fmt or detect_format(Path(name), text)
    if fmt not in FORMATS:
        raise ConfigError(f"unknown sops format '{fmt}' (one of {', '.join(FORMATS)})", file=name)
    if fmt == "yaml":
        return _parse_yaml(name, text)
    if fmt in ("json", "binary"):
        return _parse_json(name, text, fmt)
    if fmt == "dotenv":
        return _parse_dotenv(name, text)
    return _parse_ini(name, text)


# ---------------------------------------------------------------- YAML

_NULL = {"~", "null", "Null", "NULL", ""}
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?(0b[01_]+|0o?[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*)$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?$")
_SPECIAL_FLOAT = {".inf": float("inf"), "+.inf": float("inf"), "-.inf": float("-inf"), ".nan": float("nan")}
_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:(?:[Tt]|[ \t]+)(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"[ \t]*(Z|[-+]\d{1,2}(?::?\d{2})?)?)?$"
)
_TAG = "tag:yaml.org,2002:"


def go_yaml_scalar(node: yaml.ScalarNode) -> GoValue | None:
    """A scalar as yaml.v3 decodes it into interface{} (YAML 1.2 core schema plus timestamps)."""
    text = str(node.value)
    tag = str(node.tag)
    explicit = tag.startswith(_TAG) and not node.style and _is_explicit(node)
    if node.style is not None and node.style != "" and tag == _TAG + "str":
        return text  # quoted or block scalars are strings
    if explicit and tag == _TAG + "str":
        return text
    if text in _NULL and node.style in (None, ""):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.match(text):
        try:
            return _go_int(text)
        except ValueError:
            pass
    if text.lower() in _SPECIAL_FLOAT:
        return _SPECIAL_FLOAT[text.lower()]
    if _FLOAT.match(text) and any(c.isdigit() for c in text):
        try:
            return float(text.replace("_", ""))
        except ValueError:
            pass
    stamp = _timestamp(text)
    if stamp is not None:
        return stamp
    return text


def _is_explicit(node: yaml.ScalarNode) -> bool:
    # PyYAML resolves plain scalars to a tag; an explicit `!!str` is indistinguishable after
    # composition except that its implicit flags are both false.
    implicit = getattr(node, "implicit", None)
    return implicit is not None and not any(implicit)


def _go_int(text: str) -> int:
    body = text.replace("_", "")
    sign = -1 if body.startswith("-") else 1
    body = body.lstrip("+-")
    if body.startswith("0b"):
        value = int(body[2:], 2)
    elif body.startswith("0o"):
        value = int(body[2:], 8)
    elif body.startswith("0x"):
        value = int(body[2:], 16)
    elif len(body) > 1 and body.startswith("0"):
        value = int(body, 8)
    else:
        value = int(body)
    value *= sign
    if not -(2**63) <= value < 2**63:
        raise ValueError("out of int64 range")
    return value


def _timestamp(text: str) -> dt.datetime | None:
    m = _TIMESTAMP.match(text)
    if not m:
        return None
    year, month, day, hh, mm, ss, frac, zone = m.groups()
    try:
        if hh is None:
            return dt.datetime(int(year), int(month), int(day), tzinfo=dt.UTC)
        micro = int((frac or "0")[:6].ljust(6, "0"))
        tz: dt.tzinfo = dt.UTC
        if zone and zone != "Z":
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            hours, minutes = (int(digits[:-2]), int(digits[-2:])) if len(digits) > 2 else (int(digits), 0)
            tz = dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
        return dt.datetime(int(year), int(month), int(day), int(hh), int(mm), int(ss), micro, tzinfo=tz)
    except ValueError:
        return None


def _parse_yaml(name: str, text: str) -> SopsDocument:
    nodes = compose_yaml_nodes(text, name)
    leaves: list[Leaf] = []
    metadata: dict[str, Any] | None = None
    for node in nodes:
        if not isinstance(node, yaml.MappingNode):
            raise ConfigError("a sops YAML document must be a mapping", file=name, line=node.start_mark.line + 1)
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key == METADATA_KEY:
                metadata = _plain(value_node)
                continue
            leaves.extend(_yaml_leaves(value_node, (key,)))
    return SopsDocument(name, "yaml", tuple(leaves), metadata)


def _yaml_leaves(node: yaml.Node, path: tuple[str, ...]) -> Iterator[Leaf]:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            yield from _yaml_leaves(value_node, (*path, str(key_node.value)))
    elif isinstance(node, yaml.SequenceNode):
        for child in node.value:
            yield from _yaml_leaves(child, path)
    elif isinstance(node, yaml.ScalarNode):
        value = go_yaml_scalar(node)
        if value is not None:
            line = node.start_mark.line + 1 + (1 if node.style in ("|", ">") else 0)
            yield Leaf(path, value, line)


def _plain(node: yaml.Node) -> Any:
    """Metadata as plain Python values (strings, bools, lists, maps)."""
    if isinstance(node, yaml.MappingNode):
        return {str(k.value): _plain(v) for k, v in node.value}
    if isinstance(node, yaml.SequenceNode):
        return [_plain(c) for c in node.value]
    value = go_yaml_scalar(node)  # type: ignore[arg-type]
    if isinstance(value, dt.datetime):
        return str(node.value)
    return value


# ---------------------------------------------------------------- JSON and binary


def _parse_json(name: str, text: str, fmt: str) -> SopsDocument:
    try:
        value = json.loads(text, parse_int=float, parse_constant=_no_constant)
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        raise ConfigError(f"invalid JSON: {getattr(exc, 'msg', exc)}", file=name, line=line) from None
    except RecursionError:
        raise ConfigError("invalid JSON: nested too deep", file=name) from None
    if not isinstance(value, dict):
        raise ConfigError("a sops JSON document must be an object", file=name)
    metadata = value.pop(METADATA_KEY, None)
    try:
        leaves = list(_json_leaves(value, ()))
    except RecursionError:
        raise ConfigError("nested too deep", file=name) from None
    return SopsDocument(name, fmt, tuple(leaves), _json_metadata(metadata))


def _no_constant(text: str) -> None:
    raise ValueError(f"{text} is not JSON")


def _json_metadata(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    return {k: (int(v) if isinstance(v, float) and v.is_integer() else v) for k, v in value.items()}


def _json_leaves(value: Any, path: tuple[str, ...]) -> Iterator[Leaf]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _json_leaves(child, (*path, key))
    elif isinstance(value, list):
        for child in value:
            yield from _json_leaves(child, path)
    elif value is not None:
        yield Leaf(path, value)


# ---------------------------------------------------------------- dotenv and INI


def _parse_dotenv(name: str, text: str) -> SopsDocument:
    """As sops reads dotenv: lines split at LF only, so a CRLF line end leaves the CR in the value.
    A sops file written so is refused, as sops refuses it (its sops_lastmodified, CR and all, no
    longer parses as a time): not read as values that merely look unencrypted."""
    leaves: list[Leaf] = []
    flat: dict[str, str] = {}
    cr: int | None = None
    for number, line in enumerate(text.split("\n"), 1):
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ConfigError("invalid dotenv line: no '='", file=name, line=number)
        if cr is None and value.endswith("\r"):
            cr = number
        if key.startswith("sops_"):
            flat[key[len("sops_"):]] = value.replace("\\n", "\n")
            continue
        leaves.append(Leaf((key,), value.replace("\\n", "\n"), number))
    if flat and cr is not None:
        raise ConfigError("the line ends with CR LF: sops keeps the CR in each value and refuses the file "
                          "(its sops_lastmodified no longer parses as a time); save it with LF line ends",
                          file=name, line=cr)
    return SopsDocument(name, "dotenv", tuple(leaves), unflatten(flat) if flat else None)


_SECTION = re.compile(r"^\s*\[([^\]]*)\]\s*$")


def _parse_ini(name: str, text: str) -> SopsDocument:
    """INI as go-ini reads it: a DEFAULT section first, `key = value`, `;`/`#` comment lines.

    A value opening with `\"\"\"` or a backquote runs to the matching close, across lines:
    sops 3.13.0 and 3.13.1 wrote metadata holding new lines (a PGP or age `enc`) that way. A
    byte order mark at the start is skipped, as go-ini skips it.
    """
    text = text.removeprefix("\ufeff")
    leaves: list[Leaf] = []
    flat: dict[str, str] = {}
    section = "DEFAULT"
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        number, line = index + 1, lines[index].strip()
        index += 1
        if not line or line[0] in "#;":
            continue
        m = _SECTION.match(line)
        if m:
            section = m.group(1).strip()
            continue
        pos = min((p for p in (line.find("="), line.find(":")) if p >= 0), default=-1)
        if pos < 0:
            raise ConfigError("invalid INI line: no '=' or ':'", file=name, line=number)
        key, raw = line[:pos].strip(), line[pos + 1:].strip()
        quote = next((q for q in ('"""', "`") if raw.startswith(q)), None)
        if quote is not None:
            value, index = _ini_multiline(name, number, raw[len(quote):], quote, lines, index)
        else:
            value = _ini_value(raw)
        if section == METADATA_KEY:
            flat[key] = value.replace("\\n", "\n")
        else:
            leaves.append(Leaf((section, key), value, number))
    return SopsDocument(name, "ini", tuple(leaves), unflatten(flat) if flat else None)


def _ini_multiline(name: str, number: int, rest: str, quote: str, lines: list[str], index: int) -> tuple[str, int]:
    """A value quoted with `quote` from `rest` on line `number`, perhaps over the next lines."""
    end = rest.find(quote)
    if end >= 0:
        return rest[:end], index
    parts = [rest]
    while index < len(lines):
        line = lines[index]
        index += 1
        end = line.find(quote)
        if end >= 0:
            parts.append(line[:end])
            return "\n".join(parts), index
        parts.append(line)
    raise ConfigError(f"the {quote} value that starts here is never closed", file=name, line=number)


def _ini_value(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'`":
        return value[1:-1]
    for marker in (" ;", " #", "\t;", "\t#"):
        cut = value.find(marker)
        if cut >= 0:
            value = value[:cut].rstrip()
    return value


def unflatten(flat: Mapping[str, str]) -> dict[str, Any]:
    """sops's flattened metadata (`age__list_0__map_recipient`) back into nested maps and lists."""
    root: dict[str, Any] = {}
    for key, value in flat.items():
        tokens = re.split(r"(__list_\d+|__map_)", key)
        head = tokens[0]
        steps: list[str | int] = [head]
        i = 1
        while i < len(tokens):
            sep, name = tokens[i], tokens[i + 1] if i + 1 < len(tokens) else ""
            if sep.startswith(_LIST):
                steps.append(int(sep[len(_LIST):]))
                if name:
                    steps.append(name)
            elif sep == _MAP:
                steps.append(name)
            i += 2
        _place(root, steps, _flat_value(value))
    return root


def _flat_value(value: str) -> Any:
    if value in ("true", "false"):
        return value == "true"
    return value


def _place(root: dict[str, Any], steps: list[str | int], value: Any) -> None:
    node: Any = root
    for here, nxt in itertools.pairwise(steps):
        container: Any = [] if isinstance(nxt, int) else {}
        if isinstance(node, dict):
            node = node.setdefault(here, container)
        else:
            assert isinstance(here, int)
            while len(node) <= here:
                node.append(None)
            if node[here] is None:
                node[here] = container
            node = node[here]
    last = steps[-1]
    if isinstance(node, dict):
        node[str(last)] = value
    elif isinstance(node, list) and isinstance(last, int):
        while len(node) <= last:
            node.append(None)
        node[last] = value
