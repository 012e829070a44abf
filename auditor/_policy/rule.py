"""A rule: the data a rule file holds, with its CEL compiled and its params checked."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from auditor._cache import ValidDocuments

from auditor._loader.schema import known_valid, load_schema, validate_document
from auditor._loader.yamlfile import Document, text_position
from auditor._models import Severity
from auditor._policy.cel import Expression, compile_expression
from auditor._policy.celast import DecodeError
from auditor._policy.contract import Each, problems, resolve_each, roots
from auditor._policy.template import Template, compile_template
from auditor.errors import ConfigError
from auditor.evidence.kinds import KINDS


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    area: str
    severity: Severity
    description: str
    rationale: str
    remediation: str
    references: Mapping[str, tuple[str, ...]]
    tags: tuple[str, ...]
    kind: str
    mode: str
    filter: Expression | None
    condition: Expression
    message: Template
    resource: Template | None
    pointer: str
    params: Mapping[str, Any]
    file: str
    line: int | None
    error_when: Expression | None = None
    """True when a record cannot decide the rule: an `error` finding with `error_message` (with
    applies_to.each, evaluated once per record: its instances are still judged)."""
    error_message: Template | None = None
    definition: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)
    """The rule as written (for `rules show`, digests and documentation)."""
    each: Each | None = None
    """applies_to.each: the list in the evidence whose elements are the rule's instances."""
    where: Expression | None = None
    """applies_to.where: which elements are instances (CEL over `item`)."""
    none: str = "not-applicable"
    """applies_to.none: what a record without instances gives (not-applicable or pass)."""
    correlation: Template | None = None
    """The cause of a failure: failures with equal keys are one problem."""
    always_blocks: Expression | None = None
    """True for a failure that blocks sign-off whatever the threshold (a live credential)."""

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "area": self.area, "severity": self.severity.value, "title": self.title}


def load_rule(doc: Document) -> Rule:
    """Validate one rule document and compile its expressions; raise a located ConfigError."""
    validate_document(doc, "rule")
    raw: dict[str, Any] = doc.value
    file = doc.file
    rid = raw["id"]
    stem = Path(file).stem
    if stem != rid:
        raise doc.error(f"rule id '{rid}' must match its file name ('{stem}.yaml')", ("id",))
    applies = raw["applies_to"]
    mode = applies.get("mode", "each")
    kind = applies["kind"]
    each = _each(doc, applies, mode, kind)
    # with applies_to.each, everything but the record's filter and error_when sees `item` as well
    judged = "item" if each is not None else mode
    record_mode = "each" if each is not None else mode

    def compile_field(key: tuple[str, ...], text: str, *, want_bool: bool = True, m: str = judged) -> Expression:
        return compile_expression(
            text,
            mode=m,
            file=file,
            line=doc.line_of(key),
            field=".".join(key),
            rule_id=rid,
            want_bool=want_bool,
        )

    flt = compile_field(("applies_to", "filter"), applies["filter"], m="each") if "filter" in applies else None
    where = compile_field(("applies_to", "where"), applies["where"]) if "where" in applies else None
    condition = compile_field(("condition",), raw["condition"])
    error_when = compile_field(("error_when",), raw["error_when"], m=record_mode) if "error_when" in raw else None
    always_blocks = compile_field(("always_blocks",), raw["always_blocks"]) if "always_blocks" in raw else None

    def template(name: str, m: str = judged) -> Template | None:
        if name not in raw:
            return None
        return compile_template(raw[name], mode=m, file=file, line=doc.line_of((name,)), field=name, rule_id=rid)

    message = template("message")
    assert message is not None  # required by the schema
    error_message, resource, correlation = template("error_message", record_mode), template("resource"), template("correlation")
    params = dict(raw.get("params") or {})
    reads: list[Read] = [
        Read(key, expr, 0, m)
        for key, expr, m in ((("applies_to", "filter"), flt, "each"), (("applies_to", "where"), where, judged),
                             (("condition",), condition, judged), (("error_when",), error_when, record_mode),
                             (("always_blocks",), always_blocks, judged))
        if expr is not None
    ]
    for name, tmpl in (("message", message), ("resource", resource), ("error_message", error_message),
                       ("correlation", correlation)):
        if tmpl is not None:
            m = record_mode if name == "error_message" else judged
            reads += [Read((name,), expr, offset, m) for expr, offset in tmpl.expressions()]
    _check_contract(doc, kind, params, reads, each)
    references = {k: tuple(v) for k, v in raw["references"].items()}
    return Rule(
        id=rid,
        title=raw["title"],
        area=raw["area"],
        severity=Severity(raw["severity"]),
        description=raw["description"].strip(),
        rationale=raw["rationale"].strip(),
        remediation=raw["remediation"].strip(),
        references=references,
        tags=tuple(raw.get("tags", ())),
        kind=kind,
        mode=mode,
        filter=flt,
        condition=condition,
        message=message,
        resource=resource,
        pointer=raw.get("pointer", ""),
        params=params,
        file=file,
        line=doc.line_of(()),
        error_when=error_when,
        error_message=error_message,
        definition=raw,
        each=each,
        where=where,
        none=applies.get("none", "not-applicable"),
        correlation=correlation,
        always_blocks=always_blocks,
    )


