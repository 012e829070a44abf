"""Pod specs in the form the container rules read: every field they test present (null when
unset), typed as Kubernetes types it, with the field path and line of each container.

A field of the wrong type (`privileged: "yes"`, `runAsUser: root`) raises :class:`FieldError`:
the API server would refuse such an object, so it is reported rather than guessed at.
Environment values are described, never kept (see :mod:`values`); of the pod's annotations
only those the Pod Security Standards read (AppArmor and seccomp) are kept.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from auditor._collectors.k8s.objects import FieldError, ManifestObject
from auditor._collectors.k8s.values import describe_value
from auditor._loader.yamlfile import PathKey, dotted_path
from auditor.evidence.kinds.kubernetes import (
    Capabilities,
    Container,
    EnvVar,
    HostPath,
    PodSecurityContext,
    PodSpec,
    Port,
    ProbeHost,
    Profile,
    Resources,
    SecurityContext,
    SeLinuxOptions,
    ServiceAccount,
    Volume,
    VolumeMount,
    WindowsOptions,
)

CONTAINER_LISTS = (
    ("initContainers", "initContainer"),
    ("containers", "container"),
    ("ephemeralContainers", "ephemeralContainer"),
)
PSS_ANNOTATIONS = (
    "container.apparmor.security.beta.kubernetes.io/",
    "seccomp.security.alpha.kubernetes.io/pod",
    "container.seccomp.security.alpha.kubernetes.io/",
)
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
LIFECYCLE = ("postStart", "preStop")


def _mapping(value: Any, path: PathKey, *, optional: bool = True) -> Mapping[str, Any] | None:
    if value is None and optional:
        return None
    if not isinstance(value, Mapping):
        raise FieldError(path, f"expected a mapping, got {_show(value)}")
    return value


def _get(m: Mapping[str, Any] | None, key: str) -> Any:
    return None if m is None else m.get(key)


def _bool(m: Mapping[str, Any] | None, key: str, path: PathKey) -> bool | None:
    value = _get(m, key)
    if value is None or isinstance(value, bool):
        return value
    raise FieldError((*path, key), f"expected true or false, got {_show(value)}")


def _int(m: Mapping[str, Any] | None, key: str, path: PathKey) -> int | None:
    value = _get(m, key)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise FieldError((*path, key), f"expected an integer, got {_show(value)}")


def _str(m: Mapping[str, Any] | None, key: str, path: PathKey) -> str | None:
    value = _get(m, key)
    if value is None or isinstance(value, str):
        return value
    raise FieldError((*path, key), f"expected a string, got {_show(value)}")


def _list(m: Mapping[str, Any] | None, key: str, path: PathKey) -> list[Any]:
    value = _get(m, key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise FieldError((*path, key), f"expected a list, got {_show(value)}")
    return value


def _elements(m: Mapping[str, Any] | None, key: str, path: PathKey) -> Iterator[tuple[PathKey, Mapping[str, Any]]]:
    """(path, mapping) of each element of the list of mappings at `key`."""
    for i, item in enumerate(_list(m, key, path)):
        where = (*path, key, i)
        entry = _mapping(item, where, optional=False)
        assert entry is not None
        yield where, entry


def _strings(m: Mapping[str, Any] | None, key: str, path: PathKey) -> tuple[str, ...]:
    items = _list(m, key, path)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise FieldError((*path, key, i), f"expected a string, got {_show(item)}")
    return tuple(items)


def _show(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _profile(sc: Mapping[str, Any] | None, key: str, path: PathKey) -> Profile | None:
    """seccompProfile / appArmorProfile: {type, localhostProfile}; a missing type is ""."""
    raw = _mapping(_get(sc, key), (*path, key))
    if raw is None:
        return None
    where = (*path, key)
    return Profile(type=_str(raw, "type", where) or "", localhostProfile=_str(raw, "localhostProfile", where))


def _selinux(sc: Mapping[str, Any] | None, path: PathKey) -> SeLinuxOptions | None:
    raw = _mapping(_get(sc, "seLinuxOptions"), (*path, "seLinuxOptions"))
    if raw is None:
        return None
    where = (*path, "seLinuxOptions")
    return SeLinuxOptions(user=_str(raw, "user", where) or "", role=_str(raw, "role", where) or "",
                          type=_str(raw, "type", where) or "", level=_str(raw, "level", where) or "")


def _windows(sc: Mapping[str, Any] | None, path: PathKey) -> WindowsOptions | None:
    raw = _mapping(_get(sc, "windowsOptions"), (*path, "windowsOptions"))
    if raw is None:
        return None
    return WindowsOptions(hostProcess=_bool(raw, "hostProcess", (*path, "windowsOptions")))


def pod_security_context(spec: Mapping[str, Any], path: PathKey) -> PodSecurityContext:
    where = (*path, "securityContext")
    sc = _mapping(spec.get("securityContext"), where)
    sysctls = tuple(_str(entry, "name", at) or "" for at, entry in _elements(sc, "sysctls", where))
    return PodSecurityContext(
        runAsNonRoot=_bool(sc, "runAsNonRoot", where),
        runAsUser=_int(sc, "runAsUser", where),
        runAsGroup=_int(sc, "runAsGroup", where),
        fsGroup=_int(sc, "fsGroup", where),
        seccompProfile=_profile(sc, "seccompProfile", where),
        appArmorProfile=_profile(sc, "appArmorProfile", where),
        seLinuxOptions=_selinux(sc, where),
        windowsOptions=_windows(sc, where),
        sysctls=sysctls,
    )


def container_security_context(raw: Mapping[str, Any], path: PathKey) -> SecurityContext:
    where = (*path, "securityContext")
    sc = _mapping(raw.get("securityContext"), where)
    caps_raw = _mapping(_get(sc, "capabilities"), (*where, "capabilities"))
    caps = None
    if caps_raw is not None:
        cw = (*where, "capabilities")
        caps = Capabilities(add=_strings(caps_raw, "add", cw), drop=_strings(caps_raw, "drop", cw))
    return SecurityContext(
        privileged=_bool(sc, "privileged", where),
        allowPrivilegeEscalation=_bool(sc, "allowPrivilegeEscalation", where),
        runAsNonRoot=_bool(sc, "runAsNonRoot", where),
        runAsUser=_int(sc, "runAsUser", where),
        runAsGroup=_int(sc, "runAsGroup", where),
        readOnlyRootFilesystem=_bool(sc, "readOnlyRootFilesystem", where),
        procMount=_str(sc, "procMount", where),
        capabilities=caps,
        seccompProfile=_profile(sc, "seccompProfile", where),
        appArmorProfile=_profile(sc, "appArmorProfile", where),
        seLinuxOptions=_selinux(sc, where),
        windowsOptions=_windows(sc, where),
    )


def _probe_hosts(raw: Mapping[str, Any], path: PathKey) -> tuple[ProbeHost, ...]:
    """Every `host` set in the container's probes and lifecycle handlers."""
    handlers: list[tuple[str, Any]] = [(p, raw.get(p)) for p in PROBES]
    lifecycle = _mapping(raw.get("lifecycle"), (*path, "lifecycle"))
    handlers += [(f"lifecycle.{h}", _get(lifecycle, h)) for h in LIFECYCLE]
    out: list[ProbeHost] = []
    for name, handler in handlers:
        handler_path = (*path, *name.split("."))
        h = _mapping(handler, handler_path)
        for action in ("httpGet", "tcpSocket"):
            a = _mapping(_get(h, action), (*handler_path, action))
            host = _str(a, "host", (*handler_path, action))
            if host is not None:
                out.append(ProbeHost(field=f"{name}.{action}.host", host=host))
    return tuple(out)


