"""File keys: encrypted PKCS#8 that OpenSSL reads; every damaged file is a clear error."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pki.backends.file import decrypt_key_file, encrypt_pkcs8
from pki.errors import KeyAccessError
from pki.keys import generate, public_equal
from pki.keytypes import KEY_TYPES


@pytest.mark.parametrize("key_type", [k for k in KEY_TYPES if k != "rsa-4096"])
def test_round_trip_and_openssl_reads_it(tmp_path: Path, key_type: str) -> None:
    key = generate(key_type)
    path = tmp_path / "k.pem"
    path.write_bytes(encrypt_pkcs8(key, "a long passphrase", iterations=2000))
    assert public_equal(decrypt_key_file(path, "a long passphrase").public_key(), key.public_key())
    proc = subprocess.run(["openssl", "pkey", "-in", str(path), "-passin", "env:PW", "-noout"],
                          env={"PW": "a long passphrase", "PATH": "/usr/bin:/bin"}, capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr
    with pytest.raises(KeyAccessError, match="wrong passphrase"):
        decrypt_key_file(path, "another passphrase")


def test_default_kdf_is_strong(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    path.write_bytes(encrypt_pkcs8(generate("ed25519"), "a long passphrase"))
    text = subprocess.run(["openssl", "asn1parse", "-in", str(path)], capture_output=True, text=True, check=True).stdout
    assert "PBKDF2" in text and "hmacWithSHA256" in text and "aes-256-cbc" in text
    assert ":0927C0" in text.replace(" ", "").upper()  # 600000 iterations


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.booleans())
def test_damaged_key_files_are_errors_not_crashes(tmp_path_factory: pytest.TempPathFactory, junk: bytes, wrap: bool) -> None:
    path = tmp_path_factory.mktemp("k") / "k.pem"
    if wrap:
        junk = b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n" + junk + b"\n-----END ENCRYPTED PRIVATE KEY-----\n"
    path.write_bytes(junk)
    with pytest.raises(KeyAccessError, match=str(path)):
        decrypt_key_file(path, "a long passphrase")
