"""Loading certificates from PEM (single or bundles) and DER bytes."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

from cryptography import x509

from pki.errors import LoadError

_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL
)
_PEM_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")
CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}


@dataclass(frozen=True)
class LoadedCertificate:
    """A certificate, or the reason the block at `index` could not be parsed."""

    index: int
    encoding: str  # "pem" | "der"
    certificate: x509.Certificate | None
    error: str | None = None
    line: int | None = None


def looks_like_pem(data: bytes) -> bool:
    return _PEM_BEGIN.search(data) is not None


def load_certificates(data: bytes) -> list[LoadedCertificate]:
    """Every certificate in `data`: each PEM CERTIFICATE block, or the whole of it as DER.

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
            if label not in CERT_LABELS:
                continue
            line = data.count(b"\n", 0, begin.start()) + 1
            if begin.start() not in ends:
                out.append(
                    LoadedCertificate(index, "pem", None, "truncated PEM block: no matching END line", line)
                )
                index += 1
                continue
            match = _PEM_BLOCK.match(data, begin.start())
            assert match is not None
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    cert = x509.load_pem_x509_certificate(match.group(0))
                out.append(LoadedCertificate(index, "pem", cert, None, line))
            except (ValueError, x509.InvalidVersion) as exc:  # InvalidVersion is no ValueError
                out.append(LoadedCertificate(index, "pem", None, f"unparsable certificate: {_short(exc)}", line))
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
        raise LoadError(f"neither PEM nor a DER certificate: {_short(exc)}") from None
    return [LoadedCertificate(0, "der", cert)]


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:200]
