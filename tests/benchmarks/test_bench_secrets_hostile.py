"""Files an attacker on a node can write, scanned: time and peak memory against Kingfisher.

Files an attacker (or a chatty service) can fill with tokens, one a line: a 19 MB log repeating
one GitHub token on every line, a 19 MB file of 300,000 distinct GitHub tokens, and a log of
150,000 distinct JWTs sent as `Authorization: Bearer` headers. auditor's `secrets scan` and an
`auditor scan` whose target has a secrets source over the file (what a node's audit does),
beside Kingfisher's `scan`, each a whole process, its own peak RSS read through a small launcher
(tests/benchmarks/peak.py: read straight from pytest, it would be at least pytest's size).

Run: `.venv/bin/python -m pytest tests/benchmarks/test_bench_secrets_hostile.py -m benchmark -s`
Everything prints figures and ratios; nothing is asserted about time or memory.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.benchmarks.conftest import Recorder
from tests.benchmarks.peak import measured
from tests.benchmarks.test_bench_secrets_speed import kingfisher
from tests.secrets_corpus import bearer_jwt, github_token

pytestmark = pytest.mark.benchmark

LINES = 300_000
INVENTORY = """version: 1
targets:
  - name: hostile
    environment: production
    policies: [cim-production]
    sources:
      - collector: secrets
        paths: [{path}]
"""


def run(args: list[str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in MiB) of one whole process."""
    done = measured(args)
    return done.wall, done.cpu, done.peak_mib


def hostile_files(folder: Path) -> dict[str, Path]:
    rng = random.Random(23)
    repeated = github_token(rng)
    files = {
        "one token on every line": "".join(f"GET /api?token={repeated} HTTP/1.1\n" for _ in range(LINES)),
        "300,000 distinct tokens": "".join(f"GET /api?token={github_token(rng)} HTTP/1.1\n" for _ in range(LINES)),
        "150,000 distinct bearer JWTs": "".join(f"GET /api/v1 HTTP/1.1 Authorization: Bearer {bearer_jwt(rng)}\n"
                                                for _ in range(LINES // 2)),  # (as curl -H lines Kingfisher took > 13 min)
    }
    out = {}
    for i, (name, text) in enumerate(files.items()):
        path = folder / f"hostile-{i}.log"
        path.write_text(text)
        out[name] = path
    return out


_COUNT = """
import json, sys
ours, scan, theirs = sys.argv[1:]
found = json.load(open(ours))["findings"]
failed = sum(f["status"] == "fail" for f in json.load(open(scan))["findings"])
with open(theirs) as fh:
    theirs_found = len(json.loads(fh.readline())["findings"])
print(len(found), sum(f["occurrences"] for f in found), failed, theirs_found)
"""


def counted(ours: Path, scan: Path, theirs: Path) -> list[int]:
    """Findings, occurrences, rule failures and Kingfisher's findings, read in a child process
    (read here, Kingfisher's 300,000 findings would grow this process past 1 GB)."""
    out = subprocess.run([sys.executable, "-c", _COUNT, str(ours), str(scan), str(theirs)], capture_output=True,
                         text=True, check=True).stdout
    return [int(x) for x in out.split()]


@pytest.mark.timeout(1800)
def test_hostile_files_against_kingfisher(tmp_path: Path, bench_record: Recorder) -> None:
    rows = []
    for name, path in hostile_files(tmp_path).items():
        (tmp_path / "inv.yaml").write_text(INVENTORY.format(path=path))
        ours = tmp_path / "ours.json"
        theirs = tmp_path / "theirs.json"
        scanned = run([sys.executable, "-m", "auditor", "secrets", "scan", str(path), "--format", "json", "-o", str(ours)])
        audited = run([sys.executable, "-m", "auditor", "scan", "--target", "hostile", "--inventory",
                       str(tmp_path / "inv.yaml"), "--no-store", "--format", "json", "-o", str(tmp_path / "scan.json")])
        peer = run([kingfisher(), "scan", "--no-validate", "--no-update-check", "--git-history", "none", "--format", "json",
                    "--output", str(theirs), str(path)])
        found, occurrences, failed, theirs_found = counted(ours, tmp_path / "scan.json", theirs)
        rows.append((name, path.stat().st_size, scanned, audited, peer, found, occurrences, failed, theirs_found))
    print(f"\nhostile files, whole processes (load {os.getloadavg()[0]:.1f}): wall s, CPU s, peak MiB")
    for name, size, scanned, audited, peer, found, occurrences, failed, theirs_found in rows:
        print(f"{name} ({size / 2**20:.0f} MB):")
        print(f"  auditor secrets scan {scanned[0]:.1f} s, {scanned[1]:.1f} s CPU, {scanned[2]:.0f} MiB: "
              f"{found:,} findings ({occurrences:,} occurrences)")
        print(f"  auditor scan         {audited[0]:.1f} s, {audited[1]:.1f} s CPU, {audited[2]:.0f} MiB: {failed:,} rule failures")
        print(f"  kingfisher           {peer[0]:.1f} s, {peer[1]:.1f} s CPU, {peer[2]:.0f} MiB: {theirs_found:,} findings")
        print(f"  auditor secrets scan / kingfisher: {scanned[0] / peer[0]:.2f}x wall, {scanned[2] / peer[2]:.2f}x memory")
    bench_record("secrets-hostile-files", "files of tokens, one a line (19 MB: one GitHub token on every line; "
                 "19 MB: 300,000 distinct GitHub tokens; 150,000 distinct JWTs as bearer headers): "
                 "`auditor secrets scan` and `auditor scan` of a target with a secrets source, vs Kingfisher, "
                 "whole processes, wall time and peak memory",
                 "; ".join(f"{name}: secrets scan {scanned[0]:.1f} s, {scanned[2]:.0f} MiB ({found:,} findings); "
                           f"auditor scan {audited[0]:.1f} s, {audited[2]:.0f} MiB ({failed:,} rule failures); Kingfisher "
                           f"{peer[0]:.1f} s, {peer[2]:.0f} MiB ({theirs_found:,} findings); ours/Kingfisher "
                           f"{scanned[0] / peer[0]:.2f}x wall, {scanned[2] / peer[2]:.2f}x memory"
                           for name, _, scanned, audited, peer, found, _, failed, theirs_found in rows))
