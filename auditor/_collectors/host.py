"""The host: SSH, firewall and listening ports, mandatory access control, OS and services, the
declared NixOS configuration and its drift (auditor._host does the reading and judging).

Files are read under the target's root; commands (sshd -T, nft, iptables-save,
systemd-analyze, fail2ban-client, nix-instantiate) run on the target's machine only when the
root is `/` (`commands: auto`), never for a recorded tree, unless a recording of their answers
is given (`recorded_commands`). The target's machine is this one, or for a target with `ssh`
the one the connection reaches (CollectContext.remote: its files over SFTP and its commands
over SSH, auditor._remote.sshhost); both are read through the same seam, a
:class:`~auditor._host.system.Host`. Each part is read on its own: a part that cannot be read
becomes a failure of its kind, and the others are still collected. This module is the only adapter
between auditor._host's results and the evidence types (auditor.evidence.kinds.host).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from auditor._collectors._files import Unreadable, read_bounded
from auditor._collectors._untrusted import UnexpectedValue, text_or_none, texts
from auditor._collectors.interface import Collector
from auditor._host import facts
from auditor._host import firewall as fw
from auditor._host.accounts import Account, read_accounts
from auditor._host.authkeys import AuthorizedKey, KeysFile
from auditor._host.fail2ban import Fail2ban, read_fail2ban
from auditor._host.mac import MacState, read_mac
from auditor._host.nixos import CONFIGURATION, PORTS_OPTION, SECTIONS, Declared, Drift
from auditor._host.nixos import Value as DriftValue
from auditor._host.osrelease import OsRelease, read_os
from auditor._host.sockets import Listener, read_listeners
from auditor._host.sshd import DEFAULTS, GLOBAL_ONLY, MODELLED, SSHD_CONFIG
from auditor._host.system import (
    NO_COMMANDS,
    CommandRunner,
    Host,
    HostFileError,
    HostFiles,
    LocalRunner,
    RecordedRunner,
)
from auditor._host.units import Unit
from auditor._host.volumes import Volume, read_volumes
from auditor.evidence.kinds import host as ev
from auditor.evidence.record import Failure, Record

SSHD, KEY, FIREWALL, LISTENER = ev.HostSshd.KIND, ev.HostAuthorizedKey.KIND, ev.HostFirewall.KIND, ev.HostListener.KIND
MAC, OS, FAIL2BAN, UNIT = ev.HostMac.KIND, ev.HostOs.KIND, ev.HostFail2ban.KIND, ev.HostUnit.KIND
ACCOUNT, VOLUME, NIXOS, DRIFT = ev.HostAccount.KIND, ev.HostVolume.KIND, ev.HostNixos.KIND, ev.HostNixosDrift.KIND
PARTS = ("sshd", "firewall", "mac", "os", "fail2ban", "units", "accounts", "volumes", "nixos")
DEFAULT_UNITS = ["nats*.service", "cim*.service"]
DEFAULT_ACCOUNTS = ["nats", "cim-*"]
DEFAULT_DATA = ["/var/lib/nats", "/var/lib/cim"]
UNLISTED_PORT = 1
"""A port no service declares (tcpmux): what the firewall does with it is its default."""
MATCHABLE = tuple(k for k in MODELLED if k not in GLOBAL_ONLY)
"""The modelled settings a Match block may set: the fields of ev.SshdMatchSettings (MODELLED
are those of ev.SshdSettings; the tests hold the types to the model)."""


def _split(value: str | list[str] | None) -> tuple[str, ...]:
    """An algorithm list as sshd -T prints it (comma-separated), split."""
    return tuple(v for v in value.split(",") if v) if isinstance(value, str) else ()


def _settings(values: Mapping[str, object], keys: Sequence[str], where: str, *, unset_list: object) -> dict[str, Any]:
    """The settings `keys` of the model's map (keyed by sshd's keywords, the names of the settings
    types' fields), each checked against its type: text, or for a list setting a tuple of text
    (`unset_list` when absent). A value of the wrong type raises UnexpectedValue."""
    out: dict[str, Any] = {}
    for k in keys:
        value = values.get(k)
        if not isinstance(DEFAULTS[k], list):
            out[k] = text_or_none(value, f"{where}.{k}")
        elif value is None:
            out[k] = unset_list
        else:
            out[k] = texts(value if isinstance(value, list) else [value], f"{where}.{k}")
    return out


def sshd_facts(sshd: facts.Sshd) -> ev.HostSshd:
    """The settings come from the model as a map keyed by sshd's keywords, the names of the
    settings types' fields: each is checked against its type (:func:`_settings`)."""
    eff = sshd.effective
    effective = ev.SshdSettings(**_settings(eff, MODELLED, "effective", unset_list=()))
    methods = eff.get("authenticationmethods")
    lists = () if methods in (None, "any") or not isinstance(methods, str) else tuple(
        tuple(m.split(",")) for m in methods.split())
    config = sshd.config
    blocks: list[ev.SshdMatchBlock] = []
    if config is not None:
        for block, settings in config.block_settings():
            blocks.append(ev.SshdMatchBlock(
                criteria=block.describe(), file=block.file, line=block.line,
                settings=ev.SshdMatchSettings(**_settings(settings, MATCHABLE, f"match_blocks[{len(blocks)}].settings",
                                                          unset_list=None))))
    return ev.HostSshd(
        installed=sshd.installed,
        source=sshd.source,
        config_files=config.files if config else (),
        valid=config.valid if config else None,
        errors=config.errors if config else (),
        unread=sshd.unread,
        notes=config.notes if config else (),
        effective=effective,
        algorithms=ev.SshdAlgorithms(
            ciphers=_split(eff.get("ciphers")), macs=_split(eff.get("macs")), kex=_split(eff.get("kexalgorithms")),
            host_keys=_split(eff.get("hostkeyalgorithms")), user_keys=_split(eff.get("pubkeyacceptedalgorithms"))),
        authentication_methods=lists,
        match_blocks=tuple(blocks),
        problems=sshd.problems,
    )


