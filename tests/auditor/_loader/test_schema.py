from __future__ import annotations

import json
from importlib import resources

import jsonschema
import pytest

from auditor._loader.schema import load_schema, validate_document
from auditor._loader.yamlfile import load_yaml
from auditor.errors import ConfigError


def all_schema_names() -> list[str]:
    root = resources.files("auditor.schemas")
    names = []
    for entry in root.iterdir():
        if entry.name.endswith(".schema.json"):
            names.append(entry.name.removesuffix(".schema.json"))
        elif entry.is_dir() and not entry.name.startswith("_"):
            names += [f"{entry.name}/{e.name.removesuffix('.schema.json')}" for e in entry.iterdir() if e.name.endswith(".schema.json")]
    return sorted(names)


@pytest.mark.parametrize("name", all_schema_names())
def test_published_schemas_are_valid_json_schema(name: str) -> None:
    schema = load_schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"] == f"urn:auditor:schemas:{name}"


def test_error_names_line_and_field() -> None:
    text = "version: 1\ntargets:\n  - name: a\n    environment: prod\n    policies: cim-production\n    sources: []\n"
    doc = load_yaml("inv.yaml", text=text)
    with pytest.raises(ConfigError) as info:
        validate_document(doc, "inventory")
    assert info.value.line == 5
    assert info.value.field == "targets[0].policies"
    assert "expected array" in info.value.diagnostics()


def test_unknown_field_message_lists_allowed() -> None:
    doc = load_yaml("p.yaml", text="id: x\ntitle: t\nselect: [{area: certificates}]\nwaivers:\n  - rule: A\n    resourse: b\n")
    with pytest.raises(ConfigError) as info:
        validate_document(doc, "policy")
    text = info.value.diagnostics()
    assert text.startswith("p.yaml:5:")
    assert "resourse" in text or "required" in text
    assert json.dumps(text)  # one line, printable
    assert "\n" not in text
