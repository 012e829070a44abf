"""Running a scan over folders, files and git history, in parallel when it is worth it."""

from __future__ import annotations

import concurrent.futures
import fnmatch
import multiprocessing
import os
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from auditor.errors import ConfigError
from auditor.secrets.model import FileResult, Leak, ScanStats
from auditor.secrets.scanner import OVERLAP, WINDOW, Scanner, classify_content
from auditor.secrets.suppress import Suppressions

SKIP_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache", ".tox"})
PARALLEL_MIN_BYTES = 24 * 1024 * 1024
TASK_BYTES = 6 * 1024 * 1024


@dataclass
class ScanReport:
    leaks: list[Leak] = field(default_factory=list)
    stats: ScanStats = field(default_factory=ScanStats)

    def add(self, result: FileResult) -> None:
        self.stats.add(result)
        self.leaks.extend(result.leaks)

    def sorted_leaks(self) -> list[Leak]:
        return sorted(self.leaks, key=lambda x: (x.path, x.line, x.column, x.rule, x.commit))


def _vendored(folder: Path, names: Sequence[str]) -> bool:
    """A folder of someone else's code, recognised by what it holds: a virtualenv, Go's vendor/."""
    return "pyvenv.cfg" in names or (folder.name == "vendor" and "modules.txt" in names)


def iter_files(root: Path, base: Path, exclude: Sequence[str] = ()) -> Iterator[tuple[Path, str, str]]:
    """(path, display path, skip reason) for every file under `root` (or `root` itself)."""
    def display(p: Path) -> str:
        try:
            return str(p.relative_to(base))
        except ValueError:
            return str(p)

    def excluded(shown: str) -> bool:
        return any(fnmatch.fnmatchcase(shown, pat) for pat in exclude)

    if not root.is_dir():
        shown = display(root)
        if not excluded(shown):
            yield root, shown, ""
        return
    for folder, dirs, files in os.walk(root, followlinks=False):
        here = Path(folder)
        if _vendored(here, dirs + files):
            yield here, display(here), "vendored"
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not excluded(display(here / d)))
        for name in sorted(files):
            path = here / name
            shown = display(path)
            if excluded(shown):
                continue
            if path.is_symlink():
                yield path, shown, "symlink"
                continue
            yield path, shown, ""


# ------------------------------------------------------------------ parallel workers

_WORKER: tuple[Scanner, Suppressions] | None = None


def _work(batch: list[tuple[str, str]]) -> list[FileResult]:
    assert _WORKER is not None
    scanner, suppress = _WORKER
    return [scanner.scan_file(Path(p), shown, suppress) for p, shown in batch]


def _batches(files: list[tuple[Path, str, int]]) -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    size = 0
    for path, shown, n in files:
        current.append((str(path), shown))
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
) -> ScanReport:
    """Scan files and folders. Display paths are relative to `base` where possible."""
    global _WORKER
    scanner = scanner or Scanner()
    suppress = suppress or Suppressions()
    for root in paths:
        if not root.exists() and not root.is_symlink():
            raise ConfigError("no such file or folder", file=root)
    report = ScanReport()
    jobs = jobs or default_jobs()
    scanner.prefilter  # noqa: B018 - compile once, before any worker is forked
    parallel = jobs > 1 and "fork" in multiprocessing.get_all_start_methods()
    todo: list[tuple[Path, str, int]] = []
    pending: list[concurrent.futures.Future[list[FileResult]]] = []
    pool: concurrent.futures.ProcessPoolExecutor | None = None
    queued = total = 0
    try:
        for root in paths:
            for path, shown, skip in iter_files(root, base, exclude):
                if skip:
                    report.add(FileResult(shown, skipped=skip))
                    continue
                try:
                    size = path.stat().st_size
                except OSError as exc:
                    report.add(FileResult(shown, error=f"cannot read: {exc.strerror or exc}"))
                    continue
                todo.append((path, shown, size))
                total += size
                queued += size
                if parallel and total >= PARALLEL_MIN_BYTES and queued >= TASK_BYTES:
                    # big enough to be worth the workers: hand out batches while still walking
                    if pool is None:
                        _WORKER = (scanner, suppress)
                        pool = concurrent.futures.ProcessPoolExecutor(
                            max_workers=jobs, mp_context=multiprocessing.get_context("fork"))
                    pending.extend(pool.submit(_work, batch) for batch in _batches(todo))
                    todo, queued = [], 0
        if pool is not None:
            pending.extend(pool.submit(_work, batch) for batch in _batches(todo))
            for future in pending:
                for result in future.result():
                    report.add(result)
        else:
            for path, shown, _ in todo:
                report.add(scanner.scan_file(path, shown, suppress))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        _WORKER = None
    return report


