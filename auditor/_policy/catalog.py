"""The catalogue: every rule, policy pack and checklist available, and pack resolution."""

from __future__ import annotations

import datetime as dt
import fnmatch
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor._builtin import builtin_dir, checklist_dir
from auditor._loader.parsed import parsed_documents
from auditor._loader.schema import save_known_valid
from auditor._loader.yamlfile import load_yaml
from auditor._models import RuleInfo, Severity, Waiver, canonical_json, sha256_hex
from auditor._policy.checklist import Checklist, load_checklist
from auditor._policy.owners import Owners, Ownership
from auditor._policy.pack import PolicyPack, load_pack, waiver_expired
from auditor._policy.rule import Rule, check_param_types, load_rule
from auditor.errors import ConfigError
from pki.fsutil import special_kind

YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class EffectiveRule:
    """A rule as a resolved policy applies it: params merged, severity overridden."""

    rule: Rule
    params: Mapping[str, Any]
    severity: Severity

    @property
    def id(self) -> str:
        return self.rule.id


@dataclass(frozen=True)
class ResolvedPolicy:
    packs: tuple[str, ...]
    rules: tuple[EffectiveRule, ...]
    waivers: tuple[Waiver, ...]
    fail_on: Severity | None
    checklist: Checklist | None
    requires: tuple[str, ...] = ()
    """Evidence kinds the packs require explicitly (their `requires`)."""

    def required_kinds(self, threshold: Severity) -> list[str]:
        """The evidence kinds a READY verdict needs: those the packs require, and those of the
        rules at or above `threshold` or that block at any threshold."""
        kinds = set(self.requires)
        kinds.update(e.rule.kind for e in self.rules if e.severity.at_least(threshold) or e.rule.always_blocks is not None)
        return sorted(kinds)
    ownerships: tuple[Ownership | None, ...] = ()
    """Each pack's `ownership`, in the packs' order (`Owners.of` layers them)."""

    def owners(self, target: Ownership | None = None) -> Owners:
        """Who fixes which problem by when: the target's ownership, then the packs' (last first)."""
        if target is not None:
            return Owners.of(target, self.ownerships)
        return self._packs_owners

    @functools.cached_property
    def _packs_owners(self) -> Owners:
        """The packs' owners alone, made once per resolved policy (with the answers it keeps)."""
        return Owners.of(None, self.ownerships)

    @functools.cached_property
    def infos(self) -> tuple[RuleInfo, ...]:
        """What a result says of each rule (RuleInfo), made once per resolved policy."""
        return tuple(
            RuleInfo(e.id, e.rule.title, e.rule.area, e.severity, e.rule.description, e.rule.remediation, e.rule.tags)
            for e in self.rules
        )

    def active_waivers(self, now: dt.datetime) -> list[Waiver]:
        return [w for w in self.waivers if not waiver_expired(w, now)]

    def expired_waivers(self, now: dt.datetime) -> list[Waiver]:
        return [w for w in self.waivers if waiver_expired(w, now)]


def yaml_files(root: Path) -> list[Path]:
    """The YAML files `root` names: itself if it is a file, else those under it (sorted). A FIFO,
    socket or device given as `root` is refused without being opened."""
    if root.is_file():
        return [root]
    if not root.is_dir():
        try:
            kind = special_kind(root.stat().st_mode)
        except OSError:
            kind = None
        if kind is not None:
            raise ConfigError(f"is not a regular file or a folder ({kind}): not opened", file=root)
        raise ConfigError("no such file or folder", file=root)
    return sorted(p for p in root.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file())


