"""X.509 certificates from files and folders (PEM, DER, bundles), with their chains validated.

Yields one `x509.certificate` record per certificate. Chains are validated against the
target's trust anchors with cryptography.x509.verification; intermediates come from every CA
certificate this source collected plus the `intermediates` files. Each certificate is linted
with pkilint (RFC 5280), the linter the CA runs before it signs (pki.lint).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from auditor.cache import LintResults
from auditor.collectors._files import FileTooLarge, read_bounded
from auditor.collectors.interface import CollectContext, Collector
from auditor.models import EvidenceRecord
from pki.errors import LoadError
from pki.facts import certificate_facts
from pki.lint import lint, linter_name
from pki.load import load_certificates
from pki.verify import verify_chain

KIND = "x509.certificate"
_SHA256 = hashes.SHA256()
CERT_SUFFIXES = (".pem", ".crt", ".cer", ".der", ".cert")


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

    def collect(self) -> Iterator[EvidenceRecord]:
        ctx = self.context
        anchors, problems = trust_anchors(ctx, KIND)
        yield from problems

        found: list[_Found] = []
        for path in ctx.source.path_option(ctx.root, "paths"):
            if not path.exists():
                yield ctx.error(KIND, ctx.display(path), "no such file or folder")
                continue
            files = certificate_files(path)
            if path.is_dir() and not files:
                yield ctx.error(KIND, ctx.display(path), "folder holds no certificate files")
            for file in files:
                certs, errors = read_certificate_file(file, explicit=not path.is_dir())
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

    def _lint(self, cert: x509.Certificate, fingerprint: str) -> dict[str, Any]:
        """pkilint's findings, remembered per certificate (pkilint is imported only for new ones)."""
        known = self._lints.get(fingerprint)
        if known is None:
            known = lint(cert).summary()
            self._lints.add(fingerprint, known)
        return known

    def _record(
        self,
        item: _Found,
        anchors: list[x509.Certificate],
        anchor_fps: set[bytes],
        pool: list[x509.Certificate],
    ) -> EvidenceRecord:
        ctx = self.context
        display = ctx.display(item.path)
        resource = display if item.count == 1 else f"{display}#{item.index}"
        facts = certificate_facts(item.cert)
        is_anchor = item.cert.fingerprint(_SHA256) in anchor_fps
        chain: dict[str, Any]
        if not anchors:
            chain = {"status": "no-anchors", "error": "the target names no trust anchors", "path": [], "anchor": None}
        else:
            intermediates = [c for c in pool if c is not item.cert]
            # purpose "any": EKU fitness for the node's role is judged by rules, not here
            result = verify_chain(item.cert, anchors, intermediates, at=ctx.now, purpose="any")
            chain = {
                "status": "valid" if result.valid else "invalid",
                "error": result.error,
                "path": [c.subject.rfc4514_string() for c in result.path],
                "anchor": result.anchor.subject.rfc4514_string() if result.anchor else None,
            }
        chain["is_anchor"] = is_anchor
        data = {
            "path": display,
            "index": item.index,
            "encoding": item.encoding,
            **facts,
            "chain": chain,
            "lint": self._lint(item.cert, str(facts["fingerprint_sha256"])),
        }
        return ctx.record(KIND, resource, data)


def certificate_files(path: Path) -> list[Path]:
    """A file itself, or a folder's certificate files (by suffix, recursively, sorted)."""
    if not path.is_dir():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in CERT_SUFFIXES)


def read_certificate_file(path: Path, *, explicit: bool) -> tuple[list[_Found], list[str]]:
    """Certificates in a file, and errors; a folder's non-certificate PEM files are skipped."""
    try:
        data = read_bounded(path)
    except FileTooLarge as exc:
        return [], [f"not read: {exc}"]
    except FileNotFoundError:
        return [], ["no such file"]
    except PermissionError:
        return [], ["permission denied"]
    except OSError as exc:
        return [], [f"cannot read: {exc.strerror or exc}"]
    try:
        loaded = load_certificates(data)
    except LoadError as exc:
        return [], ([str(exc)] if explicit or not str(exc).startswith("no certificate") else [])
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


def trust_anchors(ctx: CollectContext, kind: str) -> tuple[list[x509.Certificate], list[EvidenceRecord]]:
    """The target's trust anchor certificates, and error records for files that cannot be read."""
    anchors: list[x509.Certificate] = []
    problems: list[EvidenceRecord] = []
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
