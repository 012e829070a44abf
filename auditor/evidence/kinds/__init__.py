"""Every evidence kind, one typed definition each (see :mod:`auditor.evidence.contract`)."""

from __future__ import annotations

from auditor.evidence.contract import Facts
from auditor.evidence.kinds import (
    gpg,
    host,
    kubernetes,
    nats,
    pki,
    secrets,
    sops,
    tls,
    vault,
    x509,
    yubikey,
)

TYPES: tuple[type[Facts], ...] = (
    x509.X509Certificate,
    tls.TlsEndpoint,
    gpg.GpgKey,
    vault.VaultServer,
    vault.VaultPki,
    vault.VaultKvSecret,
    vault.VaultToken,
    pki.PkiCa,
    pki.PkiCertificate,
    pki.PkiDeployed,
    yubikey.YubikeyPresence,
    yubikey.YubikeyDevice,
    yubikey.YubikeySlot,
    sops.SopsFile,
    secrets.SecretsScan,
    kubernetes.KubernetesManifest,
    kubernetes.KubernetesWorkload,
    kubernetes.KubernetesConfigmap,
    kubernetes.KubernetesNamespace,
    nats.NatsConfig,
    nats.NatsUser,
    nats.NatsJwt,
    nats.NatsNkey,
    nats.NatsVarz,
    nats.NatsConnz,
    nats.NatsLeafz,
    nats.NatsAccountz,
    nats.NatsHealthz,
    nats.NatsJsz,
    host.HostOs,
    host.HostSshd,
    host.HostAuthorizedKey,
    host.HostAccount,
    host.HostFirewall,
    host.HostListener,
    host.HostMac,
    host.HostFail2ban,
    host.HostUnit,
    host.HostVolume,
    host.HostNixos,
    host.HostNixosDrift,
)
KINDS: dict[str, type[Facts]] = {t.KIND: t for t in TYPES}


def kind_type(kind: str) -> type[Facts]:
    """The type of a kind's data; KeyError for an unknown kind."""
    return KINDS[kind]


def schema_id(kind: str) -> str:
    return f"urn:auditor:schemas:evidence/{kind}"


def data_errors(kind: str, data: object) -> list[tuple[tuple[str | int, ...], str]]:
    """Why plain `data` is not evidence of `kind` ([] when it is): (path, message) pairs."""
    import msgspec

    cls = KINDS.get(kind)
    if cls is None:
        return [((), f"unknown evidence kind '{kind}'")]
    try:
        msgspec.convert(data, cls)
    except msgspec.ValidationError as exc:
        message, _, at = str(exc).partition(" - at `$")
        return [(_path(at.rstrip("`")), message)]
    return []


def _path(text: str) -> tuple[str | int, ...]:
    """`.a[2].b` -> ("a", 2, "b")."""
    import re

    return tuple(int(i) if i else k for k, i in re.findall(r"\.([^.\[]+)|\[(\d+)\]", text))
