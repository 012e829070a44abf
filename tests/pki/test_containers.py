"""Certificates in PKCS#7 chains and PKCS#12 files, read as openssl reads them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given, settings
from hypothesis import strategies as st

from pki.errors import LoadError
from pki.load import load_certificates
from tests.certs import CertFactory

P7 = {  # name: openssl crl2pkcs7 arguments (beside -certfile), openssl pkcs7 arguments to read it back
    "PEM PKCS#7 (.p7b)": ([], []),
    "DER PKCS#7 (.p7c)": (["-outform", "DER"], ["-inform", "DER"]),
}
P12 = {  # name: openssl pkcs12 -export arguments
    "PKCS#12, an empty password": ["-passout", "pass:"],
    "PKCS#12, no encryption at all": ["-passout", "pass:", "-keypbe", "NONE", "-certpbe", "NONE", "-nomaciter"],
    "PKCS#12, legacy ciphers (RC2, 3DES), an empty password": ["-passout", "pass:", "-legacy"],
    "PKCS#12, certificates only (a trust store)": ["-passout", "pass:", "-nokeys"],
}
LOCKED = {  # PKCS#12 files no certificate of which is read without the password
    "PKCS#12, a password": ["-passout", "pass:s3cret-Pass"],
    "PKCS#12, legacy ciphers, a password": ["-passout", "pass:s3cret-Pass", "-legacy"],
}


def _openssl(*args: str) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(["openssl", *args], capture_output=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[bytes]]]:
    """Each container made by openssl from a leaf, its intermediate and root: its path and the DER
    of each certificate openssl reads back from it, in the order it prints them."""
    certs = CertFactory()
    root, inter = certs.chain()
    leaf = certs.issue("node", issuer=inter, dns=("node.example.com",))
    folder = tmp_path_factory.mktemp("containers")
    (folder / "leaf.pem").write_bytes(leaf.pem())
    (folder / "key.pem").write_bytes(leaf.key_pem())
    (folder / "chain.pem").write_bytes(inter.pem() + root.pem())
    (folder / "all.pem").write_bytes(leaf.pem() + inter.pem() + root.pem())
    out = {}
    for name, (make, read) in P7.items():
        path = folder / (name.split()[0] + ".p7")
        _openssl("crl2pkcs7", "-nocrl", "-certfile", str(folder / "all.pem"), "-out", str(path), *make)
        out[name] = (path, _ders(_openssl("pkcs7", "-print_certs", "-in", str(path), *read).stdout))
    for name, args in {**P12, **LOCKED}.items():
        path = folder / (name.replace(" ", "-").replace(",", "").replace("(", "").replace(")", "") + ".p12")
        _openssl("pkcs12", "-export", "-in", str(folder / "leaf.pem"), "-inkey", str(folder / "key.pem"),
                 "-certfile", str(folder / "chain.pem"), "-out", str(path), *args)
        printed = _openssl("pkcs12", "-legacy", "-in", str(path), "-nokeys", "-passin",
                           f"pass:{'s3cret-Pass' if name in LOCKED else ''}").stdout
        out[name] = (path, _ders(printed))
    return out


def _ders(pem: bytes) -> list[bytes]:
    return [c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(pem)]


def _loaded(data: bytes) -> list[tuple[str, bytes]]:
    loaded = load_certificates(data)
    assert [c.index for c in loaded] == list(range(len(loaded)))
    assert all(c.error is None for c in loaded), [c.error for c in loaded]
    return [(c.encoding, c.certificate.public_bytes(Encoding.DER)) for c in loaded if c.certificate is not None]


@pytest.mark.parametrize("name", list(P7))
def test_a_pkcs7_chain_holds_the_certificates_openssl_prints(made: dict[str, tuple[Path, list[bytes]]],
                                                               name: str) -> None:
    """Every certificate of a chain `openssl crl2pkcs7` wrote, PEM or DER, in the order `openssl
    pkcs7 -print_certs` prints them (was: a PEM PKCS7 block was skipped as no certificate, a DER
    one refused as neither PEM nor DER: a chain delivered so was never judged)."""
    path, printed = made[name]
    assert len(printed) == 3
    assert _loaded(path.read_bytes()) == [("pkcs7", der) for der in printed]


@pytest.mark.parametrize("name", list(P12))
def test_a_pkcs12_file_holds_the_certificates_openssl_prints(made: dict[str, tuple[Path, list[bytes]]],
                                                              name: str) -> None:
    """Every certificate of a PKCS#12 file that opens with no password or the empty one (the leaf
    the key belongs to first, where a key is held), as `openssl pkcs12 -nokeys` prints them."""
    path, printed = made[name]
    assert len(printed) == 3
    loaded = _loaded(path.read_bytes())
    assert sorted(loaded) == sorted(("pkcs12", der) for der in printed)
    if "certificates only" not in name:
        leaf = x509.load_pem_x509_certificate((path.parent / "leaf.pem").read_bytes()).public_bytes(Encoding.DER)
        assert loaded[0][1] == leaf


@pytest.mark.parametrize("name", list(LOCKED))
def test_a_pkcs12_file_that_needs_a_password_is_refused_by_name(made: dict[str, tuple[Path, list[bytes]]],
                                                                 name: str) -> None:
    """openssl prints its certificates only with the password: refused with a reason, never taken
    for a file of no certificates."""
    path, printed = made[name]
    assert len(printed) == 3
    with pytest.raises(LoadError, match="opens only with a password"):
        load_certificates(path.read_bytes())


def test_a_pkcs7_structure_of_no_certificate_is_no_certificate(tmp_path: Path) -> None:
    """`openssl crl2pkcs7 -nocrl` with no certificate file: nothing to judge, as a key's PEM file."""
    _openssl("crl2pkcs7", "-nocrl", "-out", str(tmp_path / "none.p7b"))
    _openssl("crl2pkcs7", "-nocrl", "-outform", "DER", "-out", str(tmp_path / "none.p7c"))
    for name in ("none.p7b", "none.p7c"):
        with pytest.raises(LoadError, match=r"^no certificate in this"):
            load_certificates((tmp_path / name).read_bytes())


