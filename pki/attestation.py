"""YubiKey PIV attestation: what an attestation says, and whether it chains to a trusted root.

A YubiKey attests a key it generated (never an imported one) with a certificate signed by
its device attestation key (slot f9), whose certificate Yubico signed at the factory:

- firmware before 5.7.4: slot attestation -> f9 certificate -> Yubico PIV Root CA Serial 263751
  (a few early YubiKey 4 units: -> Yubico U2F Root CA Serial 457200631)
- firmware 5.7.4 and later: slot attestation -> f9 certificate -> Yubico PIV Attestation
  {A,B} 1 -> Yubico Attestation Intermediate {A,B} 1 -> Yubico Attestation Root 1

auditor ships Yubico's PIV Root CA Serial 263751, Attestation Root 1 and the four published
intermediates as package data (pki/data/yubico/, pinned by SHA-256 in the tests); what it
does not ship (:data:`NOT_SHIPPED`) an operator adds in the folder named by the environment
variable AUDITOR_YUBICO_ROOTS. Certificates are read, in this order, from every `*.pem` file of
the package data folder and of that folder; a caller adds its own roots (`extra_roots`, the
yubikey collector's `attestation_roots`). Self-signed certificates are roots; the others are
intermediates, used to build paths (only Yubico's PIV ones), never trusted alone. Missing
files are not an error. :func:`installed` says what was read and from where (`auditor yubikey
roots` prints it).

A :class:`Verdict` is `valid`, `invalid`, or `no-trusted-root`: the path leads to a Yubico
certificate that is not installed (one of :data:`NOT_SHIPPED`), so the attestation can be
neither trusted nor refused (never read as valid). Verification checks signatures and
validity along the path, not Web PKI profiles: Yubico's device certificates carry no EKU or
SAN, and some YubiKey 4 f9 certificates lack basicConstraints.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from pki import keys
from pki.fsutil import MAX_PKI_FILE, ReadError, read_regular

# Yubico's PIV attestation extensions (arc 1.3.6.1.4.1.41482.3)
OID_FIRMWARE = x509.ObjectIdentifier("1.3.6.1.4.1.41482.3.3")
OID_SERIAL = x509.ObjectIdentifier("1.3.6.1.4.1.41482.3.7")
OID_POLICY = x509.ObjectIdentifier("1.3.6.1.4.1.41482.3.8")
OID_FORM_FACTOR = x509.ObjectIdentifier("1.3.6.1.4.1.41482.3.9")
OID_FIPS = x509.ObjectIdentifier("1.3.6.1.4.1.41482.3.10")
PIN_POLICY_NAMES = {1: "never", 2: "once", 3: "always", 4: "match-once", 5: "match-always"}
TOUCH_POLICY_NAMES = {1: "never", 2: "always", 3: "cached"}
FORM_FACTOR_NAMES = {
    0: "unknown", 1: "usb-a-keychain", 2: "usb-a-nano", 3: "usb-c-keychain", 4: "usb-c-nano",
    5: "usb-c-lightning", 6: "usb-a-bio", 7: "usb-c-bio",
}
ROOTS_ENV = "AUDITOR_YUBICO_ROOTS"
INSTALL_HINT = (f"auditor does not ship this Yubico certificate: download it from https://developers.yubico.com/PKI/, "
                f"check its fingerprint and put it in the folder named by {ROOTS_ENV} (docs/yubikey.md)")
NOT_SHIPPED: tuple[tuple[str, str | None, str], ...] = (
    ("Yubico PIV Attestation B2 1", "0C90B7D184A36EDF50A35F9BE935F0C5689BFDCFE5BDD073366CAFB49061A440",
     "an intermediate of the firmware 5.7.4+ chain: devices attested under it are not checked until it is added"),
    ("Yubico PIV Root CA Serial 263751, its pre-2018 certificate (pathlen 0)",
     "7E996A28E3055223733C9AEC897900EDA9B746E3E15D419556AC6A1179879A50",
     "same name and key as the shipped 2018 certificate, which already verifies what it signed"),
    ("Yubico U2F Root CA Serial 457200631", None,
     "the root of some early YubiKey 4 PIV attestations: those are not checked until it is added"),
)
"""Yubico certificates auditor knows of but does not ship: (name, SHA-256 of the DER or None, why it matters)."""
_PIV_INTERMEDIATES = ("Yubico PIV Attestation ", "Yubico Attestation Intermediate ")
_YUBICO_NAME = "Yubico "
MAX_DEPTH = 4
VALID, INVALID, NO_ROOT = "valid", "invalid", "no-trusted-root"
PACKAGE_LABEL = "pki/data/yubico"


def package_folder() -> Traversable:
    """Where Yubico's certificates go inside the installed package (pki/data/yubico)."""
    return resources.files("pki.data").joinpath("yubico")


