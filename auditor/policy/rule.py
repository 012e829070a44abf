"""A rule: the data a rule file holds, with its CEL compiled and its params checked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.errors import ConfigError
from auditor.loader.schema import validate_document
from auditor.loader.yamlfile import Document
from auditor.models import Severity
from auditor.policy.cel import Expression, compile_expression
from auditor.policy.template import Template, compile_template


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
    """True when a record cannot decide the rule: an `error` finding with `error_message`."""
    error_message: Template | None = None
    definition: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)
    """The rule as written (for `rules show`, digests and documentation)."""

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

    def compile_field(key: tuple[str, ...], text: str, *, want_bool: bool = True, m: str = mode) -> Expression:
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
    condition = compile_field(("condition",), raw["condition"])
    message = compile_template(
        raw["message"], mode=mode, file=file, line=doc.line_of(("message",)), field="message", rule_id=rid
    )
    error_when = compile_field(("error_when",), raw["error_when"]) if "error_when" in raw else None
    error_message = (
        compile_template(raw["error_message"], mode=mode, file=file, line=doc.line_of(("error_message",)),
                         field="error_message", rule_id=rid)
        if "error_message" in raw
        else None
    )
    resource = (
        compile_template(
            raw["resource"],
            mode=mode,
            file=file,
            line=doc.line_of(("resource",)),
            field="resource",
            rule_id=rid,
        )
        if "resource" in raw
        else None
    )
    params = dict(raw.get("params") or {})
    declared = set(params)
    expressions = [e for e in (flt, condition, error_when) if e is not None]
    expressions += [p for t in (message, resource, error_message) if t for p in t.parts if isinstance(p, Expression)]
    for expr in expressions:
        unknown = expr.references_params() - declared
        if unknown:
            name = sorted(unknown)[0]
            raise ConfigError(
                f"uses params.{name}, which the rule does not declare under 'params'",
                file=file,
                line=doc.line_of(("condition",)),
                field="params",
            )
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
        kind=applies["kind"],
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
    )


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
