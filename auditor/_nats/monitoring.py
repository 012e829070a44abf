"""A read-only client of the NATS monitoring API: GET only, bounded in time and size.

Every answer is sanitised before it becomes evidence: JWTs, tokens, passwords and seeds are
redacted (`auditor._redact`), and user:password is stripped from URLs, so nothing secret the
server reports is echoed.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from auditor._redact import is_redacted, redact
from auditor._urls import Credentials, strip_userinfo

ENDPOINTS = {
    "varz": "/varz",
    "connz": "/connz?auth=1",
    "leafz": "/leafz",
    "accountz": "/accountz",
    "healthz": "/healthz",
    "jsz": "/jsz",
}
"""Evidence kind suffix -> path (the kinds are nats.varz, nats.connz, ...)."""

MAX_BYTES = 4 * 1024 * 1024
SECRET_KEYS = re.compile(r"(^|_)(jwt|token|pass|password|seed|secret|auth_token|nkey_seed|key)$", re.IGNORECASE)
SEED = re.compile(r"\bS[UAOCNX][A-Z2-7]{50,}\b")
PUBLIC_KEY_FIELDS = {"issuer_key", "account", "name", "nkey", "signing_key"}


class MonitoringError(Exception):
    """An endpoint could not be read (the message is for the user)."""


@dataclass(frozen=True)
class Answer:
    endpoint: str
    url: str
    status: int
    data: dict[str, Any]


def sanitise(value: Any, key: str = "") -> Any:
    """A copy of `value` with secrets redacted and credentials stripped from URLs."""
    if isinstance(value, dict):
        return {k: sanitise(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [sanitise(v, key) for v in value]
    if isinstance(value, str):
        if key and SECRET_KEYS.search(key) and key not in PUBLIC_KEY_FIELDS and value and not is_redacted(value):
            return redact(value)
        value = strip_userinfo(value)
        return SEED.sub(lambda m: redact(m.group(0), prefix=2), value)
    return value


def fetch(base_url: str, endpoint: str, *, timeout: float = 5.0, credentials: Credentials | None = None) -> Answer:
    """GET one endpoint; MonitoringError for anything but a JSON object within the limits.

    `base_url` must have no user-info (see auditor._urls.split_url): `credentials`, if any,
    are sent as HTTP basic auth (for a proxy in front of the monitoring port)."""
    path = ENDPOINTS[endpoint]
    url = base_url.rstrip("/") + path
    if not url.lower().startswith(("http://", "https://")):
        raise MonitoringError(f"monitoring URL must be http:// or https://, got {strip_userinfo(base_url)!r}")
    if urlsplit(url).username is not None:
        raise MonitoringError("the monitoring URL has user-info: pass it as credentials instead")
    headers = {"Accept": "application/json"}
    if credentials is not None:
        headers["Authorization"] = credentials.basic_auth()
    request = urllib.request.Request(url, method="GET", headers=headers)  # noqa: S310 - scheme checked above
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - scheme checked above
            body = resp.read(MAX_BYTES + 1)
            status = resp.status
    except urllib.error.HTTPError as exc:
        # /healthz answers 503 with a JSON body when unhealthy: that is evidence, not an error
        body, status = exc.read(MAX_BYTES + 1), exc.code
        if not body:
            raise MonitoringError(f"{path}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise MonitoringError(f"{path}: cannot connect: {reason}") from None
    if len(body) > MAX_BYTES:
        raise MonitoringError(f"{path}: answer larger than {MAX_BYTES} bytes")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MonitoringError(f"{path}: HTTP {status}, not JSON") from None
    if not isinstance(data, dict):
        raise MonitoringError(f"{path}: HTTP {status}, expected a JSON object")
    return Answer(endpoint, sanitise_url(url), status, sanitise(data))


def sanitise_url(url: str) -> str:
    """`url` without user-info."""
    return strip_userinfo(url)
