"""The NATS monitoring API of a running server: /varz, /connz?auth=1, /leafz, /accountz, /healthz, /jsz.

Read-only GET requests with a bounded timeout and answer size; each endpoint becomes one
record of kind `nats.<endpoint>` holding the URL, the HTTP status and the sanitised answer
(JWTs, tokens, passwords and seeds redacted; credentials stripped from URLs). An endpoint
that cannot be read is an error record, so its rules report `error`, never a pass.
"""

from __future__ import annotations

from collections.abc import Iterator

from auditor._collectors.interface import Collector
from auditor._nats.monitoring import ENDPOINTS, MonitoringError, fetch, sanitise_url
from auditor.evidence.kinds.nats import MONITORED
from auditor.evidence.record import Record


class NatsMonitoringCollector(Collector):
    name = "nats-monitoring"
    kinds = tuple(f"nats.{e}" for e in ENDPOINTS)

    def collect(self) -> Iterator[Record]:
        ctx = self.context
        url = str(ctx.source.options["url"])
        timeout = float(ctx.source.options.get("timeout", 5))
        for endpoint in ctx.source.options.get("endpoints") or list(ENDPOINTS):
            kind = f"nats.{endpoint}"
            resource = sanitise_url(url.rstrip("/") + ENDPOINTS[endpoint])
            try:
                answer = fetch(url, endpoint, timeout=timeout, credentials=ctx.source.credentials.get("url"))
            except MonitoringError as exc:
                yield ctx.error(kind, resource, str(exc))
                continue
            yield ctx.record(resource, MONITORED[endpoint](url=answer.url, http_status=answer.status, response=answer.data))