def _image(image: str) -> tuple[str | None, str | None]:
    """(digest, tag) of an image reference."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.partition(":")[2] or None
    return (digest or None), tag


def _resources(raw: Mapping[str, Any], path: PathKey) -> Resources:
    where = (*path, "resources")
    res = _mapping(raw.get("resources"), where)
    out: dict[str, dict[str, str]] = {}
    for key in ("requests", "limits"):
        m = _mapping(_get(res, key), (*where, key))
        out[key] = {str(k): str(v) for k, v in (m or {}).items() if v is not None}
    return Resources(requests=out["requests"], limits=out["limits"])


def _env(raw: Mapping[str, Any], path: PathKey, obj: ManifestObject) -> tuple[EnvVar, ...]:
    out = []
    for where, entry in _elements(raw, "env", path):
        name = _str(entry, "name", where) or ""
        source = _mapping(entry.get("valueFrom"), (*where, "valueFrom"))
        if source is not None:
            kind = next(iter(source), "valueFrom")
            if not isinstance(kind, str):
                raise FieldError((*where, "valueFrom"), f"expected a mapping with string keys, got key {_show(kind)}")
            out.append(EnvVar(name=name, path=dotted_path(where), line=obj.line_of(where), source=kind,
                              value_kind=None, secret_like=None, redacted=None, length=None))
        else:
            out.append(EnvVar(name=name, path=dotted_path(where), line=obj.line_of(where), source="value",
                              **describe_value(_str(entry, "value", where) or "")))
    return tuple(out)


def _ports(raw: Mapping[str, Any], path: PathKey) -> tuple[Port, ...]:
    return tuple(
        Port(containerPort=_int(port, "containerPort", where), hostPort=_int(port, "hostPort", where))
        for where, port in _elements(raw, "ports", path)
    )


def _mounts(raw: Mapping[str, Any], path: PathKey) -> tuple[VolumeMount, ...]:
    return tuple(
        VolumeMount(
            name=_str(mount, "name", where) or "",
            mountPath=_str(mount, "mountPath", where) or "",
            readOnly=bool(_bool(mount, "readOnly", where)),
        )
        for where, mount in _elements(raw, "volumeMounts", path)
    )


def container(raw: Any, path: PathKey, kind: str, index: int, obj: ManifestObject) -> Container:
    c = _mapping(raw, path, optional=False)
    assert c is not None
    name = _str(c, "name", path) or ""
    image = _str(c, "image", path) or ""
    digest, tag = _image(image)
    line = obj.line_of(path)
    return Container(
        name=name,
        type=kind,  # type: ignore[arg-type]  # one of CONTAINER_LISTS' kinds
        index=index,
        path=dotted_path(path),
        line=line,
        ref=f"{kind} '{name}'" + (f", line {line}" if line else ""),
        image=image,
        image_digest=digest,
        image_tag=tag,
        securityContext=container_security_context(c, path),
        ports=_ports(c, path),
        probe_hosts=_probe_hosts(c, path),
        resources=_resources(c, path),
        env=_env(c, path, obj),
        volumeMounts=_mounts(c, path),
    )


def volumes(spec: Mapping[str, Any], path: PathKey, obj: ManifestObject) -> tuple[Volume, ...]:
    out = []
    for where, vol in _elements(spec, "volumes", path):
        host = _mapping(vol.get("hostPath"), (*where, "hostPath"))
        # the API server defaults a volume without a source to emptyDir (SetDefaults_Volume)
        for key in vol:
            if not isinstance(key, str):
                raise FieldError(where, f"expected a mapping with string keys, got key {_show(key)}")
        sources = sorted(k for k, v in vol.items() if k != "name" and v is not None) or ["emptyDir"]
        out.append(Volume(
            name=_str(vol, "name", where) or "",
            path=dotted_path(where),
            line=obj.line_of(where),
            sources=tuple(sources),
            hostPath=None if host is None else HostPath(
                path=_str(host, "path", (*where, "hostPath")) or "",
                type=_str(host, "type", (*where, "hostPath")),
            ),
        ))
    return tuple(out)


def pod_data(obj: ManifestObject, spec_path: PathKey) -> dict[str, Any]:
    """The pod-level fields of a workload record (KubernetesWorkload's own, but for
    `service_account`): the spec's security fields and containers, typed."""
    raw_spec: Any = obj.value
    for key in spec_path:
        raw_spec = raw_spec.get(key) if isinstance(raw_spec, Mapping) else None
    spec = _mapping(raw_spec, spec_path, optional=False)
    assert spec is not None
    meta_path = (*spec_path[:-1], "metadata")
    meta: Any = obj.value
    for key in meta_path:
        meta = meta.get(key) if isinstance(meta, Mapping) else None
    meta_map = _mapping(meta, meta_path)
    annotations_raw = _mapping(_get(meta_map, "annotations"), (*meta_path, "annotations"))
    annotations = {
        str(k): str(v) for k, v in (annotations_raw or {}).items()
        if str(k).startswith(PSS_ANNOTATIONS) and v is not None
    }
    os_raw = _mapping(spec.get("os"), (*spec_path, "os"))
    containers = []
    for key, kind in CONTAINER_LISTS:
        for i, raw in enumerate(_list(spec, key, spec_path)):
            containers.append(container(raw, (*spec_path, key, i), kind, i, obj))
    return {
        "pod_path": dotted_path(spec_path),
        "pod_line": obj.line_of(spec_path),
        "annotations": annotations,
        "spec": PodSpec(
            hostNetwork=_bool(spec, "hostNetwork", spec_path),
            hostPID=_bool(spec, "hostPID", spec_path),
            hostIPC=_bool(spec, "hostIPC", spec_path),
            hostUsers=_bool(spec, "hostUsers", spec_path),
            os=_str(os_raw, "name", (*spec_path, "os")),
            automountServiceAccountToken=_bool(spec, "automountServiceAccountToken", spec_path),
            serviceAccountName=_str(spec, "serviceAccountName", spec_path) or _str(spec, "serviceAccount", spec_path),
            securityContext=pod_security_context(spec, spec_path),
        ),
        "containers": tuple(containers),
        "volumes": volumes(spec, spec_path, obj),
    }


def service_account(spec: PodSpec, namespace: str | None,
                    accounts: Mapping[tuple[str | None, str], bool | None]) -> ServiceAccount:
    """Which service account a pod runs as and whether its API token is mounted (and why)."""
    name = spec.serviceAccountName or "default"
    if spec.automountServiceAccountToken is not None:
        return ServiceAccount(name=name, automount=spec.automountServiceAccountToken, decided_by="pod")
    account = accounts.get((namespace, name))
    if account is not None:
        return ServiceAccount(name=name, automount=account, decided_by="serviceaccount")
    return ServiceAccount(name=name, automount=True, decided_by="default")
