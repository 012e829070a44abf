"""Structural checks against the real generators: nkeys, pyrage, cryptography, GnuPG."""

from __future__ import annotations

import datetime as dt
import math
import os
import random
import subprocess
from pathlib import Path

import nkeys
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._secrets import structure
from auditor._secrets.scanner import Scanner
from tests.secrets_corpus import (
    _NKEY_PREFIXES,
    age_identity,
    nats_user_jwt,
    nkey_seed,
    private_key_pem,
)

B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
SCANNER = Scanner()


def rules_in(text: str, path: str = "notes.txt") -> list[str]:
    return [h.rule for h in SCANNER.scan_bytes(text.encode(), path)]


@given(st.binary(min_size=0, max_size=64))
def test_crc16_matches_nkeys(data: bytes) -> None:
    assert structure.crc16_xmodem(data) == nkeys.crc16(bytearray(data))


@given(raw=st.binary(min_size=32, max_size=32), kind=st.sampled_from(sorted(_NKEY_PREFIXES)),
       before=st.text(alphabet=" =:\"'\n", min_size=1, max_size=5), after=st.text(alphabet=" ;\"'\n", max_size=5))
def test_valid_nkey_seeds_are_found(raw: bytes, kind: str, before: str, after: str) -> None:
    seed = nkeys.encode_seed(raw, _NKEY_PREFIXES[kind]).decode()
    assert structure.nkey_seed(seed) == {"nkey_type": kind}
    hits = SCANNER.scan_bytes(f"NATS_SEED{before}{seed}{after}".encode(), "x.sh")
    assert [(h.rule, h.secret.decode()) for h in hits] == [("nkey-seed", seed)]


@given(raw=st.binary(min_size=32, max_size=32), pos=st.integers(min_value=2, max_value=57), data=st.data())
def test_checksum_corrupted_nkey_seeds_are_not_found(raw: bytes, pos: int, data: st.DataObject) -> None:
    seed = nkeys.encode_seed(raw, nkeys.PREFIX_BYTE_USER).decode()
    replacement = data.draw(st.sampled_from([c for c in B32 if c != seed[pos]]))
    corrupted = seed[:pos] + replacement + seed[pos + 1:]
    assert structure.nkey_seed(corrupted) is None
    assert "nkey-seed" not in rules_in(f"seed: {corrupted}\n")


def test_nkey_public_keys_are_not_seeds() -> None:
    kp = nkeys.from_seed(nkey_seed(random.Random(1)).encode())
    public = kp.public_key.decode()
    assert structure.nkey_public(public) == "user"
    assert rules_in(f"user: {public}\n") == []


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=57))
def test_age_identities_from_pyrage_are_found_and_corruption_is_not(pos: int) -> None:
    ident = age_identity()
    assert structure.age_identity(ident) == {"key_type": "age-x25519"}
    assert rules_in(ident + "\n") == ["age-identity"]
    body_start = len("AGE-SECRET-KEY-1")
    i = body_start + pos
    alphabet = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"
    corrupted = ident[:i] + next(c for c in alphabet if c != ident[i]) + ident[i + 1:]
    assert structure.age_identity(corrupted) is None
    assert "age-identity" not in rules_in(corrupted + "\n")


@given(st.text(max_size=200))
def test_parsers_never_raise_on_arbitrary_text(text: str) -> None:
    structure.nkey_seed(text)
    structure.nkey_public(text)
    structure.age_identity(text)
    structure.bech32_valid(text)
    structure.jwt_facts(text)
    structure.private_key("PRIVATE KEY", text)
    structure.private_key("OPENSSH PRIVATE KEY", text)
    structure.private_key("PGP PRIVATE KEY BLOCK", text)


@given(st.binary(max_size=300))
def test_pgp_and_openssh_packet_parsers_never_raise(data: bytes) -> None:
    structure._pgp_secret_packet(data)
    structure._openssh(b"openssh-key-v1\x00" + data)


@given(st.binary(max_size=2000))
def test_scanner_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    SCANNER.scan_bytes(data, "any.yaml")


