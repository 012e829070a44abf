"""Speed of the scan pipeline. Run: .venv/bin/python -m pytest tests/benchmarks -m benchmark -s

Targets (issues 2 and 23): the demo scan, interpreter start included, under 1 s, on first use
(an empty cache: the demo materialised, its certificates issued, the rules validated and
compiled) as well as warm; `auditor --help` under 0.3 s; and bundles/s over synthetic bundles
of 200 certificates (issue 23: 200 per second per core), batch evaluation against record by
record in the same process. These print figures; they assert nothing about time (timings are
not tests).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import operator
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest

from auditor import _models
from auditor._gcpause import gc_paused
from auditor._models import _VARYING, FINDING_FIELDS, Finding, finding_ids, findings_of
from auditor._policy.catalog import Catalog
from auditor._scan import EvaluateOptions, evaluate_bundle
from auditor.evidence.bundle import Bundle
from auditor.evidence.kinds.x509 import X509Certificate
from auditor.evidence.record import Evidence
from tests.benchmarks.conftest import Recorder
from tests.certs import NOW, CertFactory

pytestmark = pytest.mark.benchmark


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wall(args: list[str], runs: int = 7, *, fresh: Path | None = None, code: int = 0,
         says: str = "") -> tuple[float, float, float]:
    """Median and best wall time of `args`, and its median CPU time (its child processes
    included: on a shared machine the steadier figure); with `fresh`, each run gets an empty
    cache and history of its own under that folder. Each run must exit with `code` and print
    `says`: a run that fails early is not a fast one."""
    times, cpu = [], []
    for i in range(runs):
        env = None
        if fresh is not None:
            cache = fresh / f"run-{i}"
            env = {**os.environ, "AUDITOR_CACHE_DIR": str(cache), "AUDITOR_DB": str(cache / "history.sqlite")}
        start, used = time.perf_counter(), _children_cpu()
        proc = subprocess.run(args, capture_output=True, text=True, check=False, env=env)
        times.append(time.perf_counter() - start)
        cpu.append(_children_cpu() - used)
        assert proc.returncode == code and says in proc.stdout, (args, proc.returncode, proc.stderr[-2000:])
    return statistics.median(times), min(times), statistics.median(cpu)


DEMO_SCAN = [sys.executable, "-m", "auditor", "scan", "--target", "cim-prod-001", "--demo"]


def test_cli_start_and_demo_scan(tmp_path: Path, bench_record: Recorder) -> None:
    subprocess.run(DEMO_SCAN, capture_output=True, check=False)
    help_med, help_min, help_cpu = wall([sys.executable, "-m", "auditor", "--help"], says="usage: auditor")
    # the demo's verdict (docs/demo.md), exit code 1: a blocking failure
    scan_med, scan_min, scan_cpu = wall(DEMO_SCAN, code=1, says="NOT READY for production")
    cold_med, cold_min, cold_cpu = wall(DEMO_SCAN, 5, fresh=tmp_path, code=1, says="NOT READY for production")
    print(f"\nauditor --help: median {help_med * 1000:.0f} ms, best {help_min * 1000:.0f} ms, "
          f"CPU {help_cpu * 1000:.0f} ms (target < 300 ms)")
    print(f"demo scan (warm cache): median {scan_med * 1000:.0f} ms, best {scan_min * 1000:.0f} ms, "
          f"CPU {scan_cpu * 1000:.0f} ms (target < 1000 ms)")
    print(f"demo scan (first use, empty cache): median {cold_med * 1000:.0f} ms, best {cold_min * 1000:.0f} ms, "
          f"CPU {cold_cpu * 1000:.0f} ms (target < 1000 ms); load {os.getloadavg()[0]:.1f}")
    bench_record("auditor-help", "`auditor --help`",
                 f"median {help_med * 1000:.0f} ms wall, {help_cpu * 1000:.0f} ms CPU (target < 300 ms)")
    bench_record("demo-scan", "demo scan (`auditor scan --target cim-prod-001 --demo`), interpreter start included",
                 f"warm: median {scan_med:.2f} s wall, {scan_cpu:.2f} s CPU; first use (an empty cache: the demo "
                 f"built in a child process and its certificates linted in a second one while the rules load, "
                 f"compiled and parsed rules from the shipped cache seed): "
                 f"median {cold_med:.2f} s wall, {cold_cpu:.2f} s CPU (target < 1 s)")


def synthetic_records(n: int) -> list[Evidence]:
    from pki.facts import certificate_facts
    from pki.lint import lint
    from pki.verify import verify_chain

    factory = CertFactory()
    root, inter = factory.chain()
    out = []
    rng = random.Random(7)
    for i in range(n):
        key = rng.choice(["ec256", "ec256", "ed25519", "rsa2048"]) if i % 10 else "rsa2048"
        leaf = factory.issue(f"node-{i}.example.com", issuer=inter, key=key, dns=(f"node-{i}.example.com",),
                             days=rng.choice([30, 90, 365]))
        chain = verify_chain(leaf.cert, [root.cert], [inter.cert], at=NOW)
        data = {"path": f"certs/{i}.pem", "index": 0, "encoding": "pem", **certificate_facts(leaf.cert).to_dict(),
                "chain": {"status": "valid" if chain.valid else "invalid", "error": chain.error,
                          "path": [c.subject.rfc4514_string() for c in chain.path], "anchor": None, "is_anchor": False},
                "lint": lint(leaf.cert).summary().to_dict()}
        out.append(Evidence(source="bench", resource=f"certs/{i}.pem", collected_at="2026-11-23T00:00:00Z",
                            data=msgspec.convert(data, X509Certificate)))
    return out


BUNDLES = 300


def test_bundles_per_second(monkeypatch: pytest.MonkeyPatch, bench_record: Recorder) -> None:
    """Evaluation of bundles already read (one core: CPU time of this process), their digest
    known as reading leaves it (read_bundle checks it and keeps it: an evaluation names it).

    The headline figure is a fleet's: each bundle from a node of its own, with certificates of
    its own (their fingerprints and serials differ from node to node, as a fleet's leaves do), so
    nothing kept from an earlier bundle applies: batch outcomes (kept by rule, target, time and
    record data: `auditor._policy.batch`), finding ids (by rule and identity: path and
    fingerprint) and problem ids (by correlation key: issuer and serial). Beside it, one node's
    bundles evaluated again (the same certificates, the kept outcomes answer every record): what
    re-evaluating a node's history costs.

    Bundles arrive one at a time, as at a fleet's worker: each is made (untimed) just before it
    is evaluated and let go after, so the collector's work counted is the evaluation's own, not
    that of walking a corpus of thousands of bundles held for the benchmark."""
    from auditor._policy import batch

    base = synthetic_records(200)
    catalog = Catalog.load()

    def own(record: Evidence, b: int) -> Evidence:
        """`record` as node b's: its own fingerprint and serial (its id made anew)."""
        data = record.data
        assert isinstance(data, X509Certificate)
        fingerprint = hashlib.sha256(f"node-{b}/{data.fingerprint_sha256}".encode()).hexdigest()
        return dataclasses.replace(record, resource=f"b{b}/{record.resource}", id="", data=msgspec.structs.replace(
            data, fingerprint_sha256=fingerprint, serial=f"{b:04x}{data.serial[4:]}"))

    def fleet(b: int) -> Bundle:
        """Node b's bundle (the same for every run)."""
        records = [own(r, b) for r in random.Random(b).sample(base, len(base))]
        target = {"name": f"node-{b}", "environment": "production", "policies": ["cim-production"],
                  "names": ["node-1.example.com"]}
        return Bundle.create(target, "2026-11-23T00:00:00Z", records)

    def one_node(b: int) -> Bundle:
        """One node's bundle b: its certificates, in another order, under another resource name."""
        records = [dataclasses.replace(r, resource=f"b{b}/{r.resource}", id="")
                   for r in random.Random(b).sample(base, len(base))]
        target = {"name": "node", "environment": "production", "policies": ["cim-production"],
                  "names": ["node-1.example.com"]}
        return Bundle.create(target, "2026-11-23T00:00:00Z", records)

    options = EvaluateOptions(now=NOW)
    evaluate_bundle(fleet(BUNDLES), options, catalog=catalog)  # compile the batch programs once

    def run(bundle_of: Callable[[int], Bundle]) -> tuple[float, list[tuple[str, int, int]]]:
        """CPU seconds evaluating the bundles; each one's verdict line and the number and hash of
        its findings' ids and statuses: what any consumer of a result reads (a lazy result could
        not make the figure by leaving them unmade)."""
        batch.forget()
        spent = 0.0
        seen = []
        for b in range(BUNDLES):
            bundle = bundle_of(b)
            assert bundle.digest  # known, as a bundle read (read_bundle) has it: checked there
            start = time.process_time()
            result = evaluate_bundle(bundle, options, catalog=catalog)
            ids = tuple([(f.id, f.status.value) for f in result.findings])
            seen.append((result.verdict.headline(), len(ids), hash(ids)))
            spent += time.process_time() - start
            del bundle, result, ids
        return spent, seen

    batched, outcome = run(fleet)
    floor, named = result_floor(evaluate_bundle(fleet(0), options, catalog=catalog).findings)
    again, _ = run(one_node)
    with monkeypatch.context() as m:
        m.setattr(batch, "MIN_RECORDS", 10**9)
        single, same = run(fleet)
    parts: dict[str, float] = {"decide": 0.0, "ids": 0.0, "functions": 0.0, "checks": 0.0}
    with monkeypatch.context() as m:  # what no result model saves: the outcomes decided, the ids made
        m.setattr(batch.Batches, "outcomes", _timed(batch.Batches.outcomes, parts, "decide"))
        m.setattr(_models, "_new_ids", _timed(_models._new_ids, parts, "ids"))
        # the rules' CEL compiled to Python functions (deciding's core; the rest of deciding:
        # batches made, outcomes made, kept and looked up), and the check that the values they
        # read are what the CEL runtime would read alike (in deciding, and for rules of mode all)
        python = batch._python
        m.setattr(batch, "_python", lambda rule: None if (f := python(rule)) is None else _timed(f, parts, "functions"))
        m.setattr(batch, "_python_ok", _timed(batch._python_ok, parts, "checks"))
        parted, also = run(fleet)
    findings = sum(n for _, n, _ in outcome)
    rules = len(catalog.resolve(["cim-production"]).rules)
    print(f"\n{BUNDLES} bundles x 200 certificates x {rules} rules, CPU seconds of one core:")
    print(f"batch evaluation, a node a bundle (its own certificates): {batched:.1f} s, {BUNDLES / batched:.1f} bundles/s, "
          f"{findings / batched:,.0f} findings/s (target: 200 bundles/s)")
    print(f"record by record: {single:.1f} s, {BUNDLES / single:.1f} bundles/s; batch {single / batched:.2f}x faster")
    print(f"one node's bundles (kept outcomes answer every record): {again:.1f} s, {BUNDLES / again:.1f} bundles/s")
    new = (batched - again) / BUNDLES  # a node's own certificates: its records decided, their ids made
    least = (floor - named) / BUNDLES + new  # the floor's findings made and read, and what is new decided and named
    assert least > 0, "the runs were too noisy for a bound: measure again at idle"
    print(f"the floor of the result model, nothing decided, checked or redacted (each of a bundle's "
          f"{findings // BUNDLES:,} findings made anew with its SHA-256 id as the engine makes them, and read): "
          f"{floor:.2f} s, {BUNDLES / floor:.1f} bundles/s, of which the ids {named / BUNDLES * 1000:.1f} ms a bundle; "
          f"the evaluation is {batched / floor:.1f}x that")
    print(f"what a node's own certificates add beyond one node's bundles again (their records decided, their "
          f"ids and keys made): {new * 1000:.1f} ms a bundle; that and the floor's findings made and read: "
          f"{least * 1000:.1f} ms, at most {1 / least:.0f} bundles/s while deciding costs what it does now "
          f"(200/s leaves 5.0 ms a bundle)")
    decide, named_new = parts["decide"] / BUNDLES, parts["ids"] / BUNDLES
    functions, checks = parts["functions"] / BUNDLES, parts["checks"] / BUNDLES
    of_deciding = (f"(of it the rules' compiled functions {functions * 1000:.1f} ms; checking the values they read "
                   f"{checks * 1000:.1f} ms, mode all included)")
    print(f"timed apart (another run, {BUNDLES / parted:.1f} bundles/s): deciding the records' outcomes "
          f"{decide * 1000:.1f} ms a bundle {of_deciding}, making their findings' new ids "
          f"{named_new * 1000:.1f} ms: with a result model that cost nothing, at most {1 / (decide + named_new):.0f} "
          "bundles/s")
    assert outcome == same == also and findings > 0 and decide > functions > 0 and checks > 0 and named_new > 0
    bench_record("bundles-per-second", f"bundles of 200 certificates (`cim-production`, {rules} rules, with finding "
                 "ids and correlation keys), evaluation in-process of bundles as read (their digest checked there) "
                 "with each verdict and every finding's id and status, one core, a node a bundle (each with "
                 "certificates of its own)",
                 f"batch evaluation {BUNDLES / batched:.1f} bundles/s of CPU time, {single / batched:.2f}x record by "
                 f"record ({BUNDLES / single:.1f}/s); one node's bundles again (outcomes kept): "
                 f"{BUNDLES / again:.1f}/s (target 200/s); the result model's floor (findings and ids made and read, "
                 f"nothing decided) {BUNDLES / floor:.0f}/s, its ids {named / BUNDLES * 1000:.1f} ms a bundle; "
                 f"a node's own certificates add {new * 1000:.1f} ms a bundle (deciding, naming): with the floor, at "
                 f"most {1 / least:.0f}/s while deciding costs what it does now; deciding {decide * 1000:.1f} ms "
                 f"{of_deciding} and the new ids {named_new * 1000:.1f} ms "
                 f"a bundle alone allow at most {1 / (decide + named_new):.0f}/s whatever the result model")


def result_floor(template: Sequence[Finding]) -> tuple[float, float]:
    """CPU seconds BUNDLES bundles' findings cost when nothing is decided, checked or redacted,
    and the part of it their ids take: for each bundle, the findings of `template` (one
    bundle's) made anew, each with a new id (SHA-256 of its rule and a new identity, by the
    engine's `finding_ids`), as a frozen Finding the way the engine makes most of them
    (`findings_of` over the columns of a rule's findings that share every other field, as
    `_engine._RuleRun.settled` does) with the collector paused (as `evaluate_bundle` pauses
    it), then read as the consumer of `run` reads them (the collector's deferred walk of them
    included, as in `run`). What any evaluation that makes a bundle's findings this way costs
    at least."""
    rules = []
    for rule_id, group in itertools.groupby(template, operator.attrgetter("rule_id")):
        alike = [list(run) for _, run in itertools.groupby(group, _SHARED)]  # findings sharing all but 3 fields
        rules.append((rule_id, [(findings_of(*_SHARED(run[0])), [f.resource for f in run], [f.evidence for f in run])
                                for run in alike]))
    spent = named = 0.0
    for b in range(BUNDLES):
        identities = [[(resource, f"{b:064x}") for _, resources, _ in runs for resource in resources]
                      for _, runs in rules]  # new in every bundle
        start = time.process_time()
        findings: list[Finding] = []
        with gc_paused():  # as evaluate_bundle makes them
            ids = [finding_ids(rule_id, identity) for (rule_id, _), identity in zip(rules, identities, strict=True)]
            made = time.process_time()
            for (_, runs), rule_ids in zip(rules, ids, strict=True):
                left = iter(rule_ids)
                for make, resources, evidence in runs:  # map stops at the run's last resource
                    findings += map(make, resources, evidence, left)
        read = tuple([(f.id, f.status.value) for f in findings])
        hash(read)
        end = time.process_time()
        spent += end - start
        named += made - start
        assert len(read) == len(template) and read[0][0] != template[0].id
        assert [f.id for f in findings] == [i for rule_ids in ids for i in rule_ids]
        if b == 0:  # the template's findings but their ids
            assert [f.replaced({"id": ""}) for f in findings] == [f.replaced({"id": ""}) for f in template]
    return spent, named


def _timed(function: Callable[..., Any], parts: dict[str, float], name: str) -> Callable[..., Any]:
    """`function`, its CPU time added to `parts[name]`."""
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            parts[name] += time.process_time() - start
    return timed


_SHARED = operator.attrgetter(*(name for name in FINDING_FIELDS if name not in _VARYING))
"""The fields of a finding `findings_of` takes first: all but resource, evidence and id."""


def test_bundle_read_back(tmp_path: Path, bench_record: Recorder) -> None:
    """Reading a bundle of 200 certificates back: JSON, envelope, digest, ids, every record's data
    decoded into its kind's type."""
    from auditor.evidence.bundle import read_bundle

    bundle = Bundle.create({"name": "bench", "environment": "production", "policies": ["cim-production"]},
                           "2026-11-23T00:00:00Z", synthetic_records(200))
    path = tmp_path / "bundle.json"
    bundle.write(path)
    times = []
    for _ in range(15):
        start = time.perf_counter()
        read = read_bundle(path)
        times.append(time.perf_counter() - start)
    assert read.digest == bundle.digest
    print(f"\nread back a bundle of 200 certificates ({path.stat().st_size // 1024} KiB): "
          f"median {statistics.median(times) * 1000:.1f} ms, best {min(times) * 1000:.1f} ms")
    bench_record("bundle-read-back", "a bundle of 200 certificates read back (digest, ids, every record decoded "
                 "into its type)", f"median {statistics.median(times) * 1000:.1f} ms")


def test_evaluate_jobs(tmp_path: Path, bench_record: Recorder) -> None:
    """`auditor evaluate` over 60 bundles of 200 certificates, whole process (each bundle read,
    evaluated and, with the history store, stored): --jobs 1 and 2, against one process per
    bundle (the way before --jobs); and over 240, nothing stored, where the start (about half a
    second) weighs less: what a second worker adds. Medians of 3 runs; CPU time with the
    workers'. Each run must end with the summary of every bundle."""
    base = synthetic_records(200)
    target = {"name": "bench", "environment": "production", "policies": ["cim-production"], "names": ["node-1.example.com"]}
    rng = random.Random(11)
    paths = []
    for b in range(240):
        records = [dataclasses.replace(r, resource=f"b{b}/{r.resource}", id="") for r in rng.sample(base, len(base))]
        path = tmp_path / f"b{b:03d}.json"
        Bundle.create(target, "2026-11-23T00:00:00Z", records).write(path)
        paths.append(str(path))
    evaluate = [sys.executable, "-m", "auditor", "evaluate", "--demo", "--at", NOW.isoformat()]

    def timed(bundles: list[str], jobs: int, stored: bool, i: int) -> tuple[float, float]:
        env = {**os.environ, "AUDITOR_DB": str(tmp_path / f"history-{len(bundles)}-{jobs}-{i}.sqlite")}
        start, used = time.perf_counter(), _children_cpu()
        proc = subprocess.run([*evaluate, *bundles, "--jobs", str(jobs), *([] if stored else ["--no-store"])],
                              capture_output=True, text=True, check=False, env=env)
        took = time.perf_counter() - start, _children_cpu() - used
        assert f"{len(bundles)} bundles; exit code {proc.returncode} " in proc.stdout, proc.stderr[-2000:]
        rows = {line.split()[0]: line.split()[1] for line in proc.stdout.splitlines()[1:-1]}  # a row a bundle
        assert rows.keys() == set(bundles) and set(rows.values()) <= {"READY", "NOT", "INCOMPLETE"}, proc.stdout[-2000:]
        return took

    figures: dict[tuple[int, int, bool], tuple[float, float]] = {}
    for count, stores in ((60, (False, True)), (240, (False,))):
        for stored in stores:
            for jobs in (1, 2):
                runs = [timed(paths[:count], jobs, stored, i) for i in range(3)]
                figures[count, jobs, stored] = (statistics.median(w for w, _ in runs),
                                                statistics.median(c for _, c in runs))
    start = time.perf_counter()
    for one in paths[:10]:
        proc = subprocess.run([*evaluate, "--no-store", one], capture_output=True, text=True, check=False)
        verdict = {0: "READY", 1: "NOT READY", 4: "INCOMPLETE"}.get(proc.returncode)  # the bundle judged
        assert verdict is not None and verdict in proc.stdout, proc.stderr
    single = (time.perf_counter() - start) / 10
    print(f"\nauditor evaluate, bundles of 200 certificates, whole process (load: {os.getloadavg()[0]:.1f}):")
    for (count, jobs, stored), (seconds, cpu) in figures.items():
        print(f"{count} bundles, --jobs {jobs}{', stored' if stored else ''}: {seconds:.2f} s, "
              f"{count / seconds:.1f} bundles/s, CPU {cpu:.2f} s")
    sixty = figures[60, 2, False][0]
    scaling = figures[240, 1, False][0] / figures[240, 2, False][0]
    print(f"one process per bundle: {single:.2f} s each, {1 / single:.1f} bundles/s; "
          f"--jobs 2 over 60 bundles is {single * 60 / sixty:.1f}x that; over 240 bundles --jobs 2 is "
          f"{scaling:.2f}x --jobs 1")
    shown = "; ".join(f"--jobs {jobs}{' stored' if stored else ''} {60 / seconds:.1f}/s"
                      for (count, jobs, stored), (seconds, _) in figures.items() if count == 60)
    bench_record("evaluate-jobs", "`auditor evaluate` of 60 bundles of 200 certificates, whole process (read, "
                 "evaluated, summarised; stored: in the history too), vs one process per bundle; and of 240, "
                 "nothing stored: --jobs 2 against --jobs 1",
                 f"{shown}; one process per bundle {1 / single:.1f}/s: --jobs 2 {single * 60 / sixty:.1f}x that; "
                 f"240 bundles, nothing stored: --jobs 1 {240 / figures[240, 1, False][0]:.1f}/s, --jobs 2 "
                 f"{240 / figures[240, 2, False][0]:.1f}/s ({scaling:.2f}x)")
