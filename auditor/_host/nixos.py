"""The declared NixOS configuration (evaluated by the host's own nix-instantiate) and its drift
from the running system.

`data/nixos-options.nix` is handed to `nix-instantiate --eval --strict --json` as an expression
(so a remote host needs nothing of auditor's); it evaluates services.openssh, networking.firewall,
security.apparmor, services.fail2ban and security.acme of /etc/nixos/configuration.nix, with the
real NixOS module system when <nixpkgs> is on the host's NIX_PATH, else with a small module
system that reads only what the files declare (the NixOS defaults below fill the gaps).

Drift compares what is declared with what runs: sshd's effective settings, what the firewall
admits, AppArmor, fail2ban's jails, ACME certificates on disk. A setting that differs means the
running system is not the one the configuration describes (a manual change, a failed
`nixos-rebuild switch`, or a configuration that was never deployed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

from auditor._host.system import CommandRunner, CommandUnavailable

CONFIGURATION = "/etc/nixos/configuration.nix"
SECTIONS = ("openssh", "firewall", "apparmor", "fail2ban", "acme", "system")
NIXOS_DEFAULTS: dict[tuple[str, str], Any] = {
    ("openssh", "enable"): False,
    ("openssh", "openFirewall"): True,
    ("openssh", "ports"): [22],
    ("openssh", "PasswordAuthentication"): True,
    ("openssh", "KbdInteractiveAuthentication"): True,
    ("openssh", "PermitRootLogin"): "prohibit-password",
    ("firewall", "enable"): True,
    ("firewall", "nftables"): False,
    ("apparmor", "enable"): False,
    ("fail2ban", "enable"): False,
    ("acme", "acceptTerms"): False,
}
"""NixOS's own defaults (nixos/modules, 24.05) for what the standalone evaluation leaves null."""
LEGACY = {"PasswordAuthentication": "passwordAuthentication", "KbdInteractiveAuthentication": "kbdInteractiveAuthentication",
          "PermitRootLogin": "permitRootLogin"}


def expression() -> str:
    return resources.files("auditor._host").joinpath("data/nixos-options.nix").read_text(encoding="utf-8")


def command(configuration: str = CONFIGURATION, section: str = "all") -> list[str]:
    return ["nix-instantiate", "--eval", "--strict", "--json", "--argstr", "configuration", configuration,
            "--argstr", "section", section, "--expr", expression()]


@dataclass(frozen=True)
class Declared:
    """What the NixOS configuration declares (NixOS defaults applied in standalone mode)."""

    configuration: str
    mode: Literal["nixpkgs", "standalone", "unknown"]
    """nixpkgs (the real module system) or standalone (declared values, NixOS defaults added)."""
    sections: Mapping[str, Mapping[str, Any]]
    missing_imports: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    def value(self, section: str, key: str) -> Any:
        got = (self.sections.get(section) or {}).get(key)
        if got is None and section == "openssh" and key in LEGACY:
            got = (self.sections.get(section) or {}).get(LEGACY[key])
        if got is None:
            got = NIXOS_DEFAULTS.get((section, key))
        return got

    def names(self, section: str, key: str) -> list[str]:
        """A declared list of names (AppArmor policies, fail2ban jails, ACME certificates)."""
        return [n for n in _items((self.sections.get(section) or {}).get(key)) if isinstance(n, str)]

    def tcp_ports(self) -> list[int]:
        """TCP ports the declared firewall opens on every interface (openssh's own included)."""
        fw = self.sections.get("firewall") or {}
        ports = [p for p in _items(fw.get("allowedTCPPorts")) if isinstance(p, int) and not isinstance(p, bool)]
        for r in _items(fw.get("allowedTCPPortRanges")):
            if isinstance(r, Mapping) and all(isinstance(r.get(k), int) and not isinstance(r.get(k), bool) for k in ("from", "to")):
                ports += range(r["from"], min(r["to"], r["from"] + 1024) + 1)
        if self.value("openssh", "enable") and self.value("openssh", "openFirewall"):
            ports += [p for p in _items(self.value("openssh", "ports")) if isinstance(p, int) and not isinstance(p, bool)]
        return sorted(set(ports))


class NixEvalError(Exception):
    pass


def _items(value: Any) -> list[Any]:
    """A list from the evaluation, or [] when it holds something else."""
    return list(value) if isinstance(value, list) else []