def test_nats_jwt_is_decoded() -> None:
    rng = random.Random(7)
    user = nkeys.from_seed(nkey_seed(rng).encode()).public_key.decode()
    jwt = nats_user_jwt(rng, nkey_seed(rng, "account"), user, exp=1)
    facts = structure.jwt_facts(jwt, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert facts == {"alg": "ed25519-nkey", "typ": "JWT", "signed": True, "expired": True,
                     "nats_type": "user", "issuer_kind": "account"}
    hits = SCANNER.scan_bytes(f"token: {jwt}\n".encode(), "a.yaml")
    assert [(h.rule, h.confidence) for h in hits] == [("jwt", "medium")]  # expired: lower confidence


KEY_CASES = [(k, f, e) for k in ("rsa", "ec", "ed25519") for f in ("pkcs8", "traditional", "openssh")
             for e in (False, True) if not (k == "ed25519" and f == "traditional")]  # no such format


@pytest.mark.parametrize(("kind", "fmt", "encrypted"), KEY_CASES)
def test_private_keys_are_parsed(kind: str, fmt: str, encrypted: bool) -> None:
    pem = private_key_pem(random.Random(1), kind, encrypted, fmt)
    hits = SCANNER.scan_bytes(pem.encode(), "key.pem")
    assert len(hits) == 1
    assert hits[0].rule == "private-key"
    assert hits[0].details["encrypted"] is encrypted
    if not encrypted:
        assert hits[0].details["key_type"] in (kind, f"ssh-{kind}", "ecdsa-sha2-nistp256")


def test_private_key_in_json_string_is_parsed() -> None:
    pem = private_key_pem(random.Random(2), "ec").replace("\n", "\\n")
    hits = SCANNER.scan_bytes(f'{{"type": "service_account", "private_key": "{pem}"}}'.encode(), "sa.json")
    assert [(h.rule, h.details["encrypted"]) for h in hits] == [("private-key", False)]


def test_a_pem_looking_block_that_does_not_parse_is_not_a_key() -> None:
    fake = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAnotreallyakey\n-----END RSA PRIVATE KEY-----\n"
    assert rules_in(fake) == []


@pytest.mark.parametrize("protect", [False, True])
def test_gnupg_secret_keys_are_parsed(tmp_path: Path, protect: bool) -> None:
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    passphrase = "s3cret-passphrase" if protect else ""
    try:
        subprocess.run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", passphrase,
                        "--quick-gen-key", "Test <t@example.com>", "ed25519", "sign", "never"],
                       env=env, check=True, capture_output=True, timeout=60)
        exported = subprocess.run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", passphrase,
                                   "--armor", "--export-secret-keys"], env=env, check=True, capture_output=True,
                                  timeout=60).stdout
    finally:  # the agent gpg started in the home, stopped (it outlived the test)
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, check=False, capture_output=True, timeout=60)
    hits = SCANNER.scan_bytes(exported, "admin.asc")
    assert [(h.rule, h.details["format"], h.details["encrypted"]) for h in hits] == [("private-key", "pgp", protect)]


def test_entropy_is_weighed_never_alone() -> None:
    value = "q8Zr3LmN7vKx2PwT9sYb4HcJ6dFg1EaU"
    assert structure.shannon_entropy(value) > 4.0
    assert rules_in(f"checksum = \"{value}\"\n", "a.ini") == []  # random, but not named as a secret
    assert rules_in(f"api_secret = \"{value}\"\n", "a.ini") == ["generic-secret"]
    assert rules_in("api_secret = \"aaaaaaaaaaaaaaaaaaaaaaaa\"\n", "a.ini") == []  # named, but no entropy


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=700), st.binary(max_size=700), st.text(alphabet="ab", max_size=40)))
def test_entropy_is_the_formula_to_the_bit(text: str | bytes) -> None:
    """Counted in C and its terms read from tables, it is the sum it was, term by term in the
    same order: no value is judged on the other side of an entropy threshold."""
    from collections import Counter

    n = len(text)
    expected = -sum(c / n * math.log2(c / n) for c in Counter(text).values()) if n else 0.0
    assert structure.shannon_entropy(text) == expected
    assert structure.shannon_entropy(text * 2) == (-sum(c / (2 * n) * math.log2(c / (2 * n))
                                                        for c in Counter(text * 2).values()) if n else 0.0)


def test_entropy_counts_in_python_where_the_c_helper_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(structure, "_count_into", structure._count_in_python)
    assert structure.shannon_entropy("aab") == structure.shannon_entropy(b"aab") == \
        -(2 / 3 * math.log2(2 / 3) + 1 / 3 * math.log2(1 / 3))
    assert structure.shannon_entropy("x" * 2000) == 0.0
