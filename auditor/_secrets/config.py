"""The scan configuration file: allowlist, excluded paths and custom rules.

```yaml
version: 1
allow:                                   # accepted findings; every given field must match
  - {path: "etc/nats/certs/*-key.pem", rule: private-key, reason: deployed TLS keys (mode 0600)}
  - {fingerprint: "sha256:0123456789ab", reason: test fixture, revoked}
exclude: ["tests/fixtures/*"]            # never read
rules: custom-rules.yml                  # trufflehog3 rules.yml format (a file, or the list inline)
baseline: .secrets-baseline.json         # accepted findings written by --write-baseline
max_file_bytes: 512MiB                   # files (and git blobs) larger are not scanned, and reported
```
Relative paths are relative to the configuration file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from auditor._loader.yamlfile import load_yaml
from auditor._secrets.custom import load_rules_file, parse_rules
from auditor._secrets.detectors import Detector
from auditor._secrets.suppress import AllowEntry, Baseline, load_baseline, parse_allow
from auditor.errors import ConfigError

_KEYS = {"version", "allow", "exclude", "rules", "baseline", "max_file_bytes"}
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
          "g": 1000**3, "gb": 1000**3, "gib": 1024**3}


@dataclass(frozen=True)
class ScanConfig:
    allow: tuple[AllowEntry, ...] = ()
    exclude: tuple[str, ...] = ()
    rules: tuple[Detector, ...] = ()
    baseline: Baseline | None = None
    max_file_bytes: int = 0
    """0: no limit (the default: nothing is left unscanned unless configured)."""


def parse_size(value: object) -> int | None:
    """A byte count: an integer, or a number with a unit (`512MiB`, `2GB`, `64k`); None if invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if not isinstance(value, str):
        return None
    m = re.fullmatch(r"\s*(\d+)\s*([A-Za-z]*)\s*", value)
    if m is None or m.group(2).lower() not in _UNITS or int(m.group(1)) <= 0:
        return None
    return int(m.group(1)) * _UNITS[m.group(2).lower()]


def load_scan_config(path: Path) -> ScanConfig:
    doc = load_yaml(path)
    data = doc.value
    file = str(path)
    if not isinstance(data, dict):
        raise ConfigError("a secrets scan configuration is a mapping (allow, exclude, rules, baseline)", file=file)
    unknown = set(data) - _KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise doc.error(f"unknown field (known: {', '.join(sorted(_KEYS))})", (key,))
    if data.get("version", 1) != 1:
        raise doc.error("only version 1 is known", ("version",))
    allow = parse_allow(data.get("allow"), file=file)
    exclude = data.get("exclude") or []
    if not isinstance(exclude, list) or not all(isinstance(x, str) for x in exclude):
        raise doc.error("exclude must be a list of glob patterns", ("exclude",))
    rules: tuple[Detector, ...] = ()
    raw_rules = data.get("rules")
    if isinstance(raw_rules, str):
        rules = load_rules_file(path.parent / raw_rules)
    elif raw_rules is not None:
        rules = parse_rules(raw_rules, file=file, line_of=lambda p: doc.line_of(("rules", *p)))
    baseline = load_baseline(path.parent / data["baseline"]) if isinstance(data.get("baseline"), str) else None
    limit = 0
    if data.get("max_file_bytes") is not None:
        parsed = parse_size(data["max_file_bytes"])
        if parsed is None:
            raise doc.error("max_file_bytes must be a positive size (e.g. 104857600, 512MiB, 2GB)", ("max_file_bytes",))
        limit = parsed
    return ScanConfig(allow, tuple(exclude), rules, baseline, limit)
