"""X.509 certificates from files and folders (PEM, DER, bundles, PKCS#7 chains, PKCS#12 files
that open without a password), with their chains validated.

Yields one `x509.certificate` record per certificate. Chains are validated against the
target's trust anchors with cryptography.x509.verification; intermediates come from every CA
certificate this source collected plus the `intermediates` files. Each certificate is linted
with pkilint (RFC 5280), the linter the CA runs before it signs (pki.lint).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from auditor import _limits as limits
from auditor._cache import LintResults
from auditor._collectors._files import Unreadable, folder_files, read_bounded
from auditor._collectors.interface import CollectContext, Collector
from auditor._fsutil import on_node
from auditor._urls import strip_userinfo
from auditor.evidence.kinds.x509 import (
    Certificate,
    CertificateEncoding,
    Chain,
    Extension,
    KeyType,
    Lint,
    NameConstraints,
    PublicKey,
    Signature,
    SubjectAltNames,
    X509Certificate,
)
from auditor.evidence.record import Record
from pki.containers import looks_pkcs12
from pki.errors import LoadError
from pki.facts import CertificateFacts, certificate_facts
from pki.load import LoadedCertificate, load_certificates
from pki.verify import verify_chain
from pki.versions import linter_name

KIND = "x509.certificate"
_SHA256 = hashes.SHA256()
CERT_SUFFIXES = (".pem", ".crt", ".cer", ".der", ".cert", ".p7b", ".p7c", ".p12", ".pfx")


@dataclass(frozen=True)
class _Found:
    path: Path
    index: int
    count: int
    encoding: str
    cert: x509.Certificate


class CertificatesCollector(Collector):
    name = "certificates"
    kinds = (KIND,)

    def collect(self) -> Iterator[Record]:
        ctx = self.context
        anchors, problems = trust_anchors(ctx, KIND)
        yield from problems

        found: list[_Found] = []
        for path in ctx.source.path_option(ctx.root, "paths"):
            real = ctx.real(path)
            if not real.exists():
                yield ctx.error(KIND, ctx.display(path), "no such file or folder")
                continue
            files = certificate_files(path, exclude=ctx.source.options.get("exclude", ()))
            if real.is_dir() and not files:
                yield ctx.error(KIND, ctx.display(path), "folder holds no certificate files")
            explicit = not real.is_dir()
            for file in files:
                certs, errors = read_certificate_file(file, explicit=explicit)
                for err in errors:
                    yield ctx.error(KIND, ctx.display(file), err)
                found.extend(certs)

        extra: list[x509.Certificate] = []
        for path in ctx.source.path_option(ctx.root, "intermediates"):
            certs, errors = read_certificate_file(path, explicit=True)
            for err in errors:
                yield ctx.error(KIND, f"intermediates {ctx.display(path)}", err)
            extra.extend(f.cert for f in certs)

        pool = extra + [f.cert for f in found if _is_ca(f.cert)]
        anchor_fps = {a.fingerprint(_SHA256) for a in anchors}
        self._lints = LintResults(linter_name())
        for item in found:
            try:
                yield self._record(item, anchors, anchor_fps, pool)
            except (LoadError, ValueError, x509.DuplicateExtension) as exc:  # parsed, but a field is malformed
                where = ctx.display(item.path) + ("" if item.count == 1 else f"#{item.index}")
                yield ctx.error(KIND, where, str(exc))
        self._lints.save()

    def _lint(self, cert: x509.Certificate, fingerprint: str) -> Lint:
        """pkilint's findings, remembered per certificate (pkilint is imported only for new ones)."""
        known = self._lints.get(fingerprint)
        summary = known if known is not None else self._lints.lint(cert, fingerprint)
        return Lint(linter=summary.linter, errors=summary.errors, warnings=summary.warnings, notices=summary.notices)

    def _record(
        self,
        item: _Found,
        anchors: list[x509.Certificate],
        anchor_fps: set[bytes],
        pool: list[x509.Certificate],
    ) -> Record:
        ctx = self.context
        display = ctx.display(item.path)
        resource = display if item.count == 1 else f"{display}#{item.index}"
        facts = certificate_facts(item.cert)
        is_anchor = item.cert.fingerprint(_SHA256) in anchor_fps
        if not anchors:
            chain = Chain(status="no-anchors", error="the target names no trust anchors", path=(), anchor=None,
                          is_anchor=is_anchor)
        else:
            intermediates = [c for c in pool if c is not item.cert]
            # purpose "any": EKU fitness for the node's role is judged by rules, not here
            result = verify_chain(item.cert, anchors, intermediates, at=ctx.now, purpose="any")
            chain = Chain(
                status="valid" if result.valid else "invalid",
                error=result.error,
                path=tuple(c.subject.rfc4514_string() for c in result.path),
                anchor=result.anchor.subject.rfc4514_string() if result.anchor else None,
                is_anchor=is_anchor,
            )
        # an x509.certificate is a Certificate with where it was found, its chain and lint
        data = X509Certificate(path=display, index=item.index, encoding=_encoding(item.encoding), chain=chain,
                               lint=self._lint(item.cert, facts.fingerprint_sha256),
                               **msgspec.structs.asdict(certificate(facts)))
        return ctx.record(resource, data)