@dataclass
class Catalog:
    """Every rule, policy pack and checklist known: the built-in ones and those of extra folders."""

    rules: dict[str, Rule] = field(default_factory=dict)
    packs: dict[str, PolicyPack] = field(default_factory=dict)
    checklists: dict[str, Checklist] = field(default_factory=dict)
    errors: list[ConfigError] = field(default_factory=list)

    @classmethod
    def load(
        cls,
        rule_paths: Iterable[Path] = (),
        policy_paths: Iterable[Path] = (),
        *,
        builtin: bool = True,
        strict: bool = True,
    ) -> Catalog:
        """Load rules, packs and checklists. With strict, the first error is raised;
        otherwise every error is gathered in `errors` (for `rules validate`)."""
        cat = cls()
        for path in yaml_files(checklist_dir()):
            cat._guard(strict, lambda p=path: cat._add_checklist(p))
        rule_roots = [builtin_dir("rules")] if builtin else []
        pack_roots = [builtin_dir("policies")] if builtin else []
        cat._add_roots(rule_roots + [Path(p) for p in rule_paths], pack_roots + [Path(p) for p in policy_paths], strict)
        return cat

    def extend(self, rule_paths: Iterable[Path], policy_paths: Iterable[Path], *, strict: bool = True) -> None:
        """Add the rules and packs of more folders: `Catalog.load(r, p)` is `Catalog.load()`
        then `extend(r, p)` (the built-in rules can load while the extra folders are made)."""
        self._add_roots([Path(p) for p in rule_paths], [Path(p) for p in policy_paths], strict)

    def _add_roots(self, rule_roots: list[Path], pack_roots: list[Path], strict: bool) -> None:
        parsed = parsed_documents()
        for root in rule_roots:
            for path in self._guard_list(strict, root):
                self._guard(strict, lambda p=path: self._add_rule(p))
        for root in pack_roots:
            for path in self._guard_list(strict, root):
                self._guard(strict, lambda p=path: self._add_pack(p))
        save_known_valid()
        parsed.save()

    def _guard_list(self, strict: bool, root: Path) -> list[Path]:
        try:
            return [p for p in yaml_files(root) if p.name != "README.yaml"]
        except ConfigError as exc:
            if strict:
                raise
            self.errors.append(exc)
            return []

    def _guard(self, strict: bool, action: Any) -> None:
        try:
            action()
        except ConfigError as exc:
            if strict:
                raise
            self.errors.append(exc)

    def _add_checklist(self, path: Path) -> None:
        checklist = load_checklist(parsed_documents().load(path))
        self.checklists[checklist.id] = checklist

    def _add_rule(self, path: Path) -> None:
        doc = parsed_documents().load(path)
        rule = load_rule(doc)
        if rule.id in self.rules:
            raise doc.error(f"duplicate rule id {rule.id} (also in {self.rules[rule.id].file})", ("id",))
        for item in rule.references.get("checklist", ()):
            if not any(c.item(item) for c in self.checklists.values()):
                raise doc.error(f"unknown checklist item '{item}'", ("references", "checklist"))
        self.rules[rule.id] = rule

    def _add_pack(self, path: Path) -> None:
        doc = parsed_documents().load(path)
        pack = load_pack(doc)
        if pack.id in self.packs:
            raise doc.error(f"duplicate policy id {pack.id} (also in {self.packs[pack.id].file})", ("id",))
        self._check_pack(pack)
        self.packs[pack.id] = pack

    def _check_pack(self, pack: PolicyPack) -> None:
        doc = pack.document
        if pack.checklist and pack.checklist not in self.checklists:
            raise doc.error(f"unknown checklist '{pack.checklist}'", ("checklist",))
        for key in ("select", "exclude"):
            for i, sel in enumerate(getattr(pack, key)):
                if not any(sel.matches(r.id, r.area, r.tags) for r in self.rules.values()):
                    raise doc.error(f"selects no rule ({sel.key}: {sel.value})", (key, i))
        selected = {r.id for r in self.rules.values() if pack.selects(r.id, r.area, r.tags)}
        for rid, overrides in pack.params.items():
            if rid not in self.rules:
                raise doc.error(f"params for unknown rule {rid}", ("params", rid))
            if rid not in selected:
                raise doc.error(f"params for rule {rid}, which this pack does not select", ("params", rid))
            check_param_types(self.rules[rid], overrides, doc, ("params", rid))
        for rid in pack.severity:
            if rid not in self.rules:
                raise doc.error(f"severity for unknown rule {rid}", ("severity", rid))
        for i, w in enumerate(pack.waivers):
            for j, fid in enumerate(w.findings):
                if fid.partition(":")[0] not in self.rules:
                    raise doc.error(f"waiver for a finding of unknown rule {fid.partition(':')[0]}", ("waivers", i, "findings", j))
            if not w.findings and not any(_glob(r, w.rule) for r in self.rules):
                raise doc.error(f"waiver for unknown rule {w.rule}", ("waivers", i, "rule"))
        if pack.ownership:
            pack.ownership.check((r.id, r.area, r.tags) for r in self.rules.values())

    @property
    def digest(self) -> str:
        """SHA-256 over every rule as written: identifies the rule set a result came from."""
        rules = [self.rules[k] for k in sorted(self.rules)]
        known = self.__dict__.get("_digest")
        if known is not None and len(known[0]) == len(rules) and all(a is b for a, b in zip(known[0], rules, strict=True)):
            return str(known[1])
        value = sha256_hex(canonical_json([r.definition for r in rules]))
        self.__dict__["_digest"] = (rules, value)  # the same rules: the same digest, computed once
        return value

    def pack(self, ref: str) -> PolicyPack:
        """The pack `ref` names: a known pack id, or a .yaml file."""
        if ref in self.packs:
            return self.packs[ref]
        path = Path(ref)
        if path.suffix in YAML_SUFFIXES:
            doc = load_yaml(path)
            pack = load_pack(doc)
            self._check_pack(pack)
            return pack
        known = ", ".join(sorted(self.packs)) or "none"
        raise ConfigError(f"unknown policy pack '{ref}' (known: {known}; or give a .yaml file)")

    def resolve(self, refs: Sequence[str]) -> ResolvedPolicy:
        """Merge packs in order: the union of their rules; later params and severities win.

        Packs named by id are resolved once while the catalogue's rules, packs and checklists
        stay the same objects (a fleet's bundles name the same packs; a pack file is read again
        each time, as it may change)."""
        if not refs:
            raise ConfigError("no policy pack given")
        if not all(r in self.packs for r in refs):
            return self._resolve(refs)
        state = (*self.rules.values(), None, *self.packs.values(), None, *self.checklists.values())
        known = self.__dict__.setdefault("_resolved", {}).get(tuple(refs))
        if known is not None and len(known[0]) == len(state) and all(a is b for a, b in zip(known[0], state, strict=True)):
            return known[1]  # type: ignore[no-any-return]
        policy = self._resolve(refs)
        kept = self.__dict__["_resolved"]
        if len(kept) >= _RESOLVED_KEPT:
            kept.clear()
        kept[tuple(refs)] = (state, policy)
        return policy

    def _resolve(self, refs: Sequence[str]) -> ResolvedPolicy:
        packs = [self.pack(r) for r in refs]
        chosen: dict[str, tuple[dict[str, Any], Severity]] = {}
        for pack in packs:
            for rule in self.rules.values():
                if not pack.selects(rule.id, rule.area, rule.tags):
                    continue
                params, severity = chosen.get(rule.id, (dict(rule.params), rule.severity))
                params.update(pack.params.get(rule.id, {}))
                severity = pack.severity.get(rule.id, severity)
                chosen[rule.id] = (params, severity)
        rules = tuple(
            EffectiveRule(self.rules[rid], params, sev) for rid, (params, sev) in sorted(chosen.items())
        )
        fail_on = next((p.fail_on for p in reversed(packs) if p.fail_on), None)
        checklist_id = next((p.checklist for p in packs if p.checklist), None)
        return ResolvedPolicy(
            packs=tuple(p.id for p in packs),
            rules=rules,
            waivers=tuple(w for p in packs for w in p.waivers),
            fail_on=fail_on,
            checklist=self.checklists.get(checklist_id) if checklist_id else None,
            requires=tuple(sorted({k for p in packs for k in p.requires})),
            ownerships=tuple(p.ownership for p in packs),
        )


_RESOLVED_KEPT = 64
"""How many lists of packs a catalogue keeps resolved (a fleet names a few)."""


def _glob(rule_id: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(rule_id, pattern)
