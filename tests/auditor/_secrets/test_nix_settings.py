"""Secrets NixOS settings spell with long attribute paths, and Wi-Fi pre-shared keys. A key is
found by its last part, but the assignment pattern allowed 40 characters before a secret's
name, and 72 were read back from the operator: `services.grafana.settings.security.
admin_password = "..."` (41 before it) was no finding, nor an 86-character path. A `psk` (NixOS's `networking.wireless.networks.<ssid>.psk`, NetworkManager's and
wpa_supplicant's) was no secret's name. Held to the real nix-instantiate (Debian's nix-bin)
evaluating the file, and to configparser reading a NetworkManager keyfile (it is INI)."""

from __future__ import annotations

import configparser
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from auditor._secrets.model import secret_fingerprint
from auditor._secrets.scanner import Scanner

NIX = """{
  services.grafana.settings.security.admin_password = "Zq8vR2mX9kLp4TbW73";
  services.home-assistant.config.homeassistant.auth_providers.trusted_networks.password = "Zq8vR2mX9kLp4TbW80";
  networking.wireless.networks."cim-field".psk = "Zq8vR2mX9kLp4TbW71";
  networking.wireless.networks.backup = { psk = "Zq8vR2mX9kLp4TbW72"; };
  services.openssh.settings.PasswordAuthentication = false;
  users.users.ops.hashedPassword = "$6$rounds=656000$abcdefgh$ZyXwVuTsRqPoNmLkJiHgFeDcBa0123456789abcdefghijklmn";
}
"""


def _strings(value: object, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], str]:
    """Every string leaf of an evaluated attribute set, by its attribute path."""
    if isinstance(value, dict):
        return {k: v for name, item in value.items() for k, v in _strings(item, (*path, name)).items()}
    return {path: value} if isinstance(value, str) else {}


@pytest.mark.skipif(shutil.which("nix-instantiate") is None, reason="nix-instantiate (nix-bin) is not installed")
def test_secrets_at_long_attribute_paths_are_found_as_nix_evaluates_them(tmp_path: Path) -> None:
    path = tmp_path / "settings.nix"
    path.write_text(NIX)
    done = subprocess.run(["nix-instantiate", "--eval", "--strict", "--json", str(path)],
                          capture_output=True, text=True, timeout=120, check=True)
    leaves = _strings(json.loads(done.stdout))
    secrets = [v for k, v in leaves.items() if k[-1] in ("admin_password", "password", "psk")]
    assert len(secrets) == 4 and max(len(".".join(k)) for k in leaves) > 72  # one path past the key walk
    leaks = sorted(Scanner().scan_file(path, "settings.nix").leaks, key=lambda x: x.line)
    assert sorted(x.fingerprint for x in leaks) == sorted(secret_fingerprint("password", v.encode()) for v in secrets)


def test_a_network_manager_psk_is_a_password(tmp_path: Path) -> None:
    text = "[connection]\nid=cim-field\ntype=wifi\n\n[wifi-security]\nkey-mgmt=wpa-psk\npsk=Zq8vR2mX9kLp4TbW81\n"
    keyfile = tmp_path / "cim-field.nmconnection"
    keyfile.write_text(text)
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    assert [(x.rule, x.fingerprint) for x in Scanner().scan_file(keyfile, keyfile.name).leaks] == [
        ("password", secret_fingerprint("password", parser["wifi-security"]["psk"].encode()))]
    supplicant = tmp_path / "wpa_supplicant.conf"
    supplicant.write_text('network={\n    ssid="cim-field"\n    psk="Zq8vR2mX9kLp4TbW81"\n}\n')
    assert [x.fingerprint for x in Scanner().scan_file(supplicant, supplicant.name).leaks] == [
        secret_fingerprint("password", b"Zq8vR2mX9kLp4TbW81")]