def certificate(facts: CertificateFacts) -> Certificate:
    """The evidence form of pki's facts of a certificate (which several kinds embed), mapped
    field by field."""
    nc = facts.name_constraints
    key, sig, san = facts.key, facts.signature, facts.san
    uri = tuple(strip_userinfo(u) for u in san.uri)  # a password in a name is a secret: counted, never kept
    return Certificate(
        subject=facts.subject, subject_cn=facts.subject_cn, issuer=facts.issuer, serial=facts.serial,
        serial_bits=facts.serial_bits, version=facts.version, not_before=facts.not_before,
        not_after=facts.not_after, lifetime_days=facts.lifetime_days,
        fingerprint_sha256=facts.fingerprint_sha256, self_issued=facts.self_issued,
        self_signed=facts.self_signed,
        key=PublicKey(type=_key_type(key.type), size=key.size, curve=key.curve, spki_sha256=key.spki_sha256),
        signature=Signature(algorithm=sig.algorithm, oid=sig.oid, hash=sig.hash),
        is_ca=facts.is_ca, path_length=facts.path_length,
        basic_constraints_critical=facts.basic_constraints_critical, key_usage=facts.key_usage,
        extended_key_usage=facts.extended_key_usage,
        san=SubjectAltNames(dns=san.dns, ip=san.ip, email=san.email, uri=uri,
                            uri_credentials=sum(a != b for a, b in zip(san.uri, uri, strict=True))),
        name_constraints=None if nc is None else NameConstraints(
            critical=nc.critical, permitted_dns=nc.permitted_dns, excluded_dns=nc.excluded_dns,
            permitted_ip=nc.permitted_ip, excluded_ip=nc.excluded_ip),
        subject_key_id=facts.subject_key_id, authority_key_id=facts.authority_key_id,
        extensions=tuple(Extension(oid=e.oid, name=e.name, critical=e.critical) for e in facts.extensions),
    )


_KEY_TYPES: dict[str, KeyType] = {"rsa": "rsa", "ec": "ec", "ed25519": "ed25519", "ed448": "ed448", "dsa": "dsa"}


def _key_type(name: str) -> KeyType:
    return _KEY_TYPES.get(name, "unknown")


_ENCODINGS: dict[str, CertificateEncoding] = {"pem": "pem", "der": "der", "pkcs7": "pkcs7", "pkcs12": "pkcs12"}


def _encoding(name: str) -> CertificateEncoding:
    return _ENCODINGS[name]


def certificate_files(path: Path, *, exclude: Sequence[str] = ()) -> list[Path]:
    """A file itself, or a folder's certificate files (by suffix, recursively, sorted) but those
    `exclude`'s globs match (relative path or name). Names that are not regular files (a FIFO,
    socket or device) are listed too: reading them says so, without opening them."""
    if not on_node(path).is_dir():
        return [path]
    files, skipped = folder_files(path, CERT_SUFFIXES, exclude=exclude)
    return sorted([*files, *(s.path for s in skipped)])


def read_certificate_file(path: Path, *, explicit: bool) -> tuple[list[_Found], list[str]]:
    """Certificates in a file, and errors; a folder's non-certificate PEM files are skipped."""
    try:
        data = read_bounded(path)
    except Unreadable as exc:
        return [], ["no such file" if exc.why == "missing" else f"not read: {exc}"]
    try:
        loaded = load_within_limit(data)
    except OverLimit as exc:
        return [], [str(exc)]
    except LoadError as exc:
        if explicit:
            return [], [str(exc)]
        if str(exc).startswith("no certificate"):  # a key's or a CSR's PEM file in a folder of certificates
            return [], []
        hint = "; or name it in the source's exclude" if looks_pkcs12(data) else ""  # a keystore beside the certificates
        return [], [f"{exc}{hint}"]
    count = len(loaded)
    found = [
        _Found(path, c.index, count, c.encoding, c.certificate)
        for c in loaded
        if c.certificate is not None
    ]
    errors = [
        f"certificate #{c.index}" + (f" (line {c.line})" if c.line else "") + f": {c.error}"
        for c in loaded
        if c.error is not None
    ]
    return found, errors


class OverLimit(LoadError):
    """A file holding more certificates than the pem-certificates limit allows."""


def load_within_limit(data: bytes) -> list[LoadedCertificate]:
    """pki.load.load_certificates of `data` within the pem-certificates limit: its PEM blocks
    counted before they are parsed, its certificates after (a PKCS#7 chain or a PKCS#12 file holds
    many in one); OverLimit past it."""
    most = limits.get("pem-certificates")
    blocks = data.count(b"-----BEGIN")
    if blocks > most:
        raise OverLimit(limits.exceeded("pem-certificates", f"holds {blocks:,} PEM blocks"))
    loaded = load_certificates(data)
    if len(loaded) > most:
        raise OverLimit(limits.exceeded("pem-certificates", f"holds {len(loaded):,} certificates"))
    return loaded


def trust_anchors(ctx: CollectContext, kind: str) -> tuple[list[x509.Certificate], list[Record]]:
    """The target's trust anchor certificates, and error records for files that cannot be read."""
    anchors: list[x509.Certificate] = []
    problems: list[Record] = []
    for path in ctx.target.trust_anchors:
        certs, errors = read_certificate_file(path, explicit=True)
        problems.extend(ctx.error(kind, f"trust anchor {ctx.display(path)}", err) for err in errors)
        anchors.extend(f.cert for f in certs)
    return anchors, problems


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    except (x509.ExtensionNotFound, ValueError):
        return False
    return bool(bc.value.ca)
