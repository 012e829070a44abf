"""JSON Schema validation whose errors name the file, the line and the field."""

from __future__ import annotations

import atexit
import functools
import json
import re
from collections.abc import Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any

from auditor._loader.yamlfile import Document, dotted_path
from auditor.errors import ConfigError

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

    from auditor._cache import ValidDocuments

SCHEMA_PACKAGE = "auditor.schemas"


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """A schema shipped in auditor/schemas/, by file name without `.schema.json`."""
    *folders, stem = name.split("/")
    ref = resources.files(SCHEMA_PACKAGE).joinpath(*folders, stem + ".schema.json")
    text = ref.read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@functools.cache
def _validator(name: str) -> Validator:
    import jsonschema
    from referencing import Registry, Resource

    schema = load_schema(name)

    def retrieve(uri: str) -> Resource[Any]:
        # only our own schemas are ever fetched: no network
        prefix = "urn:auditor:schemas:"
        if uri.startswith(prefix):
            return Resource.from_contents(load_schema(uri[len(prefix) :]))
        raise ValueError(f"unknown schema reference {uri}")

    cls = jsonschema.validators.validator_for(schema)
    validator: Validator = cls(
        schema,
        registry=Registry(retrieve=retrieve),  # type: ignore[call-arg]
        format_checker=cls.FORMAT_CHECKER,
    )
    return validator


_SHOWABLE = re.compile(r"^[A-Za-z0-9_.:-]{1,40}$")
"""A value an error may quote: short and word-like (a typo of a name). Anything else (a URL, a
password put in the wrong field) is never echoed: an error message shows no value that could
be a secret."""


def _describe(error: Any) -> str:
    """Turn a jsonschema error into a sentence a user can act on, quoting no value but a
    short word-like one."""
    validator = error.validator
    instance = error.instance
    shown = f"{instance!r}" if isinstance(instance, str) and _SHOWABLE.match(instance) else "the value"
    if validator == "additionalProperties":
        extra = sorted(
            set(instance) - set(error.schema.get("properties", {}))
            if isinstance(instance, Mapping)
            else []
        )
        if extra:
            allowed = ", ".join(sorted(error.schema.get("properties", {})))
            name = extra[0] if _SHOWABLE.match(str(extra[0])) else "(a field whose name is not shown)"
            return f"unknown field '{name}' (allowed here: {allowed})"
    if validator == "required":
        return str(error.message).replace("is a required property", "is required but missing")
    if validator == "enum":
        allowed = ", ".join(str(v) for v in error.validator_value)
        return f"{shown} is not one of: {allowed}"
    if validator == "type":
        return f"expected {error.validator_value}, got {type(instance).__name__}"
    if validator == "pattern":
        return f"{shown} does not match the pattern {error.validator_value}"
    message = str(error.message)
    if isinstance(instance, str | int | float | list | dict) and not isinstance(instance, bool):
        message = message.replace(repr(instance), shown)
    return message


def schema_errors(instance: Any, name: str, *, remember: bool = False) -> list[tuple[tuple[Any, ...], str]]:
    """All errors of `instance` against schema `name`, as (path, message), best first.

    With `remember` (for configuration, which rarely changes, never for evidence), a value that
    passed before is not checked again: see auditor._cache.ValidDocuments."""
    known = _known_valid(name) if remember else None
    if known is not None and instance in known:
        return []
    import jsonschema

    validator = _validator(name)
    errors = sorted(validator.iter_errors(instance), key=jsonschema.exceptions.relevance)
    out = []
    for err in errors:
        best = jsonschema.exceptions.best_match([err]) if err.context else err
        out.append((tuple(best.absolute_path), _describe(best)))
    if known is not None and not out:
        known.add(instance)
    return out


_KNOWN_VALID: dict[str, ValidDocuments] = {}


def _known_valid(name: str) -> ValidDocuments:
    known = _KNOWN_VALID.get(name)
    if known is None:
        from auditor._cache import ValidDocuments

        known = _KNOWN_VALID[name] = ValidDocuments(load_schema(name))
    return known


def known_valid(name: str, key: Any) -> ValidDocuments:
    """The cache of documents that passed check `name`, valid while `key` (the check's
    definition, JSON-like) is unchanged; saved with the schema caches."""
    from auditor._cache import ValidDocuments

    known = ValidDocuments({"check": name, "key": key})
    return _KNOWN_VALID.setdefault(f"{name}/{known.key}", known)


@atexit.register
def save_known_valid() -> None:
    """Write what this process learnt about valid documents to the cache (also done at exit)."""
    for known in _KNOWN_VALID.values():
        known.save()


def validate_document(doc: Document, name: str, *, cls: type[ConfigError] = ConfigError) -> None:
    """Raise the schema error nearest the top of `doc`, located at its file, line and field.

    A document that passed before (the same value, against the same schema, with the same
    auditor) is not checked again: see auditor._cache.ValidDocuments."""
    errors = schema_errors(doc.value, name, remember=True)
    if errors:
        path, message = min(errors, key=lambda e: doc.line_of(e[0]) or 0)
        raise doc.error(message, path, cls=cls)


def validate_value(value: Any, name: str, *, file: str, cls: type[ConfigError] = ConfigError) -> None:
    """Raise the first schema error of a value that has no line information (e.g. JSON)."""
    errors = schema_errors(value, name)
    if errors:
        path, message = errors[0]
        raise cls(message, file=file, field=dotted_path(path) or None)
