"""Kubernetes objects as read from a manifest, the kinds auditor knows, and how findings name them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from auditor._loader.yamlfile import Document, PathKey, dotted_path


@dataclass(frozen=True)
class KindInfo:
    groups: tuple[str, ...]
    """API groups that serve the kind ("" is the core group, apiVersion `v1`)."""
    namespaced: bool
    pod_spec: PathKey = ()
    """Where the pod spec lives, for workloads; () for other kinds."""

    @property
    def pod_metadata(self) -> PathKey:
        """The metadata of the pod (template) whose spec is at `pod_spec`."""
        return (*self.pod_spec[:-1], "metadata")


_TEMPLATE = ("spec", "template", "spec")
WORKLOADS: dict[str, KindInfo] = {
    "Pod": KindInfo(("",), True, ("spec",)),
    "PodTemplate": KindInfo(("",), True, ("template", "spec")),
    "ReplicationController": KindInfo(("",), True, _TEMPLATE),
    "Deployment": KindInfo(("apps", "extensions"), True, _TEMPLATE),
    "StatefulSet": KindInfo(("apps",), True, _TEMPLATE),
    "DaemonSet": KindInfo(("apps", "extensions"), True, _TEMPLATE),
    "ReplicaSet": KindInfo(("apps", "extensions"), True, _TEMPLATE),
    "Job": KindInfo(("batch",), True, _TEMPLATE),
    "CronJob": KindInfo(("batch",), True, ("spec", "jobTemplate", "spec", "template", "spec")),
}

_NAMESPACED = {
    "": ("ConfigMap", "Secret", "ServiceAccount", "Service", "Endpoints", "PersistentVolumeClaim",
         "LimitRange", "ResourceQuota", "Event", "Binding"),
    "apps": ("ControllerRevision",),
    "networking.k8s.io": ("Ingress", "NetworkPolicy"),
    "extensions": ("Ingress", "NetworkPolicy"),
    "rbac.authorization.k8s.io": ("Role", "RoleBinding"),
    "policy": ("PodDisruptionBudget",),
    "autoscaling": ("HorizontalPodAutoscaler",),
    "coordination.k8s.io": ("Lease",),
    "discovery.k8s.io": ("EndpointSlice",),
    "events.k8s.io": ("Event",),
    "storage.k8s.io": ("CSIStorageCapacity",),
    "resource.k8s.io": ("ResourceClaim", "ResourceClaimTemplate"),
}
_CLUSTER = {
    "": ("Namespace", "Node", "PersistentVolume", "ComponentStatus"),
    "rbac.authorization.k8s.io": ("ClusterRole", "ClusterRoleBinding"),
    "policy": ("PodSecurityPolicy",),
    "extensions": ("PodSecurityPolicy",),
    "storage.k8s.io": ("StorageClass", "CSIDriver", "CSINode", "VolumeAttachment", "VolumeAttributesClass"),
    "apiextensions.k8s.io": ("CustomResourceDefinition",),
    "apiregistration.k8s.io": ("APIService",),
    "admissionregistration.k8s.io": (
        "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
        "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
        "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding",
    ),
    "scheduling.k8s.io": ("PriorityClass",),
    "node.k8s.io": ("RuntimeClass",),
    "certificates.k8s.io": ("CertificateSigningRequest", "ClusterTrustBundle"),
    "flowcontrol.apiserver.k8s.io": ("FlowSchema", "PriorityLevelConfiguration"),
    "networking.k8s.io": ("IngressClass", "IPAddress", "ServiceCIDR"),
    "resource.k8s.io": ("DeviceClass", "ResourceSlice"),
}


def _kind_table() -> dict[str, KindInfo]:
    table = dict(WORKLOADS)
    for namespaced, spec in ((True, _NAMESPACED), (False, _CLUSTER)):
        for group, kinds in spec.items():
            for kind in kinds:
                old = table.get(kind)
                groups = (*old.groups, group) if old else (group,)
                table[kind] = KindInfo(groups, namespaced)
    return table


KINDS = _kind_table()


def api_group(api_version: str) -> str:
    """`apps` for `apps/v1`, "" for `v1`."""
    return api_version.rpartition("/")[0]


def is_builtin_group(group: str) -> bool:
    """Groups served by Kubernetes itself: a kind auditor does not know there is a mistake."""
    return "." not in group or group.endswith(".k8s.io")


def is_list_kind(kind: str) -> bool:
    return kind == "List" or (kind.endswith("List") and len(kind) > 4)


@dataclass(frozen=True)
class Origin:
    """Where an object was read: the file, the document index, the item of a List, the line."""

    file: str
    document: int | None = None
    item: int | None = None
    line: int | None = None
    helm_source: str | None = None

    def label(self) -> str:
        """`k8s/app.yaml#0`, `k8s/list.yaml#2.5`, `<stdin>#3 (chart/templates/x.yaml)`."""
        out = self.file
        if self.document is not None:
            out += f"#{self.document}"
        if self.item is not None:
            out += f".{self.item}"
        if self.helm_source:
            out += f" ({self.helm_source})"
        return out


@dataclass(frozen=True)
class ManifestObject:
    """One Kubernetes object (a mapping), with where it came from and the line of every value."""

    origin: Origin
    value: Mapping[str, Any]
    document: Document | None = None
    base: PathKey = ()
    """The object's path inside its YAML document (("items", 3) for an item of a List)."""

    def line_of(self, path: PathKey) -> int | None:
        if self.document is None:
            return None
        return self.document.line_of((*self.base, *path))

    @property
    def api_version(self) -> str:
        return str(self.value.get("apiVersion") or "")

    @property
    def kind(self) -> str:
        return str(self.value.get("kind") or "")

    @property
    def metadata(self) -> Mapping[str, Any]:
        meta = self.value.get("metadata")
        return meta if isinstance(meta, Mapping) else {}

    @property
    def name(self) -> str:
        name = self.metadata.get("name")
        return name if isinstance(name, str) else ""

    @property
    def namespace(self) -> str | None:
        ns = self.metadata.get("namespace")
        return ns if isinstance(ns, str) and ns else None

    def display(self) -> str:
        """`Deployment/cim-production/nats-exporter` (`Kind/name` without a namespace)."""
        name = self.name or (str(self.metadata.get("generateName") or "") + "*")
        parts = [self.kind, self.namespace, name] if self.namespace else [self.kind, name]
        return "/".join(parts)

    def resource(self) -> str:
        """How findings name the object: the file, the document index and the object."""
        return f"{self.origin.label()} {self.display()}"

    def header(self, *, namespaced: bool | None) -> dict[str, Any]:
        """The fields every kubernetes.* evidence record starts with."""
        o = self.origin
        generate = self.metadata.get("generateName")
        return {
            "file": o.file,
            "document": o.document,
            "item": o.item,
            "line": o.line,
            "helm_source": o.helm_source,
            "api_version": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "namespaced": namespaced,
            "name": self.name,
            "generate_name": generate if isinstance(generate, str) else None,
            "object": self.display(),
        }


@dataclass(frozen=True)
class ManifestError:
    """A document (or object) that cannot be checked, and why."""

    origin: Origin
    message: str

    def resource(self) -> str:
        return self.origin.label()


class FieldError(Exception):
    """A field of an object has the wrong type or shape (Kubernetes would refuse the object too)."""

    def __init__(self, path: PathKey, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message

    def describe(self) -> str:
        return f"field {dotted_path(self.path)}: {self.message}"
