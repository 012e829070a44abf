"""The declared NixOS configuration, evaluated by the real nix-instantiate (Debian's nix-bin),
and the drift between it and a running system."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._host.nixos import Declared, NixEvalError, command, compare, evaluate
from auditor._host.system import LocalRunner, RecordedRunner, recorded_arg

needs_nix = pytest.mark.skipif(shutil.which("nix-instantiate") is None, reason="nix-instantiate (nix-bin) is not installed")

MAIN = """{ config, pkgs, lib, inputs, ... }:
{
  imports = [ ./hardware-configuration.nix ./security.nix ./missing.nix ];
  networking.firewall.allowedTCPPorts = [ 4222 ];
  services.openssh = {
    enable = true;
    settings.PasswordAuthentication = lib.mkDefault true;
    settings.PermitRootLogin = "no";
  };
  environment.systemPackages = [ pkgs.doesNotExist ];
}
"""
SECURITY = """{ config, lib, ... }:
{
  config = lib.mkMerge [
    { networking.firewall.allowedTCPPorts = [ 8222 ]; }
    (lib.mkIf config.services.openssh.enable {
      services.openssh.settings.PasswordAuthentication = false;
      services.fail2ban.enable = true;
      services.fail2ban.jails.sshd = "enabled = true";
    })
    (lib.mkIf (!config.services.openssh.enable) { security.apparmor.enable = true; })
    { security.apparmor.enable = lib.mkForce false; security.acme.certs."cim-001.example.com".email = "ops@example.com"; }
  ];
}
"""


@needs_nix
def test_standalone_module_system(tmp_path: Path) -> None:
    (tmp_path / "configuration.nix").write_text(MAIN)
    (tmp_path / "security.nix").write_text(SECURITY)
    (tmp_path / "hardware-configuration.nix").write_text("{ ... }: { networking.firewall.allowedTCPPorts = [ 22 ]; }")
    got = evaluate(LocalRunner(), str(tmp_path / "configuration.nix"))
    assert got.mode == "standalone"
    assert got.missing_imports == (str(tmp_path / "missing.nix"),)
    assert sorted(got.sections["firewall"]["allowedTCPPorts"]) == [22, 4222, 8222]
    assert got.value("openssh", "PasswordAuthentication") is False  # plain definition beats mkDefault
    assert got.value("openssh", "PermitRootLogin") == "no"
    assert got.value("openssh", "KbdInteractiveAuthentication") is True  # NixOS's default, not declared
    assert got.value("apparmor", "enable") is False  # mkForce
    assert got.sections["fail2ban"] == {"enable": True, "jails": ["sshd"]}
    assert got.sections["acme"]["certs"] == ["cim-001.example.com"]
    assert got.tcp_ports() == [22, 4222, 8222]  # openssh's openFirewall adds 22, already there


@needs_nix
def test_unevaluable_configuration(tmp_path: Path) -> None:
    (tmp_path / "configuration.nix").write_text("{ config, ... }: { services.openssh.enable = 1 +; }")
    with pytest.raises(NixEvalError, match="nix-instantiate exited"):
        evaluate(LocalRunner(), str(tmp_path / "configuration.nix"))
    (tmp_path / "configuration.nix").write_text('{ ... }: { services.openssh.enable = throw "no"; networking.firewall.enable = false; }')
    got = evaluate(LocalRunner(), str(tmp_path / "configuration.nix"))  # one section fails, the others stand
    assert got.value("firewall", "enable") is False
    assert any(p.startswith("openssh:") for p in got.problems)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=6),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
                               ["mode", "missingImports", "openssh", "firewall", "apparmor", "fail2ban", "acme", "system",
                                "enable", "allowedTCPPorts", "allowedTCPPortRanges", "from", "to", "ports", "policies",
                                "jails", "certs", "PasswordAuthentication", "openFirewall"]), inner, max_size=5), max_leaves=25)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_any_evaluation_output_is_read_or_refused(doc: object) -> None:
    """Whatever nix-instantiate prints (as recorded), evaluate() reads it or says why not, and the
    evidence made of it fits the schema."""
    from auditor._collectors.host import nixos_facts
    from auditor.evidence.contract import plain
    from auditor.evidence.kinds import data_errors

    argv = command()
    key = [argv[0], *(recorded_arg(argv[i - 1], a) for i, a in enumerate(argv) if i)]
    runner = RecordedRunner([{"argv": key, "returncode": 0, "stdout": json.dumps(doc)}])
    try:
        declared = evaluate(runner)
    except NixEvalError:
        return
    assert data_errors("host.nixos", plain(nixos_facts(declared))) == []


def test_drift() -> None:
    declared = Declared("/etc/nixos/configuration.nix", "standalone", {
        "openssh": {"enable": True, "PasswordAuthentication": False},
        "firewall": {"allowedTCPPorts": [4222, 8222]},
        "apparmor": {"enable": True, "policies": ["nats", "cim-agent"]},
        "fail2ban": {"enable": True, "jails": ["nats"]},
        "acme": {"certs": ["cim-001.example.com"]},
    })
    drift = {d.option: d for d in compare(
        declared, sshd={"passwordauthentication": "yes", "kbdinteractiveauthentication": "yes", "permitrootlogin": "without-password"},
        firewall_filters=True, admitted_tcp={22: "accept", 4222: "accept", 8222: "accept", 6222: "accept"},
        apparmor_enabled=True, apparmor_profiles=["nats"], fail2ban_jails=[], fail2ban_present=True,
        acme_present={"cim-001.example.com": True})}
    assert not drift["services.openssh.settings.PasswordAuthentication"].in_sync
    assert drift["services.openssh.settings.KbdInteractiveAuthentication"].in_sync  # NixOS default: yes
    assert drift["services.openssh.settings.PermitRootLogin"].in_sync
    assert drift["networking.firewall.allowedTCPPorts"].detail == "admitted but not declared: [6222]"
    assert drift["security.apparmor.policies"].detail == "declared but not loaded: ['cim-agent']"
    assert not drift["services.fail2ban.jails"].in_sync
    assert drift["security.acme.certs"].in_sync and drift["networking.firewall.enable"].in_sync
