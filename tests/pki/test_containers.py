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


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    size = (n.bit_length() + 7) // 8
    return bytes([tag]) + (bytes([n]) if n < 0x80 else bytes([0x80 | size]) + n.to_bytes(size, "big")) + content


def _children(data: bytes) -> list[bytes]:
    """The DER values a SEQUENCE `data` holds (definite lengths)."""
    from pki.containers import der_header

    def size(at: int) -> tuple[int, int]:
        header = der_header(data, at, len(data))
        assert header is not None
        return header

    head, length = size(0)
    out, at = [], head
    while at < head + length:
        h, n = size(at)
        out.append(data[at:at + h + n])
        at += h + n
    return out


def with_mac_iterations(pfx: bytes, count: int) -> bytes:
    """A PKCS#12 file's bytes with its MacData's iteration count made `count` (the MAC no longer
    verifies, but a reader derives its key before it finds out: that is the cost)."""
    version, auth_safe, mac = _children(pfx)
    digest, salt, _ = _children(mac)
    iterations = _der(0x02, count.to_bytes((count.bit_length() + 8) // 8, "big"))
    return _der(0x30, version + auth_safe + _der(0x30, digest + salt + iterations))


@pytest.mark.parametrize("args", [
    ["-passout", "pass:"], ["-passout", "pass:", "-iter", "5000"], ["-passout", "pass:x", "-iter", "3000", "-legacy"],
    ["-passout", "pass:", "-nokeys", "-iter", "4096"], ["-passout", "pass:", "-keypbe", "NONE", "-certpbe", "NONE"],
], ids=["default", "5000", "legacy", "trust store", "unencrypted"])
def test_iteration_counts_are_those_openssl_info_shows(tmp_path: Path, args: list[str]) -> None:
    """The counts read from a PKCS#12 file's structure (without opening it) are those `openssl
    pkcs12 -info` prints once it has opened it: the MAC's, the encrypted contents', the shrouded
    key bag's; and all of the file was seen. Not all may be seen, by chance, where an encrypted
    key's random bytes begin as DER does and go on as BER would (about 1 file in 10,000: then
    the file is opened apart, as any whose structure is not all seen): a second file made alike
    is seen whole."""
    import re

    from pki.containers import iteration_counts

    certs = CertFactory()
    root, _ = certs.chain()
    (tmp_path / "c.pem").write_bytes(root.pem())
    (tmp_path / "k.pem").write_bytes(root.key_pem())
    keys = [] if "-nokeys" in args else ["-inkey", str(tmp_path / "k.pem")]
    password = next(a.split(":", 1)[1] for a in args if a.startswith("pass:"))
    for _ in range(3 if keys and "NONE" not in args else 1):  # an encrypted key: its bytes are random
        _openssl("pkcs12", "-export", "-in", str(tmp_path / "c.pem"), *keys, "-out", str(tmp_path / "f.p12"), *args)
        info = _openssl("pkcs12", "-legacy", "-info", "-noout", "-in", str(tmp_path / "f.p12"),
                        "-passin", f"pass:{password}")
        printed = sorted(int(n) for n in re.findall(rb"Iteration (\d+)", info.stdout + info.stderr))
        counts, whole = iteration_counts((tmp_path / "f.p12").read_bytes())
        assert printed and sorted(counts) == printed
        if whole:
            break
    assert whole


def test_a_pkcs12_file_asking_for_endless_key_derivation_is_refused_at_once(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A PKCS#12 file may ask for 2**31 - 1 iterations of its MAC's key derivation: openssl and
    cryptography hash for minutes before they find the MAC wrong (was: `auditor secrets scan` and
    the certificates collector hung on it). Refused by its count before it is opened; one whose
    cost shows only once its contents are decrypted is opened in a child process, stopped after
    PKCS12_SECONDS."""
    import time

    from cryptography.hazmat.primitives.serialization import NoEncryption, pkcs12

    from pki import containers

    certs = CertFactory()
    root, _ = certs.chain()
    good = pkcs12.serialize_key_and_certificates(b"n", root.key, root.cert, None, NoEncryption())
    hostile = with_mac_iterations(good, 2**31 - 1)
    start = time.monotonic()
    with pytest.raises(containers.TooSlow, match="2,147,483,647 key derivation iterations"):
        load_certificates(hostile)
    assert time.monotonic() - start < 1
    assert containers.iteration_counts(with_mac_iterations(good, 2048))[0] == [2048]
    # what only the opening shows: the child process is stopped
    (tmp_path / "c.pem").write_bytes(root.pem())
    (tmp_path / "k.pem").write_bytes(root.key_pem())
    _openssl("pkcs12", "-export", "-in", str(tmp_path / "c.pem"), "-inkey", str(tmp_path / "k.pem"), "-iter", "400000",
             "-passout", "pass:", "-out", str(tmp_path / "slow.p12"))
    slow = (tmp_path / "slow.p12").read_bytes()
    assert len(load_certificates(slow)) == 1  # it opens, given the time
    monkeypatch.setattr(containers, "MAX_ITERATIONS", 10**9)  # as though its counts did not show
    monkeypatch.setattr(containers, "PKCS12_SECONDS", 0.05)
    with pytest.raises(containers.TooSlow, match="took more than"):
        load_certificates(slow)


@pytest.mark.parametrize("trust", [["-addtrust", "serverAuth"], ["-addreject", "clientAuth", "-setalias", "node ca"], []],
                         ids=["trusted for serverAuth", "a rejection and an alias", "no settings"])
def test_a_trusted_certificate_block_is_the_certificate_openssl_reads(tmp_path: Path, trust: list[str]) -> None:
    """`openssl x509 -trustout` writes a TRUSTED CERTIFICATE block: the certificate's DER and then
    OpenSSL's trust settings. The certificate read is the one `openssl x509` prints from it (was:
    an error, "no BEGIN CERTIFICATE delimiters", so the certificate was never judged)."""
    certs = CertFactory()
    root, inter = certs.chain()
    (tmp_path / "c.pem").write_bytes(root.pem())
    _openssl("x509", "-in", str(tmp_path / "c.pem"), "-trustout", *trust, "-out", str(tmp_path / "t.pem"))
    block = (tmp_path / "t.pem").read_bytes()
    assert block.startswith(b"-----BEGIN TRUSTED CERTIFICATE-----")
    printed = _ders(_openssl("x509", "-in", str(tmp_path / "t.pem")).stdout)
    assert _loaded(block + inter.pem()) == [("pem", printed[0]), ("pem", inter.der())]
    damaged = block.replace(block.splitlines()[1], block.splitlines()[1][:8])
    (item,) = load_certificates(damaged)
    assert item.certificate is None and (item.error or "").startswith("unparsable certificate")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), st.sampled_from([b"", b"0\x82\x01\x00", b"0\x84\xff\xff\xff\xff", b"0\x80"]))
def test_any_trusted_certificate_block_is_read_or_refused_cleanly(body: bytes, start: bytes) -> None:
    """Fuzz: a TRUSTED CERTIFICATE block of any bytes (some starting as a DER SEQUENCE would) is a
    certificate or an entry with an error, never an exception."""
    import base64

    pem = b"-----BEGIN TRUSTED CERTIFICATE-----\n" + base64.encodebytes(start + body) + b"-----END TRUSTED CERTIFICATE-----\n"
    (item,) = load_certificates(pem)
    assert (item.certificate is None) != (item.error is None)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.integers(min_value=0, max_value=4000))
def test_iteration_counts_of_any_bytes_end_cleanly(data: bytes, depth: int) -> None:
    """Fuzz: any bytes, after SEQUENCEs nested up to 4,000 deep (in indefinite-length BER, and in
    definite lengths), give counts and whether all was seen; never an exception, never past 32
    levels (deeper is not all seen)."""
    from pki.containers import iteration_counts

    counts, _ = iteration_counts(data)
    assert all(isinstance(n, int) for n in counts)
    nested = data
    for _ in range(depth):
        nested = _der(0x30, nested)
    counts, whole = iteration_counts(nested)
    assert all(isinstance(n, int) for n in counts)
    if depth > 33:
        assert not whole
    ber = b"\x30\x80" * depth + data + b"\x00\x00" * depth
    assert iteration_counts(ber)[1] is (depth == 0 and iteration_counts(data)[1])


@pytest.mark.parametrize("after", [b"\n", b"\r\n", b"\0\0", b"trailing note\n"], ids=["a line break", "CRLF", "zeros", "text"])
def test_a_der_certificate_with_bytes_after_it_is_the_one_openssl_reads(tmp_path: Path, after: bytes) -> None:
    """`openssl x509 -inform DER` reads a DER certificate and ignores the bytes after it (a line
    break an editor or a transfer added): the same certificate is read here (was: an error,
    "ExtraData", so it was never judged). A file cut short is still an error."""
    certs = CertFactory()
    root, _ = certs.chain()
    (tmp_path / "c.der").write_bytes(root.der() + after)
    printed = _ders(_openssl("x509", "-inform", "DER", "-in", str(tmp_path / "c.der")).stdout)
    assert _loaded(root.der() + after) == [("der", printed[0])] == [("der", root.der())]
    with pytest.raises(LoadError, match="neither PEM nor a DER certificate"):
        load_certificates(root.der()[:-20])


def _pem_layouts(der: bytes) -> dict[str, bytes]:
    """A certificate's PEM laid out as files found on nodes are: re-wrapped, with blanks and line
    ends of other systems, indented (copied out of a YAML block), with text beside its markers."""
    import base64

    b64 = base64.b64encode(der)
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    begin, end = b"-----BEGIN CERTIFICATE-----", b"-----END CERTIFICATE-----"

    def block(body: list[bytes], nl: bytes = b"\n", head: bytes = begin, tail: bytes = end) -> bytes:
        return head + nl + nl.join(body) + nl + tail + nl

    return {
        "as openssl writes it": block(lines), "lines of 76": block([b64[i:i + 76] for i in range(0, len(b64), 76)]),
        "one line": block([b64]), "blanks after each line": block([x + b" \t" for x in lines]),
        "lines indented": block([b"  " + x for x in lines]), "CRLF": block(lines, b"\r\n"),
        "CR alone": block(lines, b"\r"), "no last line break": block(lines)[:-1],
        "blanks after BEGIN and END": block(lines, head=begin + b"  ", tail=end + b"\t"),
        "a UTF-8 byte-order mark": b"\xef\xbb\xbf" + block(lines), "a blank line inside": block([*lines[:2], b"", *lines[2:]]),
        "the whole block indented": b"  " + block(lines).replace(b"\n-----END", b"\n  -----END"),
        "END indented": block(lines).replace(b"\n-----END", b"\n  -----END"),
        "text before BEGIN on its line": b"cert: " + block(lines), "a tab before BEGIN": b"\t" + block(lines),
        "padding dropped": block([b64.rstrip(b"=")]), "the URL-safe alphabet": block([b64.replace(b"+", b"-").replace(b"/", b"_")]),
        "a lower-case label": block(lines, head=begin.lower(), tail=end.lower()),
    }


def test_a_pem_certificate_is_read_where_openssl_reads_it(tmp_path: Path) -> None:
    """Each layout of a PEM certificate gives a certificate exactly where `openssl x509` reads one
    (was: a block indented or after text on its BEGIN line was read, though neither openssl nor
    Go's encoding/pem, which NATS reads with, reads it; one with blanks after BEGIN was refused as
    truncated). Where openssl reads none, the file is an error, never a file of no certificate.
    (A PEM header line before the body, which Go reads and openssl does not, is not among them.)"""
    certs = CertFactory()
    leaf = certs.issue("node", issuer=certs.chain()[1])
    disagree = []
    for name, data in _pem_layouts(leaf.der()).items():
        path = tmp_path / "c.pem"
        path.write_bytes(data)
        done = subprocess.run(["openssl", "x509", "-in", str(path), "-outform", "DER"], capture_output=True,
                              check=False, timeout=60)
        try:
            loaded = load_certificates(data)
        except LoadError as exc:  # the file is an error
            assert not str(exc).startswith("no certificate"), name
            loaded = []
        read = [c.certificate.public_bytes(Encoding.DER) for c in loaded if c.certificate is not None]
        if read != ([done.stdout] if done.returncode == 0 else []):
            disagree.append(name)
    assert disagree == []
