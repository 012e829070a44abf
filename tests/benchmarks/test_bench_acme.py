"""Speed of the ACME server. Run: .venv/bin/python -m pytest tests/benchmarks/test_bench_acme.py -m benchmark -s

Issue 22 asks for issuance latency and certificates per second under a 100-order load: real
`auditor pki acme serve` over HTTPS on loopback, clients built on certbot's `acme` library in
8 threads (one account each), every order validated by http-01 (acme's standalone server) and
finalized with its own P-256 key; the clients poll every 20 ms (acme's own polling helpers
sleep a second, which would measure the client). Latency is from newOrder to the certificate
downloaded; the finalize request and the issuance inside the server are measured too. Also the
start-up cost of the HTTP server candidates (imports in a fresh interpreter). Prints figures,
asserts nothing about time.
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from acme import challenges

from tests.certs import CertFactory
from tests.pki.acme.client import Client, csr_for, responder
from tests.pki.acme.conftest import make_setup
from tests.servers import LOOPBACK

pytestmark = pytest.mark.benchmark
ORDERS = 100
THREADS = 8


def import_seconds(module: str, runs: int = 5) -> float:
    """Median time to import `module` in a fresh interpreter, less the interpreter's own start."""
    def once(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
        return time.perf_counter() - start

    base = statistics.median(once("pass") for _ in range(runs))
    return statistics.median(once(f"import {module}") for _ in range(runs)) - base


def test_http_server_start_up_cost() -> None:
    print()
    for module in ("uvicorn", "hypercorn.asyncio", "aiohttp.web", "acme.messages", "pki.acme.server"):
        if importlib.util.find_spec(module.split(".")[0]) is None:
            print(f"import {module:<20} not installed")
            continue
        print(f"import {module:<20} {import_seconds(module) * 1000:6.0f} ms")
    cli = statistics.median(
        (lambda s: (subprocess.run([sys.executable, "-m", "auditor", "pki", "profiles"], check=True,
                                   capture_output=True, timeout=60), time.perf_counter() - s)[1])(time.perf_counter())
        for _ in range(5))
    print(f"`auditor pki profiles` (does not load the server): {cli * 1000:.0f} ms")


def test_100_orders(tmp_path: Path) -> None:
    setup = make_setup(tmp_path, CertFactory())
    names = [f"bench-{i:03d}.example.com" for i in range(ORDERS)]
    setup.hosts.write_text("".join(f"{LOOPBACK} {n}\n" for n in names))
    with setup.serve(name="bench") as served, responder(setup.http01_port) as http01:
        clients = []
        for t in range(THREADS):
            client = Client(served.directory, str(setup.trust))
            client.register(*setup.eab(f"bench-{t}"))
            clients.append(client)

        def one(i: int) -> tuple[float, float]:
            client = clients[i % THREADS]
            start = time.perf_counter()
            csr, _ = csr_for([names[i]])
            order = client.acme.new_order(csr)
            authz = order.authorizations[0]
            challb = next(c for c in authz.body.challenges if isinstance(c.chall, challenges.HTTP01))
            client.acme.answer_challenge(challb, http01.add(challb, client.key))
            deadline = time.monotonic() + 120
            while True:  # acme's poll_authorizations sleeps a whole second between polls: poll every 20 ms
                authz, _ = client.acme.poll(authz)
                if authz.body.status.name != "pending" or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            assert authz.body.status.name == "valid", authz.body
            finalize = time.perf_counter()
            done = client.acme.begin_finalization(order)  # this server answers finalize with the valid order
            end = time.perf_counter()
            assert done.body.status.name == "valid"
            chain = client.acme._post_as_get(done.body.certificate).text
            assert "BEGIN CERTIFICATE" in chain
            return time.perf_counter() - start, end - finalize

        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(one, range(ORDERS)))
        elapsed = time.perf_counter() - start
        signing = sorted(float(m) / 1000 for m in re.findall(r"issued [0-9a-f]+ .*, ([0-9]+) ms\)", served.text()))
    listed = json.loads(subprocess.run([sys.executable, "-m", "auditor", "pki", "list", "--dir", str(setup.folder),
                                        "--format", "json"], capture_output=True, text=True, check=True).stdout)
    assert sum(1 for e in listed if e["node"].startswith("bench-")) == ORDERS
    whole = sorted(r[0] for r in results)
    final = sorted(r[1] for r in results)

    def pct(values: list[float], p: float) -> float:
        return values[min(len(values) - 1, int(p * len(values)))] * 1000

    print(f"\n{ORDERS} orders, {THREADS} client threads, https on loopback, http-01: {elapsed:.2f} s = "
          f"{ORDERS / elapsed:.1f} certificates/s")
    print(f"order latency (newOrder .. certificate): median {pct(whole, 0.5):.0f} ms, p90 {pct(whole, 0.9):.0f} ms, "
          f"max {whole[-1] * 1000:.0f} ms")
    print(f"finalize request (issuance included) as the client sees it: median {pct(final, 0.5):.0f} ms, "
          f"p90 {pct(final, 0.9):.0f} ms, max {final[-1] * 1000:.0f} ms")
    print(f"issuance in the server (CA lock, log replay, checks, pkilint, intent, signature, completion, inventory rows): median "
          f"{pct(signing, 0.5):.0f} ms, p90 {pct(signing, 0.9):.0f} ms, max {signing[-1] * 1000:.0f} ms")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
