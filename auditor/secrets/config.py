"""The scan configuration file: allowlist, excluded paths and custom rules.

```yaml
version: 1
allow:                                   # accepted findings; every given field must match
  - {path: "etc/nats/certs/*-key.pem", rule: private-key, reason: deployed TLS keys (mode 0600)}
  - {fingerprint: "sha256:0123456789ab", reason: test fixture, revoked}
exclude: ["tests/fixtures/*"]            # never read
rules: custom-rules.yml                  # trufflehog3 rules.yml format (a file, or the list inline)
baseline: .secrets-baseline.json         # accepted findings written by --write-baseline
```
Relative paths are relative to the configuration file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from auditor.errors import ConfigError
from auditor.loader.yamlfile import load_yaml
from auditor.secrets.custom import load_rules_file, parse_rules
from auditor.secrets.detectors import Detector
from auditor.secrets.suppress import AllowEntry, Baseline, load_baseline, parse_allow

_KEYS = {"version", "allow", "exclude", "rules", "baseline"}


@dataclass(frozen=True)
class ScanConfig:
    allow: tuple[AllowEntry, ...] = ()
    exclude: tuple[str, ...] = ()
    rules: tuple[Detector, ...] = ()
    baseline: Baseline | None = None


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
    return ScanConfig(allow, tuple(exclude), rules, baseline)
