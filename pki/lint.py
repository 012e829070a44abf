"""Linting certificates with pkilint (DigiCert's RFC 5280 linter, MIT licence).

The CA lints every certificate before it signs it (:mod:`pki.issuance` lints the
to-be-signed copy) and refuses on an error-level finding; the certificates collector lints
what is deployed. pkilint is imported on first use (about 0.3 s), so commands that sign
nothing never pay for it.

Two documented exceptions, where pkilint's syntax checks are narrower than the RFCs it
cites; the finding is kept as a notice, never silently dropped:

- `pkix.invalid_domain_name_syntax` for host names without a dot (`localhost`, `cim-001`),
  which RFC 1034/1123 allow and TLS verifiers accept;
- `pkix.invalid_uri_syntax` for URIs that are valid by RFC 3986 but not web URLs
  (`spiffe://fleet.example.com/node`, `urn:…`): pkilint checks URIs as web addresses.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pki.errors import one_line
from pki.versions import linter_name

SEVERITIES = ("fatal", "error", "warning", "notice", "info")
REFUSING = ("fatal", "error")
_SINGLE_LABEL = re.compile(r'^Invalid domain name syntax: "([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"$')
_RFC3986_URI = re.compile(
    r'^Invalid URI syntax: "[A-Za-z][A-Za-z0-9+.-]*:(?:[A-Za-z0-9._~!$&\'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})+"$')
_ACCEPTED = {
    "pkix.invalid_domain_name_syntax": (_SINGLE_LABEL, "a host name without a dot is valid in RFC 1034/1123"),
    "pkix.invalid_uri_syntax": (_RFC3986_URI, "a valid RFC 3986 URI that is not a web URL"),
}


@dataclass(frozen=True)
class Finding:
    """One pkilint finding: severity (see SEVERITIES), code such as
    `pkix.invalid_domain_name_syntax`, its message and where in the certificate."""

    severity: str
    code: str
    message: str
    path: str

    def __str__(self) -> str:
        return f"{self.code}" + (f" ({self.message})" if self.message else "")


@dataclass(frozen=True)
class LintReport:
    linter: str
    findings: tuple[Finding, ...]

    def to_dict(self) -> dict[str, Any]:
        """As plain data, every finding whole (from_dict reads it back)."""
        return {"linter": self.linter,
                "findings": [[f.severity, f.code, f.message, f.path] for f in self.findings]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LintReport:
        """The report to_dict wrote; ValueError for anything else."""
        linter, findings = data.get("linter"), data.get("findings")
        if not isinstance(linter, str) or not isinstance(findings, list):
            raise ValueError("not a lint report")
        out = []
        for item in findings:
            if not (isinstance(item, list) and len(item) == 4 and all(isinstance(part, str) for part in item)):
                raise ValueError("not a lint finding")
            out.append(Finding(*item))
        return cls(linter, tuple(out))

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity in REFUSING)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> LintSummary:
        """The outcome in short: codes by severity."""
        by: dict[str, list[str]] = {}
        for f in self.findings:
            by.setdefault(f.severity, []).append(f.code)
        return LintSummary(linter=self.linter, errors=tuple(str(f) for f in self.errors),
                           warnings=tuple(sorted(set(by.get("warning", [])))),
                           notices=tuple(sorted(set(by.get("notice", [])))))


@dataclass(frozen=True, kw_only=True)
class LintSummary:
    """pkilint's outcome for one certificate: error-level findings as `code (message)`, and the
    codes of the warnings and notices."""

    linter: str
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    notices: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """As plain data (the issuance log's `lint` detail)."""
        return {"linter": self.linter, "errors": list(self.errors), "warnings": list(self.warnings),
                "notices": list(self.notices)}


@functools.cache
def _validators() -> tuple[Any, Any, Any]:
    from pkilint.pkix import certificate, extension, name
    from pkilint.validation import ValidatorContainer

    single = certificate.create_pkix_certificate_validator_container(
        certificate.create_decoding_validators(name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS),
        [
            certificate.create_issuer_validator_container([]),
            certificate.create_validity_validator_container(),
            certificate.create_subject_validator_container([]),
            certificate.create_extensions_validator_container([]),
            certificate.create_spki_validator_container([]),
        ],
    )
    from pkilint import document
    from pkilint.pkix.certificate import certificate_extension
    from pyasn1_alt_modules import rfc5280

    # issuer and subject agree (names, key identifiers, policies); the signature is not
    # checked here: a to-be-signed copy carries a throwaway signature
    chain = ValidatorContainer(validators=[
        name.IssuerSubjectNameBinaryEqualValidator(
            path="certificate.tbsCertificate.subject",
            subject_document_issuer_dn_path="subject:certificate.tbsCertificate.issuer",
        ),
        extension.IssuerSubjectKeyIdentifierBinaryEqualValidator(
            subject_auth_key_id_retriever=(
                lambda n: document.get_document_by_name(n, "subject").get_extension_by_oid(
                    rfc5280.id_ce_authorityKeyIdentifier)
            )
        ),
        certificate_extension.IssuerSubjectPolicyChainValidator(),
    ])
    decoding = ValidatorContainer(
        validators=certificate.create_decoding_validators(name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS),
        path="certificate",
    )
    return single, chain, decoding


Linter = Callable[[bytes, "bytes | None"], LintReport]
"""Lints a certificate's DER bytes (and its issuer's, or None) as lint_der does."""

_ELSEWHERE: ContextVar[Linter | None] = ContextVar("pki_lint_elsewhere", default=None)


@contextlib.contextmanager
def linted_by(linter: Linter) -> Iterator[None]:
    """Within this block (in this thread), :func:`lint` hands the certificate's bytes to
    `linter`, which runs :func:`lint_der` on them in another process of this program (the
    demo's lint process, see auditor._demo.linter: it imports pkilint while the demo's builder
    imports the rest). The same linter, validators and refusal: the CA still signs only what
    the report allows, and a linter that fails makes the caller fail, never pass."""
    token = _ELSEWHERE.set(linter)
    try:
        yield
    finally:
        _ELSEWHERE.reset(token)


def lint(cert: x509.Certificate, issuer: x509.Certificate | None = None) -> LintReport:
    """pkilint's RFC 5280 findings for `cert` (and, with `issuer`, whether the two agree)."""
    der = cert.public_bytes(serialization.Encoding.DER)
    issuer_der = issuer.public_bytes(serialization.Encoding.DER) if issuer is not None else None
    elsewhere = _ELSEWHERE.get()
    if elsewhere is not None:
        return elsewhere(der, issuer_der)
    return lint_der(der, issuer_der)


def lint_der(der: bytes, issuer_der: bytes | None = None) -> LintReport:
    """:func:`lint` of a certificate's DER bytes (and its issuer's)."""
    from pkilint.pkix.certificate import RFC5280Certificate

    single, chain, decoding = _validators()
    collection: dict[str, Any] = {}
    subject = RFC5280Certificate("subject", der, "subject", collection)
    collection["subject"] = subject
    try:
        subject.decode()
    except Exception as exc:  # pkilint reports undecodable input with assorted errors
        return LintReport(linter_name(), (Finding("fatal", "pkilint.decode_failed", one_line(exc), ""),))
    results = list(single.validate(subject.root))
    if issuer_der is not None:
        parent = RFC5280Certificate("issuer", issuer_der, "issuer", collection)
        collection["issuer"] = parent
        parent.decode()
        decoding.validate(parent.root)
        results += chain.validate(parent.root)
    return LintReport(linter_name(), tuple(_findings(results)))


def _findings(results: list[Any]) -> list[Finding]:
    out = []
    for result in results:
        for description in result.finding_descriptions:
            severity = description.finding.severity.name.lower()
            message = description.message or ""
            accepted = _ACCEPTED.get(description.finding.code)
            if accepted is not None and severity in REFUSING and accepted[0].match(message):
                severity = "notice"
                message += f" (kept as a notice: {accepted[1]})"
            out.append(Finding(severity, description.finding.code, message, str(result.node.path)))
    return out
