"""The host firewall: an nftables ruleset (`nft -j list ruleset`) or iptables-save output, and
what it admits.

Both are read into one small model (chains of rules; a rule is matches and a verdict) and
judged by following a packet through it: a new TCP or UDP connection to a port, from an
address on the internet (203.0.113.7 / 2001:db8::7, documentation addresses standing for
"anywhere") arriving on a non-loopback interface. Every filter chain on the input (and
prerouting) hook of the packet's family takes part, in priority order: a drop in any is final.
Matches the model does not understand make the outcome uncertain rather than guessed: the
verdict is then `uncertain`, never `accept` or `drop`.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

ANYWHERE = {4: ipaddress.ip_address("203.0.113.7"), 6: ipaddress.ip_address("2001:db8::7")}
MAX_RULES = 50_000
MAX_DEPTH = 16

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
T = TypeVar("T")
Verdict = Literal["accept", "drop", "uncertain"]
"""What the host does with a packet; uncertain when a rule the model cannot judge decides."""


@dataclass(frozen=True)
class Match:
    what: str
    """proto, dport, saddr, iif, ct, family, pkttype, l4only / familyonly (an unmodelled field of a
    transport / IP header: no match for other protocols / families), never, unknown."""
    values: tuple[Any, ...] = ()
    negate: bool = False
    text: str = ""


@dataclass(frozen=True)
class Rule:
    matches: tuple[Match, ...]
    verdict: str
    """accept, drop, jump, goto, return, continue (no verdict: counter, log), vmap."""
    target: str | None = None
    vmap: tuple[tuple[Any, str, str | None], ...] = ()
    """For a verdict map: (key value, verdict, target); the key is in vmap_key."""
    vmap_key: str = ""


@dataclass(frozen=True)
class Chain:
    family: str
    """ip, ip6, inet (iptables: ip for iptables-save, ip6 for ip6tables-save)."""
    table: str
    name: str
    hook: str | None = None
    type: str | None = None
    priority: int = 0
    policy: str | None = None
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class Ruleset:
    backend: str
    """nftables, iptables or none."""
    chains: tuple[Chain, ...] = ()
    problems: tuple[str, ...] = ()
    compat: tuple[tuple[str, str], ...] = ()
    """(family, table) of nft tables holding iptables-nft compatibility (xt) expressions,
    which the model cannot judge: iptables-save describes those tables better."""

    def base_chains(self, version: int) -> list[Chain]:
        families = {"inet", "ip" if version == 4 else "ip6"}
        return sorted((c for c in self.chains if c.family in families and c.hook in ("input", "prerouting")
                       and (c.type or "filter") == "filter"),
                      key=lambda c: (0 if c.hook == "prerouting" else 1, c.priority))

    def chain(self, family: str, table: str, name: str) -> Chain | None:
        for c in self.chains:
            if (c.family, c.table, c.name) == (family, table, name):
                return c
        return None


@dataclass(frozen=True)
class Packet:
    version: int
    proto: str
    dport: int
    saddr: ipaddress.IPv4Address | ipaddress.IPv6Address = field(default_factory=lambda: ANYWHERE[4])
    iif: str = "eth0"
    ct: str = "new"


def packet(version: int, proto: str, port: int) -> Packet:
    return Packet(version, proto, port, ANYWHERE[version])


# --- judging a packet ---------------------------------------------------------------------


def _match(m: Match, pkt: Packet) -> bool | None:
    """True, False, or None (the model cannot tell)."""
    result: bool | None
    if m.what == "proto":
        result = pkt.proto in m.values
    elif m.what == "dport":
        protos = m.values[0]
        result = pkt.proto in protos and any(lo <= pkt.dport <= hi for lo, hi in m.values[1])
        if m.negate:  # `tcp dport != 22` still requires tcp
            return pkt.proto in protos and not any(lo <= pkt.dport <= hi for lo, hi in m.values[1])
    elif m.what == "saddr":
        version = m.values[0]
        if version != pkt.version:
            return False  # an `ip saddr` match never matches an IPv6 packet (nor negated)
        result = any(pkt.saddr in net for net in m.values[1])
    elif m.what == "iif":
        result = any(fnmatch.fnmatchcase(pkt.iif, n.replace("+", "*")) for n in m.values)
    elif m.what == "ct":
        result = pkt.ct in m.values
    elif m.what == "family":
        result = pkt.version in m.values
    elif m.what == "pkttype":
        result = "unicast" in m.values
    elif m.what == "l4only":  # some other field of a transport header: only that protocol can match
        return False if pkt.proto not in m.values else None
    elif m.what == "familyonly":  # some other field of an IP header: only that family can match
        return False if pkt.version not in m.values else None
    elif m.what == "never":
        return False
    else:
        return None
    return (not result) if m.negate else result


def _vmap_outcome(rule: Rule, pkt: Packet) -> tuple[str, str | None] | None:
    key = rule.vmap_key
    for value, verdict, target in rule.vmap:
        if key == "ct" and value == pkt.ct:
            return verdict, target
        if key in ("tcp", "udp", "th") and (key == "th" or key == pkt.proto) and \
                isinstance(value, tuple) and value[0] <= pkt.dport <= value[1]:
            return verdict, target
        if key == "l4proto" and value == pkt.proto:
            return verdict, target
        if key == "iif" and value == pkt.iif:
            return verdict, target
    return ("continue", None) if key in ("ct", "tcp", "udp", "th", "l4proto", "iif") else None


class _Walker:
    def __init__(self, ruleset: Ruleset, pkt: Packet) -> None:
        self.ruleset, self.pkt = ruleset, pkt
        self.memo: dict[tuple[str, str, str], frozenset[str]] = {}

    def chain(self, chain: Chain, depth: int) -> frozenset[str]:
        """Possible outcomes of a chain: accept, drop, return (fell off the end or RETURN)."""
        key = (chain.family, chain.table, chain.name)
        if key in self.memo:
            return self.memo[key]
        if depth > MAX_DEPTH:
            return frozenset({"accept", "drop"})
        outcomes: set[str] = set()
        for rule in chain.rules:
            states = [_match(m, self.pkt) for m in rule.matches]
            if False in states:
                continue
            certain = None not in states
            verdict, target = rule.verdict, rule.target
            if verdict == "vmap":
                picked = _vmap_outcome(rule, self.pkt)
                if picked is None:
                    outcomes |= {"accept", "drop"}
                    continue
                verdict, target = picked
            now = self._verdict(chain, verdict, target, depth)
            outcomes |= now - {"next"}
            if certain and "next" not in now:
                break
        else:
            outcomes.add("return")
        self.memo[key] = frozenset(outcomes)
        return self.memo[key]

    def _verdict(self, chain: Chain, verdict: str, target: str | None, depth: int) -> set[str]:
        """Outcomes of one verdict; 'next' means the packet goes on with the following rule."""
        if verdict in ("accept", "drop", "return"):
            return {verdict}
        if verdict == "reject":
            return {"drop"}
        if verdict in ("continue", "next"):
            return {"next"}
        if verdict == "unknown":
            return {"accept", "drop", "next"}
        called = self.ruleset.chain(chain.family, chain.table, target or "")
        if called is None:
            return {"accept", "drop", "next"}
        sub = self.chain(called, depth + 1)
        out = set(sub - {"return"})
        if "return" in sub:
            out.add("return" if verdict == "goto" else "next")
        return out


def verdict(ruleset: Ruleset, pkt: Packet) -> Verdict:
    """accept, drop or uncertain: what the host does with the packet."""
    chains = ruleset.base_chains(pkt.version)
    walker = _Walker(ruleset, pkt)
    may_accept, may_drop = True, False
    for base in chains:
        out = set(walker.chain(base, 0))
        if "return" in out:
            out.discard("return")
            out.add("drop" if (base.policy or "accept") == "drop" else "accept")
        if "accept" not in out:
            may_accept = False
        if "drop" in out:
            may_drop = True
    if not may_accept:
        return "drop"
    return "uncertain" if may_drop else "accept"


def filters_input(ruleset: Ruleset, version: int) -> bool:
    """Whether anything on the input path can drop a packet of this IP version."""
    return any(c.policy == "drop" or any(r.verdict in ("drop", "reject", "jump", "goto", "vmap") for r in c.rules)
               for c in ruleset.base_chains(version))


# --- nftables JSON ------------------------------------------------------------------------

PROTO_NAMES = {"tcp", "udp", "sctp", "dccp", "icmp", "icmpv6", "ipv6-icmp", "udplite"}


def _elements(value: Any, sets: Mapping[str, list[Any]], leaf: Callable[[Any], list[T] | None], depth: int = 0) -> list[T] | None:
    """The values of an nft JSON right-hand side (a value, a list, {"set": [...]}, "@name");
    None when one of them is not understood."""
    if depth > 8:
        return None
    if isinstance(value, str) and value.startswith("@"):
        items = sets.get(value[1:])
        return None if items is None else _elements(items, sets, leaf, depth + 1)
    if isinstance(value, dict) and "set" in value:
        value = value["set"] if isinstance(value["set"], list) else None
    if isinstance(value, list):
        out: list[T] = []
        for item in value:
            got = _elements(item, sets, leaf, depth + 1)
            if got is None:
                return None
            out += got
        return out
    return leaf(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _port_leaf(value: Any) -> list[tuple[int, int]] | None:
    if _is_int(value):
        return [(value, value)]
    if isinstance(value, str) and value.isdigit() and value.isascii():
        return [(int(value), int(value))]
    if isinstance(value, dict) and isinstance(value.get("range"), list) and len(value["range"]) == 2:
        lo, hi = value["range"]
        return [(lo, hi)] if _is_int(lo) and _is_int(hi) else None
    return None


def _network_leaf(value: Any) -> list[Network] | None:
    try:
        if isinstance(value, str):
            return [ipaddress.ip_network(value, strict=False)]
        if isinstance(value, dict) and isinstance(value.get("prefix"), dict):
            return [ipaddress.ip_network(f"{value['prefix'].get('addr')}/{value['prefix'].get('len')}", strict=False)]
        if isinstance(value, dict) and isinstance(value.get("range"), list) and len(value["range"]) == 2:
            lo, hi = (ipaddress.ip_address(str(v)) for v in value["range"])
            return list(ipaddress.summarize_address_range(lo, hi))
    except (ValueError, TypeError):
        return None
    return None


def _string_leaf(value: Any) -> list[str] | None:
    return [value] if isinstance(value, str) else None


def _ports(value: Any, sets: Mapping[str, list[Any]]) -> list[tuple[int, int]] | None:
    return _elements(value, sets, _port_leaf)


def _networks(value: Any, sets: Mapping[str, list[Any]]) -> list[Network] | None:
    return _elements(value, sets, _network_leaf)


def _strings(value: Any, sets: Mapping[str, list[Any]]) -> list[str] | None:
    return _elements(value, sets, _string_leaf)


def _nft_match(expr: Mapping[str, Any], sets: Mapping[str, list[Any]]) -> Match:
    op = expr.get("op", "==")
    left, right = expr.get("left"), expr.get("right")
    text = json.dumps(expr, sort_keys=True)[:200]
    negate = op == "!="
    if op not in ("==", "!=", "in"):
        return Match("unknown", text=text)
    if isinstance(right, str) and right.startswith("@") and sets.get(right[1:]) == [] and op in ("==", "in"):
        return Match("never", text=text)  # membership of a set that is empty when listed
    if isinstance(left, dict) and isinstance(left.get("payload"), dict):
        proto, fld = left["payload"].get("protocol"), left["payload"].get("field")
        if fld == "dport" and proto in ("tcp", "udp", "th", "sctp", "dccp", "udplite"):
            ports = _ports(right, sets)
            if ports is None:
                return Match("unknown", text=text)
            protos = ("tcp", "udp") if proto == "th" else (proto,)
            return Match("dport", (protos, tuple(ports)), negate, text)
        if fld == "saddr" and proto in ("ip", "ip6"):
            nets = _networks(right, sets)
            if nets is None:
                return Match("unknown", text=text)
            return Match("saddr", (4 if proto == "ip" else 6, tuple(nets)), negate, text)
        if (fld == "protocol" and proto == "ip") or (fld == "nexthdr" and proto == "ip6"):
            names = _strings(right, sets)
            return Match("unknown", text=text) if names is None else Match("proto", tuple(names), negate, text)
        return _header_only(proto, text)
    if isinstance(left, dict) and isinstance(left.get("&"), list):
        inner = next((x for x in left["&"] if isinstance(x, dict) and isinstance(x.get("payload"), dict)), None)
        if inner is not None:
            return _header_only(inner["payload"].get("protocol"), text)
        return Match("unknown", text=text)
    if isinstance(left, dict) and isinstance(left.get("meta"), dict):
        key = left["meta"].get("key")
        names = _strings(right, sets)
        if key == "l4proto" and names is not None:
            return Match("proto", tuple(names), negate, text)
        if key in ("iif", "iifname") and names is not None:
            return Match("iif", tuple(names), negate, text)
        if key == "nfproto" and names is not None:
            return Match("family", tuple({"ipv4": 4, "ipv6": 6}.get(n, 0) for n in names), negate, text)
        if key == "pkttype" and names is not None:
            return Match("pkttype", tuple(names), negate, text)
        return Match("unknown", text=text)
    if isinstance(left, dict) and isinstance(left.get("ct"), dict) and left["ct"].get("key") == "state":
        names = _strings(right, sets)
        if names is None:
            return Match("unknown", text=text)
        return Match("ct", tuple(names), negate, text)
    return Match("unknown", text=text)


def _header_only(proto: Any, text: str) -> Match:
    """A match on a header field the model does not judge: it still tells the protocol or family."""
    if proto in ("ip", "ip6"):
        return Match("familyonly", (4 if proto == "ip" else 6,), text=text)
    if proto in PROTO_NAMES:
        names = ("icmpv6", "ipv6-icmp") if proto in ("icmpv6", "ipv6-icmp") else (proto,)
        return Match("l4only", names, text=text)
    return Match("unknown", text=text)


def _nft_rule(exprs: Sequence[Any], sets: Mapping[str, list[Any]]) -> Rule:
    matches: list[Match] = []
    for expr in exprs:
        if not isinstance(expr, dict) or len(expr) != 1:
            matches.append(Match("unknown", text=str(expr)[:200]))
            continue
        (name, body), = expr.items()
        if name == "match" and isinstance(body, dict):
            matches.append(_nft_match(body, sets))
        elif name in ("accept", "drop", "return"):
            return Rule(tuple(matches), name)
        elif name == "reject":
            return Rule(tuple(matches), "drop")
        elif name in ("jump", "goto") and isinstance(body, dict):
            return Rule(tuple(matches), name, str(body.get("target", "")))
        elif name == "vmap" and isinstance(body, dict):
            return _nft_vmap(tuple(matches), body)
        elif name in ("counter", "log", "comment", "ct count", "mangle", "notrack", "set", "meta"):
            continue
        elif name == "xt" and isinstance(body, dict) and body.get("type") == "target":
            target = str(body.get("name", ""))
            if target in ("REJECT", "DROP"):
                return Rule(tuple(matches), "drop")
            if target == "ACCEPT":
                return Rule(tuple(matches), "accept")
            if target in ("LOG", "NFLOG", "MARK", "CONNMARK", "AUDIT", "TRACE"):
                continue
            return Rule(tuple(matches), "unknown")
        elif name in ("limit", "quota"):
            matches.append(Match("unknown", text=name))
        else:
            matches.append(Match("unknown", text=name))
    return Rule(tuple(matches), "continue")


def _nft_vmap(matches: tuple[Match, ...], body: Mapping[str, Any]) -> Rule:
    key = body.get("key")
    data = body.get("data")
    kind = ""
    if isinstance(key, dict):
        if isinstance(key.get("ct"), dict) and key["ct"].get("key") == "state":
            kind = "ct"
        elif isinstance(key.get("payload"), dict) and key["payload"].get("field") == "dport":
            kind = str(key["payload"].get("protocol"))
        elif isinstance(key.get("meta"), dict) and key["meta"].get("key") in ("l4proto", "iif", "iifname"):
            kind = "l4proto" if key["meta"]["key"] == "l4proto" else "iif"
    entries: list[tuple[Any, str, str | None]] = []
    items = data.get("set") if isinstance(data, dict) else None
    if not kind or not isinstance(items, list):
        return Rule((*matches, Match("unknown", text="vmap")), "continue")
    for item in items:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[1], dict) and len(item[1]) == 1):
            return Rule((*matches, Match("unknown", text="vmap")), "continue")
        value, verdict_expr = item
        (vname, vbody), = verdict_expr.items()
        target = str(vbody.get("target")) if isinstance(vbody, dict) and "target" in vbody else None
        vname = "drop" if vname == "reject" else vname
        if kind in ("tcp", "udp", "th"):
            ports = _ports(value, {})
            if ports is None:
                return Rule((*matches, Match("unknown", text="vmap")), "continue")
            entries += [(p, vname, target) for p in ports]
        else:
            names = _strings(value, {})
            if names is None:
                return Rule((*matches, Match("unknown", text="vmap")), "continue")
            entries += [(n, vname, target) for n in names]
    return Rule(matches, "vmap", vmap=tuple(entries), vmap_key=kind)


def parse_nft_json(text: str) -> Ruleset:
    """`nft -j list ruleset` output as a Ruleset; raises ValueError when it is not that."""
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("nftables"), list):
        raise ValueError("not an nftables JSON ruleset (no 'nftables' list)")
    objs = [o for o in doc["nftables"] if isinstance(o, dict) and len(o) == 1]
    sets: dict[tuple[str, str], dict[str, list[Any]]] = {}
    chains: dict[tuple[str, str, str], dict[str, Any]] = {}
    rules: dict[tuple[str, str, str], list[Rule]] = {}
    problems: list[str] = []
    compat: set[tuple[str, str]] = set()
    count = 0
    for obj in objs:
        (kind, body), = obj.items()
        if not isinstance(body, dict):
            continue
        fam, table = str(body.get("family", "")), str(body.get("table", ""))
        if kind in ("set", "map") and isinstance(body.get("name"), str):
            elems = body.get("elem", [])
            sets.setdefault((fam, table), {})[body["name"]] = elems if isinstance(elems, list) else []
        elif kind == "chain" and isinstance(body.get("name"), str):
            chains[(fam, table, body["name"])] = body
    for obj in objs:
        (kind, body), = obj.items()
        if kind != "rule" or not isinstance(body, dict):
            continue
        count += 1
        if count > MAX_RULES:
            problems.append(f"more than {MAX_RULES} rules; the rest was not read")
            break
        key = (str(body.get("family", "")), str(body.get("table", "")), str(body.get("chain", "")))
        exprs = body.get("expr")
        rule = _nft_rule(exprs if isinstance(exprs, list) else [], sets.get(key[:2], {}))
        if isinstance(exprs, list) and any(isinstance(e, dict) and "xt" in e for e in exprs):
            compat.add(key[:2])
        rules.setdefault(key, []).append(rule)
    out = []
    for key, body in chains.items():
        prio = body.get("prio", 0)
        out.append(Chain(key[0], key[1], key[2], body.get("hook") if isinstance(body.get("hook"), str) else None,
                         body.get("type") if isinstance(body.get("type"), str) else None,
                         prio if isinstance(prio, int) and not isinstance(prio, bool) else 0,
                         body.get("policy") if isinstance(body.get("policy"), str) else None,
                         tuple(rules.get(key, ()))))
    return Ruleset("nftables", tuple(out), tuple(problems), tuple(sorted(compat)))


# --- iptables-save ------------------------------------------------------------------------

BUILTIN = {"INPUT": "input", "PREROUTING": "prerouting", "FORWARD": "forward", "OUTPUT": "output",
           "POSTROUTING": "postrouting"}


def _ipt_ports(text: str) -> list[tuple[int, int]] | None:
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            return None
        out.append((int(lo), int(hi or lo)))
    return out


def _ipt_rule(args: list[str], version: int) -> tuple[str, Rule] | None:
    """(chain, rule) from the words of one `-A CHAIN ...` line."""
    chain = args[1]
    matches: list[Match] = []
    proto: str | None = None
    verdict, target = "continue", None
    i, negate = 2, False
    while i < len(args):
        a = args[i]
        nxt = args[i + 1] if i + 1 < len(args) else ""
        if a == "!":
            negate = True
            i += 1
            continue
        if a in ("-p", "--protocol"):
            proto = nxt.lower()
            if proto != "all":
                matches.append(Match("proto", (proto,), negate, f"-p {nxt}"))
            i += 2
        elif a in ("--dport", "--destination-port", "--dports", "--destination-ports"):
            ports = _ipt_ports(nxt)
            protos = (proto,) if proto in ("tcp", "udp", "sctp", "dccp") else ()
            matches.append(Match("dport", (protos, tuple(ports)), negate, f"{a} {nxt}") if ports is not None and protos
                           else Match("unknown", text=f"{a} {nxt}"))
            i += 2
        elif a in ("-s", "--source"):
            try:
                nets = tuple(ipaddress.ip_network(n, strict=False) for n in nxt.split(","))
                matches.append(Match("saddr", (version, nets), negate, f"-s {nxt}"))
            except ValueError:
                matches.append(Match("unknown", text=f"-s {nxt}"))
            i += 2
        elif a in ("-i", "--in-interface"):
            matches.append(Match("iif", (nxt,), negate, f"-i {nxt}"))
            i += 2
        elif a in ("--state", "--ctstate"):
            matches.append(Match("ct", tuple(s.lower() for s in nxt.split(",")), negate, f"{a} {nxt}"))
            i += 2
        elif a == "--pkt-type":
            matches.append(Match("pkttype", (nxt.lower(),), negate, f"{a} {nxt}"))
            i += 2
        elif a == "-m":
            i += 2  # the module's own options follow
        elif a in ("--comment",):
            i += 2
        elif a in ("-j", "-g", "--jump", "--goto"):
            name = nxt
            if name in ("ACCEPT", "DROP", "RETURN"):
                verdict = name.lower()
            elif name == "REJECT":
                verdict = "drop"
            elif name in ("LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "CT", "NOTRACK", "AUDIT", "TRACE"):
                verdict = "continue"
            else:
                verdict, target = ("goto" if a in ("-g", "--goto") else "jump"), name
            break
        elif a.startswith("-"):
            value = nxt if nxt and not nxt.startswith("-") else ""
            matches.append(Match("unknown", text=f"{a} {value}".strip()))
            i += 2 if value else 1
        else:
            matches.append(Match("unknown", text=a))
            i += 1
        negate = False
    return chain, Rule(tuple(matches), verdict, target)


def parse_iptables_save(text: str, version: int = 4) -> Ruleset:
    """iptables-save (version 4) or ip6tables-save (6) output: the filter table's chains."""
    family = "ip" if version == 4 else "ip6"
    table = ""
    policies: dict[str, str | None] = {}
    order: list[str] = []
    rules: dict[str, list[Rule]] = {}
    problems: list[str] = []
    count = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            table = line[1:]
            continue
        if table != "filter" or line == "COMMIT":
            continue
        if line.startswith(":"):
            name, _, rest = line[1:].partition(" ")
            policy = rest.split(" ", 1)[0]
            policies[name] = policy.lower() if policy in ("ACCEPT", "DROP") else None
            order.append(name)
            continue
        try:
            args = shlex.split(line)
        except ValueError:
            problems.append(f"line {number}: unbalanced quotes")
            continue
        if len(args) < 2 or args[0] not in ("-A", "--append"):
            problems.append(f"line {number}: not a rule")
            continue
        count += 1
        if count > MAX_RULES:
            problems.append(f"more than {MAX_RULES} rules; the rest was not read")
            break
        got = _ipt_rule(args, version)
        if got is not None:
            rules.setdefault(got[0], []).append(got[1])
            if got[0] not in order:
                order.append(got[0])
    chains = tuple(Chain(family, "filter", name, BUILTIN.get(name), "filter", 0, policies.get(name),
                         tuple(rules.get(name, ()))) for name in order)
    return Ruleset("iptables", chains, tuple(problems))


def merge(rulesets: Iterable[Ruleset]) -> Ruleset:
    items = list(rulesets)
    if not items:
        return Ruleset("none")
    return Ruleset(items[0].backend, tuple(c for r in items for c in r.chains), tuple(p for r in items for p in r.problems))


def replace_compat(nft: Ruleset, iptables: Ruleset) -> Ruleset:
    """The nft ruleset with its iptables-nft tables described by iptables-save instead."""
    kept = tuple(c for c in nft.chains if (c.family, c.table) not in nft.compat)
    return Ruleset("nftables+iptables", kept + iptables.chains, nft.problems + iptables.problems)


def describe_rule(rule: Rule) -> str:
    parts = [("!" if m.negate else "") + (m.text or m.what) for m in rule.matches]
    return " ".join([*parts, rule.verdict + (f" {rule.target}" if rule.target else "")])
