"""The K8S-0xx container rules: a hardened workload passes, each planted problem fails with a
message naming the field path at fault."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from auditor._models import Finding, Status
from tests.k8s import catalog, collect, evaluate, write_docs

SECRET = "Pl4in-text-passw0rd!"


def hardened() -> dict[str, Any]:
    container = {
        "name": "app", "image": "registry.example/app:1.0@sha256:" + "c" * 64,
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": 1, "memory": "2Gi"}},
        "env": [{"name": "LOG_LEVEL", "value": "INFO"}, {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}],
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app", "namespace": "apps"},
        "spec": {"selector": {}, "template": {"metadata": {}, "spec": {
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [container],
        }}},
    }


def k8s_findings(tmp_path: Path, docs: list[Any]) -> dict[str, Finding]:
    write_docs(tmp_path / "m.yaml", docs)
    resolved = catalog().resolve(["cim-production"])
    policy = dataclasses.replace(resolved, rules=tuple(e for e in resolved.rules if e.id.startswith("K8S-")))
    out: dict[str, Finding] = {}
    for f in evaluate(collect(tmp_path, ["m.yaml"]), policy):
        if f.status is not Status.NOT_EVALUATED:
            assert f.status in (Status.PASS, Status.FAIL), (f.rule_id, f.message)
            out[f.rule_id + " " + f.resource.split(" ", 1)[-1]] = f  # the resource without its file
    return out


def failed(findings: dict[str, Finding]) -> dict[str, str]:
    return {k: f.message for k, f in findings.items() if f.status is Status.FAIL}


def test_hardened_workload_passes(tmp_path: Path) -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "apps"}, "data": {"LOG_LEVEL": "info"}}
    findings = k8s_findings(tmp_path, [ns, hardened(), cm])
    assert failed(findings) == {}
    assert {k.split(" ")[0] for k in findings} == {f"K8S-{n:03d}" for n in range(1, 13)}
    # one finding per instance: each container (K8S-003), each ConfigMap entry (K8S-010)
    assert "K8S-003 Deployment/apps/app container app" in findings
    assert "K8S-010 ConfigMap/apps/cfg data.LOG_LEVEL" in findings


def change(path: str, value: Any) -> dict[str, Any]:
    doc = hardened()
    *parents, last = path.split(".")
    node: Any = doc
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return doc


C0 = "spec.template.spec.containers.0"


@pytest.mark.parametrize(
    ("rule", "doc", "fragment"),
    [
        ("K8S-002", change("metadata.namespace", "default"), "is in namespace default"),
        ("K8S-002", change("metadata.namespace", None), "sets no metadata.namespace"),
        ("K8S-003", change("spec.template.spec.securityContext.runAsUser", 999), "spec.template.spec.securityContext.runAsUser=999 (container 'app'"),
        ("K8S-003", change("spec.template.spec.securityContext.runAsUser", None), "runAsUser unset (the image decides"),
        ("K8S-004", change(f"{C0}.securityContext.readOnlyRootFilesystem", None), "containers[0].securityContext.readOnlyRootFilesystem unset"),
        ("K8S-005", change(f"{C0}.resources.requests", {"cpu": "1"}), "containers[0].resources.requests.memory"),
        ("K8S-006", change(f"{C0}.resources.limits", {"memory": "1Gi"}), "containers[0].resources.limits.cpu"),
        ("K8S-007", change("spec.template.spec.automountServiceAccountToken", None), "service account 'default' and its API token is mounted (nothing turns it off)"),
        ("K8S-008", change(f"{C0}.image", "nats:latest"), "containers[0].image=nats:latest"),
        ("K8S-009", change(f"{C0}.env", [{"name": "DB_PASSWORD", "value": SECRET}]), "containers[0].env[0] DB_PASSWORD (sensitive name, value Pl4i…(hmac:"),
        ("K8S-009", change(f"{C0}.env", [{"name": "URL", "value": f"postgres://app:{SECRET}@db/app"}]), "(password in URL, value"),
    ],
)
def test_each_problem_fails_with_the_field_path(tmp_path: Path, rule: str, doc: dict[str, Any], fragment: str) -> None:
    fails = failed(k8s_findings(tmp_path, [doc]))
    assert [k.split(" ")[0] for k in fails] == [rule]
    message = next(iter(fails.values()))
    assert fragment in message and SECRET not in message
    assert ": ," not in message and ", ," not in message


def test_configmap_secrets_and_hostpath_and_namespace(tmp_path: Path) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "apps"},
          "data": {"NATS_PASSWORD": SECRET, "app.conf": f"listen: 4222\nauth_token: {SECRET}\n"}}
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps", "labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}
    system = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}
    doc = hardened()
    spec = doc["spec"]["template"]["spec"]
    spec["volumes"] = [{"name": "etc", "hostPath": {"path": "/etc/nats"}}, {"name": "logs", "hostPath": {"path": "/srv/logs"}}]
    spec["containers"][0]["volumeMounts"] = [{"name": "etc", "mountPath": "/etc/nats", "readOnly": True},
                                              {"name": "logs", "mountPath": "/logs"}]
    fails = failed(k8s_findings(tmp_path, [cm, ns, system, copy.deepcopy(doc)]))
    assert set(fails) == {"K8S-010 ConfigMap/apps/cfg data.NATS_PASSWORD", "K8S-010 ConfigMap/apps/cfg data.app.conf",
                          "K8S-011 Deployment/apps/app volume etc", "K8S-011 Deployment/apps/app volume logs",
                          "K8S-012 Namespace/apps"}
    assert "data.NATS_PASSWORD (sensitive key" in fails["K8S-010 ConfigMap/apps/cfg data.NATS_PASSWORD"]
    assert "data.app.conf sets auth_token at line" in fails["K8S-010 ConfigMap/apps/cfg data.app.conf"]
    sensitive, writable = fails["K8S-011 Deployment/apps/app volume etc"], fails["K8S-011 Deployment/apps/app volume logs"]
    assert "/etc/nats (spec.template.spec.volumes[0]) is a sensitive host path" in sensitive and "writable" not in sensitive
    assert "mounts it writable" in writable and "sensitive" not in writable
    assert "is privileged; expected one of restricted" in fails["K8S-012 Namespace/apps"]
    assert all(SECRET not in m for m in fails.values())
