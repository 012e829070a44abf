"""Objects from a live cluster through the official `kubernetes` client, read-only.

Only list calls are made (never a write, never Secrets: their values are not needed). Pods,
ReplicaSets and Jobs owned by a controller are skipped, since the controller's pod template is
checked already. Each object is turned into the manifest form (`to_manifest`) and goes through
the same pipeline as files, so findings do not depend on where the object came from.

The client is an optional dependency (`pip install 'auditor[cluster]'`). No cluster runs in the
test suite: what is tested is the conversion of the client's real model objects and the
errors a scan reports when the cluster cannot be reached.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from auditor._collectors.k8s.objects import ManifestError, ManifestObject, Origin

Item = ManifestObject | ManifestError

# (kind, apiVersion, API class, method listing all namespaces, method listing one namespace)
LISTERS: tuple[tuple[str, str, str, str, str], ...] = (
    ("Namespace", "v1", "CoreV1Api", "list_namespace", ""),
    ("ServiceAccount", "v1", "CoreV1Api", "list_service_account_for_all_namespaces", "list_namespaced_service_account"),
    ("ConfigMap", "v1", "CoreV1Api", "list_config_map_for_all_namespaces", "list_namespaced_config_map"),
    ("Pod", "v1", "CoreV1Api", "list_pod_for_all_namespaces", "list_namespaced_pod"),
    ("ReplicationController", "v1", "CoreV1Api", "list_replication_controller_for_all_namespaces",
     "list_namespaced_replication_controller"),
    ("Deployment", "apps/v1", "AppsV1Api", "list_deployment_for_all_namespaces", "list_namespaced_deployment"),
    ("StatefulSet", "apps/v1", "AppsV1Api", "list_stateful_set_for_all_namespaces", "list_namespaced_stateful_set"),
    ("DaemonSet", "apps/v1", "AppsV1Api", "list_daemon_set_for_all_namespaces", "list_namespaced_daemon_set"),
    ("ReplicaSet", "apps/v1", "AppsV1Api", "list_replica_set_for_all_namespaces", "list_namespaced_replica_set"),
    ("Job", "batch/v1", "BatchV1Api", "list_job_for_all_namespaces", "list_namespaced_job"),
    ("CronJob", "batch/v1", "BatchV1Api", "list_cron_job_for_all_namespaces", "list_namespaced_cron_job"),
)
TIMEOUT_SECONDS = 15


def cluster_label(context: str | None) -> str:
    return f"cluster:{context or 'current-context'}"


def to_manifest(serialize: Any, kind: str, api_version: str, model: Any) -> dict[str, Any] | None:
    """A client model object as a manifest mapping; None for objects a controller owns."""
    raw = serialize(model)
    if not isinstance(raw, Mapping):
        return None
    meta = dict(raw.get("metadata") or {})
    if kind in ("Pod", "ReplicaSet", "Job") and any(o.get("controller") for o in meta.get("ownerReferences") or ()):
        return None
    meta.pop("managedFields", None)
    return {**raw, "apiVersion": api_version, "kind": kind, "metadata": meta}


def cluster_items(options: Mapping[str, Any]) -> Iterator[Item]:
    context = options.get("context")
    label = cluster_label(context)
    try:
        from kubernetes import client, config
    except ImportError:
        yield ManifestError(Origin(label), "reading a live cluster needs the kubernetes client: pip install 'auditor[cluster]'")
        return
    try:
        api_client = config.new_client_from_config(config_file=options.get("kubeconfig"), context=context)  # type: ignore[no-untyped-call]
    except Exception as exc:  # ConfigException, a missing or malformed kubeconfig
        yield ManifestError(Origin(label), f"cannot load the kubeconfig: {_oneline(exc)}")
        return
    namespaces = list(options.get("namespaces") or ())
    try:
        for kind, api_version, api_name, all_ns, one_ns in LISTERS:
            api = getattr(client, api_name)(api_client)
            if kind == "Namespace" or not namespaces:
                calls = [getattr(api, all_ns)(_request_timeout=TIMEOUT_SECONDS)]
            else:
                calls = [getattr(api, one_ns)(ns, _request_timeout=TIMEOUT_SECONDS) for ns in namespaces]
            for listing in calls:
                for model in listing.items or ():
                    raw = to_manifest(api_client.sanitize_for_serialization, kind, api_version, model)
                    if raw is not None and (kind != "Namespace" or not namespaces or raw["metadata"].get("name") in namespaces):
                        yield ManifestObject(Origin(label), raw)
    except Exception as exc:  # ApiException, urllib3 connection errors, timeouts
        yield ManifestError(Origin(label), f"cannot list objects: {_oneline(exc)}")
    finally:
        api_client.close()


def _oneline(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
