"""YAML documents remembered as parsed (auditor._loader.parsed): the same documents and errors
as load_yaml, whatever the cache holds."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._builtin import builtin_dir, checklist_dir
from auditor._cache import SEED_OFF, sealed, write_sealed
from auditor._loader.parsed import ParsedDocuments
from auditor._loader.yamlfile import load_yaml
from auditor._policy.catalog import yaml_files
from auditor.errors import ConfigError


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AUDITOR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(SEED_OFF, "off")
    return tmp_path / "cache"


def builtin_files() -> list[Path]:
    return [p for root in ("rules", "policies") for p in yaml_files(builtin_dir(root))] + yaml_files(checklist_dir())


def test_remembered_documents_are_the_parsed_ones(cache: Path) -> None:
    files = builtin_files()
    first = ParsedDocuments()
    parsed = [first.load(p) for p in files]
    assert parsed == [load_yaml(p) for p in files]
    first.save()
    again = ParsedDocuments()
    assert len(again.known) == len(files)  # every built-in file is plain: all remembered
    remembered = [again.load(p) for p in files]
    assert remembered == parsed and not again.dirty
    for doc, other in zip(remembered, parsed, strict=True):  # the same types, not only equal values
        assert json.dumps(doc.value) == json.dumps(other.value) and type(doc.lines) is dict
    assert all(list(doc.lines) == list(other.lines) for doc, other in zip(remembered, parsed, strict=True))
    assert again.path.stat().st_mode & 0o077 == 0  # written 0600


def test_what_json_cannot_hold_exactly_is_parsed_every_time(cache: Path, tmp_path: Path) -> None:
    texts = {
        "date.yaml": "a: 2026-12-01\n",
        "intkey.yaml": "1: one\n",
        "merge.yaml": "base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n",
        "nan.yaml": "a: .nan\n",
        "binary.yaml": "a: !!binary aGk=\n",
        "plain.yaml": "a: [1, 2.5, true, null, 'x']\nb: {c: d}\n",
    }
    docs = ParsedDocuments()
    for name, text in texts.items():
        (tmp_path / name).write_text(text)
        assert docs.load(tmp_path / name) == load_yaml(tmp_path / name)
    assert [json.loads(entry)[0] for entry in docs.known.values()] == [{"a": [1, 2.5, True, None, "x"], "b": {"c": "d"}}]


def test_each_load_makes_its_own_objects(cache: Path, tmp_path: Path) -> None:
    path = tmp_path / "rule.yaml"
    path.write_text("id: X-1\nlist: [a, b]\n")
    docs = ParsedDocuments()
    first = docs.load(path)
    first.value["list"].append("changed by a caller")
    again = docs.load(path)
    assert again.value == {"id": "X-1", "list": ["a", "b"]} and again.value is not first.value


def test_a_corrupt_cache_is_ignored(cache: Path, tmp_path: Path) -> None:
    path = tmp_path / "rule.yaml"
    path.write_text("id: X-1\nlist:\n  - a\n  - b\n")
    docs = ParsedDocuments()
    docs.load(path)
    docs.save()
    digest = next(iter(docs.known))
    entries: list[object] = ["x", [{"id": "Y"}], [{"id": "Y"}, [[["id"], "one"]]], [{"id": "Y"}, [[[1.5], 1]]],
                             [{"id": "Y"}, "lines"], [{"id": "Y"}, [[["id"], True]]], [{"id": "Y"}, [[["id"], 1]], 3]]
    deep = "[" * 100_000 + "]" * 100_000
    for bad in ("not json", [], {digest: 1}, {digest: "not json"}, {digest: deep},
                *({digest: json.dumps(entry)} for entry in entries)):
        assert write_sealed(docs.path, bad)  # sealed: only the shape of the file or of its entry is wrong
        assert ParsedDocuments().load(path) == load_yaml(path), bad


def test_a_damaged_cache_file_is_ignored_whole(cache: Path, tmp_path: Path) -> None:
    """An entry that decodes but is not what was written (a rule's severity or condition
    edited, a bit flipped) would change a rule: the file's seal no longer matches, and no entry
    of it is read."""
    path = tmp_path / "rule.yaml"
    path.write_text("id: X-1\nseverity: high\ncondition: size(evidence.lint.errors) == 0\n")
    docs = ParsedDocuments()
    docs.load(path)
    docs.save()
    written = docs.path.read_bytes()
    edited = written[32:].replace(b"high", b"low ").replace(b"== 0", b">= 0")
    unsealed = json.dumps({digest: entry.replace("high", "low") for digest, entry in docs.known.items()}).encode()
    deep = b"[" * 100_000 + b"]" * 100_000
    for name, data in {"an old seal, edited": written[:32] + edited, "unsealed (as before)": unsealed,
                       "truncated": written[:-2], "nested deep": deep,
                       "sealed, nested deep": sealed(b"", deep)}.items():
        docs.path.write_bytes(data)
        again = ParsedDocuments()
        assert not again.known, name
        assert again.load(path).value == {"id": "X-1", "severity": "high", "condition": "size(evidence.lint.errors) == 0"}


def test_something_else_in_the_cache_file_place_is_no_cache_and_no_wait(cache: Path, tmp_path: Path) -> None:
    path = tmp_path / "rule.yaml"
    path.write_text("id: X-1\n")
    docs = ParsedDocuments()
    docs.path.parent.mkdir(parents=True)
    os.mkfifo(docs.path)
    assert docs.load(path) == load_yaml(path)
    docs.save()  # would wait forever for a reader of the FIFO
    assert stat.S_ISREG(docs.path.stat().st_mode) and not docs.dirty  # the FIFO replaced
    assert ParsedDocuments().load(path) == load_yaml(path)


PLAIN = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                     | st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                     max_leaves=12)


@settings(max_examples=100)
@given(value=PLAIN)
def test_a_remembered_document_is_the_parsed_one(tmp_path_factory: pytest.TempPathFactory, value: object) -> None:
    """Whatever plain value a YAML file holds, reading it back from the cache gives what
    parsing gives: the same values, of the same types, and the same lines."""
    folder = tmp_path_factory.mktemp("parsed")
    path = folder / "doc.yaml"
    path.write_text(yaml.safe_dump({"doc": value}))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUDITOR_CACHE_DIR", str(folder / "cache"))
        patch.setenv(SEED_OFF, "off")
        first = ParsedDocuments()
        parsed = first.load(path)
        first.save()
        remembered = ParsedDocuments().load(path)
    assert remembered == parsed == load_yaml(path)
    assert json.dumps(remembered.value) == json.dumps(parsed.value)


def test_the_values_limit_still_applies(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("a: [1, 2, 3, 4, 5, 6, 7, 8]\n")
    docs = ParsedDocuments()
    docs.load(path)
    docs.save()
    monkeypatch.setenv("AUDITOR_LIMIT_YAML_VALUES", "5")
    with pytest.raises(ConfigError, match="yaml-values") as remembered:
        ParsedDocuments().load(path)
    with pytest.raises(ConfigError) as parsed:
        load_yaml(path)
    assert str(remembered.value) == str(parsed.value)


def test_errors_are_those_of_load_yaml(cache: Path, tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("a: 1\na: 2\n")
    with pytest.raises(ConfigError) as remembered:
        ParsedDocuments().load(path)
    with pytest.raises(ConfigError) as parsed:
        load_yaml(path)
    assert str(remembered.value) == str(parsed.value)
    assert not ParsedDocuments().known
