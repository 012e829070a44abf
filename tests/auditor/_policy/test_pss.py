"""The pss-baseline and pss-restricted packs give the admission controller's verdict per pod.

Each case changes one field of a pod that passes both levels at every version, and states the
versions at which Pod Security admission (k8s.io/pod-security-admission, as documented in
its check_*.go files and ../shared/reference/kubernetes-pss.md) refuses it at each level.
Every case is checked at every version below, at both levels, in one scan.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from auditor._policy.cel import _version_parts as _version
from auditor.evidence.record import Failure
from tests.k8s import LEVELS, collect, pss_verdicts, write_docs

VERSIONS = (
    "v1.0", "v1.7", "v1.8", "v1.18", "v1.19", "v1.21", "v1.22", "v1.24", "v1.25", "v1.26",
    "v1.27", "v1.28", "v1.29", "v1.30", "v1.31", "v1.32", "v1.33", "v1.34", "v1.35", "v1.36",
    "v1.37", "v1.40", "latest",
)
Ranges = tuple[tuple[str, str | None], ...]
ALL: Ranges = (("v1.0", None),)
NEVER: Ranges = ()


def since(v: str) -> Ranges:
    return ((v, None),)


def until(v: str) -> Ranges:
    return (("v1.0", v),)


def between(lo: str, hi: str) -> Ranges:
    return ((lo, hi),)


def refused(ranges: Ranges, version: str) -> bool:
    v = _version(version)
    return any(_version(lo) <= v and (hi is None or v <= _version(hi)) for lo, hi in ranges)


def base_pod(name: str) -> dict[str, Any]:
    def container(n: str) -> dict[str, Any]:
        return {"name": n, "image": "registry.example/app:1",
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}

    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "apps"},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "initContainers": [container("init")],
            "containers": [container("app")],
        },
    }


Mutate = Callable[[dict[str, Any]], None]


def spec(**fields: Any) -> Mutate:
    return lambda pod: pod["spec"].update(fields)


def pod_sc(**fields: Any) -> Mutate:
    return lambda pod: pod["spec"]["securityContext"].update(fields)


def no_pod_sc(key: str) -> Mutate:
    return lambda pod: pod["spec"]["securityContext"].pop(key)


def csc(index: int = 0, kind: str = "containers", **fields: Any) -> Mutate:
    return lambda pod: pod["spec"][kind][index]["securityContext"].update(fields)


def container(kind: str = "containers", **fields: Any) -> Mutate:
    return lambda pod: pod["spec"][kind][0].update(fields)


def annotate(**annotations: str) -> Mutate:
    return lambda pod: pod["metadata"].setdefault("annotations", {}).update(annotations)


def volume(**source: Any) -> Mutate:
    return lambda pod: pod["spec"].setdefault("volumes", []).append({"name": f"v{len(pod['spec'].get('volumes', []))}", **source})


def both(*mutations: Mutate) -> Mutate:
    def apply(pod: dict[str, Any]) -> None:
        for m in mutations:
            m(pod)
    return apply


def ephemeral(**sc: Any) -> Mutate:
    return lambda pod: pod["spec"].setdefault("ephemeralContainers", []).append(
        {"name": "debug", "image": "busybox", "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, **sc}}
    )


APPARMOR = "container.apparmor.security.beta.kubernetes.io/app"
SECCOMP_POD = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_APP = "container.seccomp.security.alpha.kubernetes.io/app"
WINDOWS = spec(os={"name": "windows"})
USERNS = spec(hostUsers=False)

# name -> (change, refused at baseline, refused at restricted)
CASES: dict[str, tuple[Mutate, Ranges, Ranges]] = {
    "compliant": (lambda pod: None, NEVER, NEVER),
    # hostNamespaces
    "host-network": (spec(hostNetwork=True), ALL, ALL),
    "host-pid": (spec(hostPID=True), ALL, ALL),
    "host-ipc": (spec(hostIPC=True), ALL, ALL),
    "host-network-false": (spec(hostNetwork=False, hostPID=False, hostIPC=False), NEVER, NEVER),
    # privileged
    "privileged-init": (csc(kind="initContainers", privileged=True), ALL, ALL),
    "privileged-ephemeral": (ephemeral(privileged=True), ALL, ALL),
    "privileged-false": (csc(privileged=False), NEVER, NEVER),
    # capabilities
    "cap-add-net-raw": (csc(capabilities={"drop": ["ALL"], "add": ["NET_RAW"]}), ALL, ALL),
    "cap-add-chown": (csc(capabilities={"drop": ["ALL"], "add": ["CHOWN"]}), NEVER, since("v1.22")),
    "cap-add-lowercase": (csc(capabilities={"drop": ["ALL"], "add": ["chown"]}), ALL, ALL),
    "cap-add-net-bind": (csc(capabilities={"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}), NEVER, NEVER),
    "cap-no-drop": (csc(capabilities={}), NEVER, since("v1.22")),
    "cap-drop-lowercase-all": (csc(capabilities={"drop": ["all"]}), NEVER, since("v1.22")),
    "cap-no-capabilities-init": (lambda pod: pod["spec"]["initContainers"][0]["securityContext"].pop("capabilities"), NEVER, since("v1.22")),
    "windows-unhardened": (
        both(WINDOWS, lambda pod: pod["spec"]["containers"][0].pop("securityContext"), no_pod_sc("seccompProfile")),
        NEVER, between("v1.8", "v1.24"),
    ),
    "windows-sys-admin": (both(WINDOWS, csc(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]})), ALL, until("v1.24")),
    # volumes
    "host-path": (volume(hostPath={"path": "/etc"}), ALL, ALL),
    "nfs": (volume(nfs={"server": "nfs", "path": "/x"}), NEVER, ALL),
    "git-repo": (volume(gitRepo={"repository": "https://example.com/x.git"}), NEVER, ALL),
    "allowed-volumes": (
        both(volume(emptyDir={}), volume(configMap={"name": "c"}), volume(secret={"secretName": "s"}),
             volume(projected={"sources": []}), volume(image={"reference": "x"}), volume(csi={"driver": "d"}),
             volume(persistentVolumeClaim={"claimName": "p"}), volume(ephemeral={}), volume(downwardAPI={})),
        NEVER, NEVER,
    ),
    "volume-without-source": (volume(), NEVER, NEVER),
    # host ports
    "host-port": (container(ports=[{"containerPort": 80, "hostPort": 8080}]), ALL, ALL),
    "host-port-zero": (container(ports=[{"containerPort": 80, "hostPort": 0}]), NEVER, NEVER),
    # AppArmor
    "apparmor-annotation-unconfined": (annotate(**{APPARMOR: "unconfined"}), ALL, ALL),
    "apparmor-annotation-runtime": (annotate(**{APPARMOR: "runtime/default"}), NEVER, NEVER),
    "apparmor-annotation-localhost": (annotate(**{APPARMOR: "localhost/profile"}), NEVER, NEVER),
    "apparmor-annotation-other-container": (annotate(**{"container.apparmor.security.beta.kubernetes.io/ghost": "unconfined"}), ALL, ALL),
    "apparmor-pod-unconfined": (pod_sc(appArmorProfile={"type": "Unconfined"}), ALL, ALL),
    "apparmor-container-localhost": (csc(appArmorProfile={"type": "Localhost", "localhostProfile": "p"}), NEVER, NEVER),
    # SELinux
    "selinux-spc": (csc(seLinuxOptions={"type": "spc_t"}), ALL, ALL),
    "selinux-container-t": (pod_sc(seLinuxOptions={"type": "container_t", "level": "s0:c1"}), NEVER, NEVER),
    "selinux-engine": (csc(seLinuxOptions={"type": "container_engine_t"}), until("v1.30"), until("v1.30")),
    "selinux-user": (pod_sc(seLinuxOptions={"user": "system_u"}), ALL, ALL),
    "selinux-role": (csc(kind="initContainers", seLinuxOptions={"role": "sysadm_r"}), ALL, ALL),
    # procMount
    "proc-unmasked": (csc(procMount="Unmasked"), ALL, ALL),
    "proc-default": (csc(procMount="Default"), NEVER, NEVER),
    "proc-unmasked-userns": (both(USERNS, csc(procMount="Unmasked")), until("v1.34"), ALL),
    # seccomp
    "seccomp-pod-unconfined": (pod_sc(seccompProfile={"type": "Unconfined"}), since("v1.19"), since("v1.19")),
    "seccomp-container-unconfined": (csc(seccompProfile={"type": "Unconfined"}), since("v1.19"), since("v1.19")),
    "seccomp-unset": (no_pod_sc("seccompProfile"), NEVER, since("v1.19")),
    "seccomp-per-container": (
        both(no_pod_sc("seccompProfile"), csc(seccompProfile={"type": "RuntimeDefault"}),
             csc(kind="initContainers", seccompProfile={"type": "Localhost", "localhostProfile": "p.json"})),
        NEVER, NEVER,
    ),
    "seccomp-one-container-unset": (both(no_pod_sc("seccompProfile"), csc(seccompProfile={"type": "RuntimeDefault"})), NEVER, since("v1.19")),
    "seccomp-annotation-pod-unconfined": (annotate(**{SECCOMP_POD: "unconfined"}), until("v1.18"), until("v1.18")),
    "seccomp-annotation-container-unconfined": (annotate(**{SECCOMP_APP: "unconfined"}), until("v1.18"), until("v1.18")),
    "seccomp-annotation-docker-default": (annotate(**{SECCOMP_POD: "docker/default"}), NEVER, NEVER),
    "seccomp-annotation-unknown-container": (annotate(**{"container.seccomp.security.alpha.kubernetes.io/ghost": "unconfined"}), NEVER, NEVER),
    # sysctls
    "sysctl-safe": (pod_sc(sysctls=[{"name": "kernel.shm_rmid_forced", "value": "1"}]), NEVER, NEVER),
    "sysctl-reserved-ports": (pod_sc(sysctls=[{"name": "net.ipv4.ip_local_reserved_ports", "value": "80"}]), until("v1.26"), until("v1.26")),
    "sysctl-keepalive": (pod_sc(sysctls=[{"name": "net.ipv4.tcp_keepalive_time", "value": "60"}]), until("v1.28"), until("v1.28")),
    "sysctl-rmem": (pod_sc(sysctls=[{"name": "net.ipv4.tcp_rmem", "value": "4096 87380 6291456"}]), until("v1.31"), until("v1.31")),
    "sysctl-notsent": (pod_sc(sysctls=[{"name": "net.ipv4.tcp_notsent_lowat", "value": "16384"}]), until("v1.36"), until("v1.36")),
    "sysctl-unsafe": (pod_sc(sysctls=[{"name": "kernel.msgmax", "value": "65536"}]), ALL, ALL),
    # Windows HostProcess
    "host-process-pod": (pod_sc(windowsOptions={"hostProcess": True}), ALL, ALL),
    "host-process-container": (csc(windowsOptions={"hostProcess": True}), ALL, ALL),
    "host-process-false": (csc(windowsOptions={"hostProcess": False, "gmsaCredentialSpecName": "x"}), NEVER, NEVER),
    # probe and lifecycle hosts
    "probe-host": (container(livenessProbe={"httpGet": {"host": "10.0.0.1", "port": 80}}), since("v1.34"), since("v1.34")),
    "startup-tcp-host": (container(kind="initContainers", startupProbe={"tcpSocket": {"host": "db", "port": 5432}}), since("v1.34"), since("v1.34")),
    "lifecycle-host": (container(lifecycle={"preStop": {"httpGet": {"host": "example.com", "port": 80}}}), since("v1.34"), since("v1.34")),
    "probe-empty-host": (container(readinessProbe={"httpGet": {"host": "", "port": 80}}), NEVER, NEVER),
    # allowPrivilegeEscalation
    "ape-unset": (lambda pod: pod["spec"]["containers"][0]["securityContext"].pop("allowPrivilegeEscalation"), NEVER, since("v1.8")),
    "ape-true-ephemeral": (ephemeral(allowPrivilegeEscalation=True), NEVER, since("v1.8")),
    # runAsNonRoot
    "nonroot-unset": (no_pod_sc("runAsNonRoot"), NEVER, ALL),
    "nonroot-pod-false": (pod_sc(runAsNonRoot=False), NEVER, ALL),
    "nonroot-container-false": (csc(runAsNonRoot=False), NEVER, ALL),
    "nonroot-every-container": (both(no_pod_sc("runAsNonRoot"), csc(runAsNonRoot=True), csc(kind="initContainers", runAsNonRoot=True)), NEVER, NEVER),
    "nonroot-unset-userns": (both(USERNS, no_pod_sc("runAsNonRoot")), NEVER, until("v1.34")),
    # runAsUser
    "uid-0-pod": (pod_sc(runAsUser=0), NEVER, since("v1.23")),
    "uid-0-container": (csc(kind="initContainers", runAsUser=0), NEVER, since("v1.23")),
    "uid-0-userns": (both(USERNS, pod_sc(runAsUser=0)), NEVER, between("v1.23", "v1.34")),
    "uid-1000": (pod_sc(runAsUser=1000), NEVER, NEVER),
}


def _pod(name: str, change: Mutate) -> dict[str, Any]:
    pod = base_pod(name)
    change(pod)
    return pod


def _deployment(pod: dict[str, Any]) -> dict[str, Any]:
    name = pod["metadata"]["name"]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name + "-deploy", "namespace": "apps"},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {**copy.deepcopy(pod["metadata"]), "labels": {"app": name}}, "spec": copy.deepcopy(pod["spec"])}}}


def _cronjob(pod: dict[str, Any]) -> dict[str, Any]:
    name = pod["metadata"]["name"]
    template = {"metadata": copy.deepcopy(pod["metadata"]), "spec": {**copy.deepcopy(pod["spec"]), "restartPolicy": "Never"}}
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name + "-cron", "namespace": "apps"},
            "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}}}


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    """Every case as a Pod, and as the pod template of a Deployment and of a CronJob."""
    folder = tmp_path_factory.mktemp("pss")
    for name, (change, _, _) in CASES.items():
        pod = _pod(name, change)
        write_docs(folder / f"{name}.yaml", [pod, _deployment(pod), _cronjob(pod)])
    recs = collect(folder, ["."])
    assert [r.error for r in recs if isinstance(r, Failure)] == []
    return recs


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("version", VERSIONS)
def test_pack_verdict_equals_admission(records: list[Any], level: str, version: str) -> None:
    verdicts = pss_verdicts(records, level, version)
    assert len(verdicts) == 3 * len(CASES)
    wrong = []
    for resource, allowed in verdicts.items():
        name = resource.split(".yaml", 1)[0]
        _, at_baseline, at_restricted = CASES[name]
        expected_refused = refused(at_baseline if level == "baseline" else at_restricted, version)
        if allowed == expected_refused:
            wrong.append(f"{resource}: {'allowed' if allowed else 'refused'}, admission would {'refuse' if expected_refused else 'allow'}")
    assert wrong == []


def test_restricted_includes_baseline(records: list[Any]) -> None:
    for version in VERSIONS:
        baseline = pss_verdicts(records, "baseline", version)
        restricted = pss_verdicts(records, "restricted", version)
        exceptions = {r for r in baseline if r.startswith("windows-sys-admin") and _version(version) >= _version("v1.25")}
        assert [r for r, ok in restricted.items() if ok and not baseline[r] and r not in exceptions] == []


def test_unknown_version_is_an_error_not_a_pass(tmp_path: Path) -> None:
    from tests.k8s import evaluate, pss_policy

    write_docs(tmp_path / "pod.yaml", [base_pod("p")])
    findings = evaluate(collect(tmp_path, ["pod.yaml"]), pss_policy("restricted", "1.x"))
    versioned = [f for f in findings if "version" in f.message]
    assert versioned and all(f.status.value == "error" for f in versioned)
    assert "version '1.x' is not 'latest' or dotted numbers" in versioned[0].message
