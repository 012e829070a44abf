"""Leaked secrets in a target's files (and optionally git history): one `secrets.scan` record per path.

Each record lists the findings under that path as the leakage scanner reports them: rule,
file:line:column, a redacted preview, a fingerprint, and facts rules judge (the file's mode,
whether it is a dedicated key file or a log, whether a private key is encrypted). Findings
accepted by the allowlist or a baseline (the source's `config` and `baseline`, files the
inventory names) are counted, not listed. Ignore comments in the node's files (`auditor:ignore`,
`nosecret`) are not honoured, by either engine: the files audited are the audited party's, and a
comment added to one must not silence the audit (`auditor secrets scan`, run by a developer over
their own files, honours them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal

from auditor._collectors.interface import Collector
from auditor.errors import AuditorError
from auditor.evidence.kinds.secrets import Leak, SecretsScan
from auditor.evidence.record import Record
from auditor.evidence.secret import verified

if TYPE_CHECKING:
    from auditor._secrets.model import Leak as DomainLeak


KIND = "secrets.scan"


class SecretsCollector(Collector):
    name = "secrets"
    kinds = (KIND,)

    def collect(self) -> Iterator[Record]:
        from auditor._secrets import prepare
        from auditor._secrets.engines import run_engines

        ctx = self.context
        opts = ctx.source.options
        engines = list(opts.get("engines") or ["auditor"])
        config = ctx.path(opts["config"]) if opts.get("config") else None
        for path in ctx.source.path_option(ctx.root, "paths"):
            shown = ctx.display(path)
            if not ctx.real(path).exists():
                yield ctx.error(KIND, shown, "no such file or folder")
                continue
            try:
                request = prepare(
                    [path], base=ctx.root, config=config,
                    baselines=ctx.source.path_option(ctx.root, "baseline"),
                    rules=ctx.source.path_option(ctx.root, "rules"),
                    exclude=list(opts.get("exclude") or ()), git=bool(opts.get("git")),
                    jobs=int(opts.get("jobs") or 0), root=ctx.tree_root, inline=False,
                )
                report = run_engines(engines, request)
            except AuditorError as exc:
                yield ctx.error(KIND, shown, exc.diagnostics())
                continue
            stats = report.stats
            yield ctx.record(shown, SecretsScan(
                path=shown,
                engines=tuple(engines),
                files_scanned=stats.files_scanned,
                bytes_scanned=stats.bytes_scanned,
                skipped=dict(sorted(stats.skipped.items())),
                unreadable=tuple(sorted(stats.unreadable)),
                suppressed=stats.suppressed,
                blobs_scanned=stats.blobs_scanned,
                blobs_reused=stats.blobs_reused,
                not_scanned=tuple(sorted(stats.not_scanned)),
                special=tuple(sorted(stats.special)),
                leaks=tuple(_leak(leak) for leak in report.sorted_leaks()),
            ))


def _leak(leak: DomainLeak) -> Leak:
    """The evidence of one leak; its preview is redacted already (auditor._secrets never holds more)."""
    return Leak(
        rule=leak.rule,
        category=leak.category,
        file=leak.path,
        line=leak.line,
        column=leak.column,
        location=leak.location,
        preview=verified(leak.preview),
        fingerprint=leak.fingerprint,
        confidence=_confidence(leak.confidence),
        engine=leak.engine,
        commit=leak.commit,
        file_mode=leak.file_mode,
        private=leak.private,
        key_file=leak.key_file,
        log=leak.log,
        encrypted=leak.encrypted,
        protected=leak.protected,
        details={k: v for k, v in leak.details.items() if isinstance(v, str | int | float | bool)},
        occurrences=leak.occurrences,
        lines=leak.first_lines,
    )


def _confidence(value: str) -> Literal["high", "medium", "low"]:
    return "low" if value == "low" else "medium" if value == "medium" else "high"
