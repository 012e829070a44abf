"""The kubernetes collector: manifests from files, folders and stdin, and what it refuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor._collectors.k8s.read import read_bytes, split_documents
from auditor._collectors.k8s.values import embedded_secrets, secret_shape, value_kind
from auditor.evidence.record import Evidence, Failure, Record
from tests.collecting import plain_of
from tests.k8s import collect, write_docs

POD_SPEC: dict[str, Any] = {
    "initContainers": [{"name": "init", "image": "busybox@sha256:" + "a" * 64}],
    "containers": [{"name": "app", "image": "registry.example/app:1.2"}],
    "ephemeralContainers": [{"name": "debug", "image": "busybox"}],
}


def workload(kind: str, api_version: str, name: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": "apps"}
    template = {"metadata": {"labels": {"app": name}}, "spec": POD_SPEC}
    spec: dict[str, Any]
    if kind == "Pod":
        return {"apiVersion": api_version, "kind": kind, "metadata": meta, "spec": POD_SPEC}
    if kind == "PodTemplate":
        return {"apiVersion": api_version, "kind": kind, "metadata": meta, "template": template}
    if kind == "CronJob":
        spec = {"schedule": "@daily", "jobTemplate": {"spec": {"template": template}}}
    else:
        spec = {"template": template}
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, "spec": spec}


KINDS = [
    ("Pod", "v1", "spec"),
    ("PodTemplate", "v1", "template.spec"),
    ("ReplicationController", "v1", "spec.template.spec"),
    ("Deployment", "apps/v1", "spec.template.spec"),
    ("StatefulSet", "apps/v1", "spec.template.spec"),
    ("DaemonSet", "apps/v1", "spec.template.spec"),
    ("ReplicaSet", "apps/v1", "spec.template.spec"),
    ("Job", "batch/v1", "spec.template.spec"),
    ("CronJob", "batch/v1", "spec.jobTemplate.spec.template.spec"),
]


KUBERNETES_KINDS = ("kubernetes.manifest", "kubernetes.workload", "kubernetes.configmap", "kubernetes.namespace")


def _failed_kinds(records: list[Record]) -> dict[str, set[str]]:
    """The kinds of the failures of each resource: every kind the collector yields, for what
    could not be read may hold any (so each kind's rules are undecided for it)."""
    out: dict[str, set[str]] = {}
    for r in records:
        if isinstance(r, Failure):
            out.setdefault(r.resource, set()).add(r.kind)
    return out


def by_kind(records: list[Record], kind: str) -> list[Record]:
    return [r for r in records if r.kind == kind and isinstance(r, Evidence)]


def test_every_workload_kind_with_all_its_containers(tmp_path: Path) -> None:
    write_docs(tmp_path / "all.yaml", [workload(k, v, k.lower()) for k, v, _ in KINDS])
    records = collect(tmp_path, ["all.yaml"])
    assert [r.error for r in records if isinstance(r, Failure)] == []
    workloads = by_kind(records, "kubernetes.workload")
    assert [(plain_of(r) or {})["kind"] for r in workloads] == [k for k, _, _ in KINDS]
    for rec, (kind, _, pod_path) in zip(workloads, KINDS, strict=True):
        data = plain_of(rec)
        assert data is not None
        assert data["pod_path"] == pod_path
        assert rec.resource.startswith(f"all.yaml#{data['document']} {kind}/apps/")
        assert [(c["type"], c["path"]) for c in data["containers"]] == [
            ("initContainer", f"{pod_path}.initContainers[0]"),
            ("container", f"{pod_path}.containers[0]"),
            ("ephemeralContainer", f"{pod_path}.ephemeralContainers[0]"),
        ]
        assert data["line"] is not None and data["containers"][1]["line"] > data["line"]
        init, app, _ = data["containers"]
        assert init["image_digest"] == "sha256:" + "a" * 64 and app["image_tag"] == "1.2" and app["image_digest"] is None
    assert len(by_kind(records, "kubernetes.manifest")) == len(KINDS)


def test_lists_json_and_document_lines(tmp_path: Path) -> None:
    pod = workload("Pod", "v1", "p")
    (tmp_path / "list.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [pod, workload("Job", "batch/v1", "j")]}))
    deployments = {"apiVersion": "apps/v1", "kind": "DeploymentList",
                   "items": [{k: v for k, v in workload("Deployment", "apps/v1", "d").items() if k not in ("kind", "apiVersion")}]}
    (tmp_path / "api.json").write_text(json.dumps(deployments, indent="\t"))
    (tmp_path / "pod.json").write_text(json.dumps(pod, indent=2))
    records = collect(tmp_path, ["list.yaml", "api.json", "pod.json"])
    assert [r.error for r in records if isinstance(r, Failure)] == []
    names = [r.resource for r in by_kind(records, "kubernetes.workload")]
    assert names == ["list.yaml#0.0 Pod/apps/p", "list.yaml#0.1 Job/apps/j", "api.json#0.0 Deployment/apps/d", "pod.json#0 Pod/apps/p"]
    json_pod = plain_of(by_kind(records, "kubernetes.workload")[-1])
    assert json_pod["line"] == 1 and json_pod["containers"][1]["line"] is not None


BAD_STREAM = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: first, namespace: apps}
data: {LOG_LEVEL: info}
---
apiVersion: v1
kind: Pod
metadata: {name: broken
spec: [
---
- just
- a list
---
apiVersion: apps/v1
kind: Deploymnet
metadata: {name: typo, namespace: apps}
---
apiVersion: v1
kind: Deployment
metadata: {name: wrong-group, namespace: apps}
---
metadata: {name: no-kind}
---
apiVersion: v1
kind: Pod
metadata: {name: bad-field, namespace: apps}
spec:
  containers:
    - name: app
      image: x
      securityContext:
        runAsUser: root
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: custom, namespace: apps}
---
apiVersion: v1
kind: Pod
metadata: {name: last, namespace: apps}
spec:
  containers: [{name: app, image: x}]
"""


def test_bad_documents_are_error_records_and_the_rest_is_still_read(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(BAD_STREAM)
    records = collect(tmp_path, ["bad.yaml"])
    errors = {r.resource: r.error for r in records if isinstance(r, Failure)}
    assert _failed_kinds(records) == {key: set(KUBERNETES_KINDS) for key in errors}  # what failed may be a workload
    assert set(errors) == {
        "bad.yaml#1", "bad.yaml#2", "bad.yaml#3 Deploymnet/apps/typo", "bad.yaml#4 Deployment/apps/wrong-group",
        "bad.yaml#5", "bad.yaml#6 Pod/apps/bad-field",
    }
    assert "invalid YAML" in str(errors["bad.yaml#1"]) and "line 9" in str(errors["bad.yaml#1"])
    assert "is a list, not a Kubernetes object" in str(errors["bad.yaml#2"])
    assert "unknown kind 'Deploymnet' for apiVersion apps/v1" in str(errors["bad.yaml#3 Deploymnet/apps/typo"])
    assert "not served by apiVersion v1" in str(errors["bad.yaml#4 Deployment/apps/wrong-group"])
    assert "apiVersion and kind missing" in str(errors["bad.yaml#5"])
    field = str(errors["bad.yaml#6 Pod/apps/bad-field"])
    assert field.startswith("line 32: field spec.containers[0].securityContext.runAsUser: expected an integer, got 'root'")
    good = {r.resource for r in records if isinstance(r, Evidence) and r.kind == "kubernetes.manifest"}
    assert good == {"bad.yaml#0 ConfigMap/apps/first", "bad.yaml#7 Certificate/apps/custom", "bad.yaml#8 Pod/apps/last"}
    custom = next(r for r in records if r.resource == "bad.yaml#7 Certificate/apps/custom")
    assert isinstance(custom, Evidence) and custom.plain["custom"] is True and custom.plain["namespaced"] is None


def test_the_yaml_values_limit_in_force_applies_to_every_document_of_a_file(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The limits are read once per file (auditor._collectors.k8s.read.read_bytes), not per
    document: the one in force when the file is read holds for each of its documents."""
    small = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "small", "namespace": "apps"}}
    large = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "large", "namespace": "apps"},
             "data": {f"k{i}": "v" for i in range(40)}}
    write_docs(tmp_path / "m.yaml", [large, small, large])
    monkeypatch.setenv("AUDITOR_LIMIT_YAML_VALUES", "30")
    records = collect(tmp_path, ["m.yaml"])
    errors = {r.resource: str(r.error) for r in records if isinstance(r, Failure)}
    assert set(errors) == {"m.yaml#0", "m.yaml#2"}
    assert all("yaml-values" in e for e in errors.values())
    assert {r.resource for r in records if isinstance(r, Evidence)} >= {"m.yaml#1 ConfigMap/apps/small"}
    monkeypatch.delenv("AUDITOR_LIMIT_YAML_VALUES")
    assert not [r for r in collect(tmp_path, ["m.yaml"]) if isinstance(r, Failure)]


