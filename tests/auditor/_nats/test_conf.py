"""The nats.conf parser: the server's syntax and quirks, includes, variables, errors, properties."""

from __future__ import annotations

import datetime as dt
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._nats.conf import ConfError, go_join, parse_file, parse_text
from auditor._nats.options import go_duration


def plain(text: str, **kw: Any) -> Any:
    return parse_text(text, **kw).root.plain()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("foo = 1\nbar: 'x'\nbaz \"y\"", {"foo": 1, "bar": "x", "baz": "y"}),
        ("t: true\nf: OFF\ny = yes\nn no", {"t": True, "f": False, "y": True, "n": False}),
        ("k = 8k\nkb = 4kb\nki = 3ki\nmb = 2MB\nmib = 64MiB\ng = 2g\ntb = 22TB", {
            "k": 8000, "kb": 4096, "ki": 3072, "mb": 2 * 1024**2, "mib": 64 * 1024**2, "g": 2 * 10**9, "tb": 22 * 1024**4}),
        ("listen: 0.0.0.0:4222", {"listen": "0.0.0.0:4222"}),
        ("x = 3secret", {"x": "3secret"}),  # a value starting with a digit can be a string
        ("x = 1k5\ne = 1e5", {"x": "1k5", "e": "1e5"}),  # 2.15.1: a suffix followed by more is a string
        ("d = 2016-01-02T03:04:05Z", {"d": dt.datetime(2016, 1, 2, 3, 4, 5, tzinfo=dt.UTC)}),
        ('s = "a\\tb\\x41\\"\\\\"', {"s": 'a\tbA"\\'}),
        ("s = 'raw\\t'", {"s": "raw\\t"}),
        ("foo #x", {"foo": "#x"}),  # no separator: the comment marker starts the value
        ("a = [1, 2 ]\nb = [x]", {"a": [1, 2], "b": ["x"]}),
        ("m { a: 1; b: [1,\n 'z',\n] }", {"m": {"a": 1, "b": [1, "z"]}}),
        ("a { /b: 1 }", {"a": {"b": 1}}),  # the server drops a lone '/' before a map key
        ("b (\nline one\n  )x\n)\n", {"b": "\nline one\n  )x\n"}),
        ("password: $2a$11$ooo", {"password": "$2a$11$ooo"}),  # the bcrypt case
        ("index = 11\nfoo = $index", {"index": 11, "foo": 11}),
        ("a { x = 1, b { y = $x } }", {"a": {"x": 1, "b": {"y": 1}}}),
        ("a: -1.5\nb: -3", {"a": -1.5, "b": -3}),
        ("{}", {}),
        ("{ listen: 0.0.0.0:4222 }", {"listen": "0.0.0.0:4222"}),
        ("accounts { users = [{}]}\n}\n", {"accounts": {"users": [{}]}}),
        ('{"port": 4227, "cluster": {"routes": ["nats://a:1", "nats://b:2"]}}', {
            "port": 4227, "cluster": {"routes": ["nats://a:1", "nats://b:2"]}}),
        ("", {}),
        ("# only comments\n// and these\n", {}),
        ("a: 1 // trailing\nb: 2 # trailing", {"a": 1, "b": 2}),
    ],
)
def test_server_syntax(text: str, expected: Any) -> None:
    assert plain(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment", "line"),
    [
        ("a = [1]", "Expected an array value terminator", 1),  # the server refuses this too
        ("aaaa", "config is invalid", 1),
        ("\n\n  a,a,a\n", "config is invalid", 3),
        ("p: $2b$11$x", "variable reference for '2b$11$x' can not be found", 1),
        ("a: 1\nb: $NOPE", "variable reference for 'NOPE' can not be found", 2),
        ("x: 1kbb", "unknown size suffix", 1),
        ("x: 99999999999999999999", "out of the range", 1),
        ("a { b: 1", "Expected a map value terminator", 1),
        ("a { b", "Unexpected EOF processing map key", 1),
        ('a = "x', "Unexpected EOF", 1),
        ("d = 2016-13-02T03:04:05Z", "expected Zulu formatted DateTime", 1),
        ("a = 1.x", "Floats must have a digit", 1),
        ('s = "\\q"', "Invalid escape character", 1),
        ("b (\nnever closed", "Unexpected EOF processing block", 2),
    ],
)
def test_errors_name_the_line(text: str, fragment: str, line: int) -> None:
    with pytest.raises(ConfError) as info:
        parse_text(text, file="/etc/nats/x.conf")
    assert info.value.line == line
    assert fragment in info.value.message
    assert info.value.diagnostics().startswith(f"/etc/nats/x.conf:{line}: ")