def test_a_pkcs7_block_among_certificates_keeps_the_order_of_the_file(made: dict[str, tuple[Path, list[bytes]]]) -> None:
    """A PEM certificate, a PKCS7 block of three, a damaged PKCS7 block and a certificate: five
    entries numbered in order, the damaged block's an error of its line."""
    path, printed = made["PEM PKCS#7 (.p7b)"]
    block = path.read_bytes()
    first = (path.parent / "leaf.pem").read_bytes()
    damaged = b"-----BEGIN PKCS7-----\nMIIBAAYJKoZIhvcNAQcCoA==\n-----END PKCS7-----\n"
    loaded = load_certificates(first + block + damaged + first)
    assert [(c.index, c.encoding, c.certificate is None) for c in loaded] == [
        (0, "pem", False), (1, "pkcs7", False), (2, "pkcs7", False), (3, "pkcs7", False), (4, "pkcs7", True),
        (5, "pem", False)]
    assert [c.certificate.public_bytes(Encoding.DER) for c in loaded[1:4] if c.certificate] == printed
    bad = loaded[4]
    assert bad.error and bad.error.startswith("unparsable PKCS#7") and bad.line == first.count(b"\n") + block.count(b"\n") + 1


_FUZZ: dict[str, bytes] = {}


def _fuzz_input(name: str) -> bytes:
    if not _FUZZ:
        certs = CertFactory()
        root, inter = certs.chain()
        from cryptography.hazmat.primitives.serialization import NoEncryption, pkcs7, pkcs12

        _FUZZ["p7c"] = pkcs7.serialize_certificates([inter.cert, root.cert], Encoding.DER)
        _FUZZ["p12"] = pkcs12.serialize_key_and_certificates(b"n", inter.key, inter.cert, [root.cert], NoEncryption())
    return _FUZZ[name]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["p7c", "p12"]), st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=255),
       st.integers(min_value=0, max_value=64))
def test_a_damaged_container_is_read_or_refused_cleanly(name: str, at: int, value: int, cut: int) -> None:
    """A byte of a DER PKCS#7 chain or a PKCS#12 file changed, and its end cut: its certificates,
    or a LoadError, or entries with errors; never another exception."""
    data = bytearray(_fuzz_input(name))
    data[at % len(data)] = value
    try:
        loaded = load_certificates(bytes(data[:len(data) - cut]))
    except LoadError as exc:
        assert str(exc)
    else:
        assert all((c.certificate is None) != (c.error is None) for c in loaded)
        assert all(c.encoding == ("pkcs7" if name == "p7c" else "pkcs12") or c.encoding == "der" for c in loaded)
