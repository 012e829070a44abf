"""Gathering a host's facts: each part read on its own, so one unreadable part never hides the
others. Returns the domain's typed results; the `host` collector turns them into evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from auditor._host import firewall as fw
from auditor._host.accounts import Account, read_accounts
from auditor._host.authkeys import KeysFile, read_keys
from auditor._host.fail2ban import Fail2ban
from auditor._host.mac import MacState
from auditor._host.nixos import CONFIGURATION, Declared, Drift, NixEvalError, compare, evaluate
from auditor._host.sockets import Listener
from auditor._host.sshd import SSHD_CONFIG, Connection, SshdConfig, parse_sshd_config, parse_sshd_t
from auditor._host.system import NO_COMMANDS, CommandUnavailable, Host, HostFileError
from auditor._host.units import Unit, find_units, read_unit


class PartUnavailable(Exception):
    """A part of the host's facts cannot be read at all (the message says why)."""


@dataclass(frozen=True)
class Sshd:
    installed: bool
    """An sshd_config or an sshd program exists."""
    source: Literal["sshd -T", "sshd_config", "none"]
    """`sshd -T` (the server's own answer), `sshd_config` (this package's model of it), or none."""
    effective: dict[str, str | list[str]]
    config: SshdConfig | None
    problems: tuple[str, ...] = ()
    unread: tuple[str, ...] = ()
    """Files of the configuration that exist and could not be read, or not whole: what they set
    is unknown (sshd_config itself among them: then sshd counts as installed)."""


@dataclass(frozen=True)
class Firewall:
    source: str
    """The command that gave the ruleset (nft -j list ruleset, iptables-save), or none."""
    ruleset: fw.Ruleset
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class JudgedListener:
    listener: Listener
    verdict: fw.Verdict
    """What the firewall does with a new connection to it from anywhere: accept, drop, uncertain."""


def read_sshd(host: Host) -> Sshd:
    files, runner = host.files, host.runner
    problems: list[str] = []
    unread: list[str] = []
    config: SshdConfig | None = None
    try:
        text = files.text_or_none(SSHD_CONFIG)
    except HostFileError as exc:
        text = None
        problems.append(f"{SSHD_CONFIG}: {exc.reason}")
        unread.append(f"{SSHD_CONFIG}: {exc.reason}")
    groups: dict[str, list[str]] = {}
    try:
        groups = {a.name: list(a.groups) for a in read_accounts(files)}
    except HostFileError:
        pass
    if text is not None:
        config = parse_sshd_config(files, SSHD_CONFIG, text=text, group_of=lambda u: groups.get(u, []))
        unread += config.unread
    program = runner.which("sshd")
    if program is not None:
        try:
            res = runner.run(["sshd", "-T"], timeout=30)
            if res.ok:
                return Sshd(True, "sshd -T", parse_sshd_t(res.stdout), config, tuple(problems), tuple(unread))
            problems.append(f"sshd -T: {res.problem()}")
        except CommandUnavailable as exc:
            problems.append(f"sshd -T: {exc}")
    if config is None:  # an sshd_config that exists and was not read still says sshd is installed
        return Sshd(program is not None or bool(unread), "none", {}, None, tuple(problems), tuple(unread))
    return Sshd(True, "sshd_config", config.effective(), config, tuple(problems), tuple(unread))


def read_authorized_keys(host: Host, sshd: Sshd, accounts: Sequence[Account]) -> list[KeysFile]:
    out: list[KeysFile] = []
    for account in accounts:
        if sshd.config is not None:
            value = sshd.config.effective(Connection(user=account.name))["authorizedkeysfile"]
        else:
            value = sshd.effective.get("authorizedkeysfile", ".ssh/authorized_keys .ssh/authorized_keys2")
        patterns = value.split() if isinstance(value, str) else list(value)
        if not account.home or account.home == "/nonexistent":
            patterns = [p for p in patterns if p.startswith("/")]
        out += read_keys(host.files, account, patterns)
    return out


