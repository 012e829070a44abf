"""Speed of the PKI. Run: .venv/bin/python -m pytest tests/benchmarks/test_bench_pki.py -m benchmark -s

Issue 3 asks for figures: leaf issuance rate (certificates/s) for ECDSA P-256 and Ed25519 with
file keys, and `pki list --expiring` over an inventory of 100,000 certificates. Issuance here
is the whole operation: new node key, signature, CA lock, inventory row, log entry (fsync'ed)
and the three files. These print figures and assert nothing about time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pki.backends import key_opener
from pki.backends.file import FileBackend
from pki.ca import CA
from pki.inventory import rfc3339
from tests.benchmarks.conftest import Recorder
from tests.pki.bulk import bulk_records
from tests.pki.conftest import secrets

pytestmark = pytest.mark.benchmark
ISSUES = 200
INVENTORY = 100_000


@pytest.mark.parametrize("key_type", ["ecdsa-p256", "ed25519"])
def test_leaf_issuance_rate(tmp_path: Path, key_type: str) -> None:
    ca = CA.init(tmp_path / "CA", "Bench Root", FileBackend(tmp_path / "CA", secrets), key_type=key_type)
    opener = key_opener(ca.folder, secrets)
    ca.create_intermediate("Bench Intermediate", opener, FileBackend(ca.folder, secrets), key_type=key_type)
    signer = opener(ca.current_intermediate().key)
    start = time.perf_counter()
    for i in range(ISSUES):
        ca.issue(f"node-{i}", "nats-client", opener, tmp_path / f"n{i}", key_type=key_type, signer=signer)
    elapsed = time.perf_counter() - start
    assert sum(1 for _ in ca.list()) == ISSUES + 2
    print(f"\nleaf issuance, {key_type} CA and node keys (file backend): {ISSUES} in {elapsed:.2f} s "
          f"= {ISSUES / elapsed:.0f} certificates/s")


def test_list_expiring_over_100k(tmp_path: Path) -> None:
    ca = CA.init(tmp_path / "CA", "Bench Root", FileBackend(tmp_path / "CA", secrets), key_type="ecdsa-p256")
    opener = key_opener(ca.folder, secrets)
    ca.create_intermediate("Bench Intermediate", opener, FileBackend(ca.folder, secrets), key_type="ecdsa-p256")
    issued = ca.issue("template", "nats-client", opener, tmp_path / "t")
    template, template_cert = issued.entry, issued.certificate
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    rng = random.Random(3)
    entries = []
    for i in range(INVENTORY):
        not_after = now + dt.timedelta(days=rng.uniform(-30, 90))
        entries.append(dataclasses.replace(
            template, serial=format(rng.getrandbits(120) | (1 << 119), "x"), node=f"node-{i:06d}",
            not_before=rfc3339(not_after - dt.timedelta(days=90)), not_after=rfc3339(not_after),
            status="revoked" if i % 50 == 0 else "valid",
        ))
    start = time.perf_counter()
    bulk_records(ca, entries, template_cert)
    load = time.perf_counter() - start
    expected = sum(1 for e in entries if e.status == "valid" and rfc3339(now) < e.not_after <= rfc3339(now + dt.timedelta(days=30)))

    start = time.perf_counter()
    found = list(ca.list(expiring=dt.timedelta(days=30), now=now))
    library = time.perf_counter() - start
    assert len(found) == expected

    times = []
    for _ in range(5):
        begin = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "auditor", "pki", "list", "--dir", str(ca.folder),
                               "--expiring", "30d", "--format", "json"], capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - begin)
    listed = len(json.loads(proc.stdout))
    print(f"\ninventory of {INVENTORY + 3} certificates (bulk load {load:.2f} s): {expected} expiring within 30 days")
    print(f"  library ca.list(expiring=30d): {library * 1000:.0f} ms")
    print(f"  `auditor pki list --expiring 30d --format json` (process start included): "
          f"median {statistics.median(times):.2f} s, min {min(times):.2f} s, {listed} listed")


def _median_run(args: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        begin = time.perf_counter()
        subprocess.run(args, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - begin)
    return statistics.median(times)


BATCH = 50


def test_cli_issue_against_an_openssl_loop(tmp_path: Path, bench_record: Recorder) -> None:
    """Issue 23: `auditor pki issue` per certificate, as a shell loop runs it (a fresh process
    each) and for BATCH nodes in one run (the CA key opened once), against the two openssl
    commands that make a key and sign it, per certificate, with the same CA key file."""
    import os

    from tests.pki.conftest import PASSPHRASE
    from tests.pki.crashes import fast_ca, issue_command

    ca = fast_ca(tmp_path / "CA")
    env = {**os.environ, "PKI_PASS": PASSPHRASE}
    runs = 15
    times = []
    for i in range(runs):
        begin = time.perf_counter()
        subprocess.run(issue_command(ca.folder, f"node-{i}", tmp_path / f"n{i}"), env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - begin)
    ours = statistics.median(times)
    record = ca.current_intermediate()
    key, cert = ca.folder / record.key["path"], ca.folder / record.certificate_path
    ext = tmp_path / "ext.cnf"
    ext.write_text("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n")

    def openssl_one(i: int) -> None:
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", str(tmp_path / f"o{i}.key"), "-subj", f"/CN=o{i}", "-out", str(tmp_path / f"o{i}.csr")],
                       capture_output=True, check=True)
        subprocess.run(["openssl", "x509", "-req", "-in", str(tmp_path / f"o{i}.csr"), "-CA", str(cert), "-CAkey", str(key),
                        "-passin", "env:PKI_PASS", "-days", "90", "-extfile", str(ext), "-out", str(tmp_path / f"o{i}.pem")],
                       env=env, capture_output=True, check=True)

    times = []
    for i in range(runs):
        begin = time.perf_counter()
        openssl_one(i)
        times.append(time.perf_counter() - begin)
    theirs = statistics.median(times)

    def batch_run(b: int) -> None:
        command = issue_command(ca.folder, "unused", tmp_path / f"batch-{b}")
        at = command.index("--node")
        command[at : at + 2] = [arg for i in range(BATCH) for arg in ("--node", f"batch-{b}-{i}")]
        subprocess.run(command, env=env, capture_output=True, check=True)

    def loop_run(b: int) -> None:
        for i in range(BATCH):
            openssl_one(1000 * (b + 1) + i)

    wall_ratios, cpu_ratios, per_leaf = [], [], []
    for b in range(5):  # paired: a batch, then the same number by the openssl loop
        (a_wall, a_cpu), (o_wall, o_cpu) = _timed_pair(functools.partial(batch_run, b)), _timed_pair(functools.partial(loop_run, b))
        wall_ratios.append(a_wall / o_wall)
        cpu_ratios.append(a_cpu / o_cpu)
        per_leaf.append((a_wall / BATCH, o_wall / BATCH))
    batched = statistics.median(p[0] for p in per_leaf)
    looped = statistics.median(p[1] for p in per_leaf)
    wall_ratio, cpu_ratio = statistics.median(wall_ratios), statistics.median(cpu_ratios)
    bare = _median_run([sys.executable, "-c", "pass"], env, 5)
    lint_import = _median_run([sys.executable, "-c", "import pkilint.pkix.certificate, pkilint.pkix.extension"], env, 5)
    print(f"\n`auditor pki issue` (fresh process, checks, lint, log, files): median {ours * 1000:.0f} ms per certificate")
    print(f"openssl req + openssl x509 -req (no checks, no lint, no log): median {theirs * 1000:.0f} ms per certificate "
          f"(ratio {ours / theirs:.1f})")
    print(f"of which: python start {bare * 1000:.0f} ms; importing pkilint {(lint_import - bare) * 1000:.0f} ms")
    print(f"`auditor pki issue` with {BATCH} --node in one run vs {BATCH} rounds of the openssl loop, 5 paired runs: "
          f"{batched * 1000:.0f} vs {looped * 1000:.0f} ms per certificate; auditor/openssl wall {wall_ratio:.2f}, "
          f"CPU {cpu_ratio:.2f} (target <= 1)")
    bench_record("pki-issue-vs-openssl",
                 "`auditor pki issue` per certificate (new key, checks, pkilint, fsync'ed log, files) vs an openssl "
                 "loop (`openssl req` + `openssl x509 -req`: no checks, no lint, no log, no fsync), the same CA key",
                 f"{BATCH} nodes in one run (`--node` repeated) against {BATCH} rounds of the loop, 5 paired runs: "
                 f"{batched * 1000:.0f} vs {looped * 1000:.0f} ms per certificate, auditor/openssl {wall_ratio:.2f} in "
                 f"wall time and {cpu_ratio:.2f} in CPU time (target <= 1); one process per certificate: "
                 f"{ours * 1000:.0f} ms ({ours / theirs:.1f}x the loop's time; importing pkilint "
                 f"{(lint_import - bare) * 1000:.0f} ms of it)")


def _timed_pair(run: Callable[[], None]) -> tuple[float, float]:
    """Wall and CPU seconds of `run` (the CPU of the processes it starts)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime
    begin = time.perf_counter()
    run()
    wall = time.perf_counter() - begin
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, usage.ru_utime + usage.ru_stime - cpu


