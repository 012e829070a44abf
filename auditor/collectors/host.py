"""The host: SSH, firewall and listening ports, mandatory access control, OS and services, the
declared NixOS configuration and its drift (auditor.host does the reading and judging).

Files are read under the target's root; commands (sshd -T, nft, iptables-save,
systemd-analyze, fail2ban-client, nix-instantiate) run on this machine only when the root is
`/` (`commands: auto`), never for a recorded tree, unless a recording of their answers is
given (`recorded_commands`). Each part is read on its own: a part that cannot be read becomes
an error record of its kind, and the others are still collected.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

from auditor.collectors._files import FileTooLarge, read_bounded
from auditor.collectors.interface import Collector
from auditor.host import facts
from auditor.host import firewall as fw
from auditor.host.accounts import Account, read_accounts
from auditor.host.authkeys import AuthorizedKey, KeysFile
from auditor.host.fail2ban import read_fail2ban
from auditor.host.mac import MacState, read_mac
from auditor.host.nixos import CONFIGURATION, Declared, Drift
from auditor.host.osrelease import read_os
from auditor.host.sockets import Listener, read_listeners
from auditor.host.sshd import DEFAULTS, GLOBAL_ONLY, MODELLED, SSHD_CONFIG
from auditor.host.system import (
    NO_COMMANDS,
    CommandRunner,
    Host,
    HostFileError,
    HostFiles,
    LocalRunner,
    RecordedRunner,
)
from auditor.host.units import Unit
from auditor.host.volumes import read_volumes
from auditor.models import EvidenceRecord

SSHD, KEY, FIREWALL, LISTENER = "host.sshd", "host.authorized-key", "host.firewall", "host.listener"
MAC, OS, FAIL2BAN, UNIT = "host.mac", "host.os", "host.fail2ban", "host.unit"
ACCOUNT, VOLUME, NIXOS, DRIFT = "host.account", "host.volume", "host.nixos", "host.nixos-drift"
PARTS = ("sshd", "firewall", "mac", "os", "fail2ban", "units", "accounts", "volumes", "nixos")
DEFAULT_UNITS = ["nats*.service", "cim*.service"]
DEFAULT_ACCOUNTS = ["nats", "cim-*"]
DEFAULT_DATA = ["/var/lib/nats", "/var/lib/cim"]
UNLISTED_PORT = 1
"""A port no service declares (tcpmux): what the firewall does with it is its default."""
MATCHABLE = tuple(k for k in MODELLED if k not in GLOBAL_ONLY)


def _list(value: str | list[str] | None) -> list[str]:
    """An algorithm list as sshd -T prints it (comma-separated) as a list."""
    return [v for v in value.split(",") if v] if isinstance(value, str) else []


def sshd_data(sshd: facts.Sshd) -> dict[str, Any]:
    eff = sshd.effective
    effective = {k: eff.get(k) for k in MODELLED}
    for k in MODELLED:
        default = DEFAULTS[k]
        if isinstance(default, list) and not isinstance(effective[k], list):
            effective[k] = [] if effective[k] is None else [str(effective[k])]
    methods = eff.get("authenticationmethods")
    lists = [] if methods in (None, "any") or not isinstance(methods, str) else [m.split(",") for m in methods.split()]
    config = sshd.config
    blocks = []
    if config is not None:
        for block, settings in config.block_settings():
            blocks.append({"criteria": block.describe(), "file": block.file, "line": block.line,
                           "settings": {k: settings.get(k) for k in MATCHABLE}})
    return {
        "installed": sshd.installed,
        "source": sshd.source,
        "config_files": list(config.files) if config else [],
        "valid": config.valid if config else None,
        "errors": list(config.errors) if config else [],
        "notes": list(config.notes) if config else [],
        "effective": effective,
        "algorithms": {name: _list(eff.get(key)) for name, key in (
            ("ciphers", "ciphers"), ("macs", "macs"), ("kex", "kexalgorithms"), ("host_keys", "hostkeyalgorithms"),
            ("user_keys", "pubkeyacceptedalgorithms"))},
        "authentication_methods": lists,
        "match_blocks": blocks,
        "problems": list(sshd.problems),
    }


def key_data(key: AuthorizedKey, account: Account, service: bool, shown: str) -> dict[str, Any]:
    names = key.option_names()
    return {
        "account": key.account, "account_uid": account.uid, "service_account": service, "file": shown,
        "line": key.line, "type": key.type, "algorithm": key.algorithm, "bits": key.bits,
        "fingerprint": key.fingerprint, "comment": key.comment, "certificate": key.certificate,
        "options": names, "from": key.from_patterns, "forced_command": "command" in names,
        "restricted": "restrict" in names or "no-port-forwarding" in names, "problem": key.problem,
    }


def firewall_data(fwf: facts.Firewall) -> dict[str, Any]:
    rs = fwf.ruleset
    base = []
    for version in (4, 6):
        for c in rs.base_chains(version):
            entry = {"family": c.family, "table": c.table, "chain": c.name, "hook": c.hook, "priority": c.priority,
                     "policy": c.policy, "rules": len(c.rules)}
            if entry not in base:
                base.append(entry)
    defaults = {f"ipv{v}": fw.verdict(rs, fw.packet(v, "tcp", UNLISTED_PORT)) for v in (4, 6)}
    return {
        "source": fwf.source, "backend": rs.backend,
        "tables": sorted({f"{c.family} {c.table}" for c in rs.chains}),
        "input_chains": base,
        "filters": {"ipv4": fw.filters_input(rs, 4), "ipv6": fw.filters_input(rs, 6)},
        "default_verdict": defaults,
        "compat_tables": [f"{f} {t}" for f, t in rs.compat],
        "problems": list(fwf.problems),
    }


def listener_data(judged: facts.JudgedListener, source: str | None) -> dict[str, Any]:
    s: Listener = judged.listener
    return {"proto": s.proto, "ip_version": s.version, "address": s.address, "port": s.port,
            "service": f"{s.proto}/{s.port}", "exposed": not s.loopback, "wildcard": s.wildcard,
            "program": s.program, "uid": s.uid, "firewall": judged.verdict, "firewall_source": source}


def mac_data(mac: MacState) -> dict[str, Any]:
    profiles = [{"name": p.name, "mode": p.mode} for p in mac.apparmor_profiles or ()]
    return {
        "apparmor": {"enabled": mac.apparmor_enabled, "profiles_readable": mac.apparmor_profiles is not None,
                     "profiles": profiles, "enforce": sum(p["mode"] == "enforce" for p in profiles),
                     "complain": sum(p["mode"] == "complain" for p in profiles)},
        "selinux": {"mode": mac.selinux_mode, "configured": mac.selinux_configured},
        "enforcing": mac.enforcing,
        "problems": list(mac.problems),
    }


def unit_data(unit: Unit) -> dict[str, Any]:
    return {"name": unit.name, "path": unit.path, "dropins": list(unit.dropins), "program": unit.program,
            "user": unit.user, "dynamic_user": unit.dynamic_user, "enabled": unit.enabled,
            "options": dict(sorted(unit.options.items())), "hardening": unit.hardening(),
            "exposure": unit.exposure, "exposure_problem": unit.exposure_problem}


def nixos_data(declared: Declared) -> dict[str, Any]:
    v = declared.value
    return {
        "configuration": declared.configuration, "mode": declared.mode,
        "missing_imports": list(declared.missing_imports), "problems": list(declared.problems),
        "declared": {k: declared.sections.get(k) for k in ("openssh", "firewall", "apparmor", "fail2ban", "acme", "system")},
        "effective": {
            "openssh_enable": bool(v("openssh", "enable")),
            "password_authentication": bool(v("openssh", "PasswordAuthentication")),
            "kbd_interactive_authentication": bool(v("openssh", "KbdInteractiveAuthentication")),
            "permit_root_login": str(v("openssh", "PermitRootLogin")),
            "firewall_enable": bool(v("firewall", "enable")),
            "firewall_tcp_ports": declared.tcp_ports(),
            "apparmor_enable": bool(v("apparmor", "enable")),
            "fail2ban_enable": bool(v("fail2ban", "enable")),
        },
    }


def drift_data(d: Drift, configuration: str) -> dict[str, Any]:
    return {"option": d.option, "configuration": configuration, "declared": d.declared, "running": d.running,
            "in_sync": d.in_sync, "detail": d.detail}


class HostCollector(Collector):
    name = "host"
    files: HostFiles
    kinds = (OS, SSHD, KEY, FIREWALL, LISTENER, MAC, FAIL2BAN, UNIT, ACCOUNT, VOLUME, NIXOS, DRIFT)

    def _runner(self, files: HostFiles) -> CommandRunner | EvidenceRecord:
        ctx = self.context
        opts = ctx.source.options
        if "recorded_commands" in opts:
            path = ctx.path(str(opts["recorded_commands"]))
            try:
                if not path.is_file():
                    return ctx.error(OS, ctx.display(path), "no such recording of commands (a regular file)")
                return RecordedRunner.load(read_bounded(path).decode("utf-8"))
            except (OSError, FileTooLarge, UnicodeDecodeError, ValueError) as exc:
                return ctx.error(OS, ctx.display(path), f"unreadable recording of commands: {exc}")
        mode = str(opts.get("commands", "auto"))
        if mode == "local" or (mode == "auto" and files.root == Path("/")):
            return LocalRunner()
        return NO_COMMANDS

    def shown(self, path: str) -> str:
        """A host path as findings name it (relative to the target's root, like other sources)."""
        return self.context.display(self.files.root / path.lstrip("/"))

    def collect(self) -> Iterator[EvidenceRecord]:
        ctx = self.context
        opts = ctx.source.options
        files = self.files = HostFiles(ctx.root)
        runner = self._runner(files)
        if isinstance(runner, EvidenceRecord):
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
                yield ctx.record(UNIT, unit.name, unit_data(unit))
        service_names = self._service_accounts(accounts, units, list(opts.get("service_accounts", DEFAULT_ACCOUNTS)))
        if "os" in parts:
            yield from self._os(files)
        sshd = None
        if "sshd" in parts:
            sshd = facts.read_sshd(host)
            yield ctx.record(SSHD, self.shown(SSHD_CONFIG), sshd_data(sshd))
            if sshd.installed:
                yield from self._keys(host, sshd, accounts, service_names)
        if "accounts" in parts:
            for a in accounts:
                yield ctx.record(ACCOUNT, f"account {a.name}", {
                    "name": a.name, "uid": a.uid, "gid": a.gid, "home": a.home, "shell": a.shell, "system": a.system,
                    "login_shell": a.login_shell, "password": a.password, "groups": list(a.groups),
                    "service_account": a.name in service_names})
        firewall: facts.Firewall | None = None
        listeners: list[Listener] = []
        if "firewall" in parts:
            firewall, listeners = yield from self._firewall(host)
        mac = None
        if "mac" in parts:
            mac = read_mac(files)
            yield ctx.record(MAC, "mandatory access control", mac_data(mac))
        fail2ban = None
        if "fail2ban" in parts:
            fail2ban = read_fail2ban(files, runner)
            yield ctx.record(FAIL2BAN, "fail2ban", {
                "configured": fail2ban.configured, "service_enabled": fail2ban.service_enabled,
                "running_jails": list(fail2ban.running_jails) if fail2ban.running_jails is not None else None,
                "jails": [{"name": j.name, "enabled": j.enabled, "filter": j.filter, "filter_present": j.filter_present,
                           "maxretry": j.maxretry, "port": j.port, "bantime": j.bantime, "findtime": j.findtime}
                          for j in fail2ban.jails],
                "files": [self.shown(f) for f in fail2ban.files], "problems": list(fail2ban.problems)})
        if "volumes" in parts:
            volumes, unreadable = read_volumes(files, list(opts.get("data_paths", DEFAULT_DATA)))
            if unreadable:
                yield ctx.error(VOLUME, "mounts", f"cannot tell which devices hold the data folders: {unreadable}")
            else:
                for v in volumes:
                    yield ctx.record(VOLUME, self.shown(v.path), {"path": v.path, "exists": v.exists, "mount_point": v.mount_point,
                                                      "source": v.source, "fstype": v.fstype, "encrypted": v.encrypted,
                                                      "how": v.how})
        if "nixos" in parts:
            yield from self._nixos(host, str(opts.get("nixos_configuration", CONFIGURATION)), sshd, firewall,
                                   listeners, mac, fail2ban)

    def _service_accounts(self, accounts: Sequence[Account], units: Sequence[Unit], patterns: Sequence[str]) -> set[str]:
        names = {u.options.get("User", "") for u in units} - {"", "root", "0"}
        names |= {a.name for a in accounts if any(fnmatch.fnmatchcase(a.name, p) for p in patterns)}
        return names

    def _os(self, files: HostFiles) -> Iterator[EvidenceRecord]:
        ctx = self.context
        osr = read_os(files)
        if osr is None:
            yield ctx.error(OS, self.shown("/etc/os-release"), "no /etc/os-release (nor /usr/lib/os-release)")
            return
        yield ctx.record(OS, self.shown("/etc/os-release"), {
            "id": osr.id, "name": osr.name, "version_id": osr.version_id, "release": osr.release,
            "pretty_name": osr.pretty_name, "build_id": osr.build_id, "nixos": osr.nixos, "kernel": osr.kernel})

    def _keys(self, host: Host, sshd: facts.Sshd, accounts: Sequence[Account], service: set[str]) -> Iterator[EvidenceRecord]:
        ctx = self.context
        by_name = {a.name: a for a in accounts}
        kfiles: list[KeysFile] = facts.read_authorized_keys(host, sshd, accounts)
        for kf in kfiles:
            shown = self.shown(kf.path)
            if kf.problem is not None:
                yield ctx.error(KEY, shown, f"cannot read the authorized keys of {kf.account}: {kf.problem}")
                continue
            for key in kf.keys:
                resource = f"{shown}#{key.fingerprint or f'line {key.line}'}"
                yield ctx.record(KEY, resource, key_data(key, by_name[kf.account], kf.account in service, shown))

    def _firewall(self, host: Host) -> Generator[EvidenceRecord, None, tuple[facts.Firewall | None, list[Listener]]]:
        """Yields the firewall and listener records; returns the firewall and the listeners."""
        ctx = self.context
        firewall = None
        try:
            firewall = facts.read_firewall(host)
            yield ctx.record(FIREWALL, "firewall", firewall_data(firewall))
        except facts.PartUnavailable as exc:
            yield ctx.error(FIREWALL, "firewall", f"cannot read the active ruleset: {exc}")
        listeners, missing = read_listeners(host.files, live=host.live)
        if missing and not listeners:
            yield ctx.error(LISTENER, "/proc/net", f"cannot read the listening sockets: {'; '.join(missing)}")
        judged = facts.judge_listeners(listeners, firewall.ruleset if firewall else None)
        for j in judged:
            yield ctx.record(LISTENER, j.listener.name(), listener_data(j, firewall.source if firewall else None))
        return firewall, listeners

    def _nixos(self, host: Host, configuration: str, sshd: facts.Sshd | None, firewall: facts.Firewall | None,
               listeners: Sequence[Listener], mac: MacState | None, fail2ban: Any) -> Iterator[EvidenceRecord]:
        ctx = self.context
        shown = self.shown(configuration)
        try:
            declared = facts.read_nixos(host, configuration)
        except facts.PartUnavailable as exc:
            yield ctx.error(NIXOS, shown, str(exc))
            return
        if declared is None:
            return
        yield ctx.record(NIXOS, shown, nixos_data(declared))
        certs = declared.names("acme", "certs")
        for d in facts.drift(declared, sshd=sshd, firewall=firewall, listeners=listeners, mac=mac, fail2ban=fail2ban,
                             acme_present=facts.acme_certificates(host, certs)):
            yield ctx.record(DRIFT, f"{shown} {d.option}", drift_data(d, shown))
