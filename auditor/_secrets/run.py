"""Running a scan over folders and files, in parallel when it is worth it (git history: `history`)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from auditor._secrets.model import FileResult, Leak, ScanStats, Tally
from auditor._secrets.scanner import Scanner, findings_limit, over_findings
from auditor._secrets.suppress import Suppressions
from auditor._secrets.walk import iter_files
from auditor.errors import ConfigError

if TYPE_CHECKING:
    import concurrent.futures

    from auditor._secrets.history import HistoryScan

PARALLEL_MIN_BYTES = 24 * 1024 * 1024
TASK_BYTES = 6 * 1024 * 1024


@dataclass
class ScanReport:
    """A scan's findings (redacted) and figures."""

    leaks: list[Leak] = field(default_factory=list)
    stats: ScanStats = field(default_factory=ScanStats)
    also: list[Leak] = field(default_factory=list)
    """The same findings where else they are: at the other paths a blob was added at in git
    history (what a baseline written from this scan accepts too)."""
    max_findings: int = field(default_factory=findings_limit, repr=False)
    """The most findings the report keeps: the secret-findings limit."""
    repositories: list[tuple[str, str, str]] = field(default_factory=list)
    """The git repositories the walk met (`.git` folders and files, bare repositories): each
    one's folder, display path and git directory (walk.iter_files), for the history scan
    (`--git`) to read them all."""

    def add(self, result: FileResult) -> None:
        """A file's result; its findings past `max_findings` in all are dropped, and the file is
        then listed as not scanned whole."""
        room = self.max_findings - len(self.leaks)
        if len(result.leaks) > room:
            result = replace(result, leaks=result.leaks[:max(room, 0)], unfinished=over_findings(result.unfinished))
        self.stats.add(result)
        self.leaks.extend(result.leaks)

    def extend(self, leaks: Sequence[Leak], where: str) -> None:
        """The findings of `where` (a git object, a history), as `add` adds a file's."""
        room = self.max_findings - len(self.leaks)
        if len(leaks) > room:
            leaks = leaks[:max(room, 0)]
            self.stats.not_scanned.append(f"{where}: {over_findings()}")
        self.leaks.extend(leaks)

    def sorted_leaks(self) -> list[Leak]:
        return sorted(self.leaks, key=lambda x: (x.path, x.line, x.column, x.rule, x.commit))


class KnownFiles(Protocol):
    """Files of a folder whose findings are known without reading them (a repository's working
    tree after its history scan: `auditor._secrets.history.KnownBlobs`)."""

    def leaks(self, path: str, relative: str, display: str, size: int) -> list[Leak] | None:
        """The findings a scan of `path` would report, or None to read it."""

    def learn(self, display: str, data: bytes, result: FileResult) -> None:
        """A file these did not know was scanned: `data` (read whole) gave `result`."""


# ------------------------------------------------------------------ parallel workers

_WORKER: tuple[Scanner, Suppressions] | None = None
Done = tuple[list[FileResult], int, int, int]
"""A batch's results, as _work returns them."""


def _work(batch: list[tuple[str, str]]) -> Done:
    """A batch's results: those with something to say (findings, a skip, an error), and for the
    rest only their count, bytes and accepted findings (sending each back costs more than the scan)."""
    assert _WORKER is not None
    scanner, suppress = _WORKER
    notable: list[FileResult] = []
    files = size = suppressed = 0
    for p, shown in batch:
        result = scanner.scan_file(p, shown, suppress)
        if result.leaks or result.skipped or result.error:
            notable.append(result)
        else:
            files += 1
            size += result.size
            suppressed += result.suppressed
    return notable, files, size, suppressed


