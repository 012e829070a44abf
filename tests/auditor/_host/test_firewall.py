"""The firewall model against the kernel: generated rulesets loaded with the real nft (and
iptables-restore) into a network namespace, the model reading what `nft -j list ruleset` and
`iptables-save` print, and a real client saying which ports a new connection reaches.

Where namespaces cannot be made, the recorded JSON under data/ (printed by the real nft 1.0.6
from the rulesets beside it) still checks the model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from auditor._host import firewall as fw
from tests.auditor._host import netns

PORTS = [22, 4222, 6222, 8222, 9000]
DATA = Path(__file__).parent / "data"
needs_netns = pytest.mark.skipif(netns.unavailable() is not None, reason=str(netns.unavailable()))


@pytest.fixture(scope="module")
def ns() -> Iterator[netns.Namespaces]:
    spaces = netns.Namespaces(PORTS)
    spaces.up()
    yield spaces
    spaces.down()


def port_set(ports: list[int]) -> str:
    return "{ " + ", ".join(map(str, ports)) + " }"


def rule(family: str) -> st.SearchStrategy[str]:
    some = st.lists(st.sampled_from(PORTS), min_size=1, max_size=3, unique=True)
    one = st.sampled_from(PORTS)
    choices = [
        st.just("ct state established,related accept"),
        st.just("iif lo accept"),
        some.map(lambda p: f"tcp dport {port_set(p)} accept"),
        one.map(lambda p: f"tcp dport {p} drop"),
        one.map(lambda p: f"tcp dport {p} reject with tcp reset"),
        st.tuples(one, one).map(lambda t: f"tcp dport {min(t)}-{max(t)} accept"),
        one.map(lambda p: f"tcp dport != {p} drop"),
        st.just("meta l4proto tcp accept"),
        st.just("udp dport 53 accept"),
        st.just("counter"),
        st.just("jump allow"),
        st.just("goto allow"),
        st.just("ct state vmap { established : accept, related : accept, invalid : drop, new : jump allow }"),
        st.tuples(one, one).map(lambda t: f"tcp dport vmap {{ {t[0]} : accept, {t[1] + 1} : drop }}"),
        st.just("limit rate 5/second accept"),
    ]
    if family in ("ip", "inet"):
        choices += [one.map(lambda p: f"ip saddr 203.0.113.0/24 tcp dport {p} accept"),
                    one.map(lambda p: f"ip saddr 10.0.0.0/8 tcp dport {p} accept"),
                    one.map(lambda p: f"ip saddr != 10.0.0.0/8 tcp dport {p} drop")]
    if family in ("ip6", "inet"):
        choices += [one.map(lambda p: f"ip6 saddr 2001:db8::/32 tcp dport {p} accept")]
    if family == "inet":
        choices += [one.map(lambda p: f"meta nfproto ipv4 tcp dport {p} accept")]
    return st.one_of(*choices)


@st.composite
def rulesets(draw: st.DrawFn) -> str:
    tables = []
    for index in range(draw(st.integers(1, 2))):
        family = draw(st.sampled_from(["inet", "ip", "ip6"]))
        policy = draw(st.sampled_from(["accept", "drop"]))
        rules = draw(st.lists(rule(family), max_size=6))
        allow = draw(st.lists(st.one_of(rule(family).filter(lambda r: "allow" not in r), st.just("return")), max_size=3))
        tables.append(
            f"table {family} t{index} {{\n"
            f"  chain allow {{\n" + "".join(f"    {r}\n" for r in allow) + "  }\n"
            f"  chain input {{\n    type filter hook input priority {index * 10}; policy {policy};\n"
            + "".join(f"    {r}\n" for r in rules) + "  }\n}\n")
    return "".join(tables)


def judge(ns: netns.Namespaces, ruleset: fw.Ruleset, text: str) -> None:
    kernel = ns.probe((4, 6), PORTS, timeout=0.25)
    for (version, port), truth in kernel.items():
        ours = fw.verdict(ruleset, fw.packet(version, "tcp", port))
        if ours == "uncertain":
            assert "limit" in text, (version, port, text)
            continue
        assert ours == truth, (version, port, kernel, text)
    assert len(kernel) == 2 * len(PORTS)


@needs_netns
@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rulesets())
@example("table inet t0 {\n chain input {\n  type filter hook input priority 0; policy drop;\n"
         "  ct state vmap { established : accept, related : accept, invalid : drop, new : jump allow }\n }\n"
         " chain allow {\n  tcp dport { 22, 4222 } accept\n }\n}\n")
@example("table ip t0 {\n chain input {\n  type filter hook input priority 0; policy accept;\n }\n}\n"
         "table ip6 t1 {\n chain input {\n  type filter hook input priority 0; policy drop;\n  tcp dport 8222 accept\n }\n}\n")
def test_nft_model_agrees_with_the_kernel(ns: netns.Namespaces, text: str) -> None:
    loaded = ns.in_server("nft", "-f", "-", stdin="flush ruleset\n" + text)
    assume(loaded.returncode == 0)  # nft refuses some generated combinations: nothing to judge
    listed = ns.in_server("nft", "-j", "list", "ruleset")
    assert listed.returncode == 0, listed.stderr
    judge(ns, fw.parse_nft_json(listed.stdout), text)


IPT_RULES = [
    "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    "-A INPUT -i lo -j ACCEPT",
    "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT",
    "-A INPUT -p tcp -m multiport --dports 4222,8222 -j ACCEPT",
    "-A INPUT -s 10.0.0.0/8 -p tcp -m tcp --dport 6222 -j ACCEPT",
    "-A INPUT -p tcp -m tcp --dport 6222 -j DROP",
    "-A INPUT -p tcp -m tcp --dport 9000 -j REJECT --reject-with tcp-reset",
    "-A INPUT -j nixos-fw",
    "-A INPUT -p tcp -m tcp --dport 8000:9000 -j ACCEPT",
    "-A INPUT ! -s 203.0.113.0/24 -p tcp -m tcp --dport 4222 -j DROP",
]
NIXOS_FW = ["-A nixos-fw -p tcp -m tcp --dport 4222 -j nixos-fw-accept", "-A nixos-fw -j nixos-fw-refuse",
            "-A nixos-fw-accept -j ACCEPT", "-A nixos-fw-refuse -j DROP"]


@needs_netns
@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["ACCEPT", "DROP"]), st.lists(st.sampled_from(IPT_RULES), max_size=6))
def test_iptables_model_agrees_with_the_kernel(ns: netns.Namespaces, policy: str, rules: list[str]) -> None:
    chains = ":nixos-fw - [0:0]\n:nixos-fw-accept - [0:0]\n:nixos-fw-refuse - [0:0]\n"
    text = f"*filter\n:INPUT {policy} [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n{chains}" + \
        "".join(r + "\n" for r in [*rules, *NIXOS_FW]) + "COMMIT\n"
    assert ns.in_server("nft", "flush", "ruleset").returncode == 0
    loaded = ns.in_server("iptables-restore", stdin=text)
    assert loaded.returncode == 0, loaded.stderr
    saved = ns.in_server("iptables-save")
    model = fw.parse_iptables_save(saved.stdout, 4)
    kernel = {p: v for (_, p), v in ns.probe((4,), PORTS, timeout=0.25).items()}
    for port in PORTS:
        assert fw.verdict(model, fw.packet(4, "tcp", port)) == kernel[port], (port, text)
    listed = ns.in_server("nft", "-j", "list", "ruleset")  # iptables-nft: the same rules as nft sees them
    nft_model = fw.parse_nft_json(listed.stdout)
    for port in PORTS:
        ours = fw.verdict(nft_model, fw.packet(4, "tcp", port))
        assert ours in (kernel[port], "uncertain"), (port, text)
    combined = fw.replace_compat(nft_model, model)  # what the collector judges: iptables-save for those tables
    for port in PORTS:
        assert fw.verdict(combined, fw.packet(4, "tcp", port)) == kernel[port], (port, text)


@pytest.mark.parametrize("name", sorted(p.stem for p in DATA.glob("*.nft")))
def test_recorded_nft_json(name: str) -> None:
    """Rulesets and what the real nft printed for them (tools: python -m tests.auditor._host.record_nft)."""
    expected = json.loads((DATA / f"{name}.verdicts.json").read_text())
    model = fw.parse_nft_json((DATA / f"{name}.json").read_text())
    got = {f"{v}/{p}": fw.verdict(model, fw.packet(int(v[-1]), "tcp", p)) for v in ("ipv4", "ipv6") for p in PORTS}
    assert got == expected


def test_empty_ruleset_admits_everything_and_filters_nothing() -> None:
    empty = fw.parse_nft_json('{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}}]}')
    assert fw.verdict(empty, fw.packet(4, "tcp", 22)) == "accept"
    assert not fw.filters_input(empty, 4)


def test_not_a_ruleset() -> None:
    for text in ("", "[]", '{"nftables": 3}', "{"):
        with pytest.raises(ValueError):
            fw.parse_nft_json(text)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(
                               ["match", "left", "right", "op", "payload", "protocol", "field", "set", "range",
                                "prefix", "addr", "len", "accept", "drop", "jump", "goto", "target", "vmap", "key",
                                "data", "meta", "ct", "family", "table", "chain", "name", "hook", "policy", "expr",
                                "rule", "prio", "type", "elem"]), inner, max_size=4), max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["table", "chain", "rule", "set", "map", "metainfo"]), json_values,
                                min_size=1, max_size=1), max_size=8))
def test_nft_parser_never_crashes(objs: list[dict[str, object]]) -> None:
    model = fw.parse_nft_json(json.dumps({"nftables": objs}))
    for version in (4, 6):
        assert fw.verdict(model, fw.packet(version, "tcp", 22)) in ("accept", "drop", "uncertain")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from([*IPT_RULES, *NIXOS_FW, "*filter", "COMMIT", ":INPUT DROP [0:0]", "*nat"]),
                          st.text(max_size=60)), max_size=12))
def test_iptables_parser_never_crashes(lines: list[str]) -> None:
    model = fw.parse_iptables_save("\n".join(lines), 4)
    assert fw.verdict(model, fw.packet(4, "tcp", 4222)) in ("accept", "drop", "uncertain")


def test_sets_that_name_themselves() -> None:
    doc = {"nftables": [
        {"set": {"family": "inet", "table": "t", "name": "a", "elem": ["@a"]}},
        {"chain": {"family": "inet", "table": "t", "name": "input", "hook": "input", "type": "filter", "prio": 0, "policy": "drop"}},
        {"rule": {"family": "inet", "table": "t", "chain": "input", "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": "@a"}}, {"accept": None}]}},
    ]}
    model = fw.parse_nft_json(json.dumps(doc))
    assert fw.verdict(model, fw.packet(4, "tcp", 22)) == "uncertain"