@dataclass(frozen=True)
class Found:
    """One Yubico certificate read from a folder, and where."""

    certificate: x509.Certificate
    role: str
    """`root` (self-signed: trusted) or `intermediate` (used to build paths, never trusted alone)."""
    source: str
    """`pki/data/yubico/FILE` (shipped) or `FOLDER/FILE` (the folder named by AUDITOR_YUBICO_ROOTS)."""

    @property
    def shipped(self) -> bool:
        return self.source.startswith(f"{PACKAGE_LABEL}/")

    @property
    def sha256(self) -> str:
        """The SHA-256 fingerprint of the DER encoding, upper-case hex (as Yubico's list gives it)."""
        return self.certificate.fingerprint(hashes.SHA256()).hex().upper()


@dataclass(frozen=True)
class Installed:
    """Yubico's certificates found on this machine."""

    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...]
    """Yubico's PIV intermediates: used to build paths, never trusted alone."""
    problems: tuple[tuple[str, str], ...] = ()
    """(where, what): files that could not be read (skipped), an AUDITOR_YUBICO_ROOTS that is not a folder."""
    found: tuple[Found, ...] = ()
    """The roots and intermediates with where each was read, in reading order."""


def installed() -> Installed:
    """Read Yubico's roots and intermediates from the package data folder, then AUDITOR_YUBICO_ROOTS.

    Read on every call (a few small files), so roots installed while auditor runs count.
    """
    folders: list[tuple[str, Traversable]] = [(PACKAGE_LABEL, package_folder())]
    problems: list[tuple[str, str]] = []
    env = os.environ.get(ROOTS_ENV, "")
    if env:
        if Path(env).is_dir():
            folders.append((env, Path(env)))
        else:
            problems.append((ROOTS_ENV, f"{ROOTS_ENV}={env} is not a folder"))
    found: list[Found] = []
    for label, folder in folders:
        files = sorted((f for f in folder.iterdir() if f.name.endswith(".pem") and f.is_file()),
                       key=lambda f: f.name) if folder.is_dir() else []
        for file in files:
            try:
                data = read_regular(file, MAX_PKI_FILE) if isinstance(file, Path) else file.read_bytes()
                certs = x509.load_pem_x509_certificates(data)
            except (ReadError, OSError, ValueError) as exc:
                problems.append((f"{label}/{file.name}", f"not a PEM certificate file ({exc})"))
                continue
            for cert in certs:
                if cert.subject == cert.issuer and _signed_by(cert, cert):
                    found.append(Found(cert, "root", f"{label}/{file.name}"))
                elif _cn(cert).startswith(_PIV_INTERMEDIATES):
                    found.append(Found(cert, "intermediate", f"{label}/{file.name}"))
    return Installed(tuple(f.certificate for f in found if f.role == "root"),
                     tuple(f.certificate for f in found if f.role == "intermediate"), tuple(problems), tuple(found))


def yubico_roots() -> tuple[x509.Certificate, ...]:
    """Yubico's PIV attestation trust anchors installed on this machine (maybe none)."""
    return installed().roots


def yubico_intermediates() -> tuple[x509.Certificate, ...]:
    """The PIV-related intermediates installed with them (used to build paths, never trusted alone)."""
    return installed().intermediates


def _cn(cert: x509.Certificate) -> str:
    return _cn_of(cert.subject)


def _cn_of(name: x509.Name) -> str:
    names = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


@dataclass(frozen=True)
class Attestation:
    """What a PIV attestation certificate says about the key it attests (no trust decision)."""

    slot: str
    serial: int | None
    firmware: str | None
    pin_policy: str | None
    touch_policy: str | None
    form_factor: int | None
    spki_sha256: str


