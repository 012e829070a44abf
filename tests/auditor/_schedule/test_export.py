"""Done when: the exported systemd units, NixOS module and CronJobs are written as described.

systemd-analyze verifies the units, Nix itself evaluates the module, and the CronJob's fields
are checked against the Pod Security Standards "restricted" profile."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor._inventory.load import load_inventory
from auditor._schedule import plan
from auditor._schedule.export import ExportFile, write_files
from auditor.errors import ConfigError
from tests.conftest import run_cli
from tests.servers import tool

DIGEST = "registry.example.com/auditor@sha256:" + "ab" * 32

INVENTORY = """\
version: 1
schedules:
  - tag: leaf-node
    schedule: "0 6 * * mon"
targets:
  - name: cim-prod-001
    environment: production
    tags: [leaf-node]
    policies: [cim-production]
    schedule: "15 */4 * * *"
    sources: []
  - name: cim-prod-002.edge
    environment: production
    tags: [leaf-node]
    policies: [cim-production]
    sources: []
"""


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "my inventory%.yaml"  # a space and a % to quote and escape
    path.write_text(INVENTORY)
    return path


def export(inventory: Path, out: Path, *args: str) -> Any:
    run = run_cli("schedule", "export", "--inventory", str(inventory), "-o", str(out), *args)
    return run


def test_systemd_units(tmp_path: Path, inventory: Path) -> None:
    out = tmp_path / "units"
    auditor = shutil.which("auditor", path=str(Path(sys.executable).parent))
    assert auditor
    run = export(inventory, out, "--systemd", "--exec", auditor, "--jitter", "2m")
    assert run.code == 0, run.err
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "auditor-agent@.service",  # the fleet's units (tests/auditor/_schedule/test_fleet_export.py)
        "auditor-tag-leaf-node.service", "auditor-tag-leaf-node.timer",
        "auditor-target-cim-prod-001.service", "auditor-target-cim-prod-001.timer", "auditor-worker.service",
    ]
    service = (out / "auditor-target-cim-prod-001.service").read_text()
    assert f'ExecStart={auditor} scan --target cim-prod-001 --inventory "{inventory.resolve()}"'.replace("%", "%%") in service
    for line in ("Type=oneshot", "SuccessExitStatus=1", "DynamicUser=yes", "ProtectSystem=strict",
                 "NoNewPrivileges=yes", "CapabilityBoundingSet=CAP_DAC_READ_SEARCH",
                 "Environment=AUDITOR_DB=%S/auditor/history.sqlite"):
        assert line in service.splitlines(), line
    timer = (out / "auditor-target-cim-prod-001.timer").read_text()
    assert "OnCalendar=*-*-* 00,04,08,12,16,20:15:00 UTC" in timer and "RandomizedDelaySec=120s" in timer
    assert "--tag leaf-node" in (out / "auditor-tag-leaf-node.service").read_text()
    verify = subprocess.run(
        [tool("systemd-analyze", "Debian systemd"), "verify", "--man=no", *map(str, sorted(out.iterdir()))],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr


def test_nixos_module_evaluates(tmp_path: Path, inventory: Path) -> None:
    out = tmp_path / "nix"
    assert export(inventory, out, "--nixos").code == 0
    module = out / "auditor-schedules.nix"
    proc = subprocess.run(
        [tool("nix-instantiate", "Debian nix-bin"), "--eval", "--strict", "--json", "-E",
         f"import {module} {{ config = {{}}; lib = {{}}; pkgs = {{}}; }}"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    value = json.loads(proc.stdout)["systemd"]
    service = value["services"]["auditor-target-cim-prod-001"]["serviceConfig"]
    assert service["ExecStart"].startswith("/run/current-system/sw/bin/auditor scan --target cim-prod-001 --inventory ")
    assert service["DynamicUser"] == "yes" and service["Environment"][0] == "AUDITOR_DB=%S/auditor/history.sqlite"
    timer = value["timers"]["auditor-tag-leaf-node"]
    assert timer["wantedBy"] == ["timers.target"]
    assert timer["timerConfig"]["OnCalendar"] == "Mon *-*-* 06:00:00 UTC" and timer["timerConfig"]["Persistent"] is True


def test_kubernetes_cronjob_follows_pss_restricted(tmp_path: Path, inventory: Path) -> None:
    out = tmp_path / "k8s"
    run = export(inventory, out, "--kubernetes", "--image", DIGEST, "--timeout", "5m", "--retries", "1")
    assert run.code == 0 and "warning" not in run.err, run.err
    (job,) = yaml.safe_load_all((out / "auditor-target-cim-prod-001.cronjob.yaml").read_text())
    assert job["apiVersion"] == "batch/v1" and job["kind"] == "CronJob"
    spec = job["spec"]
    assert spec["schedule"] == "15 0,4,8,12,16,20 * * *" and spec["timeZone"] == "Etc/UTC"
    assert spec["concurrencyPolicy"] == "Forbid"  # runs of one target never overlap
    jobspec = spec["jobTemplate"]["spec"]
    assert jobspec["backoffLimit"] == 1 and jobspec["activeDeadlineSeconds"] == (300 + 60) * 2
    pod = jobspec["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert pod.get(key, False) is False
    assert all("hostPath" not in v for v in pod["volumes"])
    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True and psc["runAsUser"] >= 1000
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    (c,) = pod["containers"]
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["privileged"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]} and "add" not in sc["capabilities"]
    assert sc["readOnlyRootFilesystem"] is True and sc["runAsNonRoot"] is True and sc["runAsUser"] >= 1000
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["image"] == DIGEST and "@sha256:" in c["image"]
    assert set(c["resources"]["requests"]) >= {"cpu", "memory"} and set(c["resources"]["limits"]) >= {"cpu", "memory"}
    assert c["command"] == ["auditor"] and c["args"][:3] == ["scan", "--target", "cim-prod-001"]
    assert c["args"][3:] == ["--inventory", "/etc/auditor/auditor.yaml"]
    db = next(e for e in c["env"] if e["name"] == "AUDITOR_DB")
    assert db == {"name": "AUDITOR_DB", "valueFrom": {"secretKeyRef": {"name": "auditor-history", "key": "url"}}}
    assert {m["mountPath"] for m in c["volumeMounts"]} == {"/etc/auditor", "/tmp"}
    (tag_job,) = yaml.safe_load_all((out / "auditor-tag-leaf-node.cronjob.yaml").read_text())
    assert tag_job["spec"]["schedule"] == "0 6 * * 1"
    assert tag_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][:3] == ["scan", "--tag", "leaf-node"]


@pytest.mark.parametrize("pack", ["pss-baseline", "pss-restricted"])
def test_exported_cronjobs_pass_our_own_pss_pack(tmp_path: Path, inventory: Path, pack: str) -> None:
    out = tmp_path / "k8s"
    assert export(inventory, out, "--kubernetes", "--image", DIGEST).code == 0
    run = run_cli("scan", "--path", str(out), "--policy", pack, "--format", "json", "--no-store")
    assert run.code == 0, run.out + run.err
    findings = json.loads(run.out)["findings"]
    cronjobs = {f["resource"].split(" container ")[0].split(" volume ")[0] for f in findings if "CronJob/" in f["resource"]}
    assert len(cronjobs) == 2  # one per target schedule and one per tag schedule (findings per container, volume)
    assert [f for f in findings if f["status"] != "pass"] == []


def test_kubernetes_needs_an_image_and_warns_when_unpinned(tmp_path: Path, inventory: Path) -> None:
    none = export(inventory, tmp_path / "a", "--kubernetes")
    assert none.code == 2 and "--image" in none.err and not (tmp_path / "a").exists()
    tagged = export(inventory, tmp_path / "b", "--kubernetes", "--image", "auditor:1.0")
    assert tagged.code == 0 and "not pinned by digest" in tagged.err
    every_second = inventory.parent / "fast.yaml"
    every_second.write_text(INVENTORY.replace('"15 */4 * * *"', '"* * * * * *"'))
    fast = export(every_second, tmp_path / "c", "--kubernetes", "--image", DIGEST)
    assert fast.code == 2 and "more than once a minute" in fast.err


def test_existing_files_are_never_overwritten_silently(tmp_path: Path, inventory: Path) -> None:
    out = tmp_path / "units"
    assert export(inventory, out, "--systemd").code == 0
    again = export(inventory, out, "--systemd")
    assert again.code == 0 and again.out == "" and again.err.count("unchanged") == 6  # 4 + agent and worker
    mine = out / "auditor-target-cim-prod-001.timer"
    mine.write_text("# my own edits\n")
    refused = export(inventory, out, "--systemd", "--jitter", "1m")
    assert refused.code == 2 and "exists with other content" in refused.err and "--force" in refused.err
    assert mine.read_text() == "# my own edits\n"  # nothing written, not even the other files
    assert "RandomizedDelaySec=300s" in (out / "auditor-tag-leaf-node.timer").read_text()
    forced = export(inventory, out, "--systemd", "--jitter", "1m", "--force")
    assert forced.code == 0 and f"overwritten {mine}" in forced.out
    assert "RandomizedDelaySec=60s" in mine.read_text()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_write_files_refuses_a_folder_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "x.timer").mkdir()
    with pytest.raises(ConfigError, match="is a folder"):
        write_files([ExportFile("x.timer", "a")], tmp_path)


def test_no_schedules_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "plain.yaml"
    path.write_text(INVENTORY.split("targets:")[0].split("schedules:")[0] + "targets:" + INVENTORY.split("targets:")[1].replace('    schedule: "15 */4 * * *"\n', ""))
    assert plan(load_inventory(path)) == []
    run = export(path, tmp_path / "out", "--systemd")
    assert run.code == 2 and "no schedules" in run.err
    serve = run_cli("serve", "--inventory", str(path))
    assert serve.code == 2 and "no schedules" in serve.err


def test_demo_schedules_export(tmp_path: Path) -> None:
    listed = run_cli("schedule", "list", "--format", "json")
    assert listed.code == 0 and listed.err.count("embedded demo") == 1  # the fallback is announced
    names = [s["name"] for s in json.loads(listed.out)["schedules"]]
    assert names == ["target-cim-prod-001", "tag-high-security"]
    refused = run_cli("schedule", "export", "--systemd", "-o", str(tmp_path))
    assert refused.code == 2 and "--demo" in refused.err and list(tmp_path.iterdir()) == []
    run = run_cli("schedule", "export", "--systemd", "--demo", "-o", str(tmp_path))
    assert run.code == 0 and "embedded demo" not in run.err
    service = (tmp_path / "auditor-target-cim-prod-001.service").read_text()
    assert "--inventory" not in service and " --demo" in service  # the timer scans the embedded demo, saying so


def test_acme_nixos_module_evaluates(tmp_path: Path) -> None:
    """`auditor pki acme nixos`: security.acme against the fleet CA's ACME server, NATS reloaded
    after each renewal and serving the renewed certificate."""
    module = tmp_path / "auditor-acme.nix"
    r = run_cli("pki", "acme", "nixos", "--server", "https://ca.example.com:8443/acme/directory",
                "--domain", "cim-001.example.com", "--domain", "nats.cim-001.example.com",
                "--email", "ops@example.com", "-o", str(module))
    assert r.code == 0, r.err
    proc = subprocess.run(
        [tool("nix-instantiate", "Debian nix-bin"), "--eval", "--strict", "--json", "-E",
         f"import {module} {{ config = {{}}; lib = {{}}; pkgs = {{}}; }}"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    value = json.loads(proc.stdout)
    acme = value["security"]["acme"]
    assert acme["acceptTerms"] is True
    assert acme["defaults"]["server"] == "https://ca.example.com:8443/acme/directory"
    assert acme["defaults"]["validMinDays"] == 20 and acme["defaults"]["environmentFile"] == "/run/secrets/auditor-acme.env"
    cert = acme["certs"]["cim-001.example.com"]
    assert cert["reloadServices"] == ["nats"] and cert["extraDomainNames"] == ["nats.cim-001.example.com"]
    assert cert["group"] == "nats" and cert["listenHTTP"] == ":80"
    assert value["services"]["nats"]["settings"]["tls"]["cert_file"] == "/var/lib/acme/cim-001.example.com/fullchain.pem"
    assert value["networking"]["firewall"]["allowedTCPPorts"] == [80]
    for bad, why in ((["--domain", "not a name"], "is not a DNS name"), (["--email", "nobody"], "--email"),
                     (["--reload", "nats; rm -rf /"], "--reload")):
        args = {"--server": "https://ca.example.com/acme/directory", "--domain": "a.example.com", "--email": "a@b.example.com"}
        args.update(dict(zip(bad[::2], bad[1::2], strict=True)))
        r = run_cli("pki", "acme", "nixos", *(x for kv in args.items() for x in kv))
        assert r.code == 2 and why in r.err and "Traceback" not in r.err, r.err
