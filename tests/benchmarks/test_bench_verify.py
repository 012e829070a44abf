"""Cost of the WebPKI checks verify_chain adds. Run:
.venv/bin/python -m pytest tests/benchmarks/test_bench_verify.py -m benchmark -s

Peer: cryptography's verifier alone on the same chain (root P-384, intermediate P-384, leaf
P-256), as a server certificate with a name and with purpose any. Prints microseconds per
chain and the ratio; asserts nothing about time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store

from pki.verify import verify_chain
from tests.certs import NOW, CertFactory

pytestmark = pytest.mark.benchmark
ROUNDS = 2000


def _per_chain(fn: Callable[[], object]) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(ROUNDS):
        fn()
    return (time.perf_counter() - start) / ROUNDS * 1e6


def test_verify_chain_against_cryptography_alone() -> None:
    certs = CertFactory()
    root, inter = certs.chain()
    leaf = certs.issue("a.example.com", issuer=inter, dns=("a.example.com",), eku=("server",))
    builder = PolicyBuilder().store(Store([root.cert])).time(NOW)
    server = builder.build_server_verifier(x509.DNSName("a.example.com"))
    permissive = builder.extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(),
                                            ee_policy=ExtensionPolicy.permit_all()).build_client_verifier()
    for label, ours, peer in (
        ("server + name", lambda: verify_chain(leaf.cert, [root.cert], [inter.cert], at=NOW, purpose="server",
                                                name="a.example.com"),
         lambda: server.verify(leaf.cert, [inter.cert])),
        ("purpose any", lambda: verify_chain(leaf.cert, [root.cert], [inter.cert], at=NOW),
         lambda: permissive.verify(leaf.cert, [inter.cert])),
    ):
        assert verify_chain(leaf.cert, [root.cert], [inter.cert], at=NOW).valid
        a, b = _per_chain(ours), _per_chain(peer)
        print(f"\n{label}: verify_chain {a:.0f} us/chain, cryptography alone {b:.0f} us/chain, ratio {a / b:.2f}")
