"""More of the nats.conf syntax, as observed on nats-server 2.15.1, and the parser's limits.

Each case in OBSERVED was run on the real server (`nats-server -c FILE -t`, and the value it
then reports in /varz as server_name, max_connections or tags) while the parser was written;
test_conf.py holds the main syntax.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from auditor._nats.conf import MAX_INCLUDE_DEPTH, MAX_NESTING, ConfError, parse_file, parse_text


def value(text: str, **kw: Any) -> Any:
    return parse_text(f"v: {text}\n", **kw).root.data["v"].plain()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1K", 1000), ("1KIB", 1024), ("1mi", 1024**2), ("2t", 2 * 10**12), ("1eib", 1024**6), ("-3k", -3000),
        ("01", 1), ("9223372036854775807", 2**63 - 1),
        ("1kx", "1kx"), ("1s", "1s"), ("10s", "10s"), ("+3", "+3"), ("0x10", "0x10"), ("1_000", "1_000"),
        ("1#c", "1#c"), ("1k#c", "1k#c"), ("-3kx", "-3kx"), ("-1.5.5", "-1.5.5"), ("1.5.6.7:80", "1.5.6.7:80"),
        ("00:11:22", "00:11:22"), ("1]", "1]"),
        ("1.5#c", 1.5), ("1.5//c", 1.5), ("-3#c", -3), ("2016-01-02T03:04:05Z#c", dt.datetime(2016, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
        ("truex", "truex"), ("True", True), ("x // c", "x"), ("x#y", "x#y"), ("//x", "//x"), ('a"b', 'a"b'),
        # an unquoted value processes escapes and ends at a ' (dropped; then it is never a boolean)
        ("a\\tb", "a\tb"), ("C:\\\\x", "C:\\x"), ("1k\\x41", "1kA"), ("a'", "a"), ("true'", "true"), ("a' # c", "a"),
        ("1'", "1'"), ("1a'", "1a"), ('"a\\xc3\\xa9b"', "aéb"), ("'a\nb'", "a\nb"), ('"$v"', "$v"),
        ("(\nab\n)x\n)", "\nab\n)x\n"), ("(ab\n)", "ab\n"),
    ],
)
def test_values_as_the_server_reads_them(text: str, expected: Any) -> None:
    got = value(text)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("b (ab\n)", {"b": "ab\n)"}),  # a block's ')' at the very end, with no new line, stays
        ("tags: [1] ]", {"tags": ["1]"]}),  # `[1]`: the ']' belongs to the string
        ("tags: [1k]\n", {"tags": ["1k"]}),
        ("tags: [-1]\n", {"tags": [-1]}),
        ("tags: [1.5.5]\n", {"tags": ["1.5.5"]}),
        ("tags: [a', b]\n", {"tags": ["a", "b"]}),
        ("tags: [a\n\n b]\n", {"tags": ["a", "b"]}),
        ("tags: [\n  a # c\n  b // d\n]\n", {"tags": ["a", "b"]}),
        ("m {\n name:\n x\n}", {"m": {"name": "x"}}),  # in a map the value may follow on a later line
        ("m {\n name\n x\n}", {"m": {"name": "x"}}),
        ("m { name: x;}", {"m": {"name": "x"}}),
        ("m={name: x}", {"m": {"name": "x"}}),
        ("m\n{name: x}", {"m": {"name": "x"}}),
        ("k\n: x", {"k": "x"}),
        ("m{a: x}\n", {"m{a": "x"}),  # a key ends only at a blank, "=" or ":"
        ("server_name: y\r\nmax: 5\r\n", {"server_name": "y", "max": 5}),
        ("a: x\na: y", {"a": "y"}),
        ("{a: 1}}", {"a": 1}),
        ("{a: 1}\nb: 2", {"a": 1, "b": 2}),  # keys may follow a block at the top level
        ("{\n  {\n    a: 1 // c\n  } # c\n}", {"a": 1}),  # anonymous blocks nest
        ("{ a: 1, { b: 2 }, c: 3 }", {"a": 1, "b": 2, "c": 3}),
        ("{ a: 1 }{ b: 2 }", {"a": 1, "b": 2}),
        ("a: 1 }", {"a": 1}),
        ('"k\\x41": 1', {"k\\x41": 1}),  # quoted keys take no escapes
        ("v: x\nw { u: $v }", {"v": "x", "w": {"u": "x"}}),
    ],
)
def test_structures_as_the_server_reads_them(text: str, expected: Any) -> None:
    assert parse_text(text).root.plain() == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a: [a\n, b]", "Unexpected array value terminator"),
        ("{ { a: 1 } b: 2 }", "Expected the '}' that closes the block"),
        ("{ { a: 1 }", "closes the block"),
        ("{ a: 1 ", "Unexpected EOF after a value"),
        ("a: 1\n} # c", "unexpected '}'"),
        ("a: [,a]", "Unexpected array value terminator"),
        ("a: [a b]", "Expected an array value terminator"),
        ("a: [a;b]", "Expected an array value terminator"),
        ("a: [a, /b]", "unexpected '/'"),
        ("a: x y", "Expected a top-level value to end"),
        ("a: x# c", "Expected a top-level value to end"),
        ("a: 1.5k", "Expected a top-level value to end"),
        ("a: -x", "Expected a digit"),
        ("a: .5", "Floats must start with a digit"),
        ("a: 1.", "Floats must have a digit"),
        ("a: 1-2", "expected Zulu formatted DateTime"),
        ("a =\n x", "Expected value but found new line"),
        ("a: b'c", "Expected a top-level value to end"),
        ('a: "x\\x4g"', "hexadecimal"),
        ("a: x\\", "Invalid escape character"),
        ("a: $v\nv: 1", "variable reference for 'v' can not be found"),
        ("a: 8eb", "out of the range"),
        ("a: 1kbi", "unknown size suffix"),
        ("a: 1\n}}", "unexpected '}'"),
        ("/a: 1", "Expected a key"),
        ("m {\n a: 1\n /\n}", "unexpected '/'"),
        ("include\n", "Expected include value"),
        ("a: [ (\nx\n)\n]", "'(' block"),
        ("a: 1\x00b: 2", "NUL"),
        ("\ufefflisten: 127.0.0.1:4222", "byte order mark"),  # nats-server -t: unknown field "\ufefflisten"
        ("\ufeff# c\nlisten: 127.0.0.1:4222", "byte order mark"),  # was: "Expected a top-level value to end"
    ],
)
def test_errors(text: str, fragment: str) -> None:
    with pytest.raises(ConfError) as info:
        parse_text(text, file="x.conf")
    assert fragment in info.value.message and info.value.line is not None


def test_environment_values() -> None:
    assert value("$V", env={"V": ""}) == ""  # an empty variable is the empty string
    assert value("$V", env={"V": " 4222 # c"}) == 4222
    assert value("$V", env={"V": "5;"}) == 5
    assert value("$V", env={"V": "$B", "B": "8k"}) == 8000
    for bad in ("a b", "x: 5", "\n5", "[5]"):
        with pytest.raises(ConfError, match="could not be parsed"):
            value("$V", env={"V": bad})
    with pytest.raises(ConfError, match="'X' can not be found"):  # the config's variables are not seen
        parse_text("X: 5\na: $V", env={"V": "$X"})
    parsed = parse_text("a: $V", env={"V": "{b: 1}"}, file="n.conf")
    assert parsed.root.data["a"].variable == "V" and parsed.root.data["a"].data["b"].where() == "n.conf:1"


def test_variables_merged_by_an_include_are_seen_after_it(tmp_path: Path) -> None:
    (tmp_path / "vars.conf").write_text("PV: from_include\n")
    (tmp_path / "uses.conf").write_text("x: $OUT\n")
    (tmp_path / "main.conf").write_text("include vars.conf\nname: $PV\n")
    assert parse_file(tmp_path / "main.conf").root.plain() == {"PV": "from_include", "name": "from_include"}
    (tmp_path / "main.conf").write_text("OUT: 1\ninclude uses.conf\n")
    with pytest.raises(ConfError, match=r"'OUT' can not be found.*included from") as info:
        parse_file(tmp_path / "main.conf")
    assert info.value.file and info.value.file.endswith("uses.conf")


def test_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for opener, closer in (("[", "]"), ("{a: ", "}")):
        deep = "v: " + opener * (MAX_NESTING + 5) + "1" + closer * (MAX_NESTING + 5)
        with pytest.raises(ConfError, match="nested deeper"):
            parse_text(deep)
    env = {f"V{i}": f"$V{i + 1}" for i in range(MAX_NESTING + 5)}
    with pytest.raises(ConfError, match="nested deeper"):
        parse_text("a: $V0", env=env)
    for i in range(MAX_INCLUDE_DEPTH + 2):
        (tmp_path / f"{i}.conf").write_text(f"include {i + 1}.conf\n")
    with pytest.raises(ConfError, match="nested deeper than"):
        parse_file(tmp_path / "0.conf")
    monkeypatch.setenv("AUDITOR_LIMIT_FILE_BYTES", "8MiB")
    big = tmp_path / "big.conf"
    with big.open("wb") as fh:
        fh.truncate(9 * 1024 * 1024)
    (tmp_path / "inc-big.conf").write_text("include big.conf\n")
    with pytest.raises(ConfError, match="over the file-bytes limit of 8 MiB"):
        parse_file(tmp_path / "inc-big.conf")
    with pytest.raises(ConfError, match="over the file-bytes limit of 8 MiB"):
        parse_file(big)
    with pytest.raises(ConfError, match="over the file-bytes limit of 8 MiB"):
        parse_text(" " * (9 << 20))
    with pytest.raises(ConfError, match="cannot read include file"):
        parse_text('include "a\\x00b"\n')
