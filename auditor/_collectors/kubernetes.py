"""Kubernetes manifests: files and folders, rendered Helm output on stdin, or a live cluster.

One record per object:
- `kubernetes.manifest` for every object (List items included): what and where it is;
- `kubernetes.workload` for each object with a pod spec (Pod, PodTemplate, Deployment,
  StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob);
- `kubernetes.configmap` and `kubernetes.namespace` for ConfigMaps and Namespaces.

A document that is not valid YAML, not a mapping, of an unknown built-in kind or with a field
of the wrong type yields an error record (`kubernetes.manifest`) for that document alone; the
other documents are still checked. ServiceAccounts are read to decide whether a pod gets an
API token mounted.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from typing import Literal

from auditor._collectors._files import read_stream
from auditor._collectors.interface import Collector
from auditor._collectors.k8s import read
from auditor._collectors.k8s.objects import (
    KINDS,
    WORKLOADS,
    FieldError,
    KindInfo,
    ManifestError,
    ManifestObject,
    Origin,
    api_group,
    is_builtin_group,
)
from auditor._collectors.k8s.pods import pod_data, service_account
from auditor._collectors.k8s.values import describe_value, embedded_secrets
from auditor.evidence.kinds.kubernetes import (
    ConfigMapEntry,
    Embedded,
    KubernetesConfigmap,
    KubernetesManifest,
    KubernetesNamespace,
    KubernetesWorkload,
)
from auditor.evidence.record import Record

MANIFEST = "kubernetes.manifest"
WORKLOAD = "kubernetes.workload"
CONFIGMAP = "kubernetes.configmap"
NAMESPACE = "kubernetes.namespace"


def read_stdin() -> bytes:
    return read_stream(sys.stdin.buffer.read, what="standard input")


class KubernetesCollector(Collector):
    name = "kubernetes"
    kinds = (MANIFEST, WORKLOAD, CONFIGMAP, NAMESPACE)

    def collect(self) -> Iterator[Record]:
        items = list(self._items())
        accounts = _service_accounts(i for i in items if isinstance(i, ManifestObject))
        for item in items:
            if isinstance(item, ManifestError):
                yield from self._errors(item.resource(), item.message, item.origin.line)
                continue
            yield from self._records(item, accounts)

    def _items(self) -> Iterator[read.Item]:
        ctx = self.context
        for value in ctx.source.options.get("paths", ()):
            if value == read.STDIN:
                yield from read.read_stdin(read_stdin)
                continue
            path = ctx.path(value)
            if ctx.real(path).is_dir():
                files, skipped = read.manifest_files(path, ctx.source.options.get("exclude", ()))
                for special in skipped:
                    yield ManifestError(Origin(ctx.display(special.path)), special.reason)
                if not files and not skipped:
                    yield ManifestError(Origin(ctx.display(path)), "folder holds no *.yaml, *.yml or *.json files")
                for file in files:
                    yield from read.read_file(file, ctx.display(file))
            else:
                yield from read.read_file(path, ctx.display(path))
        cluster = ctx.source.options.get("cluster")
        if cluster is not None:
            from auditor._collectors.k8s.cluster import cluster_items

            yield from cluster_items(cluster)

    def _errors(self, resource: str, message: str, line: int | None) -> Iterator[Record]:
        """The failure to read `resource` (a file, or an object in one), once for each kind
        this collector yields: what could not be read may hold any of them (a workload, a
        namespace), so the rules of each are undecided for it, never judged on the other
        files alone."""
        where = f"line {line}: " if line else ""
        return self.context.errors(self.kinds, resource, where + message)

    def _records(self, obj: ManifestObject, accounts: Mapping[tuple[str | None, str], bool | None]) -> Iterator[Record]:
        ctx = self.context
        kind, api_version = obj.kind, obj.api_version
        if not kind or not api_version or not isinstance(obj.value.get("kind"), str):
            missing = " and ".join(k for k, v in (("apiVersion", api_version), ("kind", kind)) if not v)
            yield from self._errors(obj.origin.label(), f"not a Kubernetes object: {missing or 'kind'} missing", obj.origin.line)
            return
        group = api_group(api_version)
        info: KindInfo | None = KINDS.get(kind)
        if info is not None and group not in info.groups:
            if is_builtin_group(group):
                served = ", ".join(f"{g}/…" if g else "v1" for g in info.groups)
                yield from self._errors(obj.resource(), f"kind {kind} is not served by apiVersion {api_version} (expected {served})", obj.origin.line)
                return
            info = None  # a custom resource that shares a built-in kind's name
        elif info is None and is_builtin_group(group):
            yield from self._errors(obj.resource(), f"unknown kind '{kind}' for apiVersion {api_version}", obj.origin.line)
            return
        resource = obj.resource()
        try:
            if not isinstance(obj.value.get("metadata", {}), Mapping):
                raise FieldError(("metadata",), "expected a mapping")
            header = obj.header(namespaced=info.namespaced if info else None)
            records = [ctx.record(resource, KubernetesManifest(**header, custom=info is None))]
            if info is not None and kind in WORKLOADS:
                data = pod_data(obj, WORKLOADS[kind].pod_spec)
                account = service_account(data["spec"], obj.namespace, accounts)
                records.append(ctx.record(resource, KubernetesWorkload(**header, **data, service_account=account)))
            elif info is not None and kind == "ConfigMap" and group == "":
                records.append(ctx.record(resource, KubernetesConfigmap(**header, entries=_entries(obj))))
            elif info is not None and kind == "Namespace" and group == "":
                records.append(ctx.record(resource, KubernetesNamespace(**header, labels=_labels(obj))))
        except FieldError as exc:
            yield from self._errors(resource, exc.describe(), obj.line_of(exc.path) or obj.origin.line)
            return
        yield from records


def _service_accounts(objects: Iterator[ManifestObject]) -> dict[tuple[str | None, str], bool | None]:
    """(namespace, name) -> the ServiceAccount's automountServiceAccountToken."""
    out: dict[tuple[str | None, str], bool | None] = {}
    for obj in objects:
        if obj.kind == "ServiceAccount" and obj.api_version == "v1":
            value = obj.value.get("automountServiceAccountToken")
            out[(obj.namespace, obj.name)] = value if isinstance(value, bool) else None
    return out


def _entries(obj: ManifestObject) -> tuple[ConfigMapEntry, ...]:
    out = []
    sections: tuple[Literal["data", "binaryData"], ...] = ("data", "binaryData")
    for section in sections:
        raw = obj.value.get(section)
        if raw is None:
            continue
        if not isinstance(raw, Mapping):
            raise FieldError((section,), "expected a mapping of keys to strings")
        for key, value in raw.items():
            if not isinstance(value, str):
                raise FieldError((section, str(key)), f"expected a string, got {type(value).__name__}")
            line = obj.line_of((section, str(key)))
            path = f"{section}.{key}"
            if section == "binaryData":
                out.append(ConfigMapEntry(key=str(key), section=section, path=path, line=line, value_kind="binary",
                                          secret_like=None, redacted=None, length=len(value), embedded=()))
            else:
                embedded = tuple(Embedded(name=e["name"], line=line + e["line"] - 1 if line else None)
                                 for e in embedded_secrets(value))
                out.append(ConfigMapEntry(key=str(key), section=section, path=path, line=line,
                                          **describe_value(value), embedded=embedded))
    return tuple(out)


def _labels(obj: ManifestObject) -> dict[str, str]:
    raw = obj.metadata.get("labels")
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise FieldError(("metadata", "labels"), "expected a mapping")
    return {str(k): str(v) for k, v in raw.items()}
