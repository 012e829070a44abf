"""Which values sops encrypts (the selectors), and the `.sops.yaml` creation rules.

`Selectors.should_encrypt` follows getsops/sops sops.go `Tree.shouldBeEncrypted`: start from
"encrypt", then unencrypted_suffix, encrypted_suffix, unencrypted_regex, encrypted_regex in
that order (Go regexp.Match is an unanchored search; Python `re.search` agrees for the
patterns people write). Creation rules follow config/config.go: the first rule whose
`path_regex` matches the file's path relative to the folder holding `.sops.yaml` applies.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from auditor._loader.yamlfile import load_yaml
from auditor.errors import ConfigError

SELECTOR_KEYS = (
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
)
CONFIG_NAMES = (".sops.yaml", ".sops.yml")
DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted"


@functools.lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@dataclass(frozen=True)
class Selectors:
    unencrypted_suffix: str = ""
    encrypted_suffix: str = ""
    unencrypted_regex: str = ""
    encrypted_regex: str = ""
    unencrypted_comment_regex: str = ""
    encrypted_comment_regex: str = ""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, default_suffix: bool = False) -> Selectors:
        values = {k: str(data.get(k) or "") for k in SELECTOR_KEYS}
        if default_suffix and not any(values.values()):
            values["unencrypted_suffix"] = DEFAULT_UNENCRYPTED_SUFFIX  # what sops writes by default
        return cls(**values)

    def or_default(self) -> Selectors:
        """These selectors, or when none is set the unencrypted suffix sops writes by default."""
        if any(getattr(self, k) for k in SELECTOR_KEYS):
            return self
        return Selectors(unencrypted_suffix=DEFAULT_UNENCRYPTED_SUFFIX)

    @property
    def uses_comments(self) -> bool:
        return bool(self.unencrypted_comment_regex or self.encrypted_comment_regex)

    def should_encrypt(self, path: Sequence[str]) -> bool:
        encrypted = True
        if self.unencrypted_suffix and any(p.endswith(self.unencrypted_suffix) for p in path):
            encrypted = False
        if self.encrypted_suffix:
            encrypted = any(p.endswith(self.encrypted_suffix) for p in path)
        if self.unencrypted_regex and any(_compile(self.unencrypted_regex).search(p) for p in path):
            encrypted = False
        if self.encrypted_regex:
            encrypted = any(_compile(self.encrypted_regex).search(p) for p in path)
        return encrypted


@dataclass(frozen=True)
class CreationRule:
    index: int
    path_regex: str
    selectors: Selectors
    mac_only_encrypted: bool
    recipients: tuple[tuple[str, str], ...]
    """(type, id) pairs: age, pgp, kms, gcp_kms, azure_kv, hc_vault."""


@dataclass(frozen=True)
class SopsConfig:
    file: Path
    rules: tuple[CreationRule, ...]

    def rule_for(self, path: Path) -> CreationRule | None:
        """The first rule whose path_regex matches `path` as sops matches it: the absolute path
        with the config's folder and a `/` cut off its front, both taken as named (a link in
        either is not followed, as sops's filepath.Abs follows none)."""
        folder = os.path.abspath(self.file.parent) + "/"
        whole = os.path.abspath(path)
        rel = whole[len(folder):] if whole.startswith(folder) else whole
        for rule in self.rules:
            if not rule.path_regex or _compile(rule.path_regex).search(rel):
                return rule
        return None


def find_config(start: Path, stop: Path, real: Callable[[Path], Path] | None = None) -> Path | None:
    """The nearest .sops.yaml at or above `start`, not above `stop` (as sops searches upward).
    Whatever stands under that name is it, as for sops (which stats the name, following a
    link): a folder or FIFO there is a config that cannot be read (load_config refuses it,
    never opening a FIFO), not a reason to look further up; a link to nothing is. `real`: where
    a name under `stop` really is (CollectContext.real: links followed as the node follows
    them)."""
    folder = start if start.is_dir() else start.parent
    stop = stop.resolve()
    for _ in range(100):
        for name in CONFIG_NAMES:
            candidate = folder / name
            if (real(candidate) if real is not None else candidate).exists():
                return candidate
        if folder.resolve() == stop or folder.parent == folder:
            return None
        folder = folder.parent
    return None


