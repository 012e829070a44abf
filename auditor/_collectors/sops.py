"""sops-encrypted files: one `sops.file` record per file (YAML, JSON, dotenv, INI, binary).

For each file: whether it is a sops file at all, which values are left in plaintext and
whether its own selectors, the `.sops.yaml` creation rule for its path, or the look of the
value (a secret-named key, or a detector recognising the value) say they should not be; the
recipients (age, PGP, KMS, GCP KMS, Azure Key Vault, Vault transit) against those the
creation rule and the inventory require; `lastmodified`; and the MAC, verified when one of
the source's age identities or its GnuPG home can unwrap the data key.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import get_args

from auditor._collectors._files import Unreadable, folder_files, read_bounded
from auditor._collectors._untrusted import UnexpectedValue, one_of
from auditor._collectors.interface import Collector
from auditor._sops.crypto import MacResult, data_key_from_age, data_key_from_gnupg, verify_mac
from auditor._sops.document import SopsDocument, parse
from auditor._sops.inspect import DEFAULT_KEY_NAMES, plaintext_secrets
from auditor._sops.rules import (
    CONFIG_NAMES,
    Selectors,
    SopsConfig,
    file_recipients,
    find_config,
    load_config,
)
from auditor.errors import ConfigError
from auditor.evidence.kinds import sops as ev
from auditor.evidence.record import Record

KIND = "sops.file"
SUFFIXES = (".yaml", ".yml", ".json", ".env", ".ini")
FORMATS: tuple[ev.Format, ...] = get_args(ev.Format)
MAC_STATUSES: tuple[ev.MacStatus, ...] = get_args(ev.MacStatus)


class SopsCollector(Collector):
    name = "sops"
    kinds = (KIND,)

    def collect(self) -> Iterator[Record]:
        ctx = self.context
        opts = ctx.source.options
        identities: list[str] = []
        for key_file in ctx.source.path_option(ctx.root, "age_key_files"):
            try:
                text = read_bounded(key_file).decode("utf-8", "replace")
            except Unreadable as exc:
                yield ctx.error(KIND, f"age identity {ctx.display(key_file)}", f"cannot read: {exc}")
                continue
            identities += [line.strip() for line in text.splitlines() if line.strip().startswith("AGE-SECRET-KEY-")]
        gnupg = ctx.path(opts["gnupg_home"]) if opts.get("gnupg_home") else None
        explicit = ctx.path(opts["config"]) if opts.get("config") else None
        configs: dict[Path, SopsConfig | str] = {}
        for path in ctx.source.path_option(ctx.root, "paths"):
            if not ctx.real(path).exists():
                yield ctx.error(KIND, ctx.display(path), "no such file or folder")
                continue
            for file in self._files(path, explicit, configs):
                config = self._config(file, explicit, configs)
                yield self._record(file, config, identities, gnupg)

    def _config(self, file: Path, explicit: Path | None, cache: dict[Path, SopsConfig | str]) -> SopsConfig | str | None:
        where = explicit or find_config(file.parent, self.context.root, self.context.real)
        if where is None:
            return None
        if where not in cache:
            try:
                cache[where] = load_config(where)  # read where the node's links lead, as every read
            except ConfigError as exc:
                exc.file = self.context.display(where)  # named as the target's files are, not by this machine's path
                cache[where] = exc.diagnostics()
        return cache[where]

    def _files(self, path: Path, explicit: Path | None, cache: dict[Path, SopsConfig | str]) -> list[Path]:
        if not self.context.real(path).is_dir():
            return [path]

        def wanted(file: Path) -> bool:
            if file.name in CONFIG_NAMES:
                return False
            config = self._config(file, explicit, cache)
            return (isinstance(config, SopsConfig) and config.rule_for(file) is not None) or file.suffix.lower() in SUFFIXES

        # folders held as links walked where they lead; a FIFO or the like listed (reading it says why)
        files, skipped = folder_files(path, wanted, hidden_folders=False)
        return sorted([*files, *(s.path for s in skipped)])

    def _record(self, file: Path, config: SopsConfig | str | None, identities: list[str],
                gnupg: Path | None) -> Record:
        ctx = self.context
        shown = ctx.display(file)
        opts = ctx.source.options
        try:
            raw = read_bounded(file)  # where the node's links lead (read_bounded, while the collector runs)
            doc = parse(shown, raw.decode("utf-8"), opts.get("format"))
        except Unreadable as exc:
            return ctx.error(KIND, shown, f"not read: {exc}")
        except UnicodeDecodeError:
            return ctx.error(KIND, shown, "not UTF-8 text")
        except ConfigError as exc:
            return ctx.error(KIND, shown, exc.diagnostics())
        if isinstance(config, str):
            return ctx.error(KIND, shown, f"the sops config {config}")
        rule = config.rule_for(file) if config else None
        md = doc.metadata or {}
        file_selectors = Selectors.from_mapping(md)
        rule_selectors = rule.selectors.or_default() if rule else None
        required = [r for _, r in rule.recipients] if rule else []
        required += [str(r) for r in opts.get("required_recipients") or ()]
        allowed = required + [str(r) for r in opts.get("allowed_recipients") or ()]
        try:
            data = ev.SopsFile(
                path=shown,
                format=one_of(doc.format, FORMATS, "format"),
                encrypted=doc.is_sops,
                version=str(md.get("version") or ""),
                lastmodified=str(md.get("lastmodified") or ""),
                config=ctx.display(config.file) if config else "",
                covered=rule is not None,
                creation_rule=ev.CreationRule(index=rule.index if rule else -1, path_regex=rule.path_regex if rule else ""),
                selectors=ev.Selectors(
                    file=_selector_set(file_selectors, bool(md.get("mac_only_encrypted"))),
                    rule=_selector_set(rule_selectors or Selectors(), bool(rule.mac_only_encrypted) if rule else False),
                ),
                mac_only_encrypted=bool(md.get("mac_only_encrypted")),
                values=len(doc.leaves),
                encrypted_values=sum(1 for leaf in doc.leaves if leaf.encrypted),
                plaintext=self._plaintext(doc, file_selectors, rule_selectors),
                # listed even when the MAC is missing
                recipients=tuple(ev.Recipient(type=r.type, id=r.id, created_at=r.created_at) for r in file_recipients(md)),
                required_recipients=tuple(dict.fromkeys(required)),
                allowed_recipients=tuple(dict.fromkeys(allowed)),
                mac=self._mac(doc, identities, gnupg),
            )
        except UnexpectedValue as exc:
            return ctx.error(KIND, shown, str(exc))
        return ctx.record(shown, data)

    def _plaintext(self, doc: SopsDocument, file_sel: Selectors, rule_sel: Selectors | None) -> tuple[ev.PlaintextValue, ...]:
        from auditor._secrets.scanner import Scanner

        scanner = Scanner(sops_check=False)
        pattern = str(self.context.source.options.get("secret_keys") or DEFAULT_KEY_NAMES)
        secret = {id(s.leaf): s.reason for s in plaintext_secrets(doc, key_pattern=pattern, value_check=scanner.recognise)}
        out = []
        for leaf in doc.leaves:
            if leaf.encrypted or leaf.empty:
                continue
            by_file = doc.is_sops and file_sel.should_encrypt(leaf.path)
            by_rule = rule_sel is not None and rule_sel.should_encrypt(leaf.path)
            reason = secret.get(id(leaf), "")
            if not (by_file or by_rule or reason or not doc.is_sops):
                continue
            out.append(ev.PlaintextValue(
                key=leaf.dotted,
                line=leaf.line or 0,
                should_encrypt=by_file,
                rule_requires=by_rule,
                secret_like=bool(reason),
                reason=reason,
            ))
        return tuple(out)

    @staticmethod
    def _mac(doc: SopsDocument, identities: list[str], gnupg: Path | None) -> ev.Mac:
        if not doc.is_sops:
            if doc.metadata and not doc.metadata.get("mac"):
                return ev.Mac(status="missing", detail="the sops metadata has no MAC: sops refuses to decrypt the file",
                           key_source="")
            return ev.Mac(status="not-encrypted", detail="", key_source="")
        key = data_key_from_age(doc, identities)
        source = "age identity"
        if key is None:
            key, source = data_key_from_gnupg(doc, gnupg), "GnuPG"
        result = verify_mac(doc, key, source) if key else MacResult(
            "no-key", "none of the source's age identities or GnuPG keys is a recipient of this file")
        return ev.Mac(status=one_of(result.status, MAC_STATUSES, "mac.status"), detail=result.detail,
                   key_source=result.key_source)


def _selector_set(selectors: Selectors, mac_only_encrypted: bool) -> ev.SelectorSet:
    return ev.SelectorSet(
        unencrypted_suffix=selectors.unencrypted_suffix, encrypted_suffix=selectors.encrypted_suffix,
        unencrypted_regex=selectors.unencrypted_regex, encrypted_regex=selectors.encrypted_regex,
        unencrypted_comment_regex=selectors.unencrypted_comment_regex,
        encrypted_comment_regex=selectors.encrypted_comment_regex,
        mac_only_encrypted=mac_only_encrypted,
    )