def test_environment_fallback_and_cycles() -> None:
    assert plain("a: $PORT", env={"PORT": "4222"}) == {"a": 4222}  # parsed as a config value
    assert plain("a: $V", env={"V": "'3xyz'"}) == {"a": "3xyz"}
    assert plain("a: $V", env={"V": "[x, y ]"}) == {"a": ["x", "y"]}
    assert plain("V: 1\na: $V", env={"V": "2"}) == {"V": 1, "a": 1}  # the config wins
    with pytest.raises(ConfError, match="cycle"):
        parse_text("a: $A", env={"A": "$B", "B": "$A"})
    with pytest.raises(ConfError, match="can not be found"):
        parse_text("a: $HOME")  # never the auditor's own environment unless given


def test_variables_are_recorded_and_marked_used() -> None:
    parsed = parse_text("PASS: 'x'\nu { p: $PASS }\nq: $E", env={"E": "1"})
    assert parsed.root.data["PASS"].used
    assert [(v.name, v.source) for v in parsed.variables] == [("PASS", "config"), ("E", "environment")]


def test_includes_resolve_from_the_including_file(tmp_path: Path) -> None:
    (tmp_path / "conf/auth").mkdir(parents=True)
    (tmp_path / "conf/main.conf").write_text("port: 1\nauthorization {\n  include auth/users.conf\n}\ninclude '/abs.conf'\n")
    (tmp_path / "conf/auth/users.conf").write_text("users = [{user: a}]\ninclude ./more.conf\n")
    (tmp_path / "conf/auth/more.conf").write_text("timeout: 2\n")
    (tmp_path / "conf/abs.conf").write_text("server_name: n\n")  # '/abs.conf' joins under the folder
    parsed = parse_file(tmp_path / "conf/main.conf")
    assert parsed.root.plain() == {"port": 1, "authorization": {"users": [{"user": "a"}], "timeout": 2}, "server_name": "n"}
    assert [Path(f).name for f in parsed.files] == ["main.conf", "users.conf", "more.conf", "abs.conf"]
    users = parsed.root.data["authorization"].data["users"]
    assert users.file.endswith("auth/users.conf") and users.line == 1


def test_include_errors(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("include b.conf\n")
    (tmp_path / "b.conf").write_text("\n\ninclude a.conf\n")
    with pytest.raises(ConfError, match="cycle") as info:
        parse_file(tmp_path / "a.conf")
    assert info.value.file and info.value.file.endswith("b.conf") and info.value.line == 3
    (tmp_path / "c.conf").write_text("x: 1\ninclude missing.conf\n")
    with pytest.raises(ConfError, match=r"cannot read include file 'missing\.conf'") as info:
        parse_file(tmp_path / "c.conf")
    assert info.value.line == 2
    (tmp_path / "bad.conf").write_text("ok: 1\n\n??? {\n")
    (tmp_path / "d.conf").write_text("include bad.conf\n")
    with pytest.raises(ConfError) as info:
        parse_file(tmp_path / "d.conf")
    assert info.value.file and info.value.file.endswith("bad.conf")
    node = tmp_path / "node"
    node.mkdir()
    (node / "e.conf").write_text("include ../../etc/passwd\n")
    with pytest.raises(ConfError, match="outside the scanned folder"):
        parse_file(node / "e.conf", confine=node)


def test_go_join() -> None:
    assert go_join("/etc/nats", "users.conf") == "/etc/nats/users.conf"
    assert go_join("/etc/nats", "/abs/x.conf") == "/etc/nats/abs/x.conf"
    assert go_join("", "x.conf") == "x.conf"
    assert go_join("/etc/nats", "../x.conf") == "/etc/x.conf"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10s", 10), ("2m", 120), ("1h30m", 5400), ("250ms", 0.25), ("-1s", -1), ("1.5h", 5400), ("0", 0)],
)
def test_go_duration(text: str, seconds: float) -> None:
    assert go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10", "1d", "s", "1..2s", "+"])
