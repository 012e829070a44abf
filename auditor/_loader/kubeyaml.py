"""YAML as Kubernetes reads a manifest: sigs.k8s.io/yaml, which decodes with its copy of go-yaml v2
and converts the result to JSON (`kubectl` and the API server alike).

PyYAML reads YAML 1.1 otherwise in places a manifest's meaning depends on: to go-yaml v2 `y`,
`Y`, `n` and `N` are booleans (`privileged: Y` is a privileged container), `1e3` and `1.0e3`
are numbers and `1:20` is no number (PyYAML's base 60), `0o17` and `08` are numbers, a
timestamp stays the text it was written as, and an integer past 64 bits becomes a float;
then the conversion to JSON turns every mapping key into a string (`1:` is "1", `y:` is
"true") and refuses what JSON cannot hold (`.inf`, `.nan`, a null key).
tests/auditor/_loader/test_kubeyaml.py holds this reading to `kubectl`.

Only plain scalars are resolved here; quoted and block scalars are strings, and an explicit
tag (`!!str`, `!!int`) is constructed as PyYAML constructs it.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable
from typing import Any

import yaml

_WORDS: dict[str, Any] = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
"""go-yaml v2's table of plain scalars (resolveMapList), looked up before anything else."""
_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_GO_FLOAT = re.compile(r"\.[0-9]+(?:[eE][-+]?[0-9]+)?")
"""Go's strconv.ParseFloat of a text that starts with a dot (the only floats go-yaml v2 reads so)."""
_GO_INT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_INT64 = range(-(2**63), 2**63)
_UINT64 = range(0, 2**64)


def _go_int(text: str) -> int | None:
    """Go's strconv.ParseInt with base 0 (`0x`, `0o`, `0b`, a leading 0 for octal), or None."""
    if not _GO_INT.fullmatch(text):
        return None
    sign, digits = (-1, text[1:]) if text[0] == "-" else (1, text.removeprefix("+"))
    base = {"0x": 16, "0o": 8, "0b": 2}.get(digits[:2].lower())
    if base is not None:
        digits = digits[2:]
    elif len(digits) > 1:
        base = 8 if digits[0] == "0" else 10
    return sign * int(digits, base or 10)


def go_value(text: str) -> Any:
    """A plain scalar's value as go-yaml v2 resolves it (sigs.k8s.io/yaml's copy): its table of
    words, then for a text starting with a digit or a sign an integer (Go's base-0 syntax, `_`
    dropped), a float, else the text (a timestamp too: the conversion keeps its text; an
    integer past 64 bits that is no float is text as well)."""
    if text in _WORDS:
        return _WORDS[text]
    first = text[0]
    if first == ".":
        return float(text) if _GO_FLOAT.fullmatch(text) else text
    if first not in "0123456789+-":
        return text
    plain = text.replace("_", "")
    number = _go_int(plain) if plain else None
    if number is not None and (number in _INT64 or (number in _UINT64 and plain[0] != "+")):
        return number
    if _YAML_FLOAT.fullmatch(plain):
        value = float(plain)
        return text if math.isinf(value) else value  # out of range: go-yaml keeps the text
    return text


def plain_scalar(text: str) -> Any:
    """A plain scalar's value in the JSON sigs.k8s.io/yaml makes of it (a whole float below
    1e21 is written as an integer); ValueError for one JSON cannot hold (`.inf`, `.nan`)."""
    value = go_value(text)
    if type(value) is float:
        if math.isinf(value) or math.isnan(value):
            raise ValueError(f"{text!r} is no JSON number (kubectl refuses the manifest)")
        return int(value) if value.is_integer() and abs(value) < 1e21 else value
    return value


