"""auditor against Checkov on the same Kubernetes manifests: both times, and where they differ.

Run: .venv/bin/python -m pytest tests/benchmarks/test_bench_kubernetes.py -m benchmark -s

Checkov (PyPI `checkov`, pinned below) is installed by this benchmark into its own virtualenv
under $AUDITOR_BENCH_CACHE (default ~/.cache/auditor-bench), since its pins conflict with
ours; the first run takes minutes. Both tools run as a CI job would: one command over a folder
of generated manifests, interpreter start included. Target (issue 6): auditor at least 10x
faster. The verdicts of comparable checks are compared per object and the differences
printed; timings are printed, never asserted.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.benchmarks.conftest import Recorder

pytestmark = pytest.mark.benchmark

CHECKOV_VERSION = "3.3.30"
WORKLOADS = (600, 2400)
FILES = 40

# Checkov check ids -> the auditor rule that decides the same thing (any Checkov id failing = fail)
COMPARABLE: dict[str, tuple[tuple[str, ...], str]] = {
    "privileged": (("CKV_K8S_16",), "PSS-BASE-002"),
    "host namespaces": (("CKV_K8S_17", "CKV_K8S_18", "CKV_K8S_19"), "PSS-BASE-001"),
    "host ports": (("CKV_K8S_26",), "PSS-BASE-005"),
    "privilege escalation": (("CKV_K8S_20",), "PSS-RESTR-002"),
    "run as non-root": (("CKV_K8S_23",), "PSS-RESTR-003"),
    "seccomp": (("CKV_K8S_31",), "PSS-RESTR-005"),
    "capabilities drop ALL": (("CKV_K8S_37",), "PSS-RESTR-006"),
    "default namespace": (("CKV_K8S_21",), "K8S-002"),
    "read-only root": (("CKV_K8S_22",), "K8S-004"),
    "requests": (("CKV_K8S_10", "CKV_K8S_12"), "K8S-005"),
    "limits": (("CKV_K8S_11", "CKV_K8S_13"), "K8S-006"),
    "token automount": (("CKV_K8S_38",), "K8S-007"),
    "image digest": (("CKV_K8S_43",), "K8S-008"),
}


def checkov_bin() -> Path:
    cache = Path(os.environ.get("AUDITOR_BENCH_CACHE") or Path.home() / ".cache" / "auditor-bench")
    venv = cache / "checkov-venv"
    exe = venv / "bin" / "checkov"
    if exe.exists():
        return exe
    cache.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", f"checkov=={CHECKOV_VERSION}"],
                       check=True, timeout=1800)
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"cannot install checkov into {venv}: {exc}")
    return exe


def _container(rng: random.Random, name: str) -> dict[str, Any]:
    sc: dict[str, Any] = {}
    if rng.random() < 0.7:
        sc["allowPrivilegeEscalation"] = rng.random() < 0.2
    if rng.random() < 0.1:
        sc["privileged"] = True
    if rng.random() < 0.6:
        sc["readOnlyRootFilesystem"] = rng.random() < 0.8
    if rng.random() < 0.6:
        sc["capabilities"] = {"drop": ["ALL"]} if rng.random() < 0.7 else {"add": [rng.choice(["NET_ADMIN", "NET_BIND_SERVICE", "SYS_TIME"])]}
    if rng.random() < 0.3:
        sc["runAsNonRoot"] = rng.random() < 0.8
    c: dict[str, Any] = {"name": name, "image": rng.choice([
        "registry.example/app:1.4.2", "nginx:latest", "nginx", f"registry.example/app@sha256:{'ab' * 32}"])}
    if sc:
        c["securityContext"] = sc
    if rng.random() < 0.6:
        c["resources"] = {"requests": {"cpu": "100m", "memory": "128Mi"}}
        if rng.random() < 0.7:
            c["resources"]["limits"] = {"cpu": "500m", "memory": "256Mi"}
    if rng.random() < 0.1:
        c["ports"] = [{"containerPort": 8080, "hostPort": 8080}]
    if rng.random() < 0.2:
        c["env"] = [{"name": "DB_PASSWORD", "value": "hunter2-" + str(rng.random())}]
    return c


def generate(folder: Path, n: int, seed: int = 6) -> None:
    rng = random.Random(seed)
    docs: list[list[dict[str, Any]]] = [[] for _ in range(FILES)]
    for i in range(n):
        pod_sc: dict[str, Any] = {}
        if rng.random() < 0.5:
            pod_sc["runAsNonRoot"] = True
        if rng.random() < 0.5:
            pod_sc["seccompProfile"] = {"type": rng.choice(["RuntimeDefault", "RuntimeDefault", "Unconfined"])}
        spec: dict[str, Any] = {"containers": [_container(rng, "app")]}
        if rng.random() < 0.3:
            spec["initContainers"] = [_container(rng, "init")]
        if pod_sc:
            spec["securityContext"] = pod_sc
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if rng.random() < 0.05:
                spec[key] = True
        if rng.random() < 0.4:
            spec["automountServiceAccountToken"] = False
        meta: dict[str, Any] = {"name": f"w{i}"}
        ns = rng.choice(["apps", "apps", "apps", "default", None])
        if ns:
            meta["namespace"] = ns
        kind = rng.choice(["Deployment", "Deployment", "StatefulSet", "DaemonSet", "Pod", "CronJob"])
        template = {"metadata": {"labels": {"app": f"w{i}"}}, "spec": spec}
        if kind == "Pod":
            doc = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
        elif kind == "CronJob":
            template["spec"] = {**spec, "restartPolicy": "OnFailure"}
            doc = {"apiVersion": "batch/v1", "kind": kind, "metadata": meta,
                   "spec": {"schedule": "@hourly", "jobTemplate": {"spec": {"template": template}}}}
        else:
            doc = {"apiVersion": "apps/v1", "kind": kind, "metadata": meta,
                   "spec": {"selector": {"matchLabels": {"app": f"w{i}"}}, "template": template}}
        docs[i % FILES].append(doc)
    for i, file_docs in enumerate(docs):
        (folder / f"m{i:02d}.yaml").write_text(yaml.safe_dump_all(file_docs, sort_keys=False))


def timed(args: list[str], **kwargs: Any) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, timeout=1800, check=False, **kwargs)
    return time.perf_counter() - start, proc


def checkov_verdicts(out: str) -> dict[tuple[str, str], dict[str, bool]]:
    """(kind, name) -> {check_id: passed}."""
    doc = json.loads(out)
    reports = doc if isinstance(doc, list) else [doc]
    verdicts: dict[tuple[str, str], dict[str, bool]] = defaultdict(dict)
    for report in reports:
        results = report.get("results", {})
        for passed, key in ((True, "passed_checks"), (False, "failed_checks")):
            for check in results.get(key, ()):
                kind, _, rest = check["resource"].partition(".")
                name = rest.rpartition(".")[2]
                verdicts[(kind, name)][check["check_id"]] = passed
    return verdicts


def auditor_verdicts(out: str) -> dict[tuple[str, str], dict[str, bool]]:
    """(kind, name) -> {rule_id: passed}; a rule decided per container (a resource such as
    `m00.yaml#3 Deployment/apps/w1 container app`) passes for the workload only when it passes
    for every container, as Checkov reports it per workload."""
    doc = json.loads(out)
    verdicts: dict[tuple[str, str], dict[str, bool]] = defaultdict(dict)
    for f in doc["findings"]:
        if f["status"] not in ("pass", "fail") or " " not in f["resource"]:
            continue
        workload = f["resource"].split(" ", 2)[1]
        kind, *_, name = workload.split("/")
        by_rule = verdicts[(kind, name)]
        by_rule[f["rule_id"]] = by_rule.get(f["rule_id"], True) and f["status"] == "pass"
    return verdicts


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("workloads", WORKLOADS)
def test_auditor_against_checkov(tmp_path: Path, workloads: int, bench_record: Recorder) -> None:
    exe = checkov_bin()
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    generate(manifests, workloads)
    pack = tmp_path / "bench-containers.yaml"
    pack.write_text("id: bench-containers\ntitle: every container rule\nselect:\n  - area: containers\n")
    scan = [sys.executable, "-m", "auditor", "scan", "--path", str(manifests), "--policy", str(pack), "--format", "json"]
    # like for like: Checkov keeps no history, so auditor's own run is timed without storing
    # it too; the run that stores it (in a history of its own here) is timed as well.
    auditor_cmd = [*scan, "--no-store"]
    stored_cmd = [*scan, "--db", str(tmp_path / "history.sqlite")]
    checkov_cmd = [str(exe), "-d", str(manifests), "--framework", "kubernetes", "-o", "json", "--skip-download", "--compact"]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}

    timed(auditor_cmd)  # warm the page cache (and the rule-validation cache)
    auditor_runs = [timed(auditor_cmd) for _ in range(3)]
    auditor_time = min(t for t, _ in auditor_runs)
    stored_time = min(timed(stored_cmd)[0] for _ in range(3))
    a_proc = auditor_runs[0][1]
    assert a_proc.returncode in (0, 1), a_proc.stderr
    checkov_runs = [timed(checkov_cmd, env=env) for _ in range(2 if workloads <= 600 else 1)]
    checkov_time = min(t for t, _ in checkov_runs)
    c_proc = checkov_runs[0][1]
    assert c_proc.stdout, c_proc.stderr[-2000:]

    ours = auditor_verdicts(a_proc.stdout)
    theirs = checkov_verdicts(c_proc.stdout)
    findings = sum(len(v) for v in ours.values())
    print(f"\n{workloads} workloads in {FILES} files; auditor {findings} findings on {len(ours)} objects")
    print(f"auditor (every container rule, --no-store): {auditor_time:.2f} s (best of 3)")
    print(f"auditor, also storing the scan in its history: {stored_time:.2f} s (best of 3)")
    print(f"checkov {CHECKOV_VERSION} (--framework kubernetes): {checkov_time:.2f} s (best of {len(checkov_runs)})")
    print(f"speed-up: {checkov_time / auditor_time:.1f}x (target >= 10x); "
          f"{checkov_time / stored_time:.1f}x with the history store")
    bench_record(f"kubernetes-vs-checkov-{workloads}", f"Kubernetes, {workloads:,} workloads, every container rule, "
                 f"vs Checkov {CHECKOV_VERSION}", f"{checkov_time / auditor_time:.1f}x faster; "
                 f"{checkov_time / stored_time:.1f}x with the history store on (target 10x)")
    print(f"{'check':<24}{'objects':>8}{'agree':>8}{'differ':>8}  example of a difference")
    for label, (ids, rule) in COMPARABLE.items():
        agree = differ = 0
        example = ""
        for key, ours_by_rule in sorted(ours.items()):
            if rule not in ours_by_rule or not any(i in theirs.get(key, {}) for i in ids):
                continue
            their_pass = all(theirs[key].get(i, True) for i in ids)
            if their_pass == ours_by_rule[rule]:
                agree += 1
            else:
                differ += 1
                example = example or f"{key[0]}/{key[1]}: auditor {'pass' if ours_by_rule[rule] else 'fail'}, checkov {'pass' if their_pass else 'fail'}"
        print(f"{label:<24}{agree + differ:>8}{agree:>8}{differ:>8}  {example}")
    assert findings > 0 and theirs
