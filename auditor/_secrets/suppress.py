"""Accepted findings: inline ignore comments, allowlists (path, rule, fingerprint) and baselines.

- Inline: `auditor:ignore` on the line (every rule) or `auditor:ignore[password,jwt]`;
  `auditor:ignore-next-line` on the line before. trufflehog3's `nosecret` and
  `nosecret: id1,id2` are honoured too.
- Allowlist (in the scan configuration file): entries with any of `path` (a glob; `*` also
  crosses folders), `rule` and `fingerprint`, each with a `reason`; all given fields must match.
- Baseline: a JSON file of accepted findings (`auditor secrets scan --write-baseline`), matched
  on rule, file and fingerprint, so a secret that moves within its file stays accepted and the
  same secret appearing in another file is reported. A baseline records the id of the
  fingerprint key it was written under; one written under another key is refused.

Fingerprints of the old form (`sha256:` + 12 hex digits, before HMAC) in baselines and
allowlists keep matching: the scan then computes the old form of each finding in memory.
`auditor secrets migrate-baseline` rewrites such a baseline with the new fingerprints.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor._fsutil import path_text, read_user_bytes
from auditor._redact import is_legacy_fingerprint, key_id
from auditor._secrets.model import Leak
from auditor.errors import ConfigError

BASELINE_FORMAT = "auditor-secrets-baseline"
BASELINE_VERSION = 2
_INLINE = re.compile(rb"(?:auditor:ignore(?P<next>-next-line)?(?:\[(?P<rules>[A-Za-z0-9_.,\s-]*)\])?|nosecret(?::[ \t]*(?P<th3>[A-Za-z0-9_.,-]+(?:,[ \t]*[A-Za-z0-9_.-]+)*))?)")


def inline_ignored(line: bytes, previous: bytes, rule: str) -> bool:
    """Whether an ignore comment on this line (or `-next-line` on the previous one) covers `rule`."""
    for text, want_next in ((line, False), (previous, True)):
        if b"auditor:ignore" not in text and b"nosecret" not in text:
            continue
        for m in _INLINE.finditer(text):
            if bool(m.group("next")) != want_next:
                continue
            if want_next and m.group(0).startswith(b"nosecret"):
                continue
            names = m.group("rules") if m.group("rules") is not None else m.group("th3")
            if names is None:
                return True
            if rule in {n.strip().decode() for n in names.split(b",")}:
                return True
    return False


@dataclass(frozen=True)
class AllowEntry:
    """One allowlist entry of a scan configuration: a path, rule or fingerprint, and why."""

    reason: str
    path: str = ""
    rule: str = ""
    fingerprint: str = ""

    def matches(self, leak: Leak) -> bool:
        if self.rule and self.rule != leak.rule:
            return False
        if self.fingerprint and self.fingerprint not in (leak.fingerprint, leak.legacy):
            return False
        return not self.path or fnmatch.fnmatchcase(leak.path, self.path)

    @property
    def path_only(self) -> bool:
        """An entry with a path and nothing else: files there need not be read at all."""
        return bool(self.path) and not self.rule and not self.fingerprint

    def path_excluded(self, path: str) -> bool:
        """A path-only entry that matches `path`."""
        return self.path_only and fnmatch.fnmatchcase(path, self.path)


@dataclass(frozen=True)
class Baseline:
    """Findings accepted earlier (`--write-baseline`), by rule, file and fingerprint."""

    keys: frozenset[tuple[str, str, str]]
    file: str = ""

    def accepts(self, leak: Leak) -> bool:
        return (leak.rule, leak.path, leak.fingerprint) in self.keys or (
            bool(leak.legacy) and (leak.rule, leak.path, leak.legacy) in self.keys)

    @property
    def legacy(self) -> bool:
        """Some entries hold old-form fingerprints (see the module's docstring)."""
        return any(is_legacy_fingerprint(f) for _, _, f in self.keys)

    @staticmethod
    def document(leaks: Iterable[Leak] = (), keys: Iterable[tuple[str, str, str]] = ()) -> dict[str, Any]:
        accepted = sorted({(x.rule, x.path, x.fingerprint) for x in leaks} | set(keys))
        return {
            "format": BASELINE_FORMAT,
            "version": BASELINE_VERSION,
            "fingerprint_key": key_id(),
            "accepted": [{"rule": r, "file": p, "fingerprint": f} for r, p, f in accepted],
        }


def load_baseline(path: Path) -> Baseline:
    from auditor._loader.jsonfile import load_json

    data = load_json(read_user_bytes(path, what="baseline file"), file=path_text(path))
    if not isinstance(data, dict) or data.get("format") != BASELINE_FORMAT:
        raise ConfigError(f"not an auditor secrets baseline (expected \"format\": \"{BASELINE_FORMAT}\")", file=path)
    if data.get("version", 1) not in (1, BASELINE_VERSION):
        raise ConfigError(f"baseline version {data.get('version')!r} is not known (1 or {BASELINE_VERSION})", file=path)
    written_under = data.get("fingerprint_key")
    if written_under is not None and written_under != key_id():
        raise ConfigError(
            f"the baseline's fingerprints were made under fingerprint key {written_under}, this installation's "
            f"key is {key_id()}: install the fleet's key file (or set AUDITOR_FINGERPRINT_KEY_FILE)", file=path)
    keys = set()
    for i, item in enumerate(data.get("accepted") or []):
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("rule", "file", "fingerprint")):
            raise ConfigError("each accepted finding needs string fields rule, file and fingerprint",
                              file=path, field=f"accepted[{i}]")
        keys.add((item["rule"], item["file"], item["fingerprint"]))
    return Baseline(frozenset(keys), str(path))