def json_key(node: yaml.Node, built: Any) -> str:
    """A mapping key as the conversion to JSON writes it: a plain scalar's go-yaml value (`y`
    and `true` are "true", `1e3` is "1000", `1e6` "1e+06": Go's %g of a float32, `.inf`), else
    the key `built` (a quoted key is its text). ValueError for a key JSON has no form for (a
    null, an integer past int64, a list or mapping)."""
    key = go_value(str(node.value)) if node.tag == PLAIN else built
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int) and key in _INT64:
        return str(key)
    if isinstance(key, float):
        return _go_float32_text(key)
    raise ValueError(f"the key {node.value!r} has no JSON form (kubectl refuses the manifest)")


def values_by_key(pairs: list[tuple[yaml.Node, yaml.Node]], build: Callable[[yaml.Node], Any]) -> dict[str, yaml.Node]:
    """A mapping's value nodes by their keys' JSON text (json_key; `build` makes a key that is
    no plain scalar), the last of one text winning as in JSON: a value it replaces is never made."""
    return {json_key(kn, None if kn.tag == PLAIN else build(kn)): vn for kn, vn in pairs}


def _go_float32_text(value: float) -> str:
    """strconv.FormatFloat(value, 'g', -1, 32), with go-yaml's names for the infinities and NaN."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    single = struct.unpack("f", struct.pack("f", value))[0] if abs(value) < 3.4028235e38 else value
    digits = next(text for precision in range(1, 10)
                  if struct.unpack("f", struct.pack("f", float(text := f"{single:.{precision}e}")))[0] == single)
    mantissa, exponent = digits.split("e")
    mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
    power = int(exponent)
    if power < -4 or power >= 6:  # %e: Go's shortest %g decides at an exponent of 6
        return f"{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
    negative, body = mantissa.startswith("-"), mantissa.lstrip("-").replace(".", "")
    point = power + 1
    text = (body + "0" * (point - len(body)) if point >= len(body) else f"{body[:point]}.{body[point:]}") \
        if point > 0 else f"0.{'0' * -point}{body}"
    return ("-" if negative else "") + text


_MERGE = "tag:yaml.org,2002:merge"
PLAIN = "tag:auditor,kubernetes:plain"
"""The tag every plain scalar resolves to: constructed by plain_scalar."""


def make_loader(base: type[yaml.SafeLoader]) -> type[yaml.SafeLoader]:
    """`base` reading plain scalars and mapping keys as sigs.k8s.io/yaml does (merge keys
    flattened as PyYAML flattens them, then a later key wins over an earlier one that became
    the same text, as in JSON)."""

    class KubernetesLoader(base):  # type: ignore[valid-type,misc]
        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            if kind is yaml.ScalarNode and implicit[0]:
                return _MERGE if value == "<<" else PLAIN
            return super().resolve(kind, value, implicit)

        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[str, Any]:
            self.flatten_mapping(node)
            last = values_by_key(node.value, lambda kn: self.construct_object(kn, deep=deep))
            return {key: self.construct_object(vn, deep=deep) for key, vn in last.items()}

    def construct_plain(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        return plain_scalar(str(node.value))

    def construct_merge_word(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        return "<<"  # a merge key is flattened before keys are made: this is `<<` as a value

    def construct_map(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        data: dict[str, Any] = {}
        yield data
        data.update(loader.construct_mapping(node))  # type: ignore[arg-type]

    def construct_bool(loader: yaml.SafeLoader, node: yaml.Node) -> bool:
        value = _WORDS.get(str(node.value))  # go-yaml v2 resolves a !!bool by its table: `y` is true
        if not isinstance(value, bool):
            raise ValueError(f"{node.value!r} is no boolean (!!bool), as kubectl says")
        return value

    KubernetesLoader.add_constructor("tag:yaml.org,2002:bool", construct_bool)
    KubernetesLoader.add_constructor(PLAIN, construct_plain)
    KubernetesLoader.add_constructor(_MERGE, construct_merge_word)
    KubernetesLoader.add_constructor("tag:yaml.org,2002:map", construct_map)
    return KubernetesLoader
