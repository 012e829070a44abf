"""The live-cluster path of the kubernetes collector.

No Kubernetes cluster can run here, and no fake API server stands in for one: these tests use
the real client's model objects (the conversion every listed object goes through) and the real
client against a kubeconfig whose server refuses connections, or that does not exist.
"""

from __future__ import annotations

from pathlib import Path

from kubernetes import client

from auditor._collectors.k8s.cluster import LISTERS, to_manifest
from auditor._collectors.k8s.objects import WORKLOADS
from auditor._collectors.kubernetes import KubernetesCollector
from auditor.evidence.record import Evidence, Failure
from tests.k8s import collect
from tests.servers import closed_port


def _serialize(model: object) -> object:
    return client.ApiClient().sanitize_for_serialization(model)  # type: ignore[no-untyped-call]


def _deployment() -> client.V1Deployment:
    container = client.V1Container(
        name="app", image="registry.example/app@sha256:" + "b" * 64,
        security_context=client.V1SecurityContext(privileged=True, run_as_user=0,
                                                  capabilities=client.V1Capabilities(add=["NET_ADMIN"])),
    )
    template = client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels={"app": "a"}),
        spec=client.V1PodSpec(containers=[container], host_network=True,
                              security_context=client.V1PodSecurityContext(run_as_non_root=False)),
    )
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name="a", namespace="apps", managed_fields=[client.V1ManagedFieldsEntry(manager="kubectl")]),
        spec=client.V1DeploymentSpec(selector=client.V1LabelSelector(match_labels={"app": "a"}), template=template),
    )


def test_client_models_become_manifests() -> None:
    raw = to_manifest(_serialize, "Deployment", "apps/v1", _deployment())
    assert raw is not None
    assert raw["kind"] == "Deployment" and raw["apiVersion"] == "apps/v1"
    assert "managedFields" not in raw["metadata"]
    sc = raw["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    assert sc == {"privileged": True, "runAsUser": 0, "capabilities": {"add": ["NET_ADMIN"]}}
    owned = client.V1Pod(metadata=client.V1ObjectMeta(name="a-1", owner_references=[
        client.V1OwnerReference(api_version="apps/v1", kind="ReplicaSet", name="a", uid="u", controller=True)]))
    assert to_manifest(_serialize, "Pod", "v1", owned) is None


def test_converted_objects_are_checked_like_files(tmp_path: Path) -> None:
    import yaml

    raw = to_manifest(_serialize, "Deployment", "apps/v1", _deployment())
    (tmp_path / "from-cluster.yaml").write_text(yaml.safe_dump(raw))
    (rec,) = [r for r in collect(tmp_path, ["from-cluster.yaml"]) if r.kind == "kubernetes.workload"]
    assert isinstance(rec, Evidence)
    assert rec.plain["spec"]["hostNetwork"] is True
    assert rec.plain["containers"][0]["securityContext"]["capabilities"] == {"add": ["NET_ADMIN"], "drop": []}


def test_every_workload_kind_is_listed() -> None:
    listed = {kind for kind, *_ in LISTERS}
    assert set(WORKLOADS) - {"PodTemplate"} <= listed
    for _kind, _version, api, all_ns, one_ns in LISTERS:
        assert hasattr(getattr(client, api), all_ns)
        assert not one_ns or hasattr(getattr(client, api), one_ns)


def test_unreachable_cluster_is_an_error_record(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: lab\n"
        f"clusters: [{{name: lab, cluster: {{server: 'https://127.0.0.1:{closed_port()}', insecure-skip-tls-verify: true}}}}]\n"
        "users: [{name: u, user: {token: not-a-real-token}}]\n"
        "contexts: [{name: lab, context: {cluster: lab, user: u}}]\n"
    )
    records = collect(tmp_path, [], cluster={"kubeconfig": str(kubeconfig), "context": "lab"})
    assert [r.kind for r in records] == [*KubernetesCollector.kinds]  # each kind's rules undecided
    for rec in records:
        assert rec.resource == "cluster:lab"
        assert isinstance(rec, Failure) and rec.error.startswith("cannot list objects:")
        assert "not-a-real-token" not in rec.error


def test_missing_kubeconfig_is_an_error_record(tmp_path: Path) -> None:
    records = collect(tmp_path, [], cluster={"kubeconfig": str(tmp_path / "nope")})
    assert [r.kind for r in records] == [*KubernetesCollector.kinds]
    for rec in records:
        assert rec.resource == "cluster:current-context"
        assert isinstance(rec, Failure) and rec.error.startswith("cannot load the kubeconfig")
