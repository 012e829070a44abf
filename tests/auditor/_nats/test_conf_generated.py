"""Generated nats.conf files against `nats-server -t -c FILE` (the differential test of the parser and options).

Two generators, each bounded (`AUDITOR_CONF_EXAMPLES`, default 120 each):

- **options**: configs drawn from auditor/_nats/options.py's own table (every block, key,
  alias, value kind), with values from pools that hold both what the server accepts and what it
  refuses (listen addresses with random ports, durations, sizes, TLS cipher and curve names,
  nkeys, subjects...), sometimes a value of the wrong kind or an unknown key, rendered in
  randomly chosen syntax (separators, quoting, key case, comments, anonymous blocks, a variable,
  an include);
- **syntax**: token soup around the grammar's edges (braces, separators, comments, blocks,
  quoting, numbers, sizes, dates, variables) on options that take any value.

For each file the real server's verdict must equal auditor's, and when both accept, the
configuration digests (the parsed values) must be equal. The counts are printed:
`AUDITOR_CONF_EXAMPLES=2000 .venv/bin/python -m pytest tests/auditor/_nats/test_conf_generated.py -s`.
Options whose values name files the server reads (operator JWTs, resolvers) are left to the
hand-written corpus (test_conf_oracle.py).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor._nats import options as o
from auditor._nats.creds import new_seed, seed_public_key
from tests.auditor._nats.oracle import Verdict, auditor_verdict, server_verdict
from tests.certs import CertFactory
from tests.servers import Pki

EXAMPLES = int(os.environ.get("AUDITOR_CONF_EXAMPLES", "120"))
LEFT_TO_THE_CORPUS = {"operator", "resolver", "resolver_preload", "resolver_tls", "trusted"}
"""Top-level options whose values name files or JWTs the server opens (covered by the corpus)."""


@dataclass(frozen=True)
class Raw:
    """A value written as it is (a number, size, boolean, unquoted word)."""

    text: str


@dataclass(frozen=True)
class Text:
    """A string, quoted one way or another when rendered."""

    text: str


Node = Raw | Text | dict[str, Any] | list[Any]

USER_KEY = seed_public_key(new_seed("user"))[1]
ACCOUNT_KEY = seed_public_key(new_seed("account"))[1]
SEED = new_seed("user")
NAMES = ["a", "b", "A", "B", "SYS", "$G", "app"]
SUBJECTS = ["foo", "foo.*", "foo.>", ">", "a.b.c", "a..b", "foo bar", "*.x", "q.> grp", ""]
LISTENS = ["127.0.0.1:-1", "0.0.0.0:4222", ":-1", "[::1]:-1", "localhost:", "host", "::1", "a:b:c", "127.0.0.1:+42",
           "127.0.0.1:x", "[fe80::1%eth0]:0"]
DURATIONS = ["1s", "250ms", "1h30m", "2m", "-1s", "0", "31s", "1.5h", "soon", "10", "30s", "61s"]
SIZES = ["1MB", "64KB", "8k", "2G", "10GiB", "1kb", "0", "-1"]
STRINGS = ["x", "a b", "nats.example.com", "é", "a#b", "1s", "true", "", "$2a$11$" + "x" * 53, "-1", "a'b", 'q"q',
           "tab\there", "line\nbreak", "default", "close", "auto", "s2_fast", "off", "single", "stream", "enabled",
           "owner", "system", "chachapoly", "aes", "full", "cache", "MEMORY", "always", "1.3", "1.2", "1.1"]
INTEGERS = ["-1", "0", "1", "2", "30", "61", "255", "256", "4222", "65535", "70000", "2147483647", "2147483648",
            "9223372036854775807"]
FLOATS = ["1.5", "0.25", "-2.5", "60.5"]
BOOLS = ["true", "false", "yes", "no", "on", "OFF", "True"]


def pairs(names: list[str]) -> list[Node]:
    return [[Text(n) for n in names[i:i + 2]] for i in range(0, len(names), 2)]


def by_key(certs: Path) -> dict[str, list[Node]]:
    """Value pools for keys whose values the server checks closely."""
    cert, key, ca = str(certs / "server.pem"), str(certs / "server-key.pem"), str(certs / "ca.pem")
    ciphers = sorted(o.CIPHER_SUITES)[:4] + sorted(o.INSECURE_CIPHER_SUITES)[:3] + ["BAD_CIPHER", "tls_aes_128_gcm_sha256"]
    curves = [*sorted(o.CURVES)[:3], "P-256", "x25519", "GARBAGE"]
    return {
        "cert_file": [Text(cert)], "key_file": [Text(key)], "ca_file": [Text(ca)],
        "cipher_suites": [*pairs(ciphers), []],
        "curve_preferences": [*pairs(curves), []],
        "min_version": [*(Text(v) for v in ("1.0", "1.1", "1.2", "1.3", "1.4")), Raw("1.2")],
        "pinned_certs": [[Text("a" * 64)], [Text("xyz")], [Text("A" * 64), Text("b" * 63)]],
        "nkey": [Text(USER_KEY), Text(ACCOUNT_KEY), Text(SEED), Text("UABC")],
        "issuer": [Text(ACCOUNT_KEY), Text(USER_KEY)], "xkey": [Text("XABC")],
        "subject": [Text(s) for s in SUBJECTS], "stream": [Text(s) for s in SUBJECTS[:5]],
        "service": [Text(s) for s in SUBJECTS[:5]], "to": [Text("x.y"), Text("$1"), Text("b.*")],
        "prefix": [Text("p"), Text("p.*")], "account": [Text(n) for n in NAMES], "name": [Text(n) for n in NAMES],
        "user": [Text(n) for n in NAMES], "url": [Text("nats://hub:7422"), Text("wss://hub:443"), Text("ws://hub:80")],
        "mode": [Text(m) for m in ("auto", "always", "never", "s2_fast", "s2_auto", "off", "bogus")],
        "allowed_connection_types": [[Text("STANDARD")], [Text("MQTT"), Text("LEAFNODE")], [Text("BOGUS")]],
    }


@st.composite
def scalar(draw: st.DrawFn, option: o.Opt) -> Node:
    kinds = sorted(option.kinds)
    kind = draw(st.sampled_from(kinds))
    if option.check in (o._duration, o._timeout, o._auth_timeout, o._seconds_or_duration) and kind == "string":
        return Text(draw(st.sampled_from(DURATIONS)))
    if option.check is o._listen and kind == "string":
        return Text(draw(st.sampled_from(LISTENS)))
    if option.check is o._size_string and kind == "string":
        return Text(draw(st.sampled_from(["1G", "2K", "10T", "", "2GB", "2g", "x"])))
    return draw(generic(kind))


def generic(kind: str) -> st.SearchStrategy[Node]:
    pools: dict[str, st.SearchStrategy[Node]] = {
        "string": st.sampled_from(STRINGS).map(Text),
        "integer": st.sampled_from(INTEGERS + SIZES).map(Raw),
        "float": st.sampled_from(FLOATS).map(Raw),
        "bool": st.sampled_from(BOOLS).map(Raw),
        "datetime": st.just(Raw("2024-01-02T03:04:05Z")),
        "map": st.just({}),
        "array": st.sampled_from([[], [Text("x")], [Raw("1"), Raw("2")]]),
    }
    return pools[kind]


@st.composite
def value(draw: st.DrawFn, option: o.Opt, key: str, pools: dict[str, list[Node]], depth: int) -> Node:
    if draw(st.integers(0, 14)) == 0:  # a value of some kind, right or wrong
        return draw(generic(draw(st.sampled_from(sorted(o._KIND_NAMES)))))
    if key in pools and draw(st.integers(0, 3)) > 0:
        return draw(st.sampled_from(pools[key]))
    kinds = set(option.kinds)
    if depth > 3:
        kinds -= {"map", "array"}
    if option.block is not None and "map" in kinds and depth <= 3 and draw(st.booleans()):
        return draw(block(option.block, pools, depth + 1))
    if option.items is not None and "array" in kinds and depth <= 3 and draw(st.booleans()):
        return draw(st.lists(value(option.items, key, pools, depth + 1), max_size=3))
    return draw(scalar(o.Opt(frozenset(kinds - {"map", "array"}) or option.kinds, option.check)))


@st.composite
def block(draw: st.DrawFn, b: o.Block, pools: dict[str, list[Node]], depth: int) -> dict[str, Any]:
    names = sorted(b.options) + sorted(b.aliases)
    if depth == 0:
        names = [n for n in names if b.aliases.get(n, n) not in LEFT_TO_THE_CORPUS]
    out: dict[str, Any] = {}
    if b.other is not None:
        for name in draw(st.lists(st.sampled_from([*NAMES, "k.*", "x y"]), max_size=3, unique=True)):
            out[name] = draw(value(b.other, name, pools, depth))
    if names:
        for name in draw(st.lists(st.sampled_from(names), max_size=4 if depth else 5, unique=True)):
            found = b.lookup(name)
            assert found is not None
            key = draw(st.sampled_from([name, name.upper(), name.capitalize()])) if draw(st.integers(0, 5)) == 0 else name
            out[key] = draw(value(found[1], found[0], pools, depth))
    if draw(st.integers(0, 12)) == 0:
        out["unknown_option"] = Raw("1")
    return out


@dataclass
class Style:
    sep: str
    quote: str
    items: str
    entries: str
    comments: bool
    rnd: Callable[[int], int] = field(repr=False, default=lambda n: 0)


def quoted(text: str, style: Style) -> str:
    if style.quote == "'" and "'" not in text and "\n" not in text:
        return f"'{text}'"
    if style.quote == "" and text and all(c.isalnum() or c in "._-/:" for c in text) and not text[0].isdigit() \
            and text.lower() not in ("true", "false", "yes", "no", "on", "off") and "//" not in text:
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t").replace("\n", "\\n")
    return f'"{escaped}"'


def render(node: Node, style: Style, indent: str = "") -> str:
    if isinstance(node, Raw):
        return node.text
    if isinstance(node, Text):
        return quoted(node.text, style)
    if isinstance(node, list):
        inner = style.items.join(render(v, style, indent) for v in node)
        return f"[{inner}]" if "\n" not in style.items else f"[\n{inner}\n{indent}]"
    parts = [f"{quoted(k, style) if not k.replace('_', '').isalnum() else k}{style.sep}{render(v, style, indent + '  ')}"
             for k, v in node.items()]
    if style.comments:
        parts = [p + ("  # note" if i % 2 else "") for i, p in enumerate(parts)]
    joiner = style.entries if not style.comments else "\n"
    body = joiner.join(parts)
    return "{" + body + "}" if "\n" not in joiner else "{\n" + body + "\n" + indent + "}"


def top_text(entries: dict[str, Any], style: Style, wrap: int) -> str:
    lines = []
    for k, v in entries.items():
        sep = style.sep if not isinstance(v, dict) or style.sep.strip() else " "
        lines.append(f"{k}{sep}{render(v, style)}" + ("  // c" if style.comments else ""))
    body = "\n".join(lines) + "\n"
    for _ in range(wrap):
        body = "{\n" + body + "}\n"
    return body


@dataclass(frozen=True)
class Case:
    main: str
    include: str


@st.composite
def option_configs(draw: st.DrawFn, pools: dict[str, list[Node]]) -> Case:
    entries = draw(block(o.TOP, pools, 0))
    style = Style(draw(st.sampled_from([": ", " = ", " ", ":"])), draw(st.sampled_from(['"', "'", ""])),
                  draw(st.sampled_from([", ", "\n", ",\n"])), draw(st.sampled_from([", ", "\n", "; "])),
                  draw(st.booleans()))
    included: dict[str, Any] = {}
    if entries and draw(st.integers(0, 4)) == 0:  # some keys come from an included file
        moved = draw(st.sampled_from(sorted(entries)))
        included[moved] = entries.pop(moved)
    if entries and draw(st.integers(0, 4)) == 0:  # a scalar through a variable defined before it
        name = draw(st.sampled_from(sorted(entries)))
        if isinstance(entries[name], Raw | Text):
            entries = {"VAR_X": entries[name], **{k: (Raw("$VAR_X") if k == name else v) for k, v in entries.items()}}
    main = top_text(entries, style, draw(st.sampled_from([0, 0, 1, 2])))
    if included:
        main = "include inc.conf\n" + main if draw(st.booleans()) else main + "include 'inc.conf'\n"
    return Case(main, top_text(included, style, 0) if included else "")


SOUP = ["port: -1", "server_name: a", "accounts: 1.5", "accounts: 2016-01-02T03:04:05Z", "accounts: 1k5",
        "accounts: 8kb", "accounts: -0.0", "accounts: 1.2.3", "accounts: 3secret", "accounts: 'a b'",
        'accounts: "x\\ty"', "accounts: a\\tb", "accounts: $2a$11$abc", "accounts: [1, 2 ]", "accounts: [a, 'b']",
        "accounts: (\nblock\n)", "server_metadata { k: v }", "server_metadata {\n k: v\n}", "server_tags: [a, b]",
        "V: 5", "max_payload: $V", "{", "}", "{ }", ",", ";", "# c", "// c", "\n", " ", "\t", "PORT: 1",
        "server_name = 'q'", "server_name \"q\"", "accounts: true", "accounts: NO", "accounts: 01",
        "accounts: 9223372036854775807", "accounts: -", "accounts: .5", "/", "accounts: x#y", "accounts: x // y"]


@st.composite
def soup(draw: st.DrawFn) -> Case:
    parts = draw(st.lists(st.sampled_from(SOUP), min_size=1, max_size=12))
    glue = draw(st.lists(st.sampled_from(["\n", " ", "\n\n", ", ", "; "]), min_size=len(parts), max_size=len(parts)))
    return Case("".join(p + g for p, g in zip(parts, glue, strict=True)), "")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("nats-certs")
    Pki.make(CertFactory(), folder, ("localhost", "127.0.0.1"))
    return folder


def compare(folder: Path, case: Case, stats: Counter[str], disagreements: list[str]) -> None:
    path = folder / "gen.conf"
    path.write_text(case.main)
    (folder / "inc.conf").write_text(case.include)
    server, ours = server_verdict(path, cwd=folder), auditor_verdict(path)
    stats["files"] += 1
    stats["accepted" if server.accepted else "refused"] += 1
    if server.agrees(ours):
        stats["agreed"] += 1
    else:
        disagreements.append(_explain(case, server, ours))


def _explain(case: Case, server: Verdict, ours: Verdict) -> str:
    what = "digests differ" if server.accepted and ours.accepted else \
        f"server {'accepts' if server.accepted else 'refuses: ' + server.message[-200:]}; " \
        f"auditor {'accepts' if ours.accepted else 'refuses: ' + ours.message[-200:]}"
    return f"{what}\n{case.main}" + (f"\n--- inc.conf:\n{case.include}" if case.include else "")


def summary(disagreements: list[str]) -> str:
    """Each distinct disagreement once (its first line), then the first file in full."""
    kinds = sorted({d.splitlines()[0].split(".conf:", 1)[-1][:160] for d in disagreements})
    return f"{len(disagreements)} disagreements:\n" + "\n".join(kinds) + "\n=====\n" + disagreements[0]


def report(name: str, stats: Counter[str], record_property: Any, capsys: pytest.CaptureFixture[str]) -> None:
    record_property(f"{name}_agreed", stats["agreed"])
    record_property(f"{name}_files", stats["files"])
    with capsys.disabled():
        print(f"\ngenerated nats.conf ({name}): {stats['agreed']} of {stats['files']} files agree with nats-server -t "
              f"({stats['accepted']} accepted by the server, {stats['refused']} refused)")


def test_generated_from_the_options_table(tmp_path: Path, certs: Path, record_property: Any,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    stats: Counter[str] = Counter()
    disagreements: list[str] = []
    pools = by_key(certs)

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=option_configs(pools))
    def check(case: Case) -> None:
        compare(tmp_path, case, stats, disagreements)

    check()
    report("options", stats, record_property, capsys)
    assert not disagreements, summary(disagreements)
    assert stats["accepted"] > EXAMPLES // 10 and stats["refused"] > EXAMPLES // 10  # both verdicts exercised


def test_generated_syntax(tmp_path: Path, record_property: Any, capsys: pytest.CaptureFixture[str]) -> None:
    stats: Counter[str] = Counter()
    disagreements: list[str] = []

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=soup())
    def check(case: Case) -> None:
        compare(tmp_path, case, stats, disagreements)

    check()
    report("syntax", stats, record_property, capsys)
    assert not disagreements, summary(disagreements)
    assert stats["accepted"] > EXAMPLES // 10 and stats["refused"] > EXAMPLES // 10