def key_facts(key: AuthorizedKey, account: Account, service: bool, shown: str) -> ev.HostAuthorizedKey:
    names = key.option_names()
    return ev.HostAuthorizedKey(
        account=key.account, account_uid=account.uid, service_account=service, file=shown, line=key.line,
        type=key.type, algorithm=key.algorithm, bits=key.bits, fingerprint=key.fingerprint, comment=key.comment,
        certificate=key.certificate, options=tuple(names), from_=tuple(key.from_patterns),
        from_anywhere=key.from_anywhere, expires_at=key.expires_at,
        forced_command="command" in names, restricted="restrict" in names or "no-port-forwarding" in names,
        problem=key.problem)


def account_facts(a: Account, service: bool) -> ev.HostAccount:
    return ev.HostAccount(name=a.name, uid=a.uid, gid=a.gid, home=a.home, shell=a.shell, system=a.system,
                          login_shell=a.login_shell, password=a.password, groups=a.groups, service_account=service)


def firewall_facts(fwf: facts.Firewall) -> ev.HostFirewall:
    rs = fwf.ruleset
    chains: list[ev.InputChain] = []
    for version in (4, 6):
        for c in rs.base_chains(version):
            chain = ev.InputChain(family=c.family, table=c.table, chain=c.name, hook=c.hook, priority=c.priority,
                                  policy=c.policy, rules=len(c.rules))
            if chain not in chains:
                chains.append(chain)
    return ev.HostFirewall(
        source=fwf.source,
        backend=rs.backend,
        tables=tuple(sorted({f"{c.family} {c.table}" for c in rs.chains})),
        input_chains=tuple(chains),
        filters=ev.IpVersions(ipv4=fw.filters_input(rs, 4), ipv6=fw.filters_input(rs, 6)),
        default_verdict=ev.DefaultVerdicts(ipv4=fw.verdict(rs, fw.packet(4, "tcp", UNLISTED_PORT)),
                                           ipv6=fw.verdict(rs, fw.packet(6, "tcp", UNLISTED_PORT))),
        compat_tables=tuple(f"{f} {t}" for f, t in rs.compat),
        problems=fwf.problems,
    )


def listener_facts(judged: facts.JudgedListener, source: str | None) -> ev.HostListener:
    s = judged.listener
    return ev.HostListener(proto=s.proto, ip_version=s.version, address=s.address, port=s.port,
                           service=f"{s.proto}/{s.port}", exposed=not s.loopback, wildcard=s.wildcard,
                           program=s.program, uid=s.uid, firewall=judged.verdict, firewall_source=source)