def test_go_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        go_duration(text)


# ---------------------------------------------------------------- properties: round trips

KEY = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda k: k not in {"include", "true", "false", "yes", "no", "on", "off"})
SAFE_UNQUOTED = st.from_regex(r"[A-Za-z_][A-Za-z0-9_./@:-]{0,12}", fullmatch=True).filter(
    lambda s: s.lower() not in {"true", "false", "yes", "no", "on", "off"})
TEXT = st.text(alphabet=string.ascii_letters + string.digits + " .:/_-*>$#'\\\"\t", max_size=20)
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)

scalars = st.one_of(
    TEXT.map(lambda s: ("str", s)),
    SAFE_UNQUOTED.map(lambda s: ("word", s)),
    INT64.map(lambda n: ("int", n)),
    st.tuples(st.integers(-10**6, 10**6), st.sampled_from(["k", "K", "kb", "KiB", "m", "MB", "Mi", "g", "GB"])).map(lambda t: ("size", t)),
    st.integers(-10**6, 10**6).map(lambda n: ("float", n / 1000)),
    st.tuples(st.booleans(), st.sampled_from(["true", "yes", "on", "TRUE"])).map(lambda t: ("bool", t)),
    st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(9999, 1, 1)).map(lambda d: ("date", d.replace(microsecond=0))),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda v: ("list", v)),
        st.dictionaries(KEY, inner, max_size=4).map(lambda v: ("map", v)),
    ),
    max_leaves=12,
)
STYLE = st.fixed_dictionaries({
    "sep": st.sampled_from([": ", " = ", " ", ":", "="]),
    "quote": st.sampled_from(['"', "'"]),
    "array": st.sampled_from([", ", "\n", ",\n", " , "]),
    "map": st.sampled_from([", ", "\n", "; ", ",\n"]),
    "comments": st.booleans(),
})
_SIZE = {"k": 1000, "K": 1000, "kb": 1024, "KiB": 1024, "m": 10**6, "MB": 1024**2, "Mi": 1024**2, "g": 10**9, "GB": 1024**3}
_FALSE = {"true": "false", "yes": "no", "on": "off", "TRUE": "FALSE"}


def expected(v: tuple[str, Any]) -> Any:
    kind, x = v
    if kind == "size":
        return x[0] * _SIZE[x[1]]
    if kind == "bool":
        return x[0]
    if kind == "date":
        return x.replace(tzinfo=dt.UTC)
    if kind == "list":
        return [expected(i) for i in x]
    if kind == "map":
        return {k: expected(i) for k, i in x.items()}
    return x