def _each(doc: Document, applies: Mapping[str, Any], mode: str, kind: str) -> Each | None:
    """applies_to.each resolved against the evidence contract, or a located ConfigError."""
    for key in ("where", "none"):
        if key in applies and "each" not in applies:
            raise doc.error(f"applies_to.{key} needs applies_to.each (the list whose elements it is about)",
                            ("applies_to", key))
    if "each" not in applies:
        return None
    if mode != "each":
        raise doc.error("applies_to.each needs mode each (one finding per instance of each record)", ("applies_to", "each"))
    if kind not in KINDS:
        return None  # _check_contract names the unknown kind
    found = resolve_each(kind, applies["each"])
    if isinstance(found, str):
        raise doc.error(found, ("applies_to", "each"))
    return found


@dataclass(frozen=True)
class Read:
    """An expression of a rule that reads evidence: where it is and how it is evaluated."""

    key: tuple[str, ...]
    """The rule's field holding it."""
    expr: Expression
    offset: int
    """Where the expression starts in that field's text (a message placeholder's position)."""
    mode: str


_CONTRACTS: dict[tuple[tuple[str, int], ...], ValidDocuments] = {}


def _contract_cache() -> ValidDocuments:
    """Rules that passed the contract check before, while the evidence types are unchanged (the
    published schemas are generated from them; a kind without one is keyed by its type)."""
    token = tuple([(kind, id(cls)) for kind, cls in KINDS.items()])  # in the registry's order: asked once per rule
    found = _CONTRACTS.get(token)
    if found is None:
        key: list[Any] = []
        for kind in sorted(KINDS):
            try:
                key.append(load_schema(f"evidence/{kind}"))
            except FileNotFoundError:
                key.append(f"{kind}: {KINDS[kind].__module__}.{KINDS[kind].__qualname__} (no published schema)")
        found = _CONTRACTS[token] = known_valid("rule-contract", key)
    return found


def _check_contract(doc: Document, kind: str, params: Mapping[str, Any], reads: list[Read], each: Each | None = None) -> None:
    """Raise a located ConfigError for an unknown kind, or the first field an expression reads
    that the kind's type does not have (or a param the rule does not declare)."""
    known = _contract_cache() if kind in KINDS else None
    if known is not None and doc.value in known:
        return
    if kind not in KINDS:
        near = difflib.get_close_matches(kind, list(KINDS), n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(near)}?" if near else "`auditor schema` lists the kinds"
        message = f"unknown evidence kind '{kind}' ({hint})"
        if near:
            first = _first_unknown_field(doc, near[0], params, reads)
            if first is not None:
                message += f"; read as {near[0]}, line {first.line}" + (f":{first.column}" if first.column else "") + f" field '{first.field}': {first.message}"
        raise doc.error(message, ("applies_to", "kind"))
    first = _first_unknown_field(doc, kind, params, reads, each)
    if first is not None:
        raise first
    if known is not None:
        known.add(doc.value)


def _first_unknown_field(doc: Document, kind: str, params: Mapping[str, Any], reads: list[Read],
                         each: Each | None = None) -> ConfigError | None:
    for read in reads:
        try:
            checked = read.expr.checked()
        except DecodeError as exc:  # pragma: no cover - only if the CEL runtime changes its encoding
            return ConfigError(f"cannot check the expression against the evidence contract: {exc}",
                               file=doc.file, line=doc.line_of(read.key), field=".".join(read.key))
        found = problems(checked, read.expr.compiled, roots(kind, read.mode, params, each.element if each else None))
        if found:
            at = read.offset + found[0].offset - read.expr.offset
            line, column = text_position(doc.file, doc.line_of(read.key), _value_at(doc.value, read.key), at)
            return ConfigError(found[0].message, file=doc.file, line=line, column=column, field=".".join(read.key))
    return None


def _value_at(value: Any, key: tuple[str, ...]) -> str:
    for part in key:
        value = value[part]
    return str(value)


def check_param_types(rule: Rule, overrides: Mapping[str, Any], doc: Document, path: tuple[Any, ...]) -> None:
    """An override must name a declared param and keep its JSON type."""
    for name, value in overrides.items():
        if name not in rule.params:
            known = ", ".join(sorted(rule.params)) or "none"
            raise doc.error(f"rule {rule.id} has no param '{name}' (its params: {known})", (*path, name))
        default = rule.params[name]
        if default is not None and not _same_json_type(default, value):
            raise doc.error(
                f"param '{name}' of {rule.id} is {_json_type(default)}, got {_json_type(value)}",
                (*path, name),
            )


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "null" if value is None else type(value).__name__


def _same_json_type(a: Any, b: Any) -> bool:
    return _json_type(a) == _json_type(b)