def test_a_file_over_the_yaml_bytes_limit_is_an_error_and_the_others_are_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A manifest over the yaml-bytes limit is an error record of its own (was: the collector
    failed, and every manifest's findings turned into errors: a larger input hid failures); a
    JSON manifest that large is read as JSON, within the json limits."""
    pod = workload("Pod", "v1", "small")
    (tmp_path / "m").mkdir()
    write_docs(tmp_path / "m/small.yaml", [pod])
    (tmp_path / "m/big.yaml").write_text(yaml.safe_dump(workload("Pod", "v1", "big")) + "# filler\n" * 400)
    (tmp_path / "m/big.json").write_text(json.dumps(workload("Pod", "v1", "json"), indent=40))
    monkeypatch.setenv("AUDITOR_LIMIT_YAML_BYTES", "2KiB")
    records = collect(tmp_path, ["m"])
    errors = {r.resource: str(r.error) for r in records if isinstance(r, Failure)}
    assert errors == {"m/big.yaml": "the manifest is too large: over the yaml-bytes limit of 2 KiB "
                                    "(raise it with AUDITOR_LIMIT_YAML_BYTES=4KiB)"}
    read = {r.resource for r in records if isinstance(r, Evidence) and r.kind == "kubernetes.manifest"}
    assert read == {"m/small.yaml#0 Pod/apps/small", "m/big.json#0 Pod/apps/json"}


def test_folders_skip_hidden_and_excluded_files(tmp_path: Path) -> None:
    write_docs(tmp_path / "app/deploy.yaml", [workload("Deployment", "apps/v1", "d")])
    write_docs(tmp_path / "app/.git/x.yaml", [workload("Pod", "v1", "hidden")])
    (tmp_path / "app/values.yaml").write_text("replicas: 2\n")
    (tmp_path / "app/README.md").write_text("# not a manifest\n")
    (tmp_path / "empty").mkdir()
    records = collect(tmp_path, ["app", "empty", "missing.yaml"], exclude=["values*.yaml"])
    assert [r.resource for r in by_kind(records, "kubernetes.workload")] == ["app/deploy.yaml#0 Deployment/apps/d"]
    errors = {r.resource: r.error for r in records if isinstance(r, Failure)}
    assert errors == {"empty": "folder holds no *.yaml, *.yml or *.json files", "missing.yaml": "no such file or folder"}


def test_secret_values_are_described_never_stored(tmp_path: Path) -> None:
    password = "Sup3r-s3cret-passw0rd"
    seed = "SUAM" + "A" * 54
    pod = workload("Pod", "v1", "p")
    pod["spec"] = {"containers": [{"name": "app", "image": "x", "env": [
        {"name": "DB_PASSWORD", "value": password},
        {"name": "NATS_SEED", "value": seed},
        {"name": "TOKEN_FILE", "value": "/run/secrets/token"},
        {"name": "API_KEY", "value": "$(FROM_ENV)"},
        {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
    ]}]}
    pod["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": password}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "apps"},
          "data": {"NATS_PASSWORD": password, "nats.conf": f"port: 4222\nauthorization {{\n  password: \"{password}\"\n}}\n",
                   "plain": "hello"}, "binaryData": {"blob": "AAAA"}}
    write_docs(tmp_path / "s.yaml", [pod, cm])
    records = collect(tmp_path, ["s.yaml"])
    dump = json.dumps([r.to_dict() for r in records])
    assert password not in dump and seed not in dump
    env = {e["name"]: e for e in plain_of(by_kind(records, "kubernetes.workload")[0])["containers"][0]["env"]}
    assert (env["DB_PASSWORD"]["value_kind"], env["DB_PASSWORD"]["secret_like"]) == ("text", None)
    assert env["DB_PASSWORD"]["redacted"].startswith("Sup3…(hmac:")
    assert env["NATS_SEED"]["secret_like"] == "NATS nkey seed"
    assert env["TOKEN_FILE"]["value_kind"] == "path" and env["API_KEY"]["value_kind"] == "reference"
    assert env["FROM_SECRET"]["from"] == "secretKeyRef" and env["FROM_SECRET"]["redacted"] is None
    entries = {e["key"]: e for e in plain_of(by_kind(records, "kubernetes.configmap")[0])["entries"]}
    assert entries["nats.conf"]["embedded"] == [{"name": "password", "line": entries["nats.conf"]["line"] + 2}]
    assert entries["plain"]["embedded"] == [] and entries["blob"]["value_kind"] == "binary"


def test_service_account_token_decision(tmp_path: Path) -> None:
    def pod(name: str, **spec: Any) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "apps"},
                "spec": {"containers": [{"name": "a", "image": "x"}], **spec}}

    sa_off = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "quiet", "namespace": "apps"},
              "automountServiceAccountToken": False}
    write_docs(tmp_path / "sa.yaml", [sa_off, pod("a"), pod("b", automountServiceAccountToken=False),
                                      pod("c", serviceAccountName="quiet"), pod("d", serviceAccountName="quiet", automountServiceAccountToken=True)])
    got = {plain_of(r)["name"]: plain_of(r)["service_account"] for r in by_kind(collect(tmp_path, ["sa.yaml"]), "kubernetes.workload")}
    assert got == {
        "a": {"name": "default", "automount": True, "decided_by": "default"},
        "b": {"name": "default", "automount": False, "decided_by": "pod"},
        "c": {"name": "quiet", "automount": False, "decided_by": "serviceaccount"},
        "d": {"name": "quiet", "automount": True, "decided_by": "pod"},
    }


def test_helm_output_names_the_template() -> None:
    stream = (b"---\n# Source: app/templates/empty.yaml\n---\n# Source: app/templates/deploy.yaml\n"
              + yaml.safe_dump(workload("Deployment", "apps/v1", "d")).encode())
    (obj,) = list(read_bytes(stream, "<stdin>", is_json=False))
    assert obj.resource() == "<stdin>#0 (app/templates/deploy.yaml) Deployment/apps/d"
    assert obj.origin.line == 5


def test_value_shapes() -> None:
    assert value_kind("") == "empty" and value_kind("${X}") == "reference" and value_kind("/etc/x") == "path"
    assert secret_shape("nats://u:p4ss@host:4222") == "password in URL"
    assert secret_shape("nats://u@host:4222") is None
    assert secret_shape("-----BEGIN OPENSSH PRIVATE KEY-----") == "private key"
    assert embedded_secrets("a: 1\npassword: $PASS\ntoken = ''\n") == []
    assert embedded_secrets("a: 1\napi_key = abc123\n") == [{"name": "api_key", "line": 2}]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab:-{}[]\n #'\"|>&*!%@`\t,?0123456789.", max_size=300))
def test_any_text_yields_objects_or_errors(text: str) -> None:
    items = list(read_bytes(text.encode(), "f.yaml", is_json=False))
    for item in items:
        assert item.resource().startswith("f.yaml")


def test_documents_are_split_at_separator_lines() -> None:
    parts = split_documents("a: 1\n---\nb: |\n  ---x\n--- # c\nc: 3\n---\n")
    assert [(o, c.splitlines()[-1]) for o, c in parts] == [(0, "a: 1"), (1, "  ---x"), (4, "c: 3"), (6, "---")]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from(["", "x", "ALL", "RuntimeDefault", "0"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["securityContext", "capabilities", "add", "drop", "runAsUser", "privileged", "seccompProfile",
                         "type", "ports", "hostPort", "env", "name", "value", "volumes", "hostPath", "path",
                         "resources", "limits", "livenessProbe", "httpGet", "host", "image", "sysctls"]),
        children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=json_values, containers=st.lists(json_values, max_size=2))
def test_any_pod_spec_yields_valid_records_or_an_error(tmp_path: Path, spec: Any, containers: list[Any]) -> None:
    body = dict(spec) if isinstance(spec, dict) else {"x": spec}
    body["containers"] = containers
    write_docs(tmp_path / "p.yaml", [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": body}])
    records = collect(tmp_path, ["p.yaml"])  # checks every record against its schema
    assert records and all(r.resource.startswith("p.yaml#0") for r in records)


def test_every_field_typed_and_keys_of_the_wrong_type_refused(tmp_path: Path) -> None:
    """A pod using every field the collector keeps, a ConfigMap, a Namespace and a
    ServiceAccount: typed values equal to what decoding their plain form gives (tests.k8s.collect
    checks it); mapping keys written as numbers are strings, as Kubernetes reads them."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p1", "namespace": "apps", "annotations": {
        "seccomp.security.alpha.kubernetes.io/pod": "runtime/default", "other": "x"}}, "spec": {
        "serviceAccountName": "sa1", "os": {"name": "linux"},
        "securityContext": {"sysctls": [{"name": "a.b", "value": "1"}], "seLinuxOptions": {"user": "u"},
                            "windowsOptions": {"hostProcess": False},
                            "seccompProfile": {"type": "Localhost", "localhostProfile": "x"}},
        "volumes": [{"name": "v", "hostPath": {"path": "/etc"}}, {"name": "e"}],
        "containers": [{"name": "c", "image": "nginx@sha256:abc", "env": [
            {"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
            {"name": "TOKEN", "value": "ghp_0123456789abcdefghijklmnopqrstuvwxyz"}],
            "ports": [{"containerPort": 80, "hostPort": 80}],
            "livenessProbe": {"httpGet": {"host": "example.com", "port": 80}},
            "volumeMounts": [{"name": "v", "mountPath": "/x", "readOnly": True}],
            "securityContext": {"capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}, "procMount": "Default"}}]}}
    others = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "apps"},
         "data": {"app.conf": "a: 1\npassword: hunter2secretvalue\n", "plain": "hello"},
         "binaryData": {"blob": "aGVsbG8="}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps", "labels": {"team": "x"}}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa1", "namespace": "apps"},
         "automountServiceAccountToken": False},
    ]
    bad_env = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad-env"}, "spec": {
        "containers": [{"name": "c", "image": "x", "env": [{"name": "A", "valueFrom": {7: "x"}}]}]}}
    bad_volume = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad-volume"}, "spec": {
        "volumes": [{"name": "v", 3: "x"}], "containers": [{"name": "c", "image": "x"}]}}
    write_docs(tmp_path / "all.yaml", [pod, *others, bad_env, bad_volume])
    records = collect(tmp_path, ["all.yaml"])
    workloads = {w.resource.rsplit(" ", 1)[1]: plain_of(w) for w in by_kind(records, "kubernetes.workload")}
    data = workloads["Pod/apps/p1"]
    assert data["service_account"] == {"name": "sa1", "automount": False, "decided_by": "serviceaccount"}
    assert [e["from"] for e in data["containers"][0]["env"]] == ["secretKeyRef", "value"]
    assert data["volumes"][1]["sources"] == ["emptyDir"] and data["annotations"] == {
        "seccomp.security.alpha.kubernetes.io/pod": "runtime/default"}
    (configmap,) = by_kind(records, "kubernetes.configmap")
    assert [e["value_kind"] for e in plain_of(configmap)["entries"]] == ["text", "text", "binary"]
    entry = plain_of(configmap)["entries"][0]  # the value's text starts on the entry's line + 1
    assert entry["embedded"] == [{"name": "password", "line": entry["line"] + 1}]
    # a key written as a number is a string to Kubernetes (sigs.k8s.io/yaml), as it is here: these
    # pods are read as the API server reads them (which refuses the unknown fields "7" and "3")
    assert workloads["Pod/bad-env"]["containers"][0]["env"][0]["from"] == "7"
    assert workloads["Pod/bad-volume"]["volumes"][0]["sources"] == ["3"]
    assert not [r for r in records if isinstance(r, Failure)]
