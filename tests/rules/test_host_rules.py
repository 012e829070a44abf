"""Each host rule: a compliant record passes and a flawed one fails. Samples start from what the
host collector made of the demo node (checked against the kinds' types), changed one field at a time."""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import Any

import pytest

from auditor._demo import demo_root
from auditor._engine import evaluate_rules
from auditor._models import Status
from auditor._policy.catalog import Catalog
from auditor.evidence.record import Evidence, Failure
from tests.collecting import collect_source, evidence
from tests.rules.test_live_and_rotation_rules import NOW, merge, production
from tests.rules.test_yubikey_and_pki_rules import judge as judge_items

TARGET = {"name": "n", "environment": "production", "tags": [], "names": [], "vars": {"host_ports": ["tcp/4222"]}}


@cache
def demo_records() -> dict[tuple[str, str], dict[str, Any]]:
    records = collect_source("host", demo_root() / "cim-prod-001",
                             {"recorded_commands": "var/lib/auditor/recorded/host-commands.json"})
    failures = [r.error for r in records if isinstance(r, Failure)]
    assert not failures, failures
    return {(r.kind, r.resource): r.plain for r in records if isinstance(r, Evidence)}


def sample(kind: str, resource: str, **over: Any) -> dict[str, Any]:
    return merge(demo_records()[(kind, resource)], over)


def judge(rule_id: str, kind: str, data: dict[str, Any]) -> Status:
    return judge_items(rule_id, kind, [data], TARGET)


def sshd(**over: Any) -> dict[str, Any]:
    base = sample("host.sshd", "etc/ssh/sshd_config")
    base["match_blocks"] = []
    base["algorithms"]["user_keys"] = [a for a in base["algorithms"]["user_keys"] if a != "ssh-rsa"]
    return merge(base, over)


def block(**settings: Any) -> dict[str, Any]:
    template = sample("host.sshd", "etc/ssh/sshd_config")["match_blocks"][0]
    return merge(template, {"settings": dict.fromkeys(template["settings"]) | settings})


def key(**over: Any) -> dict[str, Any]:
    return sample("host.authorized-key", "root/.ssh/authorized_keys#SHA256:ZQALFg0V33dPvLc3c9ac+jvoiC6ZMGtpm+io+RVf1E4", **over)


def listener(port: int, **over: Any) -> dict[str, Any]:
    return sample("host.listener", f"tcp/0.0.0.0:{port}", **over)


def unit(**over: Any) -> dict[str, Any]:
    return sample("host.unit", "nats.service", **over)


def account(who: str, **over: Any) -> dict[str, Any]:
    return sample("host.account", f"account {who}", **over)


def mac(**over: Any) -> dict[str, Any]:
    base = sample("host.mac", "mandatory access control")
    base["apparmor"]["profiles"] = [{"name": "nats", "mode": "enforce"}, {"name": "/usr/bin/cim-agent", "mode": "enforce"}]
    return merge(base, over)


def nixos(**over: Any) -> dict[str, Any]:
    return sample("host.nixos", "etc/nixos/configuration.nix", **over)


