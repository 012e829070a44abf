"""Loading certificates from PEM (single or bundles), DER, PKCS#7 (.p7b, .p7c: a CA's chain as
Windows and many CAs deliver it) and PKCS#12 (.p12, .pfx) bytes."""

from __future__ import annotations

import binascii
import re
import warnings
from dataclasses import dataclass

from cryptography import x509

from pki.containers import der_header, looks_pkcs7, looks_pkcs12, open_pkcs12, pkcs7_certificates
from pki.errors import LoadError, one_line

_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----[ \t]*\r?\n(.*?)(?<=\n)-----END \1-----", re.DOTALL
)
"""A PEM block as openssl and Go read one: blanks may end its BEGIN line, its END line starts a
line (an indented one ends no block for either)."""
_PEM_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")
CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}
TRUSTED_LABEL = b"TRUSTED CERTIFICATE"
"""OpenSSL's certificate with trust settings after it (`openssl x509 -trustout`)."""
PKCS7_LABEL = b"PKCS7"
"""The label `openssl crl2pkcs7` writes (RFC 7468 section 8: a CMS structure's certificates)."""


@dataclass(frozen=True)
class LoadedCertificate:
    """A certificate, or the reason the block at `index` could not be parsed."""

    index: int
    encoding: str
    """"pem" or "der" (a certificate as itself), "pkcs7" or "pkcs12" (one a container holds)."""
    certificate: x509.Certificate | None
    error: str | None = None
    line: int | None = None


def looks_like_pem(data: bytes) -> bool:
    return _PEM_BEGIN.search(data) is not None


def _starts_line(data: bytes, at: int) -> bool:
    """Whether `at` starts a line of `data` (a UTF-8 byte-order mark before the first line aside,
    which openssl reads past)."""
    return at == 0 or data[at - 1] == 0x0A or (at == 3 and data.startswith(b"\xef\xbb\xbf"))


def load_certificates(data: bytes) -> list[LoadedCertificate]:
    """Every certificate in `data`: each PEM CERTIFICATE block and each certificate of a PEM PKCS7
    block, or the whole of it as a DER certificate, a DER PKCS#7 structure or a PKCS#12 file that
    opens without a password (its certificates; its key is never kept).

    Non-certificate PEM blocks (keys, CSRs) are skipped. A block that cannot be parsed is
    returned with its error, so one bad certificate in a bundle does not hide the others.
    Raises LoadError when `data` holds no certificate at all.
    """
    if looks_like_pem(data):
        out: list[LoadedCertificate] = []
        found_labels: list[bytes] = []
        index = 0
        ends = {m.start() for m in _PEM_BLOCK.finditer(data)}
        for begin in _PEM_BEGIN.finditer(data):
            label = begin.group(1)
            found_labels.append(label)
            if label not in CERT_LABELS and label != PKCS7_LABEL:
                continue
            line = data.count(b"\n", 0, begin.start()) + 1
            if not _starts_line(data, begin.start()):
                out.append(LoadedCertificate(index, "pem", None, "its -----BEGIN line is indented or follows text on "
                                             "its line: openssl and Go read no certificate there", line))
                index += 1
                continue
            if begin.start() not in ends:
                out.append(LoadedCertificate(
                    index, "pem", None, "truncated PEM block: no matching END line at the start of a line", line))
                index += 1
                continue
            match = _PEM_BLOCK.match(data, begin.start())
            assert match is not None
            if label == PKCS7_LABEL:  # a chain in one block: each of its certificates, in its order
                certs, error = pkcs7_certificates(match.group(0), pem=True)
                out.extend(LoadedCertificate(index + n, "pkcs7", cert, None, line) for n, cert in enumerate(certs))
                if error is not None:
                    out.append(LoadedCertificate(index, "pkcs7", None, error, line))
                index += len(certs) + (error is not None)
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    cert = (_trusted_certificate(match.group(2)) if label == TRUSTED_LABEL
                            else x509.load_pem_x509_certificate(match.group(0)))
                out.append(LoadedCertificate(index, "pem", cert, None, line))
            except (ValueError, x509.InvalidVersion) as exc:  # InvalidVersion is no ValueError
                out.append(LoadedCertificate(index, "pem", None, f"unparsable certificate: {one_line(exc)}", line))
            index += 1
        if not out:
            labels = ", ".join(sorted({lab.decode() for lab in found_labels}))
            raise LoadError(f"no certificate in this PEM file (it holds: {labels})")
        return out
    if not data:
        raise LoadError("file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cert = x509.load_der_x509_certificate(data)
    except (ValueError, x509.InvalidVersion) as exc:  # InvalidVersion is no ValueError
        if looks_pkcs12(data):
            return _pkcs12_certificates(data)
        if looks_pkcs7(data):
            certs, error = pkcs7_certificates(data, pem=False)
            if error is not None:
                raise LoadError(error) from None
            if not certs:
                raise LoadError("no certificate in this PKCS#7 structure") from None
            return [LoadedCertificate(n, "pkcs7", cert) for n, cert in enumerate(certs)]
        try:  # a DER certificate with bytes after it (a line break an editor added): read as openssl reads it
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                first = _first_sequence(data, "the file")
                if len(first) == len(data):
                    raise ValueError("no bytes after it")
                cert = x509.load_der_x509_certificate(first)
        except (ValueError, x509.InvalidVersion):
            raise LoadError(f"neither PEM nor a DER certificate, PKCS#7 or PKCS#12: {one_line(exc)}") from None
    return [LoadedCertificate(0, "der", cert)]


def _trusted_certificate(body: bytes) -> x509.Certificate:
    """The certificate of a TRUSTED CERTIFICATE block (`openssl x509 -trustout`): its DER, then
    OpenSSL's trust settings (X509_CERT_AUX), which are not read; ValueError when it is no such
    thing."""
    try:
        der = binascii.a2b_base64(body)
    except binascii.Error as exc:
        raise ValueError(f"bad base64: {exc}") from None
    return x509.load_der_x509_certificate(_first_sequence(der, "the block"))


def _first_sequence(der: bytes, where: str) -> bytes:
    """The DER SEQUENCE `der` starts with (what openssl reads of a DER certificate, ignoring what
    follows it); ValueError when it starts with none or is cut short."""
    header = der_header(der, 0, len(der)) if der[:1] == b"\x30" else None
    if header is None:
        raise ValueError(f"no whole DER certificate at the start of {where}")
    return der[:header[0] + header[1]]


def _pkcs12_certificates(data: bytes) -> list[LoadedCertificate]:
    """The certificates of a PKCS#12 file: the key's first, then the others in the file's order."""
    opened = open_pkcs12(data)
    if opened is None:
        raise LoadError("a PKCS#12 file that opens only with a password, or is damaged: its certificates are not "
                        "read (`openssl pkcs12 -nokeys` writes them as PEM)")
    certs = opened.certificates
    if not certs:
        raise LoadError("no certificate in this PKCS#12 file")
    return [LoadedCertificate(n, "pkcs12", cert) for n, cert in enumerate(certs)]
