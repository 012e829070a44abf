"""Leakage scanning benchmark: auditor, trufflehog3 and Kingfisher on one generated corpus.

Run: `.venv/bin/python -m pytest tests/benchmarks/test_bench_secrets.py -m benchmark -s`

The corpus (about 110 MB of source code, configuration, logs and prose in ~13,000 files, a
fixed seed) is generated once under `.cache/bench/` (or `$AUDITOR_BENCH_DIR`) and never
committed. One file in ten holds exactly one planted secret of a kind a CIM node holds (nkey
seeds, .creds, private keys, age identities, Vault tokens, cloud tokens, passwords in
YAML/Nix/dotenv/JSON/INI, URL credentials, bearer JWTs); the other files are clean but full of
look-alikes (password lookups, placeholders, bcrypt hashes, digests, UUIDs, sops ENC values,
public keys). Each tool scans the same tree once, from a warm page cache, as a user runs it
(a fresh process); the benchmark prints MB/s, findings, precision and recall on the planted
set, and the findings on clean files. It asserts nothing about time.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import string
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from auditor._secrets.engines import Trufflehog3Engine
from tests.conftest import REPO
from tests.secrets_corpus import CLEAN_LINES, PLANTERS

pytestmark = pytest.mark.benchmark

CORPUS_VERSION = "v2"
TARGET_BYTES = 110 * 1024 * 1024
WORDS = ("node agent stream subject leaf hub cluster account user permission workflow graph domain "
         "event command query handler config service request response timeout retry cache store "
         "message payload header route server client metric health status instance deploy").split()


def _ident(rng: random.Random) -> str:
    return "_".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _b64(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits + "+/") for _ in range(n))


def _clean_line(rng: random.Random, kind: str) -> str:
    r = rng.random()
    if r < 0.04:
        return rng.choice(CLEAN_LINES)
    if kind == "py":
        return rng.choice([
            f"def {_ident(rng)}(self, {_ident(rng)}: str) -> None:\n",
            f"    {_ident(rng)} = self.{_ident(rng)}.get('{_ident(rng)}')\n",
            f"    if {_ident(rng)} is None:\n        raise ValueError('{' '.join(rng.choice(WORDS) for _ in range(5))}')\n",
            f"    return {_ident(rng)}({_ident(rng)}, timeout={rng.randint(1, 90)})\n",
            f"# {' '.join(rng.choice(WORDS) for _ in range(9))}\n",
            f"    password = os.environ.get('{_ident(rng).upper()}_PASSWORD')\n",
        ])
    if kind == "go":
        return rng.choice([
            f"func {_ident(rng).title().replace('_', '')}(ctx context.Context) error {{\n",
            f"\t{_ident(rng)} := {_ident(rng)}.New{rng.choice(WORDS).title()}()\n",
            f"\tif err != nil {{ return fmt.Errorf(\"{rng.choice(WORDS)}: %w\", err) }}\n",
            f"// {' '.join(rng.choice(WORDS) for _ in range(8))}\n",
        ])
    if kind in ("yaml", "nix", "conf"):
        sep = " = " if kind == "nix" else ": "
        end = ";" if kind == "nix" else ""
        return rng.choice([
            f"  {_ident(rng)}{sep}{rng.randint(1, 65535)}{end}\n",
            f"  {_ident(rng)}{sep}\"{' '.join(rng.choice(WORDS) for _ in range(3))}\"{end}\n",
            f"  checksum{sep}\"sha256:{_hex(rng, 64)}\"{end}\n",
            f"  integrity{sep}\"sha512-{_b64(rng, 86)}==\"{end}\n",
            f"  request_id{sep}{_hex(rng, 8)}-{_hex(rng, 4)}-{_hex(rng, 4)}-{_hex(rng, 4)}-{_hex(rng, 12)}{end}\n",
            f"  password_file{sep}\"/run/secrets/{_ident(rng)}\"{end}\n",
            f"  # {' '.join(rng.choice(WORDS) for _ in range(7))}\n",
        ])
    if kind == "json":
        return f'  "{_ident(rng)}": "{rng.choice(WORDS)}-{rng.randint(1, 999)}",\n'
    if kind == "log":
        return (f"2026-11-{rng.randint(10, 28)}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z "
                f"{rng.choice(['INFO', 'DEBUG', 'WARN'])} {rng.choice(WORDS)}: {' '.join(rng.choice(WORDS) for _ in range(6))} "
                f"id={_hex(rng, 16)} latency={rng.randint(1, 900)}ms\n")
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14))) + ".\n"


EXT = {"py": ".py", "go": ".go", "yaml": ".yaml", "nix": ".nix", "conf": ".conf", "json": ".json", "log": ".log", "md": ".md"}


PLACES = {  # where each kind of leak is written: config formats in their own kinds of files
    "password-env": ("conf", "md", "log"),
    "password-ini": ("conf", "md"),
    "password-nix": ("nix",),
    "password-json": ("json",),
    "password-yaml": ("yaml", "conf"),
}


@dataclass(frozen=True)
class Truth:
    path: str
    first: int
    last: int
    kind: str


def build_corpus(root: Path) -> list[Truth]:
    """Write the corpus (once) and return the planted secrets."""
    stamp = root / "TRUTH.json"
    if stamp.is_file():
        return [Truth(**t) for t in json.loads(stamp.read_text())]
    shutil.rmtree(root, ignore_errors=True)
    rng = random.Random(20261123)
    truths: list[Truth] = []
    total, i = 0, 0
    kinds = sorted(PLANTERS)
    while total < TARGET_BYTES:
        planter = kinds[(i // 10) % len(kinds)] if i % 10 == 0 else ""
        kind = rng.choice(PLACES.get(planter, tuple(EXT)))
        rel = f"{rng.choice(WORDS)}/{rng.choice(WORDS)}/{_ident(rng)}_{i}{EXT[kind]}"
        lines = [_clean_line(rng, kind) for _ in range(rng.randint(60, 260))]
        if i % 10 == 0:
            planted = PLANTERS[planter](rng)
            at = rng.randint(0, len(lines))
            first = sum(line.count("\n") for line in lines[:at]) + 1
            truths.append(Truth(rel, first, first + max(planted.text.count("\n") - 1, 0), planter))
            lines.insert(at, planted.text)
        data = "".join(lines)
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data)
        total += len(data.encode())
        i += 1
    stamp.write_text(json.dumps([t.__dict__ for t in truths]))
    return truths


@dataclass(frozen=True)
class Found:
    path: str
    line: int


def run_auditor(corpus: Path, out: Path) -> list[Found]:
    subprocess.run([sys.executable, "-m", "auditor", "secrets", "scan", ".", "--exclude", "TRUTH.json",
                    "--format", "json", "-o", str(out)], cwd=corpus, check=False, capture_output=True, timeout=3600)
    return [Found(f["file"], f["line"]) for f in json.loads(out.read_text())["findings"]]


def run_trufflehog3(corpus: Path, out: Path) -> list[Found]:
    exe = Trufflehog3Engine().install()
    subprocess.run([str(exe), "--zero", "--no-history", "--format", "JSON", "--output", str(out), "."],
                   cwd=corpus, check=False, capture_output=True, timeout=7200)
    return [Found(str(i["path"]), int(i["line"])) for i in json.loads(out.read_text() or "[]")]


def run_kingfisher(corpus: Path, out: Path) -> list[Found]:
    exe = shutil.which("kingfisher", path=str(Path(sys.executable).parent))
    assert exe, "kingfisher-bin is not installed"
    subprocess.run([exe, "scan", "--no-validate", "--no-update-check", "--git-history", "none", "--format", "json",
                    "--output", str(out), "."], cwd=corpus, check=False, capture_output=True, timeout=3600)
    doc = json.loads(out.read_text())
    return [Found(str(f["finding"]["path"]).removeprefix("./"), int(f["finding"]["line"])) for f in doc["findings"]]


def score(found: list[Found], truths: list[Truth]) -> dict[str, float]:
    by_path: dict[str, list[Truth]] = {}
    for t in truths:
        by_path.setdefault(t.path, []).append(t)
    hit: set[Truth] = set()
    tp = fp = clean_fp = 0
    for f in found:
        match = next((t for t in by_path.get(f.path, ()) if t.first <= f.line <= t.last), None)
        if match:
            tp += 1
            hit.add(match)
        else:
            fp += 1
            clean_fp += f.path not in by_path
    return {
        "findings": len(found), "tp": tp, "fp": fp, "clean_fp": clean_fp,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": len(hit) / len(truths),
    }


@pytest.mark.timeout(4 * 3600)
def test_compare_scanners(tmp_path: Path) -> None:
    root = Path(os.environ.get("AUDITOR_BENCH_DIR") or REPO / ".cache" / "bench") / f"secrets-corpus-{CORPUS_VERSION}"
    truths = build_corpus(root)
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and p.name != "TRUTH.json")
    files = sum(1 for p in root.rglob("*") if p.is_file())
    for p in root.rglob("*"):  # warm the page cache so every tool reads from memory
        if p.is_file():
            p.read_bytes()
    print(f"\ncorpus: {root} {size / 1e6:.1f} MB in {files} files, {len(truths)} planted secrets "
          f"({len({t.kind for t in truths})} kinds); {os.cpu_count()} CPUs")
    rows = {}
    results: dict[str, list[Found]] = {}
    for name, fn in (("auditor", run_auditor), ("kingfisher", run_kingfisher), ("trufflehog3", run_trufflehog3)):
        start = time.perf_counter()
        found = fn(root, tmp_path / f"{name}.json")
        seconds = time.perf_counter() - start
        results[name] = found
        rows[name] = {"seconds": seconds, "mbps": size / 1e6 / seconds, **score(found, truths)}
    print(f"{'tool':<12} {'seconds':>8} {'MB/s':>8} {'findings':>9} {'TP':>6} {'FP':>6} {'FP clean':>9} "
          f"{'precision':>9} {'recall':>7}")
    for name, r in rows.items():
        print(f"{name:<12} {r['seconds']:>8.1f} {r['mbps']:>8.1f} {r['findings']:>9.0f} {r['tp']:>6.0f} {r['fp']:>6.0f} "
              f"{r['clean_fp']:>9.0f} {r['precision']:>9.3f} {r['recall']:>7.3f}")
    a, k, t = rows["auditor"], rows["kingfisher"], rows["trufflehog3"]
    print(f"auditor vs trufflehog3: {a['mbps'] / t['mbps']:.1f}x throughput (target 20x); "
          f"vs kingfisher: {a['mbps'] / k['mbps']:.2f}x (target >= 1x)")
    kinds = sorted({t.kind for t in truths})
    per_kind = {kind: [t for t in truths if t.kind == kind] for kind in kinds}
    found = results["auditor"]
    missed = {kind: sum(1 for t in ts if not any(f.path == t.path and t.first <= f.line <= t.last for f in found))
              for kind, ts in per_kind.items()}
    print("auditor misses by kind: " + ", ".join(f"{k}={v}" for k, v in missed.items()))
