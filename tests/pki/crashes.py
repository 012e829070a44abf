"""Kill `auditor pki issue` at random points and count what a crash leaves (issue 16, item 4).

Used by tests/pki/test_crash_safety.py (100 processes) and the longer benchmark
(tests/benchmarks/test_bench_pki_crashes.py). Each run is a fresh `python -m auditor pki issue`
process, killed with SIGKILL either at a uniformly random moment of its life (start-up,
waiting for the lock, opening the key, checking and linting) or, to hit the short window where
it logs, stages files, signs and installs, at a random moment after its staging folder
appears. Afterwards the CA is asked as a user would (`pki list`, `pki log verify`) and every
file under the output folders is searched for certificates the CA's keys signed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from pki.backends.file import decrypt_key_file, encrypt_pkcs8
from pki.ca import CA
from pki.facts import signed_by
from pki.inventory import serial_hex
from tests.pki.conftest import PASSPHRASE, new_ca

FAST_ITERATIONS = 1000
"""The test CA's intermediate key is re-encrypted with this many PBKDF2 iterations (the CA
uses 600,000): the loop measures issuance, not key stretching."""


@dataclass
class Figures:
    runs: int = 0
    killed: int = 0
    killed_in_window: int = 0
    finished: int = 0
    issued: int = 0
    abandoned: int = 0
    recovered: int = 0
    ghosts: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        return (f"{self.runs} runs ({self.killed} killed, {self.killed_in_window} of them after staging began; "
                f"{self.finished} finished) in {self.seconds:.0f} s: {self.issued} certificates issued and listed, "
                f"{self.abandoned} interrupted issuances closed, {self.recovered} recovered; "
                f"ghosts: {len(self.ghosts)}, leftovers that block a new run: {len(self.blocked)}")


def fast_ca(folder: Path) -> CA:
    ca, _ = new_ca(folder, permitted_dns=("example.com",), permitted_ip=("10.0.0.0/8",))
    rel = ca.current_intermediate().key["path"]
    key = decrypt_key_file(ca.folder / rel, PASSPHRASE)
    (ca.folder / rel).write_bytes(encrypt_pkcs8(key, PASSPHRASE, iterations=FAST_ITERATIONS))
    return ca


def issue_command(ca: Path, node: str, out: Path) -> list[str]:
    return [sys.executable, "-m", "auditor", "pki", "issue", "--dir", str(ca), "--node", node,
            "--profile", "nats-client", "--out", str(out), "--passphrase-env", "PKI_PASS"]


def _env() -> dict[str, str]:
    return {**os.environ, "PKI_PASS": PASSPHRASE, "NO_COLOR": "1"}


def _life(ca: Path, out: Path) -> tuple[float, float]:
    """(seconds from start until the staging folder appears, seconds from then to the end)
    of one issuance run to its end."""
    start = time.monotonic()
    proc = subprocess.Popen(issue_command(ca, "baseline", out), env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    staged = None
    while proc.poll() is None:
        if staged is None and out.exists():
            staged = time.monotonic()
        time.sleep(0.001)
    end = time.monotonic()
    assert proc.stderr is not None
    with proc.stderr:
        assert proc.returncode == 0, proc.stderr.read()
    staged = staged or end
    return staged - start, end - staged


def _run_one(ca: Path, node: str, out: Path, rng: random.Random, whole: float, window: float) -> tuple[bool, bool]:
    """Start one issuance and kill it: (killed, killed after its staging folder appeared)."""
    in_window = rng.random() < 0.6
    # after staging: mostly the first milliseconds (signing, the completion entry), then the install
    delay = window * 1.3 * rng.random() ** 3 if in_window else rng.uniform(0, whole * 1.1)
    proc = subprocess.Popen(issue_command(ca, node, out), env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    start = time.monotonic()
    timeout = start + 120
    staged_at = None
    while proc.poll() is None and time.monotonic() < timeout:
        now = time.monotonic()
        if in_window:
            if staged_at is None and out.exists():
                staged_at = now
            if staged_at is not None and now - staged_at >= delay:
                break
        elif now - start >= delay:
            break
        time.sleep(0.0005)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return True, staged_at is not None
    return False, False


def kill_loop(folder: Path, runs: int, *, workers: int = 3, seed: int = 16) -> Figures:
    """Run `runs` killed issuances against a new CA in `folder`, `workers` at a time, then
    check the CA as its users would. Returns the figures; asserts nothing."""
    ca = fast_ca(folder / "CA")
    outs = folder / "out"
    outs.mkdir()
    whole, window = _life(ca.folder, outs / "baseline")
    whole += window
    rng = random.Random(seed)
    plan = [(f"node-{i:04d}", outs / f"node-{i:04d}", random.Random(rng.random())) for i in range(runs)]
    figures = Figures(runs=runs)
    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda p: _run_one(ca.folder, p[0], p[1], p[2], whole, window), plan))
    figures.seconds = time.monotonic() - started
    figures.killed = sum(1 for killed, _ in results if killed)
    figures.killed_in_window = sum(1 for _, window_hit in results if window_hit)
    figures.finished = runs - figures.killed
    _check(ca.folder, outs, plan_nodes=[p[0] for p in plan], figures=figures)
    return figures


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "auditor", "pki", *args], env=_env(), capture_output=True, text=True,
                          timeout=120, check=False)


def _check(ca_dir: Path, outs: Path, *, plan_nodes: list[str], figures: Figures) -> None:
    listed_proc = cli("list", "--dir", str(ca_dir), "--format", "json")
    assert listed_proc.returncode == 0, listed_proc.stderr
    listed = {e["serial"]: e for e in json.loads(listed_proc.stdout)}
    verified = cli("log", "verify", "--dir", str(ca_dir))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    entries = [json.loads(line) for line in (ca_dir / "log.jsonl").read_text().splitlines()]
    figures.abandoned = sum(1 for e in entries if e["event"] == "abandon")
    figures.recovered = sum(1 for e in entries if e["event"] == "issue" and e["details"].get("recovered"))
    nodes = {e["node"] for e in listed.values() if e["profile"] == "nats-client"}
    figures.issued = len(nodes & set(plan_nodes))
    ca = CA.open(ca_dir)
    keys = [c.public_key() for _, c in ca.ca_certificates()]
    for path in sorted(outs.rglob("*")):
        if not path.is_file():
            continue
        try:
            certs = x509.load_pem_x509_certificates(path.read_bytes())
        except ValueError:
            continue
        for cert in certs:
            if any(signed_by(cert, k) for k in keys) and serial_hex(cert.serial_number) not in listed:
                figures.ghosts.append(f"{path}: serial {serial_hex(cert.serial_number)}")
    for node in plan_nodes:
        out = outs / node
        left = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
        if node in nodes:
            if left != ["cert.pem", "chain.pem", "key.pem"]:
                figures.blocked.append(f"{node} (issued): {left}")
        elif left:
            figures.blocked.append(f"{node} (not issued): {left}")