def mac_facts(mac: MacState) -> ev.HostMac:
    profiles = tuple(ev.AppArmorProfile(name=p.name, mode=p.mode) for p in mac.apparmor_profiles or ())
    return ev.HostMac(
        apparmor=ev.AppArmor(enabled=mac.apparmor_enabled, profiles_readable=mac.apparmor_profiles is not None,
                             profiles=profiles, enforce=sum(p.mode == "enforce" for p in profiles),
                             complain=sum(p.mode == "complain" for p in profiles)),
        selinux=ev.SELinux(mode=mac.selinux_mode, configured=mac.selinux_configured),
        enforcing=mac.enforcing,
        problems=mac.problems,
    )


def os_facts(osr: OsRelease) -> ev.HostOs:
    return ev.HostOs(id=osr.id, name=osr.name, version_id=osr.version_id, release=osr.release,
                     pretty_name=osr.pretty_name, build_id=osr.build_id, nixos=osr.nixos, kernel=osr.kernel)


def fail2ban_facts(f2b: Fail2ban, files: Sequence[str]) -> ev.HostFail2ban:
    return ev.HostFail2ban(
        configured=f2b.configured, service_enabled=f2b.service_enabled, running_jails=f2b.running_jails,
        jails=tuple(ev.Fail2banJail(name=j.name, enabled=j.enabled, filter=j.filter, filter_present=j.filter_present,
                                    missing_actions=j.missing_actions, maxretry=j.maxretry, port=j.port,
                                    bantime=j.bantime, findtime=j.findtime)
                    for j in f2b.jails),
        files=tuple(files), refused=f2b.refused, problems=f2b.problems)


def unit_facts(unit: Unit) -> ev.HostUnit:
    return ev.HostUnit(name=unit.name, path=unit.path, dropins=unit.dropins, program=unit.program, user=unit.user,
                       dynamic_user=unit.dynamic_user, enabled=unit.enabled, options=dict(sorted(unit.options.items())),
                       hardening=unit.hardening(), exposure=unit.exposure, exposure_problem=unit.exposure_problem)


def volume_facts(v: Volume) -> ev.HostVolume:
    return ev.HostVolume(path=v.path, exists=v.exists, mount_point=v.mount_point, source=v.source, fstype=v.fstype,
                         encrypted=v.encrypted, how=v.how)


def nixos_facts(declared: Declared) -> ev.HostNixos:
    v = declared.value
    return ev.HostNixos(
        configuration=declared.configuration, mode=declared.mode, missing_imports=declared.missing_imports,
        problems=declared.problems,
        declared=ev.NixosDeclared(**{k: _section(declared, k) for k in SECTIONS}),
        effective=ev.NixosEffective(
            openssh_enable=bool(v("openssh", "enable")),
            password_authentication=bool(v("openssh", "PasswordAuthentication")),
            kbd_interactive_authentication=bool(v("openssh", "KbdInteractiveAuthentication")),
            permit_root_login=str(v("openssh", "PermitRootLogin")),
            firewall_enable=bool(v("firewall", "enable")),
            firewall_tcp_ports=tuple(declared.tcp_ports()),
            apparmor_enable=bool(v("apparmor", "enable")),
            fail2ban_enable=bool(v("fail2ban", "enable")),
        ),
    )


def _section(declared: Declared, name: str) -> dict[str, object] | None:
    section = declared.sections.get(name)
    return None if section is None else dict(section)


def _drift_value(value: DriftValue) -> str | bool | tuple[str | int, ...]:
    return tuple(value) if isinstance(value, list) else value


def drift_facts(d: Drift, configuration: str) -> ev.HostNixosDrift:
    return ev.HostNixosDrift(option=d.option, configuration=configuration, declared=_drift_value(d.declared),
                             running=_drift_value(d.running), in_sync=d.in_sync, detail=d.detail)


