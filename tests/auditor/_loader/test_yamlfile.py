from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._loader.yamlfile import Document, load_yaml, load_yaml_documents
from auditor.errors import ConfigError


def test_lines_of_nested_values() -> None:
    text = "a: 1\nb:\n  - x\n  - y: 2\n    z: |\n      block\n"
    doc = load_yaml("f.yaml", text=text)
    assert doc.value == {"a": 1, "b": ["x", {"y": 2, "z": "block\n"}]}
    assert doc.line_of(("a",)) == 1
    assert doc.line_of(("b", 0)) == 3
    assert doc.line_of(("b", 1, "y")) == 4
    assert doc.line_of(("b", 1, "z")) == 6  # a block scalar's text starts after its indicator
    assert doc.line_of(("b", 1, "missing")) == 4  # falls back to the nearest ancestor


def test_duplicate_key_is_an_error_with_both_lines() -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml("f.yaml", text="a: 1\nb: 2\na: 3\n")
    assert info.value.line == 3
    assert "first at line 1" in info.value.diagnostics()
    assert info.value.diagnostics().startswith("f.yaml:3:")


def test_syntax_error_names_line() -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml("bad.yaml", text="a: 1\nb: [1, 2\nc: 3\n")
    assert info.value.file == "bad.yaml"
    assert info.value.line is not None and info.value.line >= 2


def test_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    with pytest.raises(ConfigError, match="alias bomb"):
        load_yaml("bomb.yaml", text="\n".join(lines) + "\n")


def test_python_tags_are_not_constructed() -> None:
    with pytest.raises(ConfigError):
        load_yaml("evil.yaml", text="a: !!python/object/apply:os.system ['true']\n")


def test_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_yaml(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="folder"):
        load_yaml(tmp_path)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_yaml(binary)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="empty"):
        load_yaml(empty)
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * 2000 + "\n")
    monkeypatch.setenv("AUDITOR_LIMIT_YAML_BYTES", "1000")
    with pytest.raises(ConfigError, match=r"over the yaml-bytes limit of 1000 bytes .*AUDITOR_LIMIT_YAML_BYTES=2000"):
        load_yaml(big)


def test_several_documents_keep_going_after_a_bad_one() -> None:
    text = "a: 1\n---\nb: 1\nb: 2\n---\nc: 3\n"
    items = list(load_yaml_documents("m.yaml", text=text))
    assert isinstance(items[0], Document) and items[0].value == {"a": 1}
    assert isinstance(items[1], ConfigError) and items[1].line == 4
    assert isinstance(items[2], Document) and items[2].value == {"c": 3}
    with pytest.raises(ConfigError, match="one YAML document"):
        load_yaml("m.yaml", text="a: 1\n---\nb: 2\n")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_loads_or_fails_cleanly(text: str) -> None:
    try:
        for item in load_yaml_documents("fuzz.yaml", text=text):
            assert isinstance(item, Document | ConfigError)
    except ConfigError:
        pass


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(alphabet="abcdefgh_", min_size=1, max_size=6), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(yaml_values)
def test_round_trip_and_every_path_has_a_line(value: object) -> None:
    import yaml

    text = yaml.safe_dump({"root": value})
    doc = load_yaml("rt.yaml", text=text)
    assert doc.value == {"root": value}

    def paths(v: object, prefix: tuple[str | int, ...]) -> list[tuple[str | int, ...]]:
        out = [prefix]
        if isinstance(v, dict):
            for k, child in v.items():
                out += paths(child, (*prefix, k))
        elif isinstance(v, list):
            for i, child in enumerate(v):
                out += paths(child, (*prefix, i))
        return out

    n_lines = text.count("\n") + 1
    for p in paths(value, ("root",)):
        line = doc.line_of(p)
        assert line is not None and 1 <= line <= n_lines


