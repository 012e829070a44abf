"""`schedule export` writes the fleet's agent and worker units: systemd-analyze verifies them, Nix
evaluates the NixOS module (with a stand-in for nixpkgs' lib, which is not installed here)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.auditor._schedule.test_export import INVENTORY
from tests.conftest import run_cli
from tests.servers import closed_port, tool

STUB_LIB = """
  # STUB of the few nixpkgs lib functions the module calls (nixpkgs is not installed here):
  # options evaluate to their defaults, mkIf/mkMerge merge what is enabled.
  lib = rec {
    mkOption = { default ? null, ... }: default;
    mkEnableOption = _: false;
    mkIf = cond: value: { _if = cond; inherit value; };
    mkMerge = parts: builtins.foldl' (acc: p: if p._if then merge acc p.value else acc) {} parts;
    merge = a: b: a // builtins.mapAttrs (n: v: if builtins.isAttrs v && a ? ${n} then merge a.${n} v else v) b;
    types = { str = "str"; nullOr = t: t; listOf = t: t; ints = { positive = "int"; }; };
    optionalAttrs = c: a: if c then a else {};
    filter = builtins.filter;
    escapeShellArgs = args: builtins.concatStringsSep " " (map (a: "'" + a + "'") args);
  };
"""


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "auditor.yaml"
    path.write_text(INVENTORY)
    return path


AUDITOR = str(Path(sys.executable).parent / "auditor")
MTLS = ("--nats-cert", "/etc/auditor/nats/cert.pem", "--nats-key", "/etc/auditor/nats/key.pem",
        "--nats-ca", "/etc/auditor/nats/ca.pem")


def test_systemd_agent_and_worker_units(tmp_path: Path, inventory: Path) -> None:
    out = tmp_path / "units"
    run = run_cli("schedule", "export", "--systemd", "--inventory", str(inventory), "-o", str(out), "--exec", AUDITOR,
                  "--nats", "tls://nats.example.com:4222", *MTLS, "--worker-concurrency", "3")
    assert run.code == 0, run.err
    agent = (out / "auditor-agent@.service").read_text().splitlines()
    worker = (out / "auditor-worker.service").read_text().splitlines()
    assert f"ExecStart={AUDITOR} agent --target %i --inventory {inventory.resolve()}" in agent
    assert f"ExecStart={AUDITOR} worker --concurrency 3 --inventory {inventory.resolve()}" in worker
    for line in ("Environment=AUDITOR_NATS=tls://nats.example.com:4222", "Environment=AUDITOR_NATS_KEY=%d/nats-key",
                 "LoadCredential=nats-key:/etc/auditor/nats/key.pem", "Restart=on-failure", "DynamicUser=yes",
                 "EnvironmentFile=-/etc/auditor/fleet.env", "ProtectSystem=strict", "WantedBy=multi-user.target"):
        assert line in agent and line in worker, line
    assert "CapabilityBoundingSet=CAP_DAC_READ_SEARCH" in agent  # reads the node's evidence
    assert "CapabilityBoundingSet=" in worker and "Environment=AUDITOR_DB=%S/auditor/history.sqlite" in worker
    instance = out / "auditor-agent@cim-prod-001.service"  # verify the template as an instance
    shutil.copy(out / "auditor-agent@.service", instance)
    verify = subprocess.run([tool("systemd-analyze", "Debian systemd"), "verify", "--man=no", str(instance),
                             str(out / "auditor-worker.service")], capture_output=True, text=True, timeout=60, check=False)
    assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr


def test_a_url_with_a_password_is_never_written_into_a_unit(tmp_path: Path, inventory: Path) -> None:
    run = run_cli("schedule", "export", "--systemd", "--inventory", str(inventory), "-o", str(tmp_path / "u"),
                  "--nats", "nats://agent:hunter2-secret@nats.example.com:4222")
    assert run.code == 2 and "could read in the unit files" in run.err and "(give --nats without them" in run.err
    assert "hunter2-secret" not in run.err + run.out
    assert not (tmp_path / "u").exists()


def test_nixos_module_options(tmp_path: Path, inventory: Path) -> None:
    out = tmp_path / "nix"
    run = run_cli("schedule", "export", "--nixos", "--inventory", str(inventory), "-o", str(out),
                  "--nats", "tls://nats.example.com:4222", "--nats-creds", "/etc/auditor/agent.creds")
    assert run.code == 0, run.err
    module = out / "auditor-fleet.nix"
    expression = (
        "let\n" + STUB_LIB + f"  module = import {module};\n"
        "  declared = (module { config = {}; inherit lib; pkgs = {}; }).options.services.auditor;\n"
        "  settings = lib.merge declared { agent = { enable = true; target = \"cim-prod-001\"; };"
        " worker = { enable = false; }; };\n"
        "in (module { config = { services.auditor = settings; }; inherit lib; pkgs = {}; }).config\n"
    )
    proc = subprocess.run([tool("nix-instantiate", "Debian nix-bin"), "--eval", "--strict", "--json", "-E", expression],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    services = json.loads(proc.stdout)["systemd"]["services"]
    assert list(services) == ["auditor-agent"]  # the worker is not enabled
    agent = services["auditor-agent"]
    assert agent["serviceConfig"]["ExecStart"] == (
        f"'/run/current-system/sw/bin/auditor' 'agent' '--target' 'cim-prod-001' '--inventory' '{inventory.resolve()}'")
    assert agent["serviceConfig"]["LoadCredential"] == ["nats-creds:/etc/auditor/agent.creds"]
    assert agent["environment"]["AUDITOR_NATS_CREDS"] == "%d/nats-creds"
    assert agent["environment"]["AUDITOR_NATS"] == "tls://nats.example.com:4222"
    assert agent["serviceConfig"]["CapabilityBoundingSet"] == "CAP_DAC_READ_SEARCH"


def test_nats_options_default_to_their_environment_variables() -> None:
    url = f"nats://127.0.0.1:{closed_port()}"
    run = run_cli("fleet", "status", env={"AUDITOR_NATS": url})
    assert run.code == 3 and f"cannot connect to {url}" in run.err, run.err
    missing = run_cli("fleet", "status", env={"AUDITOR_NATS": url, "AUDITOR_NATS_CREDS": "/nonexistent.creds"})
    assert missing.code == 2 and "/nonexistent.creds" in missing.err


def test_the_fleet_units_alone_when_the_inventory_has_no_schedules(tmp_path: Path) -> None:
    inventory = tmp_path / "auditor.yaml"
    inventory.write_text(INVENTORY.replace('schedules:\n  - tag: leaf-node\n    schedule: "0 6 * * mon"\n', "")
                         .replace('    schedule: "15 */4 * * *"\n', ""))
    refused = run_cli("schedule", "export", "--systemd", "--inventory", str(inventory), "-o", str(tmp_path / "none"))
    assert refused.code == 2 and "no schedules" in refused.err and "pass --fleet" in refused.err
    assert not (tmp_path / "none").exists()
    for kind, names in (("--systemd", ["auditor-agent@.service", "auditor-worker.service"]),
                        ("--nixos", ["auditor-fleet.nix"])):
        out = tmp_path / kind.strip("-")
        run = run_cli("schedule", "export", kind, "--fleet", "--inventory", str(inventory), "-o", str(out),
                      "--nats", "tls://nats.example.com:4222")
        assert run.code == 0, run.err
        assert sorted(p.name for p in out.iterdir()) == names
    worker = (tmp_path / "systemd" / "auditor-worker.service").read_text()
    assert f"--inventory {inventory.resolve()}" in worker and "Environment=AUDITOR_NATS=tls://nats.example.com:4222" in worker
    k8s = run_cli("schedule", "export", "--kubernetes", "--fleet", "--image", "a@sha256:" + "0" * 64,
                  "--inventory", str(inventory), "-o", str(tmp_path / "k8s"))
    assert k8s.code == 2 and "no agent or worker units" in k8s.err and not (tmp_path / "k8s").exists()