# ------------------------------------------------------------------ git history


class _Limited:
    """Reads at most `remaining` bytes of a stream (one blob of `git cat-file --batch`)."""

    def __init__(self, stream: IO[bytes], size: int) -> None:
        self.stream, self.remaining = stream, size

    def read(self, n: int) -> bytes:
        if self.remaining <= 0:
            return b""
        chunk = self.stream.read(min(n, self.remaining))
        self.remaining -= len(chunk)
        return chunk

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


def _git(repo: Path, *args: str, timeout: float = 600) -> str:
    try:
        proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise ConfigError("git is not installed; it is needed to read git history") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"git {args[0]} took longer than {timeout:.0f}s", file=repo) from None
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ConfigError(f"git {args[0]} failed: {msg[-1] if msg else proc.returncode}", file=repo)
    return proc.stdout.decode("utf-8", "replace")


def history_blobs(repo: Path) -> dict[str, str]:
    """Every blob reachable from any ref, once each, with the first path it was seen at."""
    listing = _git(repo, "rev-list", "--objects", "--all")
    candidates: dict[str, str] = {}
    for line in listing.splitlines():
        sha, _, path = line.partition(" ")
        if path and sha not in candidates:
            candidates[sha] = path
    if not candidates:
        return {}
    proc = subprocess.run(
        ["git", "-C", str(repo), "cat-file", "--batch-check=%(objectname) %(objecttype)"],
        input="\n".join(candidates).encode() + b"\n", capture_output=True, timeout=600, check=False,
    )
    blobs = {}
    for line in proc.stdout.decode().splitlines():
        sha, _, kind = line.partition(" ")
        if kind == "blob":
            blobs[sha] = candidates[sha]
    return blobs


def scan_git(
    repo: Path,
    *,
    scanner: Scanner | None = None,
    suppress: Suppressions | None = None,
    exclude: Sequence[str] = (),
    seen: set[str] | None = None,
) -> ScanReport:
    """Scan every blob in the history of `repo` once, however many commits hold it.

    `seen` carries blob ids across calls (e.g. a cache of what an earlier scan read), so
    unchanged blobs are never read again. A finding names the oldest commit that holds its blob.
    """
    scanner = scanner or Scanner()
    suppress = suppress or Suppressions()
    report = ScanReport()
    blobs = history_blobs(repo)
    seen = seen if seen is not None else set()
    todo = []
    for sha, path in blobs.items():
        if sha in seen:
            report.stats.blobs_reused += 1
            continue
        if any(fnmatch.fnmatchcase(path, pat) for pat in exclude) or suppress.path_excluded(path):
            continue
        todo.append((sha, path))
    if not todo:
        return report
    proc = subprocess.Popen(
        ["git", "-C", str(repo), "cat-file", "--batch"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None
    results: list[tuple[str, FileResult]] = []
    try:
        for sha, path in todo:
            proc.stdin.write(sha.encode() + b"\n")
            proc.stdin.flush()
            header = proc.stdout.readline().split()
            if len(header) < 3:
                continue
            size = int(header[2])
            blob = _Limited(proc.stdout, size)
            head = blob.read(min(size, WINDOW))
            reason = classify_content(head, size)
            if reason:
                blob.drain()
                result = FileResult(path, size=size, skipped=reason)
            elif size <= WINDOW:
                result = scanner.scan_blob(head, path)
            else:
                leaks = list(scanner._stream(blob, head, path, ""))
                blob.drain()
                result = FileResult(path, tuple(leaks), size)
            proc.stdout.read(1)  # the newline after each blob
            seen.add(sha)
            report.stats.blobs_scanned += 1
            results.append((sha, result))
    finally:
        proc.stdin.close()
        proc.stdout.close()
        proc.wait(timeout=60)
    for sha, result in results:
        if result.leaks:
            commit = _introducing_commit(repo, sha)
            kept, dropped = suppress.split([_with_commit(x, commit) for x in result.leaks])
            result = FileResult(result.path, tuple(kept), result.size, result.skipped, result.error, dropped)
        report.add(result)
    return report


def _introducing_commit(repo: Path, blob: str) -> str:
    out = _git(repo, "log", "--all", "--reverse", "--format=%H", f"--find-object={blob}")
    return out.split("\n", 1)[0].strip()


def _with_commit(leak: Leak, commit: str) -> Leak:
    from dataclasses import replace

    return replace(leak, commit=commit)


__all__ = ["OVERLAP", "ScanReport", "iter_files", "scan_git", "scan_paths"]
