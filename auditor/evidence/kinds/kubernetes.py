"""kubernetes.manifest, kubernetes.workload, kubernetes.configmap, kubernetes.namespace."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec
from msgspec import Meta

from auditor.evidence.contract import Facts, NonNegative, Part, Redacted, SecretPart

ValueKind = Literal["empty", "reference", "path", "text", "binary"]


class Header(Facts, frozen=True, kw_only=True):
    """What and where a Kubernetes object is (every kubernetes.* kind starts with these)."""

    IDENTITY: ClassVar[tuple[str, ...]] = ("object",)

    file: Annotated[str, Meta(description="The file as displayed (relative to the target's root), <stdin>, or cluster:CONTEXT.")]
    document: Annotated[NonNegative | None, Meta(description="Index of the YAML document in the file (0-based, empty documents not counted).")]
    item: Annotated[NonNegative | None, Meta(description="Index in the items of a List.")]
    line: Annotated[int, Meta(ge=1)] | None
    helm_source: Annotated[str | None, Meta(description="The template named by Helm's '# Source:' comment.")]
    api_version: str
    kind: str
    namespace: str | None
    namespaced: Annotated[bool | None, Meta(description="Whether the kind is namespaced (null for custom resources).")]
    name: str
    generate_name: str | None
    object: Annotated[str, Meta(description="Kind/namespace/name (Kind/name without a namespace).")]


class KubernetesManifest(Header, frozen=True, kw_only=True):
    """One Kubernetes object read from a manifest (or a cluster): what and where it is."""

    KIND: ClassVar[str] = "kubernetes.manifest"

    custom: Annotated[bool, Meta(description="A custom resource (its API group is not Kubernetes' own).")]


class KubernetesNamespace(Header, frozen=True, kw_only=True):
    """A Namespace and its labels (the pod-security.kubernetes.io labels among them)."""

    KIND: ClassVar[str] = "kubernetes.namespace"

    labels: dict[str, str]


class Embedded(Part, frozen=True, kw_only=True):
    name: str
    line: int | None


class ConfigMapEntry(SecretPart, frozen=True, kw_only=True):
    SECRETS: ClassVar[tuple[str, ...]] = ("redacted",)
    IDENTITY: ClassVar[tuple[str, ...]] = ("section", "key")
    LABEL: ClassVar[str] = "{resource} {path}"

    key: str
    section: Literal["data", "binaryData"]
    path: str
    line: int | None
    value_kind: ValueKind | None
    secret_like: Annotated[str | None, Meta(description="The kind of secret the value looks like (private key, JWT, ...).")]
    redacted: Annotated[Redacted | None, Meta(description="auditor._redact form: a short prefix and a fingerprint; never the value.")]
    length: int | None
    embedded: Annotated[tuple[Embedded, ...], Meta(description="Sensitive settings assigned literal values inside the entry's text.")]


class KubernetesConfigmap(Header, frozen=True, kw_only=True):
    """A ConfigMap: the shape of each entry, never its value."""

    KIND: ClassVar[str] = "kubernetes.configmap"

    entries: tuple[ConfigMapEntry, ...]


class Profile(Part, frozen=True, kw_only=True):
    type: str
    localhostProfile: str | None


class SeLinuxOptions(Part, frozen=True, kw_only=True):
    user: str
    role: str
    type: str
    level: str


class WindowsOptions(Part, frozen=True, kw_only=True):
    hostProcess: bool | None


class PodSecurityContext(Part, frozen=True, kw_only=True):
    runAsNonRoot: bool | None
    runAsUser: int | None
    runAsGroup: int | None
    fsGroup: int | None
    seccompProfile: Profile | None
    appArmorProfile: Profile | None
    seLinuxOptions: SeLinuxOptions | None
    windowsOptions: WindowsOptions | None
    sysctls: tuple[str, ...]


class PodSpec(Part, frozen=True, kw_only=True):
    hostNetwork: bool | None
    hostPID: bool | None
    hostIPC: bool | None
    hostUsers: bool | None
    os: str | None
    automountServiceAccountToken: bool | None
    serviceAccountName: str | None
    securityContext: PodSecurityContext


class Capabilities(Part, frozen=True, kw_only=True):
    add: tuple[str, ...]
    drop: tuple[str, ...]


class SecurityContext(Part, frozen=True, kw_only=True):
    privileged: bool | None
    allowPrivilegeEscalation: bool | None
    runAsNonRoot: bool | None
    runAsUser: int | None
    runAsGroup: int | None
    readOnlyRootFilesystem: bool | None
    procMount: str | None
    capabilities: Capabilities | None
    seccompProfile: Profile | None
    appArmorProfile: Profile | None
    seLinuxOptions: SeLinuxOptions | None
    windowsOptions: WindowsOptions | None


class Port(Part, frozen=True, kw_only=True):
    containerPort: int | None
    hostPort: int | None


class ProbeHost(Part, frozen=True, kw_only=True):
    field: str
    host: str


class Resources(Part, frozen=True, kw_only=True):
    requests: dict[str, str]
    limits: dict[str, str]


class EnvVar(SecretPart, frozen=True, kw_only=True):
    SECRETS: ClassVar[tuple[str, ...]] = ("redacted",)

    name: str
    path: str
    line: int | None
    source: Annotated[str, Meta(description="value, or the valueFrom source (secretKeyRef, configMapKeyRef, fieldRef, ...)")] = msgspec.field(name="from")
    value_kind: ValueKind | None
    secret_like: Annotated[str | None, Meta(description="The kind of secret the value looks like (private key, JWT, ...).")]
    redacted: Annotated[Redacted | None, Meta(description="auditor._redact form: a short prefix and a fingerprint; never the value.")]
    length: int | None


class VolumeMount(Part, frozen=True, kw_only=True):
    name: str
    mountPath: str
    readOnly: bool


class Container(Part, frozen=True, kw_only=True):
    IDENTITY: ClassVar[tuple[str, ...]] = ("name",)
    LABEL: ClassVar[str] = "{resource} container {name}"

    name: str
    type: Literal["initContainer", "container", "ephemeralContainer"]
    index: int
    path: Annotated[str, Meta(description="Field path, e.g. spec.template.spec.containers[0].")]
    line: int | None
    ref: Annotated[str, Meta(description="How messages name the container.")]
    image: str
    image_digest: str | None
    image_tag: str | None
    securityContext: SecurityContext
    ports: tuple[Port, ...]
    probe_hosts: tuple[ProbeHost, ...]
    resources: Resources
    env: tuple[EnvVar, ...]
    volumeMounts: tuple[VolumeMount, ...]


class HostPath(Part, frozen=True, kw_only=True):
    path: str
    type: str | None


class Volume(Part, frozen=True, kw_only=True):
    IDENTITY: ClassVar[tuple[str, ...]] = ("name",)
    LABEL: ClassVar[str] = "{resource} volume {name}"

    name: str
    path: str
    line: int | None
    sources: tuple[str, ...]
    hostPath: HostPath | None


class ServiceAccount(Part, frozen=True, kw_only=True):
    name: str
    automount: bool
    decided_by: Literal["pod", "serviceaccount", "default"]


class KubernetesWorkload(Header, frozen=True, kw_only=True):
    """An object with a pod spec (Pod, PodTemplate, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob): the fields the container rules read, null when unset."""

    KIND: ClassVar[str] = "kubernetes.workload"

    pod_path: Annotated[str, Meta(description="Where the pod spec lives, e.g. spec.template.spec.")]
    pod_line: int | None
    annotations: Annotated[dict[str, str], Meta(description="The pod's AppArmor and seccomp annotations only.")]
    spec: PodSpec
    containers: Annotated[tuple[Container, ...], Meta(description="init, regular and ephemeral containers")]
    volumes: tuple[Volume, ...]
    service_account: ServiceAccount
