"""Chain validation: cryptography.x509.verification builds and checks the path (no hand-written
path building), then pki.webpki adds the checks WebPKI-grade verifiers make and it does not."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.x509.verification import (
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from pki.webpki import chain_problem, name_problem

PURPOSES = ("any", "server", "client")


@dataclass(frozen=True)
class ChainResult:
    """The outcome of validating one certificate's chain."""

    valid: bool
    error: str | None
    path: tuple[x509.Certificate, ...] = field(default=())
    """Leaf first, anchor last (when valid)."""

    @property
    def anchor(self) -> x509.Certificate | None:
        return self.path[-1] if self.valid and self.path else None


def verify_chain(
    leaf: x509.Certificate,
    anchors: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate] = (),
    *,
    at: dt.datetime,
    purpose: str = "any",
    name: str | None = None,
    max_depth: int | None = None,
    crls: Sequence[x509.CertificateRevocationList] | None = None,
    crl_check_all: bool = False,
) -> ChainResult:
    """Validate `leaf` against `anchors` at time `at`, then revocation from `crls` (when given).

    The path is checked for signatures, validity, CA constraints and name constraints, then
    for what pki.webpki adds (key identifiers, critical constraints, serials, weak keys,
    wildcards over public suffixes, a root without EKU; each refusal cites RFC 5280 or the
    CA/B Baseline Requirements). `name` (a DNS name or IP address) is checked against the
    leaf's SANs with the Web PKI server checks; it goes with purpose "server" or "any"; a name
    that is neither is an invalid result. Purpose "server" and "client" need the leaf's EKU to
    name serverAuth or clientAuth (no EKU, or only anyExtendedKeyUsage, is not enough). A
    server certificate (purpose "server", or a name) has SANs and its CN is one of them.
    Purpose "client" needs no SAN (TLS clients, NATS among them, present certificates without
    one); "any" accepts any EKU. With `crls`, the leaf is checked, or every certificate below
    the anchor with `crl_check_all` (openssl's -crl_check and -crl_check_all).
    """
    if not anchors:
        return ChainResult(False, "no trust anchors to validate against")
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}")
    if name is not None and purpose == "client":
        raise ValueError("a name is checked for purpose 'server' (or 'any'), not 'client'")
    if name is not None:
        problem = name_problem(name)
        if problem is not None:
            return ChainResult(False, problem)
    builder = PolicyBuilder().store(Store(list(anchors))).time(at)
    if max_depth is not None:
        builder = builder.max_chain_depth(max_depth)
    try:
        if name is not None:
            try:
                verifier = builder.build_server_verifier(_subject(name[:-1] if name.endswith(".") else name))
            except ValueError as exc:  # a name cryptography refuses although name_problem passed it
                return ChainResult(False, f"'{name}' is not a valid DNS name or IP address ({exc})")
            chain = verifier.verify(leaf, list(intermediates))
        else:
            permissive = builder.extension_policies(
                ca_policy=ExtensionPolicy.webpki_defaults_ca(),
                ee_policy=ExtensionPolicy.permit_all(),
            )
            chain = permissive.build_client_verifier().verify(leaf, list(intermediates)).chain
    except VerificationError as exc:
        reason = _reason(exc)
        if "candidates exhausted" in reason:
            reason = _no_path(leaf, anchors, intermediates)
        return ChainResult(False, reason)
    path = tuple(chain)
    problem = chain_problem(path, purpose=purpose, server=purpose == "server" or name is not None)
    if problem is not None:
        return ChainResult(False, problem)
    if crls is not None:
        problem = _revocation(path, crls, at, crl_check_all)
        if problem is not None:
            return ChainResult(False, problem)
    return ChainResult(True, None, path)


def _revocation(path: tuple[x509.Certificate, ...], crls: Sequence[x509.CertificateRevocationList],
                at: dt.datetime, check_all: bool) -> str | None:
    from pki.crl import revocation_problem

    checked = range(len(path) - 1) if check_all else range(min(1, len(path) - 1))
    for i in checked:
        problem = revocation_problem(path[i], path[i + 1], crls, at)
        if problem is not None:
            return problem + ("" if i == 0 else f" (of '{path[i].subject.rfc4514_string()}')")
    return None


def _no_path(
    leaf: x509.Certificate,
    anchors: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate],
) -> str:
    """Say why no path was found, in terms of names the user can check."""
    issuer = leaf.issuer.rfc4514_string()
    known = [c for c in (*anchors, *intermediates) if c.subject == leaf.issuer]
    if leaf.issuer == leaf.subject and not known:
        return "self-signed and not one of the trust anchors"
    if not known:
        return f"its issuer '{issuer}' is neither a trust anchor nor an intermediate at hand"
    return f"no valid path: the certificates named '{issuer}' did not verify its signature or constraints"


def _subject(name: str) -> x509.DNSName | x509.IPAddress:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _reason(exc: VerificationError) -> str:
    text = " ".join(str(exc).split())
    text = text.removeprefix("validation failed: ")
    # drop cryptography's repr of the certificate object, keep the reason
    cut = text.find(" (encountered processing <Certificate")
    return text[:cut] if cut > 0 else text
