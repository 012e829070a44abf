"""The CEL environment rules are written in, over the official CEL C++ runtime.

Variables a rule sees:
- `evidence`: the data of one evidence record (mode `each`, and in filters);
- `item`: one element of the list a rule iterates (`applies_to.each`; mode `item` here);
- `items`: the list of data of every matching record (mode `all`);
- `params`: the rule's parameters after policy overrides (bound per rule: the runtime holds
  every rule's params in `rule_params`, and each expression is compiled as
  `cel.bind(params, rule_params["RULE-ID"], ...)`, so one activation per evidence record
  serves every rule);
- `target`: the target's name, environment, tags, names and vars;
- `now`: the evaluation time (a timestamp).

Functions beyond standard CEL are listed in :data:`FUNCTIONS`; each is documented in
docs/rules.md. Expressions are type-checked at compile time, so an unknown variable or a
mismatched operator is an error at load, naming the file and line.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import functools
import hashlib
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cel_expr_python import cel
from cel_expr_python.ext import ext_bindings

from auditor._policy.celast import Checked, decode_checked
from auditor.errors import ConfigError


def _days(value: dt.timedelta) -> float:
    return value.total_seconds() / 86400.0


def _whole_days(value: dt.timedelta) -> int:
    from auditor._timeutil import whole_days

    return whole_days(value)


def _glob_match(text: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(text, pattern)


def _dns_covers(pattern: str, name: str) -> bool:
    """Whether a certificate DNS name (possibly `*.example.com`) covers a host name."""
    pattern = pattern.lower().rstrip(".")
    name = name.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == name


def _ip_in(address: str, network: str) -> bool:
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


def _nats_subset(subject: str, of: str) -> bool:
    from auditor._nats.subjects import is_subset

    parts = subject.split()  # a subscribe entry may carry a queue group: "subject queue"
    return bool(parts) and is_subset(parts[0], of)


def _is_loopback(host: str) -> bool:
    if host.lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_VERSION = re.compile(r"^v?(\d+(?:\.\d+)*)(?:[-+ ].*)?$", re.IGNORECASE)


def _version_parts(text: str) -> tuple[float, ...]:
    """`latest` (newer than any), or dotted numbers with an optional v and pre-release tag."""
    if text.strip() == "latest":
        return (float("inf"),)
    match = _VERSION.match(text.strip())
    if not match:
        raise ValueError(f"version '{text}' is not 'latest' or dotted numbers such as v1.29 or 2.10.3")
    return tuple(float(p) for p in match.group(1).split("."))


@functools.lru_cache(maxsize=4096)
def _version_at_least(version: str, minimum: str) -> bool:
    """`latest` is newer than any; `v2.10.3` >= `2.9`; `v1.29` and `1.29` are equal. Cached:
    the Pod Security rules ask it of the same two versions (the pack's and a constant) once
    per container and check, tens of thousands of times in a large scan."""
    a, b = _version_parts(version), _version_parts(minimum)
    width = max(len(a), len(b))
    return a + (0.0,) * (width - len(a)) >= b + (0.0,) * (width - len(b))


def _secret_id(text: str) -> str:
    """The fingerprint inside a redacted value (`hmac:…` of `SUAI…(hmac:…)`), or '' for text
    that is not one: the same secret has the same fingerprint wherever it was found."""
    start = text.rfind("…(")
    return text[start + 2 : -1] if start >= 0 and text.endswith(")") else ""


T = cel.Type


@dataclass(frozen=True)
class Function:
    """A function added to CEL: its name, parameter types, return type and implementation."""

    name: str
    params: tuple[Any, ...]
    returns: Any
    impl: Callable[..., Any]
    doc: str


FUNCTIONS: tuple[Function, ...] = (
    Function("days", (T.DURATION,), T.DOUBLE, _days, "days(duration) -> double: a duration in days"),
    Function("wholeDays", (T.DURATION,), T.INT, _whole_days,
             "wholeDays(duration) -> int: whole days, rounded down: how every message counts days (`expires in {wholeDays(timestamp(evidence.not_after) - now)} days`)"),
    Function("globMatch", (T.STRING, T.STRING), T.BOOL, _glob_match,
             "globMatch(text, pattern) -> bool: shell-style wildcard match (*, ?, [..])"),
    Function("dnsCovers", (T.STRING, T.STRING), T.BOOL, _dns_covers,
             "dnsCovers(pattern, name) -> bool: a certificate DNS name (wildcards allowed) covers a host name"),
    Function("ipInNetwork", (T.STRING, T.STRING), T.BOOL, _ip_in,
             "ipInNetwork(address, cidr) -> bool: an IP address lies in a network"),
    Function("isLoopback", (T.STRING,), T.BOOL, _is_loopback,
             "isLoopback(host) -> bool: localhost or a loopback address"),
    Function("versionAtLeast", (T.STRING, T.STRING), T.BOOL, _version_at_least,
             "versionAtLeast(version, minimum) -> bool: `latest` is newer than any; dotted numbers compare part by part (`v2.10.3` >= `2.9`)"),
    Function("secretId", (T.STRING,), T.STRING, _secret_id,
             "secretId(redacted) -> string: the fingerprint inside a redacted value (`hmac:…`), '' for other text; the same secret has the same one wherever it was found (correlation keys)"),
    Function("natsSubjectSubset", (T.STRING, T.STRING), T.BOOL, _nats_subset,
             "natsSubjectSubset(subject, pattern) -> bool: every subject `subject` matches is matched by the NATS pattern"),
)


def _declarations() -> list[Any]:
    decls = []
    for fn in FUNCTIONS:
        overload_id = fn.name + "_" + "_".join(str(p).lower() for p in fn.params)
        decls.append(
            cel.FunctionDecl(
                fn.name,
                [cel.Overload(overload_id, return_type=fn.returns, parameters=list(fn.params), impl=fn.impl)],
            )
        )
    return decls


_COMMON = {
    "rule_params": T.Map(T.STRING, T.Map(T.STRING, T.DYN)),
    "target": T.DYN,
    "now": T.TIMESTAMP,
}


@functools.cache
def environment(mode: str) -> Any:
    """The CEL environment for mode `each` (variable `evidence`), `item` (`evidence` and `item`,
    for rules with applies_to.each) or `all` (variable `items`); and `batch` (variable
    `batch_records`), where the engine decides many records in one evaluation
    (:mod:`auditor._policy.batch`)."""
    variables = dict(_COMMON)
    if mode in ("each", "item"):
        variables["evidence"] = T.DYN
        if mode == "item":
            variables["item"] = T.DYN
    elif mode == "all":
        variables["items"] = T.List(T.DYN)
    elif mode == "batch":
        variables["batch_records"] = T.List(T.DYN)
    else:  # pragma: no cover - no other mode exists
        raise ValueError(mode)
    env = cel.NewEnv(variables=variables, functions=_declarations(), extensions=[ext_bindings.ExtBindings()])
    # The runtime sets up its conversions of Python values (a datetime for `now`) on an
    # environment's first compilation: a program loaded from the cache (celcache) into an
    # environment that never compiled anything cannot be given a timestamp.
    env.compile("true")
    return env


@functools.cache
def _signature(mode: str) -> str:
    """What the checked form of an expression in `mode` depends on besides its text: this
    module (the environments' variables and functions are declared here) and the mode."""
    return mode + "\0" + hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def compile_program(mode: str, text: str) -> Any:
    """`text` compiled in the environment of `mode`, from the cache of compiled programs when
    it was compiled before (auditor._policy.celcache). Raises what the runtime raises."""
    from auditor._policy import celcache

    return celcache.compiled(environment(mode), _signature(mode), text)


def remembered(key: str, make: Callable[[], bytes]) -> bytes:
    """`make()`, kept between runs beside the compiled programs (celcache.remembered): for a
    fact that follows from expressions' checked forms, `key` naming the expressions (their
    modes and compiled texts) and whatever else it depends on."""
    from auditor._policy import celcache

    return celcache.remembered(_signature("batch"), key, make)


_ERROR_AT = re.compile(r"<input>:(\d+):(\d+): (.*?)(?:\n|$)")


def _explain(exc: Exception) -> tuple[int | None, str]:
    text = str(exc)
    match = _ERROR_AT.search(text)
    if not match:
        return None, text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    line, column, message = int(match.group(1)), int(match.group(2)), match.group(3)
    message = message.replace(" (in container '')", "")
    return line, f"{message} (column {column})"


@dataclass(frozen=True)
class Expression:
    """A compiled CEL expression and where it came from. Its program is loaded from the cache
    of compiled programs on first use when the cache holds it (a rule a run never evaluates
    costs no loading); else it was compiled when the expression was made."""

    source: str
    mode: str
    compiled: str = ""
    """The text the compiler saw: `source` inside the wrapper that binds `params`."""
    loaded: Any = field(default=None, repr=False, compare=False)
    """The program, once compiled or loaded."""

    @property
    def program(self) -> Any:
        """The compiled program (loaded from the cache of compiled programs on first use)."""
        program = self.loaded
        if program is None:
            program = compile_program(self.mode, self.compiled)
            object.__setattr__(self, "loaded", program)
        return program

    @property
    def offset(self) -> int:
        """Where `source` starts in `compiled` (positions of the checked tree count from there)."""
        return self.compiled.find(self.source) if self.compiled else 0

    def checked(self) -> Checked:
        """The checked syntax tree, with source positions."""
        return decode_checked(self.program.serialize())


_RULE_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


def compile_expression(
    source: str,
    *,
    mode: str,
    file: str,
    line: int | None,
    field: str,
    rule_id: str,
    want_bool: bool = True,
) -> Expression:
    """Compile `source` for rule `rule_id`; errors name the file, the line in it and the field."""
    if not _RULE_ID.match(rule_id):
        raise ValueError(f"bad rule id {rule_id!r}")
    wrapped = f'cel.bind(params, rule_params["{rule_id}"], (\n{source}\n))'
    from auditor._policy import celcache

    returns = celcache.stored_returns(_signature(mode), wrapped)  # compiled before: loaded on first use
    if returns is not None:
        if want_bool and returns not in {"BOOL", "DYN"}:
            raise _not_bool(returns, file=file, line=line, field=field)
        return Expression(source=source, mode=mode, compiled=wrapped)
    try:
        program = compile_program(mode, wrapped)
    except Exception as exc:  # the runtime raises RuntimeError; any failure is a user error
        rel, message = _explain(exc)
        if rel is not None:
            rel = max(1, rel - 1)  # the wrapper's first line comes before the source
        at = line + rel - 1 if (line is not None and rel is not None) else line
        raise ConfigError(f"CEL error: {message}", file=file, line=at, field=field) from None
    if want_bool:
        returns = str(program.return_type())
        if returns not in {"BOOL", "DYN"}:
            raise _not_bool(returns, file=file, line=line, field=field)
    return Expression(source=source, mode=mode, compiled=wrapped, loaded=program)


def _not_bool(returns: str, *, file: str, line: int | None, field: str) -> ConfigError:
    return ConfigError(f"CEL expression must be true or false, but it yields {returns.lower()}",
                       file=file, line=line, field=field)


class EvaluationError(Exception):
    """A CEL expression failed at run time (a missing field, a bad conversion)."""


class LimitError(EvaluationError):
    """Evaluation hit a resource limit of the CEL runtime (its iteration budget): the input is
    too large to judge, which is an `error` on the record that holds it, never a pass."""


_LIMITS = ("budget exceeded", "cost limit", "recursion", "max recursion", "exceeds the maximum")


def _raise(text: str) -> EvaluationError:
    message = _clean_runtime(text)
    if any(k in message.lower() for k in _LIMITS):
        return LimitError(f"resource limit: {message.removesuffix(' [INTERNAL]')}")
    return EvaluationError(message)


def to_python(value: Any) -> Any:
    """The plain Python value of a CEL result, raising EvaluationError for an error value."""
    if str(value.type()) == "ERROR":
        raise _raise(str(value.value()))
    return value.plain_value()


_STATUS_PREFIX = re.compile(r"^[A-Z_]+: ")


def _clean_runtime(text: str) -> str:
    """`NOT_FOUND: Key not found in map : "x"` -> `Key not found in map: "x"`."""
    return _STATUS_PREFIX.sub("", text.strip()).replace(" : ", ": ")


def evaluate(expr: Expression, activation: Any) -> Any:
    try:
        result = expr.program.eval(activation)
    except Exception as exc:  # runtime conversion errors and exhausted budgets surface as exceptions
        raise _raise(str(exc)) from None
    return to_python(result)


def activation(
    mode: str,
    value: Any,
    *,
    rule_params: Mapping[str, Mapping[str, Any]],
    target: Mapping[str, Any],
    now: dt.datetime,
) -> Any:
    """Bindings for one evaluation: `value` is the evidence (each), the items list (all), or
    (mode item) a pair (evidence, item)."""
    variables = {"rule_params": rule_params, "target": target, "now": now}
    if mode == "item":
        variables["evidence"], variables["item"] = value
    else:
        variables["evidence" if mode == "each" else "items"] = value
    try:
        return environment(mode).Activation(variables)
    except Exception as exc:
        raise EvaluationError(f"evidence cannot be given to CEL: {exc}") from None
