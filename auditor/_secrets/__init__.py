"""Secret-leakage scanning: detectors, the prefilter, our engine, trufflehog3, suppressions.

`prepare()` turns user options (paths, a configuration file, baselines, custom rules) into a
`ScanRequest`; `auditor._secrets.engines.run_engines` runs it with the chosen engines.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from auditor.errors import ConfigError
from pki.registry import Registry

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (see auditor._cli._replay)

if TYPE_CHECKING:
    from auditor._secrets.detectors import Detector
    from auditor._secrets.engines import Engine, ScanRequest
    from auditor._secrets.suppress import AllowEntry

ENGINES: Registry[Engine] = Registry("engine", "auditor._secrets.engines:Engine", {
    "auditor": "auditor._secrets.engines:AuditorEngine",
    "trufflehog3": "auditor._secrets.engines:Trufflehog3Engine",
}, error=lambda unknown: ConfigError(str(unknown)))
"""Every scanning engine, by the name `--engine` takes (the first is the default)."""


def prepare(
    paths: Sequence[Path],
    *,
    base: Path,
    config: Path | None = None,
    baselines: Sequence[Path] = (),
    rules: Sequence[Path] = (),
    exclude: Sequence[str] = (),
    git: bool = False,
    jobs: int = 0,
    git_cache: bool = True,
    root: Path | None = None,
    inline: bool = True,
) -> ScanRequest:
    """The request for scanning `paths` with the given configuration, baselines and rules;
    `root`: the node's `/` when its tree is scanned (links are followed within it); `inline`:
    whether ignore comments in the scanned files drop the findings they mark (Scanner.inline)."""
    from auditor._secrets.detectors import builtin_detectors
    from auditor._secrets.engines import ScanRequest
    from auditor._secrets.scanner import Scanner
    from auditor._secrets.suppress import Suppressions, load_baseline

    allow: tuple[AllowEntry, ...] = ()
    custom: list[Detector] = []
    cfg_exclude: tuple[str, ...] = ()
    max_file_bytes = 0
    cfg_baseline = None
    if config is not None or rules:  # YAML is read only for them
        from auditor._secrets.config import load_scan_config
        from auditor._secrets.custom import load_rules_file

        if config is not None:
            cfg = load_scan_config(config)
            allow, custom, cfg_exclude, max_file_bytes = cfg.allow, list(cfg.rules), cfg.exclude, cfg.max_file_bytes
            cfg_baseline = cfg.baseline
        for path in rules:
            custom.extend(load_rules_file(path))
    loaded = [load_baseline(p) for p in baselines]
    if cfg_baseline is not None:
        loaded.append(cfg_baseline)
    suppress = Suppressions(allow, tuple(loaded))
    scanner = Scanner((*builtin_detectors(), *custom), max_file_bytes=max_file_bytes,
                      legacy_fingerprints=suppress.legacy, inline=inline)
    return ScanRequest(
        root=root,
        paths=tuple(paths),
        base=base,
        git=git,
        scanner=scanner,
        suppress=suppress,
        exclude=(*cfg_exclude, *exclude),
        jobs=jobs,
        git_cache=git_cache,
    )
