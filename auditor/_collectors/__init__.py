"""Collectors: the registry of evidence sources, loaded lazily so the CLI starts fast.

To add a collector: write a module with a :class:`Collector` subclass, add it to
:data:`COLLECTORS`, add `auditor/schemas/collectors/<name>.schema.json` for its options, and
define each kind it yields in :mod:`auditor.evidence.kinds` (then run
`python -m tests.gen_evidence` for its published schema and the reference docs).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from auditor.errors import ConfigError
from pki.registry import Registry

if TYPE_CHECKING:
    from auditor._collectors.interface import CollectContext, Collector
    from auditor.evidence.record import Record

COLLECTORS: Registry[Collector] = Registry("collector", "auditor._collectors.interface:Collector", {
    "certificates": "auditor._collectors.certificates:CertificatesCollector",
    "gpg": "auditor._collectors.gpg:GpgCollector",
    "recorded": "auditor._collectors.recorded:RecordedCollector",
    "kubernetes": "auditor._collectors.kubernetes:KubernetesCollector",
    "tls": "auditor._collectors.tls:TlsCollector",
    "vault": "auditor._collectors.vault:VaultCollector",
    "nats-config": "auditor._collectors.nats_config:NatsConfigCollector",
    "nats-monitoring": "auditor._collectors.nats_monitoring:NatsMonitoringCollector",
    "nats-credentials": "auditor._collectors.nats_credentials:NatsCredentialsCollector",
    "secrets": "auditor._collectors.secrets:SecretsCollector",
    "sops": "auditor._collectors.sops:SopsCollector",
    "yubikey": "auditor._collectors.yubikey:YubiKeyCollector",
    "pki-inventory": "auditor._collectors.pki_inventory:PkiInventoryCollector",
    "host": "auditor._collectors.host:HostCollector",
}, error=lambda unknown: ConfigError(str(unknown)))
"""Every collector, by the `collector:` name an inventory gives it."""


def options_schema_name(name: str) -> str:
    """The schema of collector `name`'s options in an inventory source."""
    return f"collectors/{name}"


def run_collector(context: CollectContext) -> Iterator[Record]:
    """Run one source's collector; an unexpected failure becomes an error record, not a crash."""
    import contextlib

    from auditor._fsutil import node_root

    cls = COLLECTORS.load(context.source.collector)
    try:
        with contextlib.nullcontext() if context.tree_root is None else node_root(context.tree_root):
            yield from cls(context).collect()
    except Exception as exc:  # a collector bug or an unforeseen source problem: none of its kinds is whole
        yield from context.errors(cls.kinds, context.source.name,
                                  f"collector '{cls.name}' failed: {type(exc).__name__}: {exc}")
