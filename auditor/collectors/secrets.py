"""Leaked secrets in a target's files (and optionally git history): one `secrets.scan` record per path.

Each record lists the findings under that path as the leakage scanner reports them: rule,
file:line:column, a redacted preview, a fingerprint, and facts rules judge (the file's mode,
whether it is a dedicated key file or a log, whether a private key is encrypted). Findings
accepted by the allowlist, a baseline or an inline comment are counted, not listed.
"""

from __future__ import annotations

from collections.abc import Iterator

from auditor.collectors.interface import Collector
from auditor.errors import AuditorError
from auditor.evidence.kinds.secrets import SecretsScan
from auditor.evidence.record import Record

KIND = "secrets.scan"


class SecretsCollector(Collector):
    name = "secrets"
    kinds = (KIND,)

    def collect(self) -> Iterator[Record]:
        from auditor.secrets import prepare
        from auditor.secrets.engines import run_engines

        ctx = self.context
        opts = ctx.source.options
        engines = list(opts.get("engines") or ["auditor"])
        config = ctx.path(opts["config"]) if opts.get("config") else None
        for path in ctx.source.path_option(ctx.root, "paths"):
            shown = ctx.display(path)
            if not path.exists():
                yield ctx.error(KIND, shown, "no such file or folder")
                continue
            try:
                request = prepare(
                    [path], base=ctx.root, config=config,
                    baselines=ctx.source.path_option(ctx.root, "baseline"),
                    rules=ctx.source.path_option(ctx.root, "rules"),
                    exclude=list(opts.get("exclude") or ()), git=bool(opts.get("git")),
                    jobs=int(opts.get("jobs") or 0),
                )
                report = run_engines(engines, request)
            except AuditorError as exc:
                yield ctx.error(KIND, shown, exc.diagnostics())
                continue
            stats = report.stats.to_dict()
            yield ctx.adapt(shown, SecretsScan, {
                "path": shown,
                "engines": engines,
                **stats,
                "leaks": [leak.to_dict() for leak in report.sorted_leaks()],
            })