def parse_allow(entries: Any, *, file: str, where: str = "allow") -> tuple[AllowEntry, ...]:
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise ConfigError("must be a list of {path, rule, fingerprint, reason}", file=file, field=where)
    out = []
    for i, raw in enumerate(entries):
        field = f"{where}[{i}]"
        if not isinstance(raw, dict):
            raise ConfigError("must be a mapping with path, rule or fingerprint and a reason", file=file, field=field)
        unknown = set(raw) - {"path", "rule", "fingerprint", "reason"}
        if unknown:
            raise ConfigError(f"unknown field(s) {', '.join(sorted(unknown))}", file=file, field=field)
        values = {k: raw.get(k) for k in ("path", "rule", "fingerprint", "reason")}
        if not all(v is None or isinstance(v, str) for v in values.values()):
            raise ConfigError("path, rule, fingerprint and reason must be strings", file=file, field=field)
        if not (values["path"] or values["rule"] or values["fingerprint"]):
            raise ConfigError("needs at least one of path, rule and fingerprint", file=file, field=field)
        if not values["reason"]:
            raise ConfigError("needs a reason: say why this is accepted", file=file, field=field)
        out.append(AllowEntry(str(values["reason"]), str(values["path"] or ""), str(values["rule"] or ""),
                              str(values["fingerprint"] or "")))
    return tuple(out)


@dataclass(frozen=True)
class Suppressions:
    """Every way a finding is accepted: the allowlist and the baselines."""

    allow: tuple[AllowEntry, ...] = ()
    baselines: tuple[Baseline, ...] = ()

    def accepts(self, leak: Leak) -> bool:
        return any(a.matches(leak) for a in self.allow) or any(b.accepts(leak) for b in self.baselines)

    @property
    def legacy(self) -> bool:
        """Old-form fingerprints are to be matched: findings must carry theirs (in memory only)."""
        return any(is_legacy_fingerprint(a.fingerprint) for a in self.allow) or any(b.legacy for b in self.baselines)

    def path_excluded(self, path: str) -> bool:
        return bool(self.allow) and any(a.path_excluded(path) for a in self.allow)

    def skipped_paths(self) -> list[str]:
        """The patterns of the path-only entries: files and blobs there are never read."""
        return [a.path for a in self.allow if a.path_only]

    def split(self, leaks: Sequence[Leak]) -> tuple[list[Leak], list[Leak]]:
        """The findings not accepted, and those accepted."""
        if not self.allow and not self.baselines:  # nothing is accepted
            return list(leaks), []
        kept: list[Leak] = []
        accepted: list[Leak] = []
        for leak in leaks:
            (accepted if self.accepts(leak) else kept).append(leak)
        return kept, accepted