def load_config(path: Path) -> SopsConfig:
    """The creation rules of the .sops.yaml at `path`: its rules match paths relative to
    `path`'s folder (a link there is not followed for that), as sops matches them."""
    doc = load_yaml(path)
    data = doc.value
    if not isinstance(data, dict):
        raise doc.error("a .sops.yaml file must be a mapping")
    raw_rules = data.get("creation_rules") or []
    if not isinstance(raw_rules, list):
        raise doc.error("creation_rules must be a list", ("creation_rules",))
    rules: list[CreationRule] = []
    for i, raw in enumerate(raw_rules):
        where = ("creation_rules", i)
        if not isinstance(raw, dict):
            raise doc.error("a creation rule must be a mapping", where)
        regex = str(raw.get("path_regex") or "")
        for key in ("path_regex", "encrypted_regex", "unencrypted_regex"):
            if raw.get(key):
                try:
                    _compile(str(raw[key]))
                except re.error as exc:
                    raise doc.error(f"invalid regular expression: {exc}", (*where, key)) from None
        rules.append(
            CreationRule(
                index=i,
                path_regex=regex,
                selectors=Selectors.from_mapping(raw),
                mac_only_encrypted=bool(raw.get("mac_only_encrypted")),
                recipients=tuple(_rule_recipients(raw)),
            )
        )
    return SopsConfig(path, tuple(rules))


def _split(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return []


_RULE_KEYS = {
    "age": "age",
    "pgp": "pgp",
    "kms": "kms",
    "gcp_kms": "gcp_kms",
    "azure_keyvault": "azure_kv",
    "hc_vault_transit_uri": "hc_vault",
}


def _rule_recipients(raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, kind in _RULE_KEYS.items():
        out.extend((kind, _normal(kind, v)) for v in _split(raw.get(key)))
    for group in raw.get("key_groups") or []:
        if not isinstance(group, dict):
            continue
        for key, kind in (("age", "age"), ("pgp", "pgp"), ("hc_vault", "hc_vault"), ("azure_keyvault", "azure_kv")):
            for v in group.get(key) or []:
                out.append((kind, _normal(kind, v if isinstance(v, str) else _group_entry_id(kind, v))))
        for entry in group.get("kms") or []:
            out.append(("kms", str(entry.get("arn", "")) if isinstance(entry, dict) else str(entry)))
        for entry in group.get("gcp_kms") or []:
            out.append(("gcp_kms", str(entry.get("resource_id", "")) if isinstance(entry, dict) else str(entry)))
    return list(dict.fromkeys(out))


def _group_entry_id(kind: str, entry: Any) -> str:
    if not isinstance(entry, dict):
        return str(entry)
    if kind == "azure_kv":
        return f"{entry.get('vaultUrl', '')}/keys/{entry.get('key', '')}/{entry.get('version', '')}"
    return str(entry)


def _normal(kind: str, value: str) -> str:
    return value.replace(" ", "").upper() if kind == "pgp" else value.strip()


RecipientType = Literal["age", "pgp", "kms", "gcp_kms", "azure_kv", "hc_vault"]


@dataclass(frozen=True)
class FileRecipient:
    """One recipient a sops file's data key is wrapped for."""

    type: RecipientType
    id: str
    created_at: str
    """As sops keeps it ('' when it does not)."""


def file_recipients(metadata: Mapping[str, Any]) -> list[FileRecipient]:
    """The recipients a sops file's data key is wrapped for, with `created_at` where sops keeps it."""
    out: list[FileRecipient] = []
    groups: list[Mapping[str, Any]] = [metadata]
    groups += [g for g in metadata.get("key_groups") or [] if isinstance(g, dict)]
    for group in groups:
        for e in _dicts(group.get("age")):
            out.append(_recipient("age", str(e.get("recipient", "")), e))
        for e in _dicts(group.get("pgp")):
            out.append(_recipient("pgp", _normal("pgp", str(e.get("fp", ""))), e))
        for e in _dicts(group.get("kms")):
            out.append(_recipient("kms", str(e.get("arn", "")), e))
        for e in _dicts(group.get("gcp_kms")):
            out.append(_recipient("gcp_kms", str(e.get("resource_id", "")), e))
        for e in _dicts(group.get("azure_kv")):
            ident = f"{e.get('vault_url', '')}/keys/{e.get('name', '')}/{e.get('version', '')}"
            out.append(_recipient("azure_kv", ident, e))
        for e in _dicts(group.get("hc_vault")):
            ident = f"{str(e.get('vault_address', '')).rstrip('/')}/v1/{e.get('engine_path', '')}/keys/{e.get('key_name', '')}"
            out.append(_recipient("hc_vault", ident, e))
    return out


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _recipient(kind: RecipientType, ident: str, entry: Mapping[str, Any]) -> FileRecipient:
    return FileRecipient(kind, ident, str(entry.get("created_at") or ""))


def config_error(path: Path, exc: ConfigError) -> str:
    return exc.diagnostics() if exc.file else f"{path}: {exc.diagnostics()}"
