"""Regression events: what `auditor serve` publishes when a scan newly fails.

An event names the target, the two scans compared and each new failure at or above the
threshold: rule, title, severity, resource and message. Messages are the ones reports print,
built from evidence that collectors have already redacted, and only from a redacted result
(auditor._models.RedactedResult); no evidence data, no URL with credentials and no secret
travels in an event. User-info in a notifier's URL is taken out before the URL is used or
shown (auditor._urls) and sent apart: NATS user/password or token, HTTP basic auth. Two notifiers: NATS (subject
`audit.findings.<target>`, through nats-py) and a webhook (an HTTP POST of the JSON, signed
with HMAC-SHA256 when AUDITOR_WEBHOOK_SECRET is set).
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import hmac
import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from auditor._history.diff import ScanDiff
from auditor._models import Severity
from auditor._remote.connection import NatsSettings, describe_error
from auditor._urls import split_url
from auditor.errors import AuditorError, ConfigError

SUBJECT_PREFIX = "audit.findings"
WEBHOOK_SECRET_ENV = "AUDITOR_WEBHOOK_SECRET"  # noqa: S105 - the variable's name
TIMEOUT_SECONDS = 10.0


class NotifyError(AuditorError):
    """An event could not be delivered (the scan itself is stored all the same)."""


def subject_for(target: str) -> str:
    """`audit.findings.<target>`; a dot in a target name becomes `_` (dots separate tokens)."""
    return f"{SUBJECT_PREFIX}.{target.replace('.', '_')}"


def regression_event(diff: ScanDiff, threshold: Severity, *, scan_id: int | None) -> dict[str, Any]:
    failures = diff.regressions(threshold)
    return {
        "type": "auditor.regression",
        "version": 1,
        "target": diff.after.target,
        "scan_id": scan_id,
        "previous_scan_id": diff.before.id,
        "evaluated_at": diff.after.evaluated_at,
        "previous_evaluated_at": diff.before.evaluated_at,
        "bundle_digest": diff.after.bundle_digest,
        "threshold": threshold.value,
        "new_failures": [
            {
                "id": c.id,
                "rule_id": c.rule_id,
                "title": c.title,
                "area": c.area,
                "severity": c.severity.value,
                "resource": c.resource,
                "message": c.message,
                "always_blocks": c.always_blocks,
            }
            for c in failures
        ],
        "counts": {
            "new_failures": len(diff.new_failures),
            "fixed": len(diff.fixed),
            "still_failing": len(diff.still_failing),
        },
    }


class Notifier(abc.ABC):
    name: str

    @abc.abstractmethod
    def send(self, event: Mapping[str, Any]) -> None:
        """Deliver `event`; raise NotifyError (whose message shows no secret) if it cannot."""


class NatsNotifier(Notifier):
    name = "nats"

    def __init__(self, settings: NatsSettings, *, timeout: float = TIMEOUT_SECONDS) -> None:
        self.settings = settings
        self.timeout = timeout

    async def _publish(self, subject: str, payload: bytes) -> None:
        import nats

        options = self.settings.connect_options(reconnect=False)
        options.update(connect_timeout=self.timeout, error_cb=_quiet)  # errors are raised to us
        for callback in ("disconnected_cb", "reconnected_cb"):
            options.pop(callback, None)
        nc = await nats.connect(**options)
        try:
            await nc.publish(subject, payload, headers={"Content-Type": "application/json"})
            await nc.flush(timeout=max(1, int(self.timeout)))
        finally:
            await nc.close()

    def send(self, event: Mapping[str, Any]) -> None:
        payload = json.dumps(event, sort_keys=True).encode()
        subject = subject_for(str(event["target"]))
        try:
            asyncio.run(asyncio.wait_for(self._publish(subject, payload), self.timeout * 2))
        except Exception as exc:
            raise NotifyError(
                f"cannot publish on {subject} at {self.settings.shown}: {describe_error(exc, self.settings)}"
            ) from None


async def _quiet(_exc: Exception) -> None:
    return None


class WebhookNotifier(Notifier):
    name = "webhook"

    def __init__(self, url: str, *, timeout: float = TIMEOUT_SECONDS) -> None:
        url, self._login = split_url(url)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"'{url}' is not an http(s) URL")
        self.url = url
        """Without user-info: fit to show (but for its query, which may hold a token)."""
        self.timeout = timeout

    def send(self, event: Mapping[str, Any]) -> None:
        body = json.dumps(event, sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "auditor serve"}
        if self._login is not None:
            headers["Authorization"] = self._login.basic_auth()
        secret = os.environ.get(WEBHOOK_SECRET_ENV)
        if secret:
            mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Auditor-Signature"] = f"sha256={mac}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")  # noqa: S310 - scheme checked
        where = self.url.split("?")[0]
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                response.read(65536)
        except urllib.error.HTTPError as exc:
            raise NotifyError(f"the webhook {where} answered {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise NotifyError(f"cannot post to the webhook {where}: {reason}") from None


def notify_all(notifiers: Sequence[Notifier], event: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Send `event` through every notifier; return (names delivered to, one line per failure)."""
    delivered, problems = [], []
    for n in notifiers:
        try:
            n.send(event)
            delivered.append(n.name)
        except NotifyError as exc:
            problems.append(f"{n.name}: {exc.diagnostics()}")
    return delivered, problems
