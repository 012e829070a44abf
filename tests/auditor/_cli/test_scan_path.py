"""`auditor scan --path`: manifests scanned without an inventory, as a CI merge gate would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.auditor._cli.test_cli import assert_clean_error
from tests.conftest import REPO, run_cli

DEMO_K8S = "auditor/_demo/node/cim-prod-001/k8s"


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone of the repository (what is committed, nothing installed from it)."""
    target = tmp_path_factory.mktemp("clone") / "auditor"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(target)], check=True, timeout=120)
    return target


def test_path_scan_on_a_fresh_clone(clone: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(clone), "NO_COLOR": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "auditor", "scan", "--path", DEMO_K8S, "--policy", "pss-restricted", "--format", "json"],
        cwd=clone, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["target"]["name"] == "paths" and doc["policies"] == ["pss-restricted"]
    keys = [(f["rule_id"], f["resource"]) for f in doc["findings"]]
    assert len(keys) == len(set(keys)), "one finding per object (container, volume) and rule"
    assert len({f["id"] for f in doc["findings"]}) == len(keys)
    failed = {(f["rule_id"], f["resource"]) for f in doc["findings"] if f["status"] == "fail"}
    exporter = f"{DEMO_K8S}/nats-exporter.yaml#0 Deployment/cim-production/nats-exporter"
    assert ("PSS-RESTR-004", exporter + " container exporter") in failed and ("PSS-BASE-001", exporter) in failed
    assert {r for _, r in failed} == {exporter, exporter + " container exporter", exporter + " volume host-nats"}
    agent = f"{DEMO_K8S}/cim-agent.yaml#2 Deployment/cim-production/cim-agent"
    assert {f["status"] for f in doc["findings"] if f["resource"].startswith(agent)} == {"pass"}
    # every rule hit belongs to one problem; the pack excludes the baseline rules the restricted ones
    # replace, so here each problem has one hit (the demo scan groups K8S-011 with them)
    hits = [i for p in doc["problems"] for i in p["findings"]]
    assert sorted(hits) == sorted(f["id"] for f in doc["findings"] if f["status"] == "fail")
    assert doc["summary"]["problems"] == len(doc["problems"]) and doc["summary"]["rule_hits"] == len(hits)
    assert doc["collection_errors"] == []


HELM = """\
---
# Source: app/templates/serviceaccount.yaml
apiVersion: v1
kind: ServiceAccount
metadata: {name: app, namespace: apps}
---
# Source: app/templates/deployment.yaml
"""


def _hardened() -> dict[str, object]:
    sc = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    spec = {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "app", "image": "app:1", "securityContext": sc}]}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app", "namespace": "apps"},
            "spec": {"selector": {}, "template": {"metadata": {}, "spec": spec}}}


def test_rendered_helm_output_on_stdin() -> None:
    run = run_cli("scan", "--path", "-", "--policy", "pss-restricted", "--format", "json", stdin=HELM + yaml.safe_dump(_hardened()))
    assert run.code == 0, run.out + run.err
    doc = json.loads(run.out)
    resources = {f["resource"] for f in doc["findings"]}
    assert "<stdin>#1 (app/templates/deployment.yaml) Deployment/apps/app" in resources
    privileged = _hardened()
    privileged["spec"]["template"]["spec"]["hostPID"] = True  # type: ignore[index]
    run = run_cli("scan", "--path", "-", "--policy", "pss-baseline", stdin=HELM + yaml.safe_dump(privileged))
    assert run.code == 1 and "PSS-BASE-001" in run.out and "spec.template.spec.hostPID=true" in run.out


def test_invalid_document_is_an_error_finding_and_the_rest_is_scanned(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("kind: Pod\napiVersion: v1\nmetadata: {name: [\n---\n" + yaml.safe_dump(_hardened()))
    run = run_cli("scan", "--path", "m.yaml", "--policy", "pss-restricted", "--format", "json", cwd=tmp_path)
    assert run.code == 3, run.err
    doc = json.loads(run.out)
    errors = [f for f in doc["findings"] if f["status"] == "error"]
    # what could not be read may be any object: each rule (K8S-001 and every PSS rule) is undecided for it
    assert {f["resource"] for f in errors} == {"m.yaml#0"} and len(errors) > 1
    assert {f["rule_id"] for f in errors} == {f["rule_id"] for f in doc["findings"]}
    assert all("line 4" in f["message"] and "invalid YAML" in f["message"] for f in errors)
    # reported once, though recorded for each kind the document may have held
    assert [(e["resource"], e["kind"]) for e in doc["collection_errors"]] == [("m.yaml#0", "kubernetes.manifest")]
    text = run_cli("scan", "--path", "m.yaml", "--policy", "pss-restricted", cwd=tmp_path).out
    listed = text.split("Collection errors (1)\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(listed) == 1 and listed[0].startswith("  manifests: m.yaml#0: line 4: invalid YAML")
    assert {f["status"] for f in doc["findings"] if f["resource"] == "m.yaml#1 Deployment/apps/app"} == {"pass"}


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["scan"], "one of the arguments --target/-t --path --all --tag is required"),
        (["scan", "--target", "cim-prod-001", "--path", "x"], "not allowed with argument --target"),
        (["scan", "--path", "."], "needs --policy PACK"),
        (["scan", "--path", "nope.yaml", "--policy", "pss-baseline"], "nope.yaml: no such file or folder"),
        (["scan", "--path", "-", "-", "--policy", "pss-baseline"], "'-' (stdin) may be given only once"),
    ],
)
def test_path_usage_errors(tmp_path: Path, args: list[str], fragment: str) -> None:
    assert_clean_error(run_cli(*args, cwd=tmp_path), fragment)


def test_files_named_on_the_command_line_follow_this_machines_links(tmp_path: Path) -> None:
    """`--path` names this machine's files, not a node's tree: an absolute link among them leads
    where this machine says (the working folder is not a node's `/`), so the manifest it links
    to is judged, not reported as a link to nothing."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "exporter.yaml").write_bytes((REPO / DEMO_K8S / "nats-exporter.yaml").read_bytes())
    repo = tmp_path / "repo"
    (repo / "k8s").mkdir(parents=True)
    (repo / "k8s/exporter.yaml").symlink_to(elsewhere / "exporter.yaml")  # absolute
    run = run_cli("scan", "--path", "k8s", "--policy", "pss-restricted", "--format", "json", "--no-store", cwd=repo)
    assert run.code == 1, run.err
    doc = json.loads(run.out)
    assert doc["collection_errors"] == []
    assert any(f["status"] == "fail" and f["resource"].startswith("k8s/exporter.yaml#0 Deployment")
               for f in doc["findings"])
