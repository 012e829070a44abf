"""Notifier failures are reported without secrets; subjects and URLs are checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor._remote.connection import NatsSettings
from auditor._schedule.notify import NatsNotifier, WebhookNotifier, notify_all, subject_for
from auditor.errors import ConfigError
from tests.servers import closed_port

EVENT = {"type": "auditor.regression", "target": "node.one", "new_failures": []}


def test_subject_tokens() -> None:
    assert subject_for("cim-prod-001") == "audit.findings.cim-prod-001"
    assert subject_for("node.one") == "audit.findings.node_one"


def test_unreachable_servers_are_reported_without_secrets() -> None:
    port = closed_port()
    nats = NatsNotifier(NatsSettings.make(f"nats://auditor:s3cret-pass@127.0.0.1:{port}"), timeout=2)
    hook = WebhookNotifier(f"http://user:hook-pass@127.0.0.1:{port}/x?token=tok-secret", timeout=2)
    delivered, problems = notify_all([nats, hook], EVENT)
    assert delivered == [] and len(problems) == 2
    text = "\n".join(problems)
    assert problems[0].startswith("nats: cannot publish on audit.findings.node_one")
    assert problems[1].startswith("webhook: cannot post to the webhook")
    for secret in ("s3cret-pass", "hook-pass", "tok-secret"):
        assert secret not in text


def test_bad_notifier_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a NATS URL"):
        NatsSettings.make("http://127.0.0.1:4222")
    with pytest.raises(ConfigError, match="no such credentials file"):
        NatsSettings.make("nats://127.0.0.1:4222", creds=tmp_path / "missing.creds")
    with pytest.raises(ConfigError, match="both a client certificate and its key"):
        NatsSettings.make("tls://127.0.0.1:4222", cert=tmp_path / "cert.pem")
    with pytest.raises(ConfigError, match="not an http"):
        WebhookNotifier("file:///etc/passwd")
