"""Private keys in PKCS#12 files (.p12, .pfx), judged as openssl opens them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._secrets.scanner import Scanner
from pki.containers import looks_pkcs12

VARIANTS = {
    "an empty password": ["-passout", "pass:"],
    "no encryption at all": ["-passout", "pass:", "-keypbe", "NONE", "-certpbe", "NONE", "-nomaciter"],
    "a password": ["-passout", "pass:s3cret-Pass"],
    "legacy ciphers (RC2, 3DES), an empty password": ["-passout", "pass:", "-legacy"],
    "legacy ciphers, a password": ["-passout", "pass:s3cret-Pass", "-legacy"],
    "certificates only, an empty password": ["-passout", "pass:", "-nokeys"],
    "certificates only, a password": ["-passout", "pass:s3cret-Pass", "-nokeys"],
}


def _openssl(*args: str, data: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=False, timeout=60)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each variant made by `openssl pkcs12 -export` from one EC key and its certificate."""
    folder = tmp_path_factory.mktemp("p12")
    key, cert = folder / "key.pem", folder / "cert.pem"
    assert _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-subj", "/CN=node-1", "-days", "30").returncode == 0
    out = {}
    for name, args in VARIANTS.items():
        path = folder / (name.replace(" ", "-").replace(",", "") + ".p12")
        done = _openssl("pkcs12", "-export", "-in", str(cert), "-inkey", str(key), "-out", str(path), *args)
        assert done.returncode == 0, done.stderr
        out[name] = path
    out["key"] = key
    return out


def _openssl_key(path: Path, password: str) -> bytes | None:
    """The private key openssl prints from `path` with `password`, as PKCS#8 PEM; None if none."""
    done = _openssl("pkcs12", "-legacy", "-in", str(path), "-nocerts", "-nodes", "-passin", f"pass:{password}")
    return done.stdout if done.returncode == 0 and b"-----BEGIN PRIVATE KEY-----" in done.stdout else None


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_pkcs12_key_is_found_as_openssl_opens_it(made: dict[str, Path], tmp_path: Path, variant: str) -> None:
    """A .p12 or .pfx that opens without a password (none, or the empty one anyone can type)
    holds an unencrypted private key: reported as one, with the fingerprint of the same key in a
    PEM file (openssl's own export of it), so the two are one secret. One that needs a password
    is an encrypted key; one holding certificates only (a trust store) holds no secret. Was:
    no binary file was read for keys (Kingfisher 2.14 reports none of them either)."""
    path = made[variant]
    open_key = _openssl_key(path, "")
    any_key = open_key or _openssl_key(path, "s3cret-Pass")
    (tmp_path / "store.p12").write_bytes(path.read_bytes())
    os.chmod(tmp_path / "store.p12", 0o644)
    leaks = Scanner().scan_file(tmp_path / "store.p12", "store.p12").leaks
    assert [(x.rule, x.encrypted) for x in leaks] == ([("private-key", open_key is None)] if any_key else [])
    if open_key is not None:
        (tmp_path / "exported.pem").write_bytes(open_key)
        pem = Scanner().scan_file(tmp_path / "exported.pem", "exported.pem").leaks
        assert [x.fingerprint for x in pem] == [x.fingerprint for x in leaks]
        assert not leaks[0].protected  # readable by others: SEC-003 fails it
        os.chmod(tmp_path / "store.p12", 0o600)
        assert Scanner().scan_file(tmp_path / "store.p12", "store.p12").leaks[0].protected  # a key file of its own


def test_bytes_that_only_start_like_pkcs12_are_no_key() -> None:
    from auditor._secrets import structure

    assert looks_pkcs12(bytes.fromhex("3082010002010330820100" + "06092a864886f70d010701") + b"\0" * 64)
    assert structure.pkcs12_key(bytes.fromhex("3082010002010330820100" + "06092a864886f70d010701") + b"\0" * 64) is None
    assert not looks_pkcs12(b"0\x82 plain text that starts with a zero")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4000), st.integers(1, 255)), min_size=1, max_size=4), st.integers(0, 4000),
       st.booleans())
def test_any_damage_to_a_pkcs12_file_is_read_without_error(flips: list[tuple[int, int]], cut: int, password: bool) -> None:
    """Fuzz: a PKCS#12 file with bytes changed or cut short is a key, an encrypted key or
    nothing, never an exception."""
    data = bytearray(_P12[password])
    for at, bits in flips:
        data[at % len(data)] ^= bits
    result = Scanner().scan_blob(bytes(data[: max(cut, 40)]), "store.p12", commit="c" * 40)
    assert result.error == "" and all(x.rule == "private-key" for x in result.leaks)


def _p12(password: bool) -> bytes:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import (
        BestAvailableEncryption,
        NoEncryption,
        pkcs12,
    )

    key = ec.generate_private_key(ec.SECP256R1())
    return pkcs12.serialize_key_and_certificates(b"k", key, None, None,
                                                 BestAvailableEncryption(b"pw") if password else NoEncryption())


_P12 = {False: _p12(False), True: _p12(True)}


def test_a_pkcs12_file_asking_for_endless_key_derivation_is_not_scanned_whole(tmp_path: Path) -> None:
    """A PKCS#12 file whose MAC asks for 2**31 - 1 iterations (the scan hung for minutes on it):
    at once, not scanned whole (its SEC rules undecided), its shrouded key bag an encrypted key."""
    import time

    from tests.pki.test_containers import with_mac_iterations

    (tmp_path / "store.p12").write_bytes(with_mac_iterations(_P12[True], 2**31 - 1))
    start = time.monotonic()
    result = Scanner().scan_file(tmp_path / "store.p12", "store.p12")
    assert time.monotonic() - start < 2
    assert "2,147,483,647 key derivation iterations" in result.unfinished
    assert [(x.rule, x.encrypted) for x in result.leaks] == [("private-key", True)]
