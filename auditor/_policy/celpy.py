"""A rule's batch decisions made in Python, where that is provably what the CEL runtime decides.

A batch (:mod:`auditor._policy.batch`) hands the CEL runtime a group of records as one activation
and one program per rule; converting the records into CEL values and running the programs is
most of the cost of a bundle. Here the checked tree of each of a rule's batched expressions
(filter, `error_when`, condition, a failure's placeholders) is compiled into one Python function
over the records' plain data, `params`, `target` and `now`, for the subset of CEL the shipped
rules use (`compile_rule`; anything else: None, and the rule keeps its CEL program). A rule of
mode all is compiled likewise over `items` (`compile_all`: its error_when, condition, resource,
message and correlation key), for the engine's judgement over the selected records.

The law: whenever a function returns, its value is the one the CEL program yields. Wherever the
CEL runtime would give an error, or this module cannot be sure of the value (a comparison of an
int with a double beyond 2^53, a map iterated in an order the runtime chooses, a regular
expression beyond the syntax RE2 and Python read alike, a timestamp text beyond strict RFC 3339,
an int that overflows), it raises `Refused` (or any other exception), and the batch evaluates the
rule with its CEL program for that group, exactly as without this module. Python's own laxities
are closed: a bool is not an int, `&&`, `||`, `!` and `?:` take only bools, a missing key is an
error, not a default.

Records must hold only values the runtime converts the same way (`plain_ok`): strings of valid
Unicode without NUL, ints within int64 (a larger one is a CEL uint), doubles, bools, nulls, lists, and maps
with string keys; otherwise the group goes to the CEL runtime as before.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from auditor._policy.cel import FUNCTIONS, T
from auditor._policy.celast import Expr

if TYPE_CHECKING:
    from auditor._policy.cel import Expression
    from auditor._policy.rule import Rule


class Refused(Exception):
    """The CEL runtime would fail here, or this module is not sure of what it would yield."""


class Unsupported(Exception):
    """An expression beyond the subset compiled here (then the rule keeps its CEL program)."""


_INT_MIN, _INT_MAX = -(1 << 63), (1 << 63) - 1
_EXACT = 1 << 53
"""Ints up to this magnitude are doubles exactly: an int and a double compare the same way in
Python (exactly) and in the runtime (as doubles) only then."""
BUDGET = 1000
"""Iterations of comprehensions one record may take over a rule's expressions; more: Refused
(the runtime's budget is 10,000 per evaluation: a program near it is left to the runtime)."""
_MAX_DURATION = dt.timedelta(days=106_000)
"""The runtime computes a duration in int64 nanoseconds (about 106,751 days): a difference of
timestamps at least this far apart is refused."""
_DEPTH = 100


class CelType:
    """A CEL type value (`type(x)`, or the identifiers `int`, `map`, ...)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"CelType({self.name})"


_TYPES = {name: CelType(name) for name in (
    "int", "uint", "double", "string", "bool", "map", "list", "null_type", "bytes", "type")}
_TIMESTAMP, _DURATION = CelType("google.protobuf.Timestamp"), CelType("google.protobuf.Duration")
_TYPE_OF: dict[type, CelType] = {
    int: _TYPES["int"], float: _TYPES["double"], str: _TYPES["string"], bool: _TYPES["bool"],
    dict: _TYPES["map"], list: _TYPES["list"], type(None): _TYPES["null_type"],
    dt.datetime: _TIMESTAMP, dt.timedelta: _DURATION, CelType: _TYPES["type"],
}
_NUMBERS = (int, float)
_ORDERED = frozenset({int, float, str, bool, dt.datetime, dt.timedelta})


# ---------------------------------------------------------------- values the runtime takes alike


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: the runtime cannot take it
        return False
    return True


def plain_ok(value: Any) -> bool:
    """Whether `value` holds only what the CEL runtime converts into the value this module
    computes with (see the module's docstring), nested at most _DEPTH deep."""
    return _plain_runs([[value]], 0)


def plain_columns_ok(columns: Sequence[Sequence[Any]]) -> bool:
    """`plain_ok(list(itertools.chain(*columns)))`: the values of `columns` as the items of one list,
    each column a run of values alike (one field of many records): a run of one type is judged
    whole, at C speed."""
    return _plain_runs(columns, 1)


_PLAIN_TYPES = frozenset({str, int, float, bool, type(None), list, dict})
_SCALARS = frozenset({float, bool, type(None)})
_STR = frozenset({str})
_COLUMNS = 8
"""Maps in a run from which a run for each key is made (fewer: their values make one run, as the
values of one map do: a run for each of a map's keys would cost more than it saves)."""


def _columns(maps: Sequence[dict[Any, Any]]) -> tuple[list[Any], list[Sequence[Any]]] | None:
    """The keys of `maps` (maps with string keys) and the values of each key (a column), read at
    C speed, when every map has the same keys (the records of a kind, the parts of their fields);
    else None."""
    keys = list(maps[0])
    if not keys or set(map(len, maps)) != {len(keys)}:
        return None
    columns = by_key(maps, keys)  # None: another key in a map of as many
    return None if columns is None else (keys, columns)


def by_key(maps: Sequence[Mapping[Any, Any]], keys: Sequence[Any]) -> list[Sequence[Any]] | None:
    """The values of each of `keys` (at least one) in `maps`, a column for each key, read at C
    speed; None when a map lacks one of them."""
    try:
        if len(keys) == 1:
            return [list(map(itemgetter(keys[0]), maps))]
        return list(zip(*map(itemgetter(*keys), maps), strict=True))
    except KeyError:
        return None


def _plain_runs(runs: Sequence[Sequence[Any]], depth: int) -> bool:
    """Whether the values of `runs` (lists of values `depth` deep) are plain (plain_ok), level by
    level: each run's types are read at C speed (a set), and a run of one type (a column of a
    field) is taken whole: its strings joined, its ints by their least and greatest, its lists
    and maps opened into the next level's runs."""
    strings: list[Sequence[Any]] = []  # runs of strings and map keys, checked at once
    for _ in range(_DEPTH + 1 - depth):
        deeper: list[Sequence[Any]] = []
        containers = False
        for run in runs:
            kinds = set(map(type, run))
            if len(kinds) == 1:
                parts: Iterable[tuple[type, Sequence[Any]]] = ((kinds.pop(), run),)
            elif kinds <= _PLAIN_TYPES:
                parts = [(kind, [item for item in run if type(item) is kind]) for kind in kinds]
            else:
                return False
            for kind, items in parts:
                if kind is str:
                    strings.append(items)
                elif kind is int:
                    if min(items) < _INT_MIN or max(items) > _INT_MAX:
                        return False  # the runtime makes a uint of it, or fails
                elif kind is list:
                    containers = True
                    deeper.append(list(chain.from_iterable(items)))
                elif kind is dict:
                    containers = True
                    if set(map(type, chain.from_iterable(items))) - _STR:
                        return False  # a key that is not a string
                    columns = _columns(items) if len(items) >= _COLUMNS else None
                    if columns is not None:  # many maps of one set of keys: a run for each key
                        strings.append(columns[0])
                        deeper += columns[1]
                    else:
                        strings.append(list(chain.from_iterable(items)))
                        deeper.append(list(chain.from_iterable(map(dict.values, items))))
                elif kind not in _SCALARS:
                    return False
        if not containers:
            joined = "".join(chain.from_iterable(strings))
            # a lone surrogate: the runtime cannot take it; NUL: it cuts the string short there
            return (joined.isascii() or _utf8(joined)) and "\0" not in joined
        runs = [run for run in deeper if run]
    return False


def _out(value: Any) -> Any:
    """A placeholder's value, if it is one the runtime's `plain_value()` gives alike."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if kind is list:
        for item in value:
            _out(item)
        return value
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise Refused
            _out(item)
        return value
    raise Refused  # timestamps, durations, types: left to the runtime


# ---------------------------------------------------------------- operators


def _b(value: Any) -> bool:
    if value is True or value is False:
        return value
    raise Refused


def _number(value: Any) -> float:
    """An int or double as a double, for comparing with the other kind (exact ints only)."""
    if type(value) is float:
        return value
    if -_EXACT <= value <= _EXACT:
        return float(value)
    raise Refused


def _eq(a: Any, b: Any) -> bool:
    """CEL's heterogeneous equality: values of different types are unequal, except ints and
    doubles, compared by value."""
    kind = type(a)
    if kind is type(b):
        if kind is str or kind is int or kind is bool or kind is float or a is None:
            return bool(a == b)
        if kind is list:
            return len(a) == len(b) and all(_eq(x, y) for x, y in zip(a, b, strict=True))
        if kind is dict:
            return len(a) == len(b) and all(k in b and _eq(v, b[k]) for k, v in a.items())
        if kind is dt.datetime or kind is dt.timedelta:
            return bool(a == b)
        if kind is CelType:
            return a is b
        raise Refused
    other = type(b)
    if kind in _NUMBERS and other in _NUMBERS:
        return _number(a) == _number(b)
    if kind in _TYPE_OF and other in _TYPE_OF:
        return False
    raise Refused


def _ne(a: Any, b: Any) -> bool:
    return not _eq(a, b)


def _ordered(a: Any, b: Any) -> tuple[Any, Any]:
    """a and b as Python orders them the way CEL does: of one orderable type, or numbers."""
    if type(a) in _NUMBERS and type(b) in _NUMBERS:
        return _number(a), _number(b)
    raise Refused


def _lt(a: Any, b: Any) -> bool:
    if type(a) is not type(b) or type(a) not in _ORDERED:
        a, b = _ordered(a, b)
    return bool(a < b)


def _le(a: Any, b: Any) -> bool:
    if type(a) is not type(b) or type(a) not in _ORDERED:
        a, b = _ordered(a, b)
    return bool(a <= b)


def _gt(a: Any, b: Any) -> bool:
    if type(a) is not type(b) or type(a) not in _ORDERED:
        a, b = _ordered(a, b)
    return bool(a > b)


def _ge(a: Any, b: Any) -> bool:
    if type(a) is not type(b) or type(a) not in _ORDERED:
        a, b = _ordered(a, b)
    return bool(a >= b)


def _in(value: Any, container: Any) -> bool:
    kind = type(container)
    if kind is list:
        if type(value) is str or value is None:  # Python's == is CEL's for these against any value
            return value in container
        return any(_eq(value, item) for item in container)
    if kind is dict:
        if type(value) is str:
            return value in container
        if type(value) in (int, float, bool):
            return False  # a map here has string keys only
    raise Refused


def _has(value: Any, name: str) -> bool:
    if type(value) is dict:
        return name in value
    raise Refused


def _index(value: Any, key: Any) -> Any:
    kind = type(value)
    if kind is list and type(key) is int and 0 <= key < len(value):
        return value[key]
    if kind is dict and type(key) is str:
        return value[key]
    raise Refused


def _int(value: int) -> int:
    if _INT_MIN <= value <= _INT_MAX:
        return value
    raise Refused  # the runtime's integer overflow


def _add(a: Any, b: Any) -> Any:
    kind = type(a)
    if kind is type(b):
        if kind is int:
            return _int(a + b)
        if kind is float or kind is str or kind is list:
            return a + b
    raise Refused


def _sub(a: Any, b: Any) -> Any:
    kind = type(a)
    if kind is type(b):
        if kind is int:
            return _int(a - b)
        if kind is float:
            return a - b
        if kind is dt.datetime:
            found = a - b
            if -_MAX_DURATION < found < _MAX_DURATION:
                return found
    raise Refused


def _mul(a: Any, b: Any) -> Any:
    kind = type(a)
    if kind is type(b):
        if kind is int:
            return _int(a * b)
        if kind is float:
            return a * b
    raise Refused


def _neg(value: Any) -> Any:
    if type(value) is int:
        return _int(-value)
    if type(value) is float:
        return -value
    raise Refused


def _size(value: Any) -> int:
    if type(value) in (str, list, dict):
        return len(value)  # a string's size in code points, as CEL counts
    raise Refused


def _double(value: Any) -> float:
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)  # rounded to nearest, ties to even, as the runtime does
    raise Refused


def _string(value: Any) -> str:
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    if type(value) is bool:
        return "true" if value else "false"
    raise Refused


def _type(value: Any) -> CelType:
    found = _TYPE_OF.get(type(value))
    if found is None:
        raise Refused
    return found


def _str2(a: Any, b: Any) -> None:
    if type(a) is not str or type(b) is not str:
        raise Refused


def _starts(text: Any, prefix: Any) -> bool:
    _str2(text, prefix)
    return bool(text.startswith(prefix))


def _ends(text: Any, suffix: Any) -> bool:
    _str2(text, suffix)
    return bool(text.endswith(suffix))


def _contains(text: Any, part: Any) -> bool:
    _str2(text, part)
    return part in text


_SIMPLE_REGEX = re.compile(
    r"(?:\(\?i\))?(?:(?:[A-Za-z0-9 _-]|\)|\[-?(?:[A-Za-z0-9_.](?:-[A-Za-z0-9])?)+-?\])\??|[|^(]){1,400}")
"""Patterns that RE2 and Python's re read alike: letters, digits, spaces, `_`, `-`, alternation,
`^`, groups, classes of letters, digits, `_`, `.`, `-` and ranges of letters and digits, each but
`^`, `|` and `(` optional (`?`), after a leading `(?i)` (case-insensitive: then only ASCII texts,
where both fold case alike; Python folds more letters than RE2 beyond ASCII). No `$`: Python's
matches before a final newline; no `.` outside a class, escapes, other repetition, negated classes
or other `(?` forms."""
_REGEXES: dict[str, re.Pattern[str]] = {}


def _matches(text: Any, pattern: Any) -> bool:
    _str2(text, pattern)
    found = _REGEXES.get(pattern)
    if found is None:
        if not _SIMPLE_REGEX.fullmatch(pattern):
            raise Refused
        found = re.compile(pattern)  # an invalid one raises: the runtime's error
        if len(_REGEXES) > 1024:
            _REGEXES.clear()
        _REGEXES[pattern] = found
    if found.flags & re.IGNORECASE and not text.isascii():
        raise Refused
    return found.search(text) is not None


_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?"
    r"(?:Z|([+-])([0-9]{2}):([0-5][0-9]))")
_TIMESTAMPS: dict[str, dt.datetime] = {}


def _ts(text: Any) -> dt.datetime:
    """`timestamp(text)` for strict RFC 3339 texts of at most microseconds (the runtime takes
    more forms; those are refused)."""
    if type(text) is not str:
        raise Refused
    found = _TIMESTAMPS.get(text)
    if found is not None:
        return found
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise Refused
    year, month, day, hour, minute, second, fraction, sign, zh, zm = match.groups()
    offset = dt.timedelta(hours=int(zh), minutes=int(zm)) if sign else dt.timedelta(0)
    zone = dt.timezone(-offset if sign == "-" else offset)
    micro = int(fraction.ljust(6, "0")) if fraction else 0
    # an invalid date or time (Feb 30, hour 24, second 60) or one beyond years 1-9999 in UTC raises
    found = dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro,
                        tzinfo=zone).astimezone(dt.UTC)
    if len(_TIMESTAMPS) > 65536:
        _TIMESTAMPS.clear()
    _TIMESTAMPS[text] = found
    return found


def _iterated(value: Any, budget: list[int], *, keys: bool) -> Sequence[Any]:
    """The elements a comprehension visits (a map's keys only where the order cannot matter),
    counted against the record's budget."""
    if type(value) is list or (keys and type(value) is dict):
        budget[0] -= len(value)
        if budget[0] >= 0:
            return value if type(value) is list else list(value)
    raise Refused


def _all(value: Any, test: Callable[[Any], bool], budget: list[int]) -> bool:
    """`all`, where `test` yields a bool or raises (the compiler's tests do)."""
    return all(test(item) for item in _iterated(value, budget, keys=True))


def _exists(value: Any, test: Callable[[Any], bool], budget: list[int]) -> bool:
    return any(test(item) for item in _iterated(value, budget, keys=True))


def _map(value: Any, make: Callable[[Any], Any], keep: Callable[[Any], bool] | None, budget: list[int]) -> list[Any]:
    """`map` (and `filter`, `map` with a filter: `keep`) over a list (a map's order is the runtime's)."""
    items = _iterated(value, budget, keys=False)
    if keep is None:
        return [make(item) for item in items]
    return [make(item) for item in items if keep(item)]


_PY_TYPES: dict[str, type] = {str(T.STRING): str, str(T.DURATION): dt.timedelta, str(T.DOUBLE): float,
                              str(T.INT): int, str(T.BOOL): bool}


def _function(params: tuple[Any, ...], returns: Any, impl: Callable[..., Any]) -> Callable[..., Any]:
    """One of the project's CEL functions (cel.FUNCTIONS), called as the runtime calls it: with
    arguments of its declared types only, and giving a value of its declared type."""
    kinds = [_PY_TYPES[str(p)] for p in params]
    result = _PY_TYPES[str(returns)]

    def checked(value: Any) -> Any:
        if type(value) is not result or (type(value) is int and not _INT_MIN <= value <= _INT_MAX):
            raise Refused
        return value

    if len(kinds) == 1:
        (first,) = kinds

        def one(a: Any) -> Any:
            if type(a) is not first:
                raise Refused
            return checked(impl(a))

        return one

    def call(*args: Any) -> Any:
        if any(type(a) is not k for a, k in zip(args, kinds, strict=True)):
            raise Refused
        return checked(impl(*args))

    return call


_FUNCTIONS = {f.name: (len(f.params), _function(f.params, f.returns, f.impl), str(f.returns) == str(T.BOOL))
              for f in FUNCTIONS if all(str(p) in _PY_TYPES for p in (*f.params, f.returns))}

_HELPERS: dict[str, Any] = {
    "_b": _b, "_eq": _eq, "_ne": _ne, "_lt": _lt, "_le": _le, "_gt": _gt, "_ge": _ge,
    "_in": _in, "_has": _has, "_index": _index, "_add": _add, "_sub": _sub, "_mul": _mul,
    "_neg": _neg, "_size": _size, "_double": _double, "_string": _string, "_type": _type, "_ts": _ts,
    "_starts": _starts, "_ends": _ends, "_contains": _contains, "_matches": _matches, "_all": _all,
    "_exists": _exists, "_map": _map, "_out": _out, "_iterated": _iterated, "Refused": Refused, "BUDGET": BUDGET,
}
_BINARY = {"_==_": "_eq", "_!=_": "_ne", "_<_": "_lt", "_<=_": "_le", "_>_": "_gt", "_>=_": "_ge",
           "@in": "_in", "_[_]": "_index", "_+_": "_add", "_-_": "_sub", "_*_": "_mul"}
_VALUES = frozenset({"_[_]", "_+_", "_-_", "_*_"})
"""The binary operators whose value is not always a bool."""
_GLOBAL = {"-_": "_neg", "size": "_size", "timestamp": "_ts", "double": "_double",
           "string": "_string", "type": "_type"}
_METHODS = {("size", 0): "_size", ("startsWith", 1): "_starts", ("endsWith", 1): "_ends",
            ("contains", 1): "_contains", ("matches", 1): "_matches"}


# ---------------------------------------------------------------- the compiler


def _is_ident(node: Expr | None, name: str) -> bool:
    return node is not None and node.kind == "ident" and node.name == name


def _is_const(node: Expr | None, kind: str, value: Any) -> bool:
    return node is not None and node.kind == "const" and node.constant is not None \
        and node.constant[0] == kind and node.constant[1] == value


def _is_call(node: Expr | None, name: str, arity: int) -> bool:
    return node is not None and node.kind == "call" and node.name == name and node.operand is None \
        and len(node.args) == arity


def _is_string(node: Expr) -> bool:
    return node.kind == "const" and node.constant is not None and node.constant[0] == "string"


def _is_empty_list(node: Expr | None) -> bool:
    return node is not None and node.kind == "list" and not node.args


def _appends(node: Expr | None, accu: str) -> Expr | None:
    """E where `node` is `accu + [E]`."""
    if _is_call(node, "_+_", 2) and node is not None and _is_ident(node.args[0], accu) \
            and node.args[1].kind == "list" and len(node.args[1].args) == 1:
        return node.args[1].args[0]
    return None


class _Compiler:
    """Python source for CEL expressions: each node an expression over the locals `evidence`,
    `params`, `target`, `now`, `rule_params` and the comprehensions' variables, paired with
    whether it always yields a bool (else a test wraps it in `_b`)."""

    def __init__(self) -> None:
        self.constants: list[Any] = []
        self.names = 0

    def constant(self, value: Any) -> str:
        self.constants.append(value)
        return f"K[{len(self.constants) - 1}]"

    def test(self, node: Expr, scope: Mapping[str, str]) -> str:
        """Source that yields the node's value where it is a bool, and raises Refused otherwise."""
        code, boolean = self.expr(node, scope)
        return code if boolean else f"_b({code})"

    def value(self, node: Expr, scope: Mapping[str, str]) -> str:
        return self.expr(node, scope)[0]

    def expr(self, node: Expr, scope: Mapping[str, str]) -> tuple[str, bool]:
        if node.kind == "const":
            return self.const(node)
        if node.kind == "ident":
            if node.name in scope:
                return scope[node.name], False
            if node.name in _TYPES:
                return self.constant(_TYPES[node.name]), False
            raise Unsupported(node.name)
        if node.kind == "select" and node.operand is not None:
            operand = self.value(node.operand, scope)
            name = self.constant(node.name)
            if node.test_only:
                return f"_has({operand}, {name})", True
            # every value but a map raises TypeError here (a list, a string, null...), as the
            # runtime fails; a map without the key raises KeyError
            return f"{operand}[{name}]", False
        if node.kind == "list":
            return "[" + ", ".join(self.value(a, scope) for a in node.args) + "]", False
        if node.kind == "call":
            return self.call(node, scope)
        if node.kind == "comprehension":
            return self.comprehension(node, scope)
        raise Unsupported(node.kind)

    def const(self, node: Expr) -> tuple[str, bool]:
        if node.constant is None:
            raise Unsupported("constant")
        kind, value = node.constant
        if kind == "null":
            return "None", False
        if kind == "bool":
            return ("True" if value else "False"), True
        if kind == "string" and "\0" in value:
            raise Unsupported("NUL")  # never met in a record (plain_ok): left to the runtime
        if kind in ("int", "double", "string"):
            return self.constant(value), False
        raise Unsupported(kind)  # uint, bytes

    def call(self, node: Expr, scope: Mapping[str, str]) -> tuple[str, bool]:
        name, nodes = node.name, node.args
        if node.operand is not None:
            method = _METHODS.get((name, len(nodes)))
            if method is None:
                raise Unsupported(name)
            more = "".join(", " + self.value(a, scope) for a in nodes)
            return f"{method}({self.value(node.operand, scope)}{more})", method != "_size"
        if name == "_&&_" and len(nodes) == 2:
            return f"({self.test(nodes[1], scope)} if {self.test(nodes[0], scope)} else False)", True
        if name == "_||_" and len(nodes) == 2:
            return f"(True if {self.test(nodes[0], scope)} else {self.test(nodes[1], scope)})", True
        if name == "!_" and len(nodes) == 1:
            return f"(not {self.test(nodes[0], scope)})", True
        if name == "_?_:_" and len(nodes) == 3:
            (yes, yes_bool), (no, no_bool) = self.expr(nodes[1], scope), self.expr(nodes[2], scope)
            return f"({yes} if {self.test(nodes[0], scope)} else {no})", yes_bool and no_bool
        if name in ("_==_", "_!=_") and len(nodes) == 2:
            return self.equality(name == "_==_", nodes[0], nodes[1], scope), True
        if name == "@in" and len(nodes) == 2 and nodes[1].kind == "list" and nodes[1].args \
                and all(_is_string(a) for a in nodes[1].args):
            # among strings only: Python's == is CEL's for a string against any value (an
            # unhashable value raises TypeError, where the runtime says false: refused)
            strings = frozenset(a.string for a in nodes[1].args)
            return f"({self.value(nodes[0], scope)} in {self.constant(strings)})", True
        args = [self.value(a, scope) for a in nodes]
        if name in _BINARY and len(args) == 2:
            return f"{_BINARY[name]}({args[0]}, {args[1]})", name not in _VALUES
        if name in _GLOBAL and len(args) == 1:
            return f"{_GLOBAL[name]}({args[0]})", False
        if name == "matches" and len(args) == 2:
            return f"_matches({args[0]}, {args[1]})", True
        if name in _FUNCTIONS and _FUNCTIONS[name][0] == len(args):
            _, function, boolean = _FUNCTIONS[name]
            return f"{self.constant(function)}({', '.join(args)})", boolean
        raise Unsupported(name)

    def equality(self, equal: bool, left: Expr, right: Expr, scope: Mapping[str, str]) -> str:
        """`==` or `!=`: against a string, null or bool constant, Python's own operators are CEL's
        heterogeneous equality over the values here; else _eq."""
        if _is_const(left, "null", None) or _is_const(left, "bool", True) or _is_const(left, "bool", False) \
                or _is_string(left):
            left, right = right, left
        other = self.value(left, scope)
        if right.kind == "const" and right.constant is not None and right.constant[0] in ("null", "bool"):
            return f"({other} {'is' if equal else 'is not'} {self.const(right)[0]})"
        if _is_string(right):
            return f"({other} {'==' if equal else '!='} {self.const(right)[0]})"
        return f"{'_eq' if equal else '_ne'}({other}, {self.value(right, scope)})"

    def variable(self, scope: Mapping[str, str], name: str) -> tuple[dict[str, str], str]:
        self.names += 1
        return {**scope, name: f"v{self.names}"}, f"v{self.names}"

    def comprehension(self, node: Expr, scope: Mapping[str, str]) -> tuple[str, bool]:
        """The macros' comprehensions: cel.bind, all, exists, map and filter (others: Unsupported)."""
        accu, it = node.accu_var, node.name
        parts = (node.iter_range, node.accu_init, node.loop_condition, node.loop_step, node.result)
        if node.iter_var2 or any(p is None for p in parts) or not accu or accu == it:
            raise Unsupported("comprehension")
        assert node.iter_range is not None and node.accu_init is not None and node.result is not None
        if _is_empty_list(node.iter_range) and _is_const(node.loop_condition, "bool", False) \
                and _is_ident(node.loop_step, accu):  # cel.bind(accu, init, result)
            inner, name = self.variable(scope, accu)
            body, boolean = self.expr(node.result, inner)
            return f"(lambda {name}: {body})({self.value(node.accu_init, scope)})", boolean
        if not _is_ident(node.result, accu):
            raise Unsupported("comprehension")
        source = self.value(node.iter_range, scope)
        inner, name = self.variable(scope, it)
        step, condition = node.loop_step, node.loop_condition
        strict = _is_call(condition, "@not_strictly_false", 1)
        if _is_const(node.accu_init, "bool", True) and strict and condition is not None \
                and _is_ident(condition.args[0], accu) and _is_call(step, "_&&_", 2) \
                and step is not None and _is_ident(step.args[0], accu):
            return f"_all({source}, lambda {name}: {self.test(step.args[1], inner)}, B)", True
        if _is_const(node.accu_init, "bool", False) and strict and condition is not None \
                and _is_call(condition.args[0], "!_", 1) and _is_ident(condition.args[0].args[0], accu) \
                and _is_call(step, "_||_", 2) and step is not None and _is_ident(step.args[0], accu):
            return f"_exists({source}, lambda {name}: {self.test(step.args[1], inner)}, B)", True
        if _is_empty_list(node.accu_init) and _is_const(condition, "bool", True):
            made = _appends(step, accu)
            if made is not None:  # map(x, f)
                return f"_map({source}, lambda {name}: {self.value(made, inner)}, None, B)", False
            if _is_call(step, "_?_:_", 3) and step is not None and _is_ident(step.args[2], accu):
                made = _appends(step.args[1], accu)
                if made is not None:  # filter(x, p) and map(x, p, f)
                    return (f"_map({source}, lambda {name}: {self.value(made, inner)}, "
                            f"lambda {name}: {self.test(step.args[0], inner)}, B)"), False
        raise Unsupported("comprehension")


def _unbound(tree: Expr, rule_id: str) -> Expr:
    """The expression inside the wrapper `cel.bind(params, rule_params["RULE-ID"], ...)` every
    rule expression is compiled in (see cel.compile_expression)."""
    init = tree.accu_init
    if tree.kind == "comprehension" and tree.accu_var == "params" and not tree.iter_var2 \
            and _is_empty_list(tree.iter_range) and _is_const(tree.loop_condition, "bool", False) \
            and _is_ident(tree.loop_step, "params") and init is not None and _is_call(init, "_[_]", 2) \
            and _is_ident(init.args[0], "rule_params") and _is_const(init.args[1], "string", rule_id) \
            and tree.result is not None:
        return tree.result
    raise Unsupported("wrapper")


Decide = Callable[[Sequence[Mapping[str, Any]], Mapping[str, Any], Mapping[str, Any], dt.datetime], list[list[Any]]]
"""(group, rule_params, target, now) -> `[index, code, placeholder values...]` of each record that
does not pass, as a rule's CEL batch program yields them (batch.source)."""


INSTANCES = 4
"""The code of a record whose instances are decided (batch.INSTANCES)."""


def compile_rule(rule_id: str, filter: Expression | None, error_when: Expression | None,
                 condition: Expression | None, placeholders: Sequence[Expression], *,
                 each: Sequence[str] | None = None, where: Expression | None = None) -> Decide | None:
    """The Python function deciding a rule for a group of records: a record the `filter` leaves
    out is `[i, 1]`; where `error_when` holds `[i, 3]`; where `condition` is false `[i, 2, values
    of the placeholders...]` (`condition` None: only the filter is decided). With `each` (the
    path of the list a rule with applies_to.each iterates; `condition` given): every record,
    `[i, 1]`, `[i, 3]` or `[i, INSTANCES, [outcome of each element]]`, an element's outcome 0
    (passes), 1 (`where` is not true) or `[2, values of the placeholders...]` (fails), as
    batch._instances_source yields them. None when an expression is beyond the subset this
    module compiles."""
    compiler = _Compiler()
    scope = {name: name for name in ("evidence", "params", "target", "now", "rule_params")}
    of_item = {**scope, "item": "item"}

    def source(expression: Expression, names: Mapping[str, str] = scope) -> str:
        return compiler.value(_unbound(expression.checked().expr, rule_id), names)

    def test(expression: Expression, names: Mapping[str, str] = scope) -> str:
        return compiler.test(_unbound(expression.checked().expr, rule_id), names)

    if each is not None and (condition is None or not each):
        return None
    try:
        if each is not None:
            assert condition is not None
            lines = _instances_lines(
                rule_id, compiler, test(filter) if filter is not None else None,
                test(error_when) if error_when is not None else None, "evidence" + "".join(
                    f"[{compiler.constant(name)}]" for name in each),
                test(where, of_item) if where is not None else None, test(condition, of_item),
                [source(p, of_item) for p in placeholders])
        else:
            lines = _record_lines(rule_id, compiler, test(filter) if filter is not None else None,
                                  test(error_when) if error_when is not None and condition is not None else None)
            if condition is not None:
                values = "".join(f", _out({source(p)})" for p in placeholders)
                lines += [f"        if not {test(condition)}:", f"            out.append([i, 2{values}])"]
            lines.append("    return out")
    except Unsupported:
        return None
    decide: Decide = _compiled(rule_id, compiler, lines)
    return decide


def _compiled(label: str, compiler: _Compiler, lines: list[str], **names: Any) -> Any:
    """The function `decide` that `lines` define, with the helpers, the compiler's constants (K)
    and `names` in its namespace (`label`: its file name in tracebacks and profiles)."""
    namespace = dict(_HELPERS, K=compiler.constants, **names)
    exec(compile("\n".join(lines), f"<celpy {label}>", "exec"), namespace)  # noqa: S102 - our own generated code
    return namespace["decide"]


def _record_lines(rule_id: str, compiler: _Compiler, filter: str | None, error_when: str | None) -> list[str]:
    """The start of compile_rule's function: the loop over the records, `[i, 1]` for a record the
    filter's test leaves out, `[i, 3]` for one error_when's test holds for."""
    lines = ["def decide(group, rule_params, target, now):",
             f"    params = rule_params[{compiler.constant(rule_id)}]",
             "    B = [0]",
             "    out = []",
             "    for i, evidence in enumerate(group):",
             "        B[0] = BUDGET"]
    if filter is not None:
        lines += [f"        if not {filter}:", "            out.append([i, 1])", "            continue"]
    if error_when is not None:
        lines += [f"        if {error_when}:", "            out.append([i, 3])", "            continue"]
    return lines


def _instances_lines(rule_id: str, compiler: _Compiler, filter: str | None, error_when: str | None, each: str, where: str | None,
                     condition: str, placeholders: Sequence[str]) -> list[str]:
    """The source of compile_rule's function with `each`, from its expressions' (tests: bools or
    Refused)."""
    lines = _record_lines(rule_id, compiler, filter, error_when)
    lines += ["        per = []", f"        for item in _iterated({each}, B, keys=False):"]
    if where is not None:
        lines += [f"            if not {where}:", "                per.append(1)", "                continue"]
    values = "".join(f", _out({p})" for p in placeholders)
    lines += [f"            per.append(0 if {condition} else [2{values}])", f"        out.append([i, {INSTANCES}, per])",
              "    return out"]
    return lines


_RULES: dict[int, tuple[Rule, Decide | None]] = {}


def rule_function(rule: Rule, judged: bool, error_when: bool, placeholders: Sequence[Expression], *,
                  instanced: bool = False) -> Decide | None:
    """compile_rule for a rule (once per rule object): its condition with `judged`, its error_when
    with `error_when`; with `instanced`, each instance of its applies_to.each too."""
    found = _RULES.get(id(rule))
    if found is None or found[0] is not rule:
        if instanced and rule.each is not None:
            decide = compile_rule(rule.id, rule.filter, rule.error_when if error_when else None, rule.condition,
                                  placeholders, each=rule.each.path, where=rule.where)
        else:
            decide = compile_rule(rule.id, rule.filter, rule.error_when if judged and error_when else None,
                                  rule.condition if judged else None, placeholders if judged else ())
        if len(_RULES) >= 4096:
            _RULES.clear()
        found = _RULES[id(rule)] = (rule, decide)
    return found[1]


# ---------------------------------------------------------------- mode all

ALL_BUDGET = 5000
"""Iterations the comprehensions of one expression of a mode-all rule may take over `items`
(each list charged whole on entry, so never fewer than the runtime iterates); more: Refused
(the runtime fails at 10,000 per evaluation, which is then an error, decided by the engine)."""

AllDecide = Callable[[Sequence[Mapping[str, Any]], Mapping[str, Any], Mapping[str, Any], dt.datetime],
                     tuple[int, list[Any], list[Any], list[Any]]]
"""(items, rule_params, target, now) -> (code, values of the resource's placeholders, values of
the placeholders of the message the code shows (error_message with UNDECIDED, message with
FAIL, none with PASS), values of the correlation key's (with FAIL)): what the engine evaluates
with the CEL runtime for a rule of mode all, where every one of those evaluations gives a value."""


def compile_all(rule_id: str, error_when: Expression | None, error_parts: Sequence[Expression],
                condition: Expression, resource_parts: Sequence[Expression], message_parts: Sequence[Expression],
                correlation_parts: Sequence[Expression]) -> AllDecide | None:
    """The Python function judging a rule of mode all over `items` (see AllDecide): codes 0
    (passes), 2 (fails) and 3 (`error_when` holds) as in compile_rule. None when an expression is
    beyond the subset this module compiles."""
    compiler = _Compiler()
    scope = {name: name for name in ("items", "params", "target", "now", "rule_params")}

    def tree(expression: Expression) -> Expr:
        return _unbound(expression.checked().expr, rule_id)

    def values(name: str, parts: Sequence[Expression], indent: str) -> list[str]:
        """Lines making `name` the list of the parts' values, each an evaluation with its own budget."""
        found = [f"{indent}{name} = []"]
        for part in parts:
            found += [f"{indent}B[0] = ALL_BUDGET", f"{indent}{name}.append(_out({compiler.value(tree(part), scope)}))"]
        return found

    try:
        lines = ["def decide(items, rule_params, target, now):",
                 f"    params = rule_params[{compiler.constant(rule_id)}]",
                 "    B = [ALL_BUDGET]",
                 *values("resource", resource_parts, "    ")]
        if error_when is not None:
            lines += ["    B[0] = ALL_BUDGET", f"    if {compiler.test(tree(error_when), scope)}:",
                      *values("shown", error_parts, "        "), "        return 3, resource, shown, []"]
        lines += ["    B[0] = ALL_BUDGET", f"    if {compiler.test(tree(condition), scope)}:",
                  "        return 0, resource, [], []",
                  *values("shown", message_parts, "    "), *values("key", correlation_parts, "    "),
                  "    return 2, resource, shown, key"]
    except Unsupported:
        return None
    decide: AllDecide = _compiled(f"all {rule_id}", compiler, lines, ALL_BUDGET=ALL_BUDGET)
    return decide
