"""Custom rules in trufflehog3's rules.yml format, run by our engine.

trufflehog3 (feeltheajf/trufflehog3, static/rules.yml) lists rules as mappings: a pattern rule
has `id`, `message`, `pattern` (a Python regular expression) and `severity`; an entropy rule
has `alphabet`, `threshold` and `minlen` instead of a pattern. Pattern rules become detectors
(their pattern is the prefilter anchor when Hyperscan accepts it). Entropy is never a finding
alone here: an entropy rule only judges values assigned to secret-named keys.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from auditor._loader.yamlfile import load_yaml
from auditor._secrets import structure
from auditor._secrets.detectors import (
    _ASSIGNMENT,
    ASSIGNMENT_ANCHOR,
    KEY_BYTES,
    Detector,
    FileContext,
    Hit,
    quoted_group,
)
from auditor.errors import ConfigError

SEVERITIES = ("LOW", "MEDIUM", "HIGH")


def load_rules_file(path: Path) -> tuple[Detector, ...]:
    doc = load_yaml(path)
    return parse_rules(doc.value, file=str(path), line_of=doc.line_of)


def parse_rules(data: Any, *, file: str, line_of: Any = None) -> tuple[Detector, ...]:
    if not isinstance(data, list):
        raise ConfigError("a rules file is a list of rules (trufflehog3 rules.yml format)", file=file)
    out: list[Detector] = []
    for i, raw in enumerate(data):
        line = line_of((i,)) if line_of else None
        where = f"[{i}]"
        if not isinstance(raw, dict):
            raise ConfigError("each rule is a mapping with id, message and pattern (or alphabet/threshold/minlen)",
                              file=file, line=line, field=where)
        rule_id = raw.get("id")
        if not isinstance(rule_id, str) or not rule_id:
            raise ConfigError("rule needs an id", file=file, line=line, field=f"{where}.id")
        severity = str(raw.get("severity", "MEDIUM")).upper()
        if severity not in SEVERITIES:
            raise ConfigError(f"severity must be one of {', '.join(SEVERITIES)}", file=file, line=line,
                              field=f"{where}.severity")
        message = str(raw.get("message") or rule_id)
        if "pattern" in raw:
            out.append(_pattern_rule(rule_id, message, raw["pattern"], severity, file=file, line=line, where=where))
        elif {"alphabet", "threshold"} <= set(raw) or "minlen" in raw:
            out.append(_entropy_rule(rule_id, message, raw, severity, file=file, line=line, where=where))
        else:
            raise ConfigError("rule needs a pattern, or alphabet and threshold for an entropy rule",
                              file=file, line=line, field=where)
    return tuple(out)


def _pattern_rule(rule_id: str, message: str, pattern: Any, severity: str, *, file: str, line: int | None,
                  where: str) -> Detector:
    if not isinstance(pattern, str) or not pattern:
        raise ConfigError("pattern must be a non-empty string", file=file, line=line, field=f"{where}.pattern")
    try:
        regex = re.compile(pattern.encode())
    except re.error as exc:
        raise ConfigError(f"invalid regular expression: {exc}", file=file, line=line, field=f"{where}.pattern") from None

    def confirm(det: Detector, m: re.Match[bytes], ctx: FileContext) -> Hit | None:
        group = 1 if m.re.groups else 0
        secret = m.group(group) or m.group(0)
        return Hit(det.id, "custom", m.start(group), m.start(group) + len(secret), secret, "medium",
                   {"severity": severity, "message": message[:120]})

    anchor = pattern.encode() if _hyperscan_accepts(pattern.encode()) else b""
    return Detector(rule_id, "custom", message, anchor, regex, confirm, before=1024, after=4096)


def _entropy_rule(rule_id: str, message: str, raw: dict[str, Any], severity: str, *, file: str,
                  line: int | None, where: str) -> Detector:
    try:
        threshold = float(raw.get("threshold", 4.5))
        minlen = int(raw.get("minlen", 20))
    except (TypeError, ValueError):
        raise ConfigError("threshold must be a number and minlen an integer", file=file, line=line,
                          field=where) from None
    alphabet = set(str(raw.get("alphabet") or "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/="))

    def confirm(det: Detector, m: re.Match[bytes], ctx: FileContext) -> Hit | None:
        group = quoted_group(m) or "bare"
        raw_value = m.group(group)
        if raw_value is None or (group == "bare" and ctx.code):
            return None
        value = raw_value.decode("utf-8", "replace").strip()
        runs = re.findall("[" + re.escape("".join(sorted(alphabet))) + f"]{{{minlen},}}", value)
        if not any(structure.shannon_entropy(r) > threshold for r in runs):
            return None
        return Hit(det.id, "custom", m.start(group), m.start(group) + len(raw_value.rstrip()), raw_value.rstrip(),
                   "medium", {"severity": severity, "message": message[:120]})

    return Detector(rule_id, "custom", message, ASSIGNMENT_ANCHOR, _ASSIGNMENT, confirm, before=80, after=540,
                    priority=-6, walk_back=KEY_BYTES, flags=re.IGNORECASE)


def _hyperscan_accepts(pattern: bytes) -> bool:
    try:
        import hyperscan
    except ImportError:
        return True  # the Python prefilter runs any pattern
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        db.compile(expressions=[pattern], ids=[0], elements=1, flags=[0])
    except hyperscan.error:
        return False
    return True