def _raw(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> bytes | None:
    try:
        ext = cert.extensions.get_extension_for_oid(oid).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    return bytes(ext.value) if isinstance(ext, x509.UnrecognizedExtension) else None


def attestation_facts(cert: x509.Certificate) -> Attestation:
    """Read Yubico's extensions from a slot attestation certificate."""
    serial_der = _raw(cert, OID_SERIAL)
    serial = None
    if serial_der and len(serial_der) >= 3 and serial_der[0] == 0x02 and serial_der[1] == len(serial_der) - 2:
        serial = int.from_bytes(serial_der[2:], "big", signed=True)
        serial = serial if serial >= 0 else None
    firmware = _raw(cert, OID_FIRMWARE)
    policy = _raw(cert, OID_POLICY)
    form = _raw(cert, OID_FORM_FACTOR)
    cn = _cn(cert)
    return Attestation(
        slot=cn.rsplit(" ", 1)[-1].lower() if cn.startswith("YubiKey PIV Attestation ") else "",
        serial=serial,
        firmware=".".join(str(b) for b in firmware) if firmware and len(firmware) == 3 else None,
        pin_policy=PIN_POLICY_NAMES.get(policy[0]) if policy and len(policy) == 2 else None,
        touch_policy=TOUCH_POLICY_NAMES.get(policy[1]) if policy and len(policy) == 2 else None,
        form_factor=form[0] if form and len(form) == 1 else None,
        spki_sha256=keys.spki_sha256(cert.public_key()),
    )


def is_fips_device(device_ca: x509.Certificate, attestation: x509.Certificate | None = None) -> bool:
    """A FIPS series device: its f9 certificate carries the FIPS extension, or the form factor's FIPS bit."""
    if _raw(device_ca, OID_FIPS) is not None:
        return True
    form = _raw(attestation, OID_FORM_FACTOR) if attestation is not None else None
    return bool(form and len(form) == 1 and form[0] & 0x80)


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking an attestation's chain."""

    problem: str | None
    chain: tuple[str, ...]
    """Subjects from the attestation up to the root (as far as a path was found)."""
    no_root: bool = False
    """The path leads to a Yubico certificate that is not installed: not checked, neither valid nor refused."""

    @property
    def valid(self) -> bool:
        return self.problem is None

    @property
    def status(self) -> str:
        """`valid`, `invalid`, or `no-trusted-root` (no installed root could check it)."""
        return VALID if self.valid else NO_ROOT if self.no_root else INVALID

    @property
    def root(self) -> str | None:
        return self.chain[-1] if self.valid else None


def _signed_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except Exception:  # InvalidSignature, a name mismatch, an unsupported key type
        return False
    return True


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except (x509.ExtensionNotFound, ValueError):
        return False


def _anchors_and_middle(
    roots: Sequence[x509.Certificate] | None, intermediates: Sequence[x509.Certificate] | None,
    extra_roots: Sequence[x509.Certificate],
) -> tuple[list[x509.Certificate], list[x509.Certificate]]:
    if roots is None or intermediates is None:
        found = installed()
        roots = found.roots if roots is None else roots
        intermediates = found.intermediates if intermediates is None else intermediates
    return [*roots, *extra_roots], list(intermediates)


def verify_device(
    device_ca: x509.Certificate,
    *,
    at: dt.datetime,
    roots: Sequence[x509.Certificate] | None = None,
    intermediates: Sequence[x509.Certificate] | None = None,
    extra_roots: Sequence[x509.Certificate] = (),
    below: Sequence[x509.Certificate] = (),
) -> Verdict:
    """Check device (f9) certificate -> [intermediates] -> a trusted root; `below` are the
    certificates under it already checked (the attestation), kept in the reported chain.

    `roots` and `intermediates` default to Yubico's as installed (:func:`installed`);
    `extra_roots` are trusted in addition (an organisation that provisions its own f9 key, or a
    test double's CA). A path that stops at a Yubico name no installed certificate carries is
    `no-trusted-root`, not `invalid`: without Yubico's root nothing can tell a genuine chain
    from a forged one.
    """
    anchors, middle = _anchors_and_middle(roots, intermediates, extra_roots)
    path = [*below, device_ca]

    def subjects() -> tuple[str, ...]:
        return tuple(c.subject.rfc4514_string() for c in path)

    current = device_ca
    for _ in range(MAX_DEPTH):
        root = next((r for r in anchors if r.subject == current.issuer and _signed_by(current, r)), None)
        if root is not None:
            path.append(root)
            for cert in path:
                if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
                    return Verdict(f"'{cert.subject.rfc4514_string()}' is not valid at {at:%Y-%m-%d}", subjects())
            return Verdict(None, subjects())
        step = next((i for i in middle if i.subject == current.issuer and _is_ca(i) and _signed_by(current, i)
                     and i not in path), None)
        if step is None:
            break
        path.append(step)
        current = step
    issuer = current.issuer
    if _cn_of(issuer).startswith(_YUBICO_NAME) and not any(c.subject == issuer for c in (*anchors, *middle)):
        return Verdict(f"no trusted Yubico attestation root is installed for '{issuer.rfc4514_string()}' "
                       f"(not checked); {INSTALL_HINT}", subjects(), no_root=True)
    return Verdict(f"'{issuer.rfc4514_string()}' is not a trusted attestation root or a known intermediate",
                   subjects())


def verify(
    attestation: x509.Certificate,
    device_ca: x509.Certificate,
    *,
    at: dt.datetime,
    roots: Sequence[x509.Certificate] | None = None,
    intermediates: Sequence[x509.Certificate] | None = None,
    extra_roots: Sequence[x509.Certificate] = (),
) -> Verdict:
    """Check slot attestation -> device (f9) certificate -> [intermediates] -> a trusted root."""
    if not _signed_by(attestation, device_ca):
        chain = (attestation.subject.rfc4514_string(), device_ca.subject.rfc4514_string())
        return Verdict(f"the attestation is not signed by the device certificate '{chain[1]}'", chain)
    return verify_device(device_ca, at=at, roots=roots, intermediates=intermediates, extra_roots=extra_roots,
                         below=(attestation,))