def render(v: tuple[str, Any], style: dict[str, Any]) -> str:
    kind, x = v
    if kind == "str":
        if style["quote"] == "'" and "'" not in x:
            return f"'{x}'"
        return '"' + str(x).replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t") + '"'
    if kind == "word":
        return str(x)
    if kind in ("int",):
        return str(x)
    if kind == "size":
        return f"{x[0]}{x[1]}"
    if kind == "float":
        return f"{x:.3f}"
    if kind == "bool":
        return str(x[1]) if x[0] else _FALSE[x[1]]
    if kind == "date":
        return str(x.strftime("%Y-%m-%dT%H:%M:%SZ"))
    comment = " # note\n" if style["comments"] else ""
    if kind == "list":
        # an element right before ']' must be followed by a separator (`[1]` is an error)
        return "[" + comment + "".join(render(i, style) + style["array"] for i in x) + "\n]"
    body = str(style["map"]).join(f"{k}{style['sep']}{render(i, style)}" for k, i in x.items())
    return "{" + comment + body + "\n}"


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(KEY, values, max_size=6), STYLE)
def test_rendered_values_parse_back(tree: dict[str, Any], style: dict[str, Any]) -> None:
    lines = []
    for k, v in tree.items():
        if style["comments"]:
            lines.append("# a comment line")
        lines.append(f"{k}{style['sep']}{render(v, style)}")
    text = "\n".join(lines) + "\n"
    assert parse_text(text).root.plain() == {k: expected(v) for k, v in tree.items()}, text


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(KEY, values, min_size=1, max_size=4), STYLE)
def test_variables_resolve_to_their_values(tree: dict[str, Any], style: dict[str, Any]) -> None:
    names = {k: f"V_{k}" for k in tree}
    defs = "\n".join(f"{names[k]}{style['sep']}{render(v, style)}" for k, v in tree.items())
    uses = "\n".join(f"{k}{style['sep']}${names[k]}" for k in tree)
    parsed = parse_text(defs + "\n" + uses + "\n")
    for k, v in tree.items():
        assert parsed.root.data[k].plain() == expected(v)
        assert parsed.root.data[names[k]].used


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_random_text_only_ever_gives_located_errors(text: str) -> None:
    try:
        parse_text(text, file="fuzz.conf")
    except ConfError as exc:
        assert exc.file == "fuzz.conf" and exc.line is not None and exc.line >= 1


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="{}[]()=:;,'\"#/\\$ \n\t\r\x00abk1290.-Mi>*", max_size=120))
def test_config_like_text_only_ever_gives_located_errors(text: str) -> None:
    try:
        parse_text(text, file="fuzz.conf", env={"a": "1", "b": "$a"})
    except ConfError as exc:
        assert exc.file is not None and exc.line is not None and exc.line >= 1


def test_an_entry_in_a_comment_is_a_comment() -> None:
    """A map's comment that reads like an entry stays a comment (the fast path never starts a key inside it)."""
    assert plain("m { # a: b\n}\nn {\n  // c = 'd'\n  k: 1 }\n") == {"m": {}, "n": {"k": 1}}


NEVER = __import__("re").compile(r"(?!x)x")

FAST_PIECES = st.sampled_from(['"a.b"', '"x y"', "'q'", '"é"', "w", "1", '"a\\tb"', '"$V"', '""', "[", "]", "{", "}",
                               ",", ", ", "\n", " ", "\t", ":", "=", "k: ", "key = ", "# c\n", "// c\n", ";",
                               '"a]b"', "\r", " ,", '"', "\\", "# k: 1\n", "// k = 'x'\n"])


@settings(max_examples=600)
@given(st.lists(FAST_PIECES, min_size=1, max_size=25))
def test_fast_paths_read_what_the_general_parser_reads(pieces: list[str]) -> None:
    """The one-pattern fast paths (plain keys, quoted strings, arrays of "..." strings) change nothing."""
    import auditor._nats.conf as conf

    text = "v: [" + "".join(pieces) + "]\nm { " + "".join(reversed(pieces)) + " }\n"

    def read() -> Any:
        try:
            parsed = parse_text(text, file="f.conf")
        except ConfError as exc:
            return ("error", exc.message, exc.line)
        return [(path, v.kind, v.line, v.plain() if v.kind not in ("map", "array") else None)
                for path, v in conf.walk(parsed.root)]

    fast = read()
    saved = conf._SIMPLE_ARRAY, conf._PLAIN_KEY, conf._QUOTED, conf._SKIP_PLAIN_ENTRY, conf._Parser.one_line_strings
    try:
        conf._SIMPLE_ARRAY = conf._PLAIN_KEY = conf._QUOTED = conf._SKIP_PLAIN_ENTRY = NEVER
        conf._Parser.one_line_strings = lambda self: None  # type: ignore[method-assign]
        slow = read()
    finally:
        conf._SIMPLE_ARRAY, conf._PLAIN_KEY, conf._QUOTED, conf._SKIP_PLAIN_ENTRY, conf._Parser.one_line_strings = saved  # type: ignore[method-assign]
    assert fast == slow