class HostCollector(Collector):
    name = "host"
    reads_host = True
    files: HostFiles
    kinds = (OS, SSHD, KEY, FIREWALL, LISTENER, MAC, FAIL2BAN, UNIT, ACCOUNT, VOLUME, NIXOS, DRIFT)

    def _machine(self) -> Host:
        """The target's machine: this one, its files under the target's root, or the one
        CollectContext.remote reaches over SSH (the same seam: files and a command runner)."""
        ctx = self.context
        return ctx.remote if ctx.remote is not None else Host(HostFiles(ctx.root), LocalRunner())

    def _runner(self, machine: Host) -> CommandRunner | Failure:
        ctx = self.context
        opts = ctx.source.options
        if "recorded_commands" in opts and ctx.remote is not None:
            return ctx.error(OS, ctx.source.name, "recorded_commands is for a tree read here; over SSH the commands "
                                                  "run on the target's machine")
        if "recorded_commands" in opts:
            path = ctx.path(str(opts["recorded_commands"]))
            try:
                if not path.is_file():
                    return ctx.error(OS, ctx.display(path), "no such recording of commands (a regular file)")
                return RecordedRunner.load(read_bounded(path).decode("utf-8"))
            except (OSError, Unreadable, UnicodeDecodeError, ValueError) as exc:
                return ctx.error(OS, ctx.display(path), f"unreadable recording of commands: {exc}")
        mode = str(opts.get("commands", "auto"))
        if mode == "local" or (mode == "auto" and machine.files.root == Path("/")):
            return machine.runner
        return NO_COMMANDS

    def shown(self, path: str) -> str:
        """A host path as findings name it (relative to the target's root, like other sources)."""
        return self.context.display(self.files.root / path.lstrip("/"))

    def collect(self) -> Iterator[Record]:
        ctx = self.context
        opts = ctx.source.options
        machine = self._machine()
        files = self.files = machine.files
        runner = self._runner(machine)
        if isinstance(runner, Failure):
            yield runner
            return
        host = Host(files, runner)
        parts = set(opts.get("parts", PARTS))

        accounts: list[Account] = []
        try:
            accounts = read_accounts(files)
        except HostFileError as exc:
            if "accounts" in parts or "sshd" in parts:
                yield ctx.error(ACCOUNT, self.shown("/etc/passwd"), f"cannot read /etc/passwd: {exc.reason}")
        units: list[Unit] = []
        if "units" in parts:
            found, problems = facts.read_units(host, list(opts.get("service_units", DEFAULT_UNITS)),
                                               exposure=bool(opts.get("exposure", True)))
            units = found
            for problem in problems:
                path, _, why = problem.partition(": ")
                yield ctx.error(UNIT, self.shown(path), f"cannot read the unit: {why}")
            for unit in units:
                yield ctx.record(unit.name, unit_facts(unit))
        service_names = self._service_accounts(accounts, units, list(opts.get("service_accounts", DEFAULT_ACCOUNTS)))
        if "os" in parts:
            yield from self._os(files)
        sshd = None
        if "sshd" in parts:
            sshd = facts.read_sshd(host)
            try:
                yield ctx.record(self.shown(SSHD_CONFIG), sshd_facts(sshd))
            except UnexpectedValue as exc:
                yield ctx.error(SSHD, self.shown(SSHD_CONFIG), str(exc))
            if sshd.installed:
                yield from self._keys(host, sshd, accounts, service_names)
        if "accounts" in parts:
            for a in accounts:
                yield ctx.record(f"account {a.name}", account_facts(a, a.name in service_names))
        firewall: facts.Firewall | None = None
        listeners: list[Listener] | None = []
        if "firewall" in parts:
            firewall, listeners = yield from self._firewall(host)
        mac = None
        if "mac" in parts:
            mac = read_mac(files)
            yield ctx.record("mandatory access control", mac_facts(mac))
        fail2ban = None
        if "fail2ban" in parts:
            fail2ban = read_fail2ban(files, runner)
            yield ctx.record("fail2ban", fail2ban_facts(fail2ban, [self.shown(f) for f in fail2ban.files]))
        if "volumes" in parts:
            volumes, unreadable = read_volumes(files, list(opts.get("data_paths", DEFAULT_DATA)))
            if unreadable:
                yield ctx.error(VOLUME, "mounts", f"cannot tell which devices hold the data folders: {unreadable}")
            else:
                for v in volumes:
                    yield ctx.record(self.shown(v.path), volume_facts(v))
        if "nixos" in parts:
            yield from self._nixos(host, str(opts.get("nixos_configuration", CONFIGURATION)), sshd, firewall,
                                   listeners, mac, fail2ban)

    def _service_accounts(self, accounts: Sequence[Account], units: Sequence[Unit], patterns: Sequence[str]) -> set[str]:
        names = {u.options.get("User", "") for u in units} - {"", "root", "0"}
        names |= {a.name for a in accounts if any(fnmatch.fnmatchcase(a.name, p) for p in patterns)}
        return names

    def _os(self, files: HostFiles) -> Iterator[Record]:
        ctx = self.context
        osr = read_os(files)
        if osr is None:
            yield ctx.error(OS, self.shown("/etc/os-release"), "no /etc/os-release (nor /usr/lib/os-release)")
            return
        yield ctx.record(self.shown("/etc/os-release"), os_facts(osr))

    def _keys(self, host: Host, sshd: facts.Sshd, accounts: Sequence[Account], service: set[str]) -> Iterator[Record]:
        ctx = self.context
        if sshd.unread:  # AuthorizedKeysFile may be set there: which files sshd reads is unknown
            yield ctx.error(KEY, self.shown(SSHD_CONFIG), "cannot tell which authorized keys files sshd reads: "
                            f"its configuration could not be read whole ({'; '.join(sshd.unread)})")
            return
        by_name = {a.name: a for a in accounts}
        kfiles: list[KeysFile] = facts.read_authorized_keys(host, sshd, accounts)
        for kf in kfiles:
            shown = self.shown(kf.path)
            if kf.problem is not None:
                yield ctx.error(KEY, shown, f"cannot read the authorized keys of {kf.account}: {kf.problem}")
                continue
            for key in kf.keys:
                resource = f"{shown}#{key.fingerprint or f'line {key.line}'}"
                yield ctx.record(resource, key_facts(key, by_name[kf.account], kf.account in service, shown))

    def _firewall(self, host: Host) -> Generator[Record, None, tuple[facts.Firewall | None, list[Listener] | None]]:
        """Yields the firewall and listener records; returns the firewall and the listeners (None:
        a table could not be read, or none was there, so they are only some of them, or none of
        what listens). A table that exists and was
        not read is an error beside the sockets read: the rules on listeners are not decided
        (was: judged on the others alone, so a /proc/net/tcp made unreadable hid every IPv4
        listener's failure)."""
        ctx = self.context
        firewall = None
        try:
            firewall = facts.read_firewall(host)
            yield ctx.record("firewall", firewall_facts(firewall))
        except facts.PartUnavailable as exc:
            yield ctx.error(FIREWALL, "firewall", f"cannot read the active ruleset: {exc}")
        listeners, missing, unread = read_listeners(host.files, live=host.live)
        whole = not unread and not (missing and not listeners)
        if not whole:
            yield ctx.error(LISTENER, "/proc/net", f"cannot read the listening sockets: {'; '.join(unread or missing)}")
        judged = facts.judge_listeners(listeners, firewall.ruleset if firewall else None)
        for j in judged:
            yield ctx.record(j.listener.name(), listener_facts(j, firewall.source if firewall else None))
        return firewall, listeners if whole else None

    def _nixos(self, host: Host, configuration: str, sshd: facts.Sshd | None, firewall: facts.Firewall | None,
               listeners: Sequence[Listener] | None, mac: MacState | None, fail2ban: Fail2ban | None) -> Iterator[Record]:
        """The declared configuration and its drift from the running system; with `listeners`
        None (only some could be read), the admitted TCP ports are not compared: an error."""
        ctx = self.context
        shown = self.shown(configuration)
        try:
            declared = facts.read_nixos(host, configuration)
        except facts.PartUnavailable as exc:
            yield ctx.error(NIXOS, shown, str(exc))
            return
        if declared is None:
            return
        yield ctx.record(shown, nixos_facts(declared))
        certs = declared.names("acme", "certs")
        for d in facts.drift(declared, sshd=sshd, firewall=firewall, listeners=listeners, mac=mac, fail2ban=fail2ban,
                             acme_present=facts.acme_certificates(host, certs)):
            yield ctx.record(f"{shown} {d.option}", drift_facts(d, shown))
        if listeners is None and firewall is not None and declared.value("firewall", "enable"):
            yield ctx.error(DRIFT, f"{shown} {PORTS_OPTION}",
                            "not compared: the listening sockets could not all be read (see /proc/net)")