def test_text_position_rereads_only_a_regular_file_within_the_limit(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 18: the reread for a column was unbounded and blocked on a FIFO."""
    from auditor._loader.yamlfile import text_position

    rule = tmp_path / "rule.yaml"
    rule.write_text("id: X\ncondition: evidence.a == 1\n")
    assert text_position(str(rule), 2, "evidence.a == 1", 9) == (2, 21)
    monkeypatch.setenv("AUDITOR_LIMIT_YAML_BYTES", "8")
    assert text_position(str(rule), 2, "evidence.a == 1", 9) == (2, None)
    monkeypatch.delenv("AUDITOR_LIMIT_YAML_BYTES")
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    assert text_position(str(fifo), 2, "evidence.a == 1", 9) == (2, None)


UNUSUAL_DOCUMENTS = [
    "base: &b {x: 1, y: [a, b]}\nderived:\n  <<: *b\n  y: 2\n",  # merge keys
    "a: &s [1, 2]\nb: *s\nc: {k: *s}\n",  # aliases of a sequence
    "when: 2026-12-01\nat: 2026-12-01T10:00:00Z\nn: 0x1f\nf: 1.5e3\ninf: .inf\nyes: yes\nnull: ~\n",
    "s: !!set {a, b}\no: !!omap [{a: 1}, {b: 2}]\np: !!pairs [{a: 1}, {a: 2}]\nb: !!binary aGVsbG8=\n",
    "? [a, b]\n: unhashable\n",
    "? {a: 1}\n: unhashable\n",
    "1: int key\n'2': str key\nnull: null key\n3.5: float key\ntrue: bool key\n",
    "!!str 12: tagged\nv: !!str 12\nw: !!int '7'\nlist: !!seq [a]\nmap: !!map {a: b}\n",
    "bad: !!int nope\n",
    "date: 2026-13-45\n",
    "local: !local thing\n",
    "x: !!python/name:os.system\n",
]


@pytest.mark.parametrize("text", UNUSUAL_DOCUMENTS)
def test_documents_are_constructed_as_pyyaml_constructs_them(text: str) -> None:
    import yaml

    try:
        expected: object = list(yaml.load_all(text, Loader=yaml.CSafeLoader))
    except yaml.YAMLError as exc:
        expected = type(exc)
    except (ValueError, TypeError, OverflowError) as exc:
        expected = type(exc)
    got = list(load_yaml_documents("u.yaml", text=text))
    if isinstance(expected, type):
        assert len(got) == 1 and isinstance(got[0], ConfigError)
        assert "invalid YAML" in got[0].message
    else:
        assert [d.value for d in got if isinstance(d, Document)] == expected
        assert all(isinstance(d, Document) for d in got)


def test_an_alias_gives_the_same_object_as_pyyaml_gives() -> None:
    doc = load_yaml("a.yaml", text="a: &s {k: [1]}\nb: *s\n")
    assert doc.value["a"] is doc.value["b"]


yaml_texts = st.recursive(
    st.sampled_from(["1", "x", "'q'", "~", "yes", "2026-01-02", "0o17", "1e3", "!!str 5", "&a z", "*a", "!!binary aGk="]),
    lambda children: st.lists(children, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]")
    | st.lists(st.tuples(st.sampled_from(["k", "1", "<<", "[a]", "null", "'k'", "j"]), children), max_size=3)
    .map(lambda kvs: "{" + ", ".join(f"{k}: {v}" for k, v in kvs) + "}"),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(yaml_texts)
def test_any_flow_document_is_what_pyyaml_constructs(text: str) -> None:
    import yaml

    try:
        expected: object = [yaml.load(text, Loader=yaml.CSafeLoader)]
    except Exception:
        expected = None
    got = list(load_yaml_documents("f.yaml", text=text))
    if expected is None or len(got) != 1 or isinstance(got[0], ConfigError):
        # PyYAML fails, or our checks (duplicate keys) refuse what PyYAML would take
        assert expected is None or isinstance(got[0], ConfigError)
        return
    assert [got[0].value] == expected


@pytest.mark.parametrize("text", [
    "a: [1, 2, {b: c}]\nd: {e: [f, g]}\n",
    "base: {x: 1}\nm:\n  <<: {y: 2, z: [3, 4]}\n  w: 5\n",
    "? [k1, k2]\n: v\nplain: 1\n",
    "a: 1\na: 2\n" + "b: [" * 3 + "]" * 3 + "\n",
])
def test_documents_past_the_values_limit_are_refused_with_or_without_aliases(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A document without aliases is counted as it is walked: the same limit, the same error."""
    import yaml

    from auditor._loader import yamlfile

    node = yaml.compose(text, Loader=yaml.CSafeLoader)
    assert node is not None
    total = yamlfile._Walker("x.yaml", 10**6).size(node)
    for limit in (total - 1, total):
        errors = []
        for aliases in (True, False):
            try:
                yamlfile._checked(node, "x.yaml", limit, aliases=aliases)
                errors.append("")
            except ConfigError as exc:
                errors.append(str(exc))
        assert errors[0] == errors[1]
        assert ("yaml-values" in errors[0]) == (limit < total)


@pytest.mark.parametrize("kubernetes", [False, True])
@pytest.mark.parametrize("text", ["a: !!bool maybe\n", "a: 1\nb: !!timestamp nope\n", "a: [!!bool 'x']\n"])
def test_a_value_its_tag_cannot_hold_is_a_located_error(text: str, kubernetes: bool) -> None:
    """PyYAML's constructors raise KeyError (`!!bool maybe`) or AttributeError (`!!timestamp
    nope`) there: it was an internal error of auditor (an inventory holding one ended a scan)."""
    (item,) = load_yaml_documents("x.yaml", text=text, kubernetes=kubernetes)
    assert isinstance(item, ConfigError) and item.line == 1  # the document's first line
    assert "its tag" in item.message or "is no boolean (!!bool)" in item.message