def _run(runner: CommandRunner, configuration: str, section: str) -> dict[str, Any]:
    try:
        res = runner.run(command(configuration, section), timeout=300)
    except CommandUnavailable as exc:
        raise NixEvalError(str(exc)) from None
    if not res.ok:
        raise NixEvalError(res.problem())
    try:
        doc = json.loads(res.stdout)
    except json.JSONDecodeError as exc:
        raise NixEvalError(f"nix-instantiate printed no JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise NixEvalError("nix-instantiate printed no JSON object")
    return doc


def evaluate(runner: CommandRunner, configuration: str = CONFIGURATION) -> Declared:
    """Evaluate the configuration on the host; one section at a time if the whole fails.

    Raises NixEvalError when nothing can be evaluated.
    """
    problems: list[str] = []
    try:
        doc = _run(runner, configuration, "all")
    except NixEvalError as exc:
        doc = {}
        first = str(exc)
        for section in SECTIONS:
            try:
                got = _run(runner, configuration, section)
            except NixEvalError as sub:
                problems.append(f"{section}: {sub}")
                continue
            doc.setdefault("mode", got.get("mode"))
            doc.setdefault("missingImports", got.get("missingImports"))
            doc[section] = got.get(section)
        if not any(s in doc for s in SECTIONS):
            raise NixEvalError(first) from None
    sections = {s: doc[s] for s in SECTIONS if isinstance(doc.get(s), dict)}
    missing = tuple(m for m in _items(doc.get("missingImports")) if isinstance(m, str))
    mode: Literal["nixpkgs", "standalone", "unknown"] = (
        "nixpkgs" if doc.get("mode") == "nixpkgs" else "standalone" if doc.get("mode") == "standalone" else "unknown")
    return Declared(configuration, mode, sections, missing, tuple(problems))


PORTS_OPTION = "networking.firewall.allowedTCPPorts"
"""The option whose running side is the TCP ports the firewall admits (declared or listening)."""

Value = str | bool | list[int] | list[str]
"""A setting as compared: yes/no or a mode, a flag, a list of ports or names."""


@dataclass(frozen=True)
class Drift:
    option: str
    declared: Value
    running: Value
    in_sync: bool
    detail: str = ""


def _yes(value: Any) -> str:
    return "yes" if value is True else "no" if value is False else str(value)


def _root_login(value: Any) -> str:
    text = _yes(value)
    return "without-password" if text == "prohibit-password" else text


def compare(declared: Declared, *, sshd: Mapping[str, Any] | None, firewall_filters: bool | None,
            admitted_tcp: Mapping[int, str] | None, apparmor_enabled: bool | None,
            apparmor_profiles: Sequence[str] | None, fail2ban_jails: Sequence[str] | None,
            fail2ban_present: bool | None, acme_present: Mapping[str, bool] | None) -> list[Drift]:
    """Declared against running, for each setting both sides know."""
    out: list[Drift] = []
    if sshd is not None and declared.value("openssh", "enable"):
        for key, norm in (("PasswordAuthentication", _yes), ("KbdInteractiveAuthentication", _yes),
                          ("PermitRootLogin", _root_login)):
            setting = norm(declared.value("openssh", key))
            have = sshd.get(key.lower())
            if have is not None:
                out.append(Drift(f"services.openssh.settings.{key}", setting, have, setting == have))
    if firewall_filters is not None:
        want = bool(declared.value("firewall", "enable"))
        out.append(Drift("networking.firewall.enable", want, firewall_filters, want == firewall_filters,
                         "the running ruleset filters incoming connections" if firewall_filters
                         else "nothing in the running ruleset filters incoming connections"))
    if admitted_tcp is not None and declared.value("firewall", "enable"):
        want_ports = declared.tcp_ports()
        admitted = sorted(p for p, v in admitted_tcp.items() if v == "accept")
        closed = [p for p in want_ports if admitted_tcp.get(p) == "drop"]
        extra = [p for p in admitted if p not in want_ports]
        detail = "; ".join(filter(None, [f"admitted but not declared: {extra}" if extra else "",
                                         f"declared but dropped: {closed}" if closed else ""]))
        out.append(Drift(PORTS_OPTION, want_ports, admitted, not extra and not closed, detail))
    if apparmor_enabled is not None:
        want = bool(declared.value("apparmor", "enable"))
        out.append(Drift("security.apparmor.enable", want, apparmor_enabled, want == apparmor_enabled))
    if apparmor_profiles is not None and declared.value("apparmor", "enable"):
        policies = declared.names("apparmor", "policies")
        absent = [p for p in policies if not any(p == n or n.endswith("/" + p) for n in apparmor_profiles)]
        out.append(Drift("security.apparmor.policies", policies, sorted(set(policies) - set(absent)), not absent,
                         f"declared but not loaded: {absent}" if absent else ""))
    if fail2ban_present is not None:
        want = bool(declared.value("fail2ban", "enable"))
        out.append(Drift("services.fail2ban.enable", want, fail2ban_present, want == fail2ban_present))
    if fail2ban_jails is not None and declared.value("fail2ban", "enable"):
        jails = declared.names("fail2ban", "jails")
        absent = [j for j in jails if j not in fail2ban_jails]
        out.append(Drift("services.fail2ban.jails", jails, sorted(fail2ban_jails), not absent,
                         f"declared but not configured: {absent}" if absent else ""))
    if acme_present is not None:
        certs = declared.names("acme", "certs")
        if certs:
            absent = [c for c in certs if not acme_present.get(c)]
            out.append(Drift("security.acme.certs", certs, [c for c in certs if acme_present.get(c)], not absent,
                             f"declared but no certificate in /var/lib/acme: {absent}" if absent else ""))
    return out