def read_firewall(host: Host) -> Firewall:
    """The active ruleset: nft's; iptables-save's for tables iptables-nft made (or without nft)."""
    runner = host.runner
    problems: list[str] = []
    nft = None
    if runner.which("nft"):
        try:
            res = runner.run(["nft", "-j", "list", "ruleset"], timeout=60)
            if res.ok:
                try:
                    nft = fw.parse_nft_json(res.stdout)
                except ValueError as exc:
                    problems.append(f"nft -j list ruleset: {exc}")
            else:
                problems.append(f"nft -j list ruleset: {res.problem()}")
        except CommandUnavailable as exc:
            problems.append(str(exc))
    if nft is not None and not nft.compat:
        return Firewall("nft -j list ruleset", nft)
    legacy = _iptables(host, problems)
    if nft is not None:
        if legacy is None:
            return Firewall("nft -j list ruleset", nft, ("tables of iptables-nft are judged without iptables-save", *problems))
        return Firewall("nft -j list ruleset + iptables-save", fw.replace_compat(nft, legacy), tuple(problems))
    if legacy is not None:
        return Firewall("iptables-save", legacy, tuple(problems))
    if problems:
        raise PartUnavailable("; ".join(problems))
    raise PartUnavailable("neither nft nor iptables-save can run on this host" if host.runner is NO_COMMANDS
                          else "neither nft nor iptables-save is installed")


def _iptables(host: Host, problems: list[str]) -> fw.Ruleset | None:
    runner = host.runner
    sets = []
    for program, version in (("iptables-save", 4), ("ip6tables-save", 6)):
        if not runner.which(program):
            continue
        try:
            res = runner.run([program], timeout=60)
        except CommandUnavailable as exc:
            problems.append(str(exc))
            continue
        if res.ok:
            sets.append(fw.parse_iptables_save(res.stdout, version))
        else:
            problems.append(f"{program}: {res.problem()}")
    return fw.merge(sets) if sets else None


def judge_listeners(listeners: Sequence[Listener], ruleset: fw.Ruleset | None) -> list[JudgedListener]:
    out = []
    for s in listeners:
        verdict: fw.Verdict
        if s.loopback:
            verdict = "drop"  # not reachable from elsewhere, whatever the firewall says
        elif ruleset is None:
            verdict = "uncertain"
        else:
            verdict = fw.verdict(ruleset, fw.packet(s.version, s.proto, s.port))
        out.append(JudgedListener(s, verdict))
    return out


def read_units(host: Host, patterns: Sequence[str], *, exposure: bool = True) -> tuple[list[Unit], list[str]]:
    units, problems = [], []
    for name, path in find_units(host.files, patterns):
        try:
            units.append(read_unit(host.files, host.runner, name, path, exposure=exposure))
        except HostFileError as exc:
            problems.append(f"{path}: {exc.reason}")
    return units, problems


def read_nixos(host: Host, configuration: str = CONFIGURATION) -> Declared | None:
    """The declared configuration; None when there is none (or no nix to evaluate it)."""
    if not host.files.exists(configuration):
        return None
    if host.runner.which("nix-instantiate") is None:
        raise PartUnavailable(f"{configuration} exists but nix-instantiate is not installed to evaluate it")
    try:
        return evaluate(host.runner, configuration)
    except NixEvalError as exc:
        raise PartUnavailable(f"nix-instantiate cannot evaluate {configuration}: {exc}") from None


def drift(declared: Declared, *, sshd: Sshd | None, firewall: Firewall | None, listeners: Sequence[Listener] | None,
          mac: MacState | None, fail2ban: Fail2ban | None, acme_present: dict[str, bool] | None) -> list[Drift]:
    """Declared against running; `listeners` None: only some could be read, so the admitted TCP
    ports are not compared."""
    admitted = None
    filters = None
    if firewall is not None:
        if listeners is not None:
            ports = sorted({*declared.tcp_ports(), *(s.port for s in listeners if s.proto == "tcp" and not s.loopback)})
            admitted = {p: fw.verdict(firewall.ruleset, fw.packet(4, "tcp", p)) for p in ports}
        filters = fw.filters_input(firewall.ruleset, 4)
    return compare(
        declared,
        sshd=sshd.effective if sshd is not None and sshd.installed and sshd.effective else None,
        firewall_filters=filters,
        admitted_tcp=admitted,
        apparmor_enabled=None if mac is None or mac.apparmor_enabled is None else mac.apparmor_enabled,
        apparmor_profiles=None if mac is None or mac.apparmor_profiles is None else [p.name for p in mac.apparmor_profiles],
        fail2ban_jails=None if fail2ban is None or not fail2ban.configured else [j.name for j in fail2ban.jails if j.enabled],
        fail2ban_present=None if fail2ban is None else fail2ban.configured,
        acme_present=acme_present,
    )


def acme_certificates(host: Host, names: Sequence[str]) -> dict[str, bool]:
    return {n: host.files.exists(f"/var/lib/acme/{n}/cert.pem") or host.files.exists(f"/var/lib/acme/{n}/fullchain.pem")
            for n in names}