def test_issuance_rate_over_a_long_log(tmp_path: Path) -> None:
    """Every change replays and verifies the whole log (the source of truth) and compares the
    inventory with it: the cost per issuance grows with the log."""
    ca = CA.init(tmp_path / "CA", "Bench Root", FileBackend(tmp_path / "CA", secrets), key_type="ecdsa-p256")
    opener = key_opener(ca.folder, secrets)
    ca.create_intermediate("Bench Intermediate", opener, FileBackend(ca.folder, secrets), key_type="ecdsa-p256")
    signer = opener(ca.current_intermediate().key)
    issued = ca.issue("template", "nats-client", opener, tmp_path / "t", signer=signer)
    rng = random.Random(7)
    for size in (1_000, 10_000):
        entries = [dataclasses.replace(issued.entry, serial=format(rng.getrandbits(120) | (1 << 119), "x"),
                                       node=f"bulk-{size}-{i}") for i in range(size)]
        bulk_records(ca, entries, issued.certificate)
        start = time.perf_counter()
        for i in range(20):
            ca.issue(f"node-{size}-{i}", "nats-client", opener, tmp_path / f"n{size}-{i}", signer=signer)
        elapsed = (time.perf_counter() - start) / 20
        print(f"\nlibrary issuance with {sum(1 for _ in ca.list())} certificates in the log: {elapsed * 1000:.0f} ms each")
