"""Collectors: the registry of evidence sources, loaded lazily so the CLI starts fast.

To add a collector: write a module with a :class:`Collector` subclass, add it to
:data:`REGISTRY`, add `auditor/schemas/collectors/<name>.schema.json` for its options, and
define each kind it yields in :mod:`auditor.evidence.kinds` (then run
`python -m auditor.evidence.generate` for its published schema and the reference docs).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from auditor.collectors.interface import CollectContext, Collector
    from auditor.evidence.record import Record

REGISTRY: dict[str, str] = {
    "certificates": "auditor.collectors.certificates:CertificatesCollector",
    "gpg": "auditor.collectors.gpg:GpgCollector",
    "recorded": "auditor.collectors.recorded:RecordedCollector",
    "kubernetes": "auditor.collectors.kubernetes:KubernetesCollector",
    "tls": "auditor.collectors.tls:TlsCollector",
    "vault": "auditor.collectors.vault:VaultCollector",
    "nats-config": "auditor.collectors.nats_config:NatsConfigCollector",
    "nats-monitoring": "auditor.collectors.nats_monitoring:NatsMonitoringCollector",
    "nats-credentials": "auditor.collectors.nats_credentials:NatsCredentialsCollector",
    "secrets": "auditor.collectors.secrets:SecretsCollector",
    "sops": "auditor.collectors.sops:SopsCollector",
    "yubikey": "auditor.collectors.yubikey:YubiKeyCollector",
    "pki-inventory": "auditor.collectors.pki_inventory:PkiInventoryCollector",
}


def collector_names() -> set[str]:
    return set(REGISTRY)


def options_schema_name(name: str) -> str:
    return f"collectors/{name}"


def collector_class(name: str) -> type[Collector]:
    module_name, _, cls_name = REGISTRY[name].partition(":")
    cls: type[Collector] = getattr(importlib.import_module(module_name), cls_name)
    return cls


def run_collector(context: CollectContext) -> Iterator[Record]:
    """Run one source's collector; an unexpected failure becomes an error record, not a crash."""
    cls = collector_class(context.source.collector)
    kind = cls.kinds[0]
    try:
        yield from cls(context).collect()
    except Exception as exc:  # a collector bug or an unforeseen source problem
        yield context.error(
            kind,
            context.source.name,
            f"collector '{cls.name}' failed: {type(exc).__name__}: {exc}",
        )