def _batches(files: list[tuple[str, str, int]]) -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    size = 0
    for path, shown, n in files:
        current.append((path, shown))
        size += n
        if size >= TASK_BYTES or len(current) >= 512:
            out.append(current)
            current, size = [], 0
    if current:
        out.append(current)
    return out


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def scan_paths(
    paths: Sequence[Path],
    *,
    base: Path,
    scanner: Scanner | None = None,
    suppress: Suppressions | None = None,
    exclude: Sequence[str] = (),
    jobs: int = 0,
    known: Mapping[Path, KnownFiles] | None = None,
    root: Path | None = None,
    tally: Tally | None = None,
) -> ScanReport:
    """Scan files and folders. Display paths are relative to `base` where possible. Files that
    `known[root]` knows for a root among `paths` are not read (their findings are known).
    `root`: the node's `/`, within which symbolic links to files are followed (iter_files).
    `tally`: counts the files read and their bytes as the scan goes (for a progress line)."""
    global _WORKER
    scanner = scanner or Scanner()
    suppress = suppress or Suppressions()
    for top in paths:
        if not top.exists() and not top.is_symlink():
            raise ConfigError("no such file or folder", file=top)
    report = ScanReport()
    jobs = jobs or default_jobs()
    parallel = jobs > 1
    todo: list[tuple[str, str, int]] = []
    pending: list[concurrent.futures.Future[Done]] = []
    pool: concurrent.futures.ProcessPoolExecutor | None = None
    queued = total = 0
    learners: dict[str, KnownFiles] = {}  # files to scan that a KnownFiles may learn
    try:
        for top in paths:
            reuse = known.get(top) if known else None
            prefix = "" if str(top) == "." else str(top).rstrip("/") + "/"
            for path, shown, skip, size, _ in iter_files(top, base, exclude, root=root,
                                                         repositories=report.repositories):
                if skip.startswith("error:"):
                    report.add(FileResult(shown, error=f"cannot read: {skip[6:]}"))
                    continue
                if skip:
                    report.add(FileResult(shown, skipped=skip))
                    continue
                if scanner.max_file_bytes and size > scanner.max_file_bytes:
                    report.add(FileResult(shown, size=size, skipped="too-large"))
                    continue
                if reuse is not None and path.startswith(prefix):
                    leaks = reuse.leaks(path, path[len(prefix):], shown, size)
                    if leaks is not None:
                        report.add(_known_file(shown, leaks, size, suppress))
                        continue
                    learners[path] = reuse
                todo.append((path, shown, size))
                total += size
                queued += size
                if parallel and total >= PARALLEL_MIN_BYTES and queued >= TASK_BYTES:
                    # big enough to be worth the workers: hand out batches while still walking
                    if pool is None:
                        pool = _pool(jobs)
                        if pool is None:  # no fork() here: one process
                            parallel = False
                            continue
                        scanner.prefilter  # noqa: B018 - compiled once, before any worker is forked
                        _WORKER = (scanner, suppress)
                    pending.extend(_submitted(pool, _batches(todo), tally))
                    todo, queued = [], 0
        if pool is not None:
            pending.extend(_submitted(pool, _batches(todo), tally))
            for future in pending:
                notable, files, size, suppressed = future.result()
                for result in notable:
                    report.add(result)
                report.stats.files_scanned += files
                report.stats.bytes_scanned += size
                report.stats.suppressed += suppressed
        else:
            for path, shown, _ in todo:
                learner = learners.get(path)
                if learner is None:
                    result = scanner.scan_file(path, shown, suppress)
                else:
                    read: list[bytes] = []
                    result = scanner.scan_file(path, shown, suppress, whole=read.append)
                    if read:
                        learner.learn(shown, read[0], result)
                report.add(result)
                if tally is not None:
                    tally.count([result])
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        _WORKER = None
    return report


def _submitted(pool: concurrent.futures.ProcessPoolExecutor, batches: list[list[tuple[str, str]]],
               tally: Tally | None) -> list[concurrent.futures.Future[Done]]:
    """`batches` handed to the workers; each counted in `tally` when it comes back."""
    futures = [pool.submit(_work, batch) for batch in batches]
    if tally is not None:
        def count(future: concurrent.futures.Future[Done]) -> None:
            if not future.cancelled() and future.exception() is None:
                notable, files, size, _ = future.result()
                tally.files += files
                tally.bytes += size
                tally.count(notable)

        for future in futures:
            future.add_done_callback(count)
    return futures


def _pool(jobs: int) -> concurrent.futures.ProcessPoolExecutor | None:
    """Worker processes that inherit the scanner (forked), or None where fork() is not there."""
    import concurrent.futures
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    return concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork"))


def _known_file(shown: str, leaks: list[Leak], size: int, suppress: Suppressions) -> FileResult:
    """What `Scanner.scan_file` reports for a file whose findings are known."""
    if suppress.path_excluded(shown):
        return FileResult(shown, skipped="allowlisted")
    kept, accepted = suppress.split(leaks)
    return FileResult(shown, tuple(kept), size, suppressed=len(accepted), known=True)


def scan_git(repo: Path, **kw: object) -> HistoryScan:
    """The history of `repo` (see `auditor._secrets.history.scan_history`)."""
    from auditor._secrets.history import scan_history

    return scan_history(repo, **kw)  # type: ignore[arg-type]


__all__ = ["ScanReport", "iter_files", "scan_git", "scan_paths"]