CASES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("HOST-001", "host.sshd", sshd(), sshd(effective={"passwordauthentication": "yes"})),
    ("HOST-002", "host.sshd", sshd(effective={"kbdinteractiveauthentication": "yes", "usepam": "no"}),
     sshd(effective={"kbdinteractiveauthentication": "yes", "usepam": "yes"})),
    ("HOST-003", "host.sshd", sshd(match_blocks=[block(permitrootlogin="no")]), sshd(match_blocks=[block(passwordauthentication="yes")])),
    ("HOST-004", "host.sshd", sshd(match_blocks=[block(permitrootlogin="no")]), sshd(match_blocks=[block(permitrootlogin="yes")])),
    ("HOST-005", "host.sshd", sshd(), sshd(effective={"permitemptypasswords": "yes"})),
    ("HOST-006", "host.sshd", sshd(authentication_methods=[["publickey", "keyboard-interactive"]]),
     sshd(authentication_methods=[["publickey"], ["password"]])),
    ("HOST-007", "host.sshd", sshd(), sshd(algorithms={"ciphers": ["aes256-ctr", "aes128-cbc"]})),
    ("HOST-008", "host.sshd", sshd(), sshd(algorithms={"macs": ["hmac-sha2-256", "hmac-sha1"]})),
    ("HOST-009", "host.sshd", sshd(), sshd(algorithms={"kex": ["curve25519-sha256", "diffie-hellman-group1-sha1"]})),
    ("HOST-010", "host.sshd", sshd(), sshd(algorithms={"host_keys": ["ssh-ed25519", "ssh-dss"]})),
    ("HOST-011", "host.sshd", sshd(), sshd(valid=False, errors=["/etc/ssh/sshd_config:3: Bad configuration option: Foo"])),
    ("HOST-012", "host.authorized-key", key(algorithm="rsa", type="ssh-rsa", bits=4096), key(algorithm="rsa", type="ssh-rsa", bits=2048)),
    ("HOST-013", "host.authorized-key", key(), key(**{"from": ["*"], "from_anywhere": True})),
    ("HOST-014", "host.authorized-key", key(service_account=True), key(service_account=True)),
    ("HOST-015", "host.firewall", sample("host.firewall", "firewall"),
     sample("host.firewall", "firewall", filters={"ipv4": False, "ipv6": False})),
    ("HOST-016", "host.firewall", sample("host.firewall", "firewall"),
     sample("host.firewall", "firewall", default_verdict={"ipv6": "accept"})),
    ("HOST-017", "host.listener", listener(9100, firewall="drop"), listener(9100, firewall="uncertain")),
    ("HOST-018", "host.listener", listener(6222), listener(6222, firewall="accept")),
    ("HOST-019", "host.mac", mac(), mac(enforcing=False, apparmor={"enabled": False, "enforce": 0})),
    ("HOST-020", "host.mac", mac(), mac(apparmor={"profiles": [{"name": "nats", "mode": "enforce"}]})),
    ("HOST-021", "host.os", sample("host.os", "etc/os-release", release="24.11", version_id="24.11"),
     sample("host.os", "etc/os-release", id="debian", nixos=False, release="12")),
    ("HOST-022", "host.fail2ban", sample("host.fail2ban", "fail2ban"),
     sample("host.fail2ban", "fail2ban", running_jails=["sshd"])),
    ("HOST-023", "host.fail2ban", sample("host.fail2ban", "fail2ban"),
     sample("host.fail2ban", "fail2ban", jails=[{"name": "nats", "enabled": True, "filter": "nats-auth", "filter_present": False,
                                                 "maxretry": 3, "port": "4222", "bantime": None, "findtime": None}])),
    ("HOST-024", "host.unit", unit(), unit(user="root")),
    ("HOST-025", "host.unit", unit(exposure=None), unit(exposure=None, hardening={"PrivateDevices": False})),
    ("HOST-026", "host.account", account("nats"), account("nats", password="set")),
    ("HOST-027", "host.account", account("root"), account("root", name="toor")),
    ("HOST-028", "host.account", account("cim"), account("cim", password="empty")),
    ("HOST-029", "host.volume", sample("host.volume", "var/lib/nats"), sample("host.volume", "var/lib/nats", encrypted=False)),
    ("HOST-030", "host.nixos-drift", sample("host.nixos-drift", "etc/nixos/configuration.nix security.apparmor.enable"),
     sample("host.nixos-drift", "etc/nixos/configuration.nix security.apparmor.enable", in_sync=False, running=False)),
    ("HOST-031", "host.nixos", nixos(), nixos(effective={"apparmor_enable": False})),
    ("HOST-032", "host.nixos", nixos(), nixos(missing_imports=["/etc/nixos/hardware-configuration.nix"])),
]


@pytest.mark.parametrize(("rule_id", "kind", "good", "bad"), CASES, ids=[c[0] for c in CASES])
def test_rule(rule_id: str, kind: str, good: dict[str, Any], bad: dict[str, Any]) -> None:
    if rule_id != "HOST-014":  # a service account's key fails whatever it is
        assert judge(rule_id, kind, good) is Status.PASS
    assert judge(rule_id, kind, bad) is Status.FAIL


def test_every_host_rule_is_tested() -> None:
    host_rules = {r.id for r in production().rules if r.rule.area == "host"}
    assert host_rules == {c[0] for c in CASES}
    assert len(host_rules) >= 20


def test_host_checklist_items_are_evidenced_only_by_host_rules() -> None:
    catalog = Catalog.load([], [])
    for item in ("cim.host.ssh-key-only", "cim.host.firewall", "cim.host.apparmor"):
        claiming = {r.id: r.area for r in catalog.rules.values() if item in r.references.get("checklist", ())}
        assert claiming, item
        assert set(claiming.values()) == {"host"}, (item, claiming)


def test_declared_ports_come_from_the_inventory() -> None:
    undeclared = listener(9100, firewall="accept")
    assert judge("HOST-017", "host.listener", undeclared) is Status.FAIL
    assert judge("HOST-017", "host.listener", listener(4222)) is Status.PASS  # TARGET's vars.host_ports


SSHD_RULES = [f"HOST-{n:03d}" for n in range(1, 11)]


@pytest.mark.parametrize("rule_id", SSHD_RULES)
def test_a_configuration_sshd_would_refuse_decides_no_sshd_setting(rule_id: str) -> None:
    """sshd refuses the configuration (HOST-011 fails: a file saved as UTF-16, a bad keyword):
    it would not start with it, so the settings the running server has are unknown, and each
    rule on them is an error, never a pass on what auditor's model made of the lines it read
    (was: HOST-003 and HOST-010 passed for the demo's sshd_config saved as UTF-16, the model
    holding only defaults)."""
    refused = sshd(valid=False, errors=['/etc/ssh/sshd_config:1: no argument after keyword "\\377\\376P"'])
    assert judge(rule_id, "host.sshd", sshd()) is Status.PASS
    policy = production()
    only = dataclasses.replace(policy, rules=tuple(r for r in policy.rules if r.id == rule_id), waivers=())
    (finding,) = evaluate_rules(only, [evidence("host.sshd", refused)], target=TARGET, now=NOW).findings
    assert finding.status is Status.ERROR
    assert finding.message.startswith("not decided: sshd would refuse its configuration (HOST-011)")
