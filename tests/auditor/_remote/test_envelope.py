"""Signed evidence: sealed by an agent, opened by a worker, checked against an outside DSSE verifier."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey  # type: ignore[attr-defined]  # re-exported without __all__

from auditor._cli import explain
from auditor._remote import wire
from auditor._remote.envelope import PAYLOAD_TYPE, Refused, Signer, key_id, open_sealed, pae, seal
from auditor.errors import ConfigError
from pki.errors import KeyAccessError, LoadError
from tests.auditor._remote.signing import NOW, NodePki, small_bundle
from tests.certs import CertFactory, write


@pytest.fixture(scope="module")
def pki(certs: CertFactory, tmp_path_factory: pytest.TempPathFactory) -> NodePki:
    return NodePki.make(certs, tmp_path_factory.mktemp("pki"))


def test_pae_is_dsse_v1() -> None:
    # The worked example of secure-systems-lab/dsse protocol.md
    assert pae("http://example.com/HelloWorld", b"hello world") == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"


@pytest.mark.parametrize("key", ["ec256", "ec384", "ed25519", "rsa2048", "rsa3072"])
def test_an_outside_dsse_verifier_accepts_the_envelope(pki: NodePki, key: str) -> None:
    """securesystemslib (the in-toto/TUF implementation of DSSE) verifies what the agent signs."""
    signer = pki.signer(f"node-{key}", key=key)
    doc = seal(small_bundle(), signer, request_id="r-1", agent={"host": "h"})
    envelope = doc["dsseEnvelope"]
    public = SSlibKey.from_crypto(signer.chain[0].public_key(), keyid=key_id(signer.chain[0]),
                                  scheme="rsassa-pss-sha384" if key == "rsa3072" else None)
    accepted = Envelope.from_dict(copy.deepcopy(envelope)).verify([public], 1)
    assert list(accepted) == [key_id(signer.chain[0])]
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"][0]["digest"] == {"sha256": small_bundle().digest}
    # and the same verifier refuses an altered payload
    altered = copy.deepcopy(envelope)
    altered["payload"] = base64.b64encode(base64.b64decode(envelope["payload"]).replace(b"r-1", b"r-2")).decode()
    with pytest.raises(VerificationError, match="Found: 0"):
        Envelope.from_dict(altered).verify([public], 1)


def test_a_sealed_bundle_opens_with_its_facts(pki: NodePki) -> None:
    signer = pki.signer("node-a")
    bundle = small_bundle()
    opened = open_sealed(wire.unpack(wire.pack(seal(bundle, signer, request_id="abc"))), pki.trust("node-a"), now=NOW)
    assert (opened.target, opened.digest, opened.collected_at, opened.request_id) == (
        "node-a", bundle.digest, bundle.created_at, "abc")
    assert opened.signer == "CN=node-a.example.com"
    assert opened.bundle.to_dict() == bundle.to_dict()


def _refusal(doc: Any, pki: NodePki, target: str = "node-a", *, now: dt.datetime = NOW) -> str:
    with pytest.raises(Refused) as caught:
        open_sealed(doc, pki.trust(target), now=now)
    return caught.value.diagnostics()


def test_unsigned_and_foreign_documents_are_refused(pki: NodePki) -> None:
    assert "unsigned" in _refusal(small_bundle().to_dict(), pki)
    assert "not signed evidence" in _refusal({"format": "something"}, pki)
    assert "not signed evidence" in _refusal([1, 2], pki)


def test_forgeries_are_refused(pki: NodePki, certs: CertFactory, tmp_path: Path) -> None:
    signer = pki.signer("node-a")
    genuine = seal(small_bundle(), signer)

    tampered = copy.deepcopy(genuine)  # evidence changed after signing
    tampered["bundle"]["target"]["environment"] = "production"
    assert "bundle is invalid" in _refusal(tampered, pki)  # its own digest no longer matches

    swapped = copy.deepcopy(genuine)  # a different, self-consistent bundle under the old signature
    swapped["bundle"] = small_bundle(created_at=NOW + dt.timedelta(seconds=5)).to_dict()
    assert "not the one signed" in _refusal(swapped, pki)

    other_key = Signer(certs.key("ec256"), signer.chain)  # the node's certificate, someone else's key
    assert "no signature verifies" in _refusal(seal(small_bundle(), other_key), pki)

    rogue_root, rogue_inter = certs.chain()  # a look-alike CA: same names, other keys
    rogue = NodePki(rogue_root, rogue_inter, tmp_path, certs).signer("node-a")
    assert "chain is not trusted" in _refusal(seal(small_bundle(), rogue), pki)

    neighbour = pki.signer("node-b")  # a genuine node of the fleet signing for another
    assert "names node-b.example.com" in _refusal(seal(small_bundle(), neighbour), pki)
    # node-a's own key signing evidence about node-b, sent on node-a's subject
    assert "signed for target 'node-b'" in _refusal(seal(small_bundle("node-b"), signer), pki)


def test_expired_and_future_certificates_are_refused(pki: NodePki) -> None:
    old = pki.signer("node-a", start=NOW - dt.timedelta(days=100), days=10)
    assert "chain is not trusted" in _refusal(seal(small_bundle(), old), pki)


def test_a_ca_certificate_cannot_sign(pki: NodePki, tmp_path: Path) -> None:
    write(tmp_path / "k.pem", pki.inter.key_pem())
    write(tmp_path / "c.pem", pki.inter.pem())
    ca = Signer.load(tmp_path / "k.pem", tmp_path / "c.pem")
    assert "CA certificate" in _refusal(seal(small_bundle(), ca), pki)


def test_a_key_that_does_not_match_its_certificate_is_a_usage_error(pki: NodePki, tmp_path: Path) -> None:
    key_a, _ = pki.node("node-a")
    _, cert_b = pki.node("node-b")
    with pytest.raises(ConfigError, match="does not belong"):
        Signer.load(key_a, cert_b)
    with pytest.raises(KeyAccessError, match="not found") as missing:
        Signer.load(tmp_path / "missing.pem", cert_b)
    with pytest.raises(LoadError, match="not a regular file") as folder:
        Signer.load(key_a, tmp_path)
    for caught in (missing, folder):  # pki's errors, explained once by the command line: exit 2
        assert explain(caught.value) == (str(caught.value), 2)


def test_a_message_cannot_inflate_without_bound() -> None:
    bomb = wire.pack({"padding": "0" * 5_000_000})
    assert len(bomb) < 20_000
    with pytest.raises(Refused, match="inflates beyond"):
        wire.unpack(bomb, limit=1_000_000)
    with pytest.raises(Refused, match="truncated"):
        wire.unpack(bomb[: len(bomb) // 2])
    with pytest.raises(Refused, match="not gzip"):
        wire.unpack(b"{}")


@given(st.binary(max_size=300))
def test_any_bytes_are_refused_or_opened_never_crash(pki_fuzz: Any, data: bytes) -> None:
    try:
        open_sealed(wire.unpack(data), pki_fuzz, now=NOW)
    except Refused:
        pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


@given(st.data())
def test_a_mutated_document_is_refused_or_yields_exactly_what_was_signed(
    pki_fuzz: Any, genuine_doc: dict[str, Any], data: st.DataObject
) -> None:
    """Replace any one field of a genuine message, anywhere in it, with any JSON value: it is
    refused, or (an unsigned hint such as a keyid changed) it opens to the signed facts alone."""
    doc = copy.deepcopy(genuine_doc)
    node: Any = doc
    path = []
    while isinstance(node, dict | list) and node and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(node) if isinstance(node, dict) else list(range(len(node)))))
        path.append(key)
        parent, node = node, node[key]
    if not path:
        return
    parent[path[-1]] = data.draw(json_values)
    try:
        opened = open_sealed(doc, pki_fuzz, now=NOW)
    except Refused:
        return
    genuine = open_sealed(genuine_doc, pki_fuzz, now=NOW)
    assert (opened.digest, opened.collected_at, opened.request_id, opened.signer) == (
        genuine.digest, genuine.collected_at, genuine.request_id, genuine.signer)
    assert opened.bundle.to_dict() == genuine.bundle.to_dict()


@pytest.fixture(scope="module")
def pki_fuzz(pki: NodePki) -> Any:
    return pki.trust("node-a")


@pytest.fixture(scope="module")
def genuine_doc(pki: NodePki) -> dict[str, Any]:
    return seal(small_bundle(), pki.signer("node-a"), request_id="r")


def test_the_payload_type_is_signed(pki: NodePki) -> None:
    doc = seal(small_bundle(), pki.signer("node-a"))
    doc["dsseEnvelope"]["payloadType"] = "application/json"
    assert PAYLOAD_TYPE in _refusal(doc, pki)
