"""Scanning engines behind one seam: ours (the default) and trufflehog3 as an optional second opinion.

trufflehog3 3.0.10 pins attrs==20.3.0, GitPython==3.1.41, Jinja2==3.1.4 and PyYAML==6.0.1
exactly and is GPL-2.0, so it never enters our environment: it runs as a separate process
from its own virtualenv, created on first use under the cache folder
(`$AUDITOR_ENGINES_DIR`, else `<cache>/engines`) with pip from the package index, and made
again whenever it is not as it was made (see _seal). Its JSON report is read back, turned
into redacted findings and merged with ours. The report file holds raw secrets, so it lives
in a private temporary folder and is deleted at once.
"""

from __future__ import annotations

import abc
import contextlib
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from auditor._secrets.gitrepo import alternates, common_dir, locations, untrusted_env
from auditor._secrets.model import Leak, Tally, collapsed
from auditor._secrets.run import KnownFiles, ScanReport, scan_git, scan_paths
from auditor._secrets.scanner import LOG_NAMES, Scanner
from auditor._secrets.suppress import Suppressions, inline_ignored
from auditor._secrets.walk import display_path, enclosing_repository
from auditor.errors import ConfigError
from pki.fsutil import ReadError, make_folder, read_regular

if TYPE_CHECKING:
    from auditor._secrets.history import HistoryScan

TRUFFLEHOG3_VERSION = "3.0.10"


@dataclass(frozen=True)
class ScanRequest:
    """What to scan and how: `auditor._secrets.prepare` makes one from the user's options."""

    paths: tuple[Path, ...]
    base: Path
    git: bool = False
    scanner: Scanner | None = None
    suppress: Suppressions = field(default_factory=Suppressions)
    exclude: tuple[str, ...] = ()
    jobs: int = 0
    git_cache: bool = True
    """Remember scanned git objects between runs (see `auditor._secrets.history`)."""
    root: Path | None = None
    """The scanned node's `/` (a scan's target root): symbolic links to files are followed
    within it (auditor._secrets.walk.iter_files); None: links are not followed."""
    tally: Tally | None = None
    """What the scan has read so far (for its progress line), counted as it goes; None: not counted."""


class Engine(abc.ABC):
    name: str

    @abc.abstractmethod
    def scan(self, request: ScanRequest) -> ScanReport:
        """Findings (redacted) and statistics for the request's paths."""


class AuditorEngine(Engine):
    name = "auditor"

    def scan(self, request: ScanRequest) -> ScanReport:
        scanner = request.scanner or Scanner()
        histories = []
        known: dict[Path, KnownFiles] = {}
        inside: list[tuple[Path, Path, str]] = []  # PATHs inside a repository's working tree
        if request.git:  # history first: a working-tree file git reports unchanged need not be read again
            for path in request.paths:
                if (path / ".git").exists():
                    history = scan_git(path, scanner=scanner, suppress=request.suppress, exclude=request.exclude,
                                       cache=request.git_cache, tree=True, tally=request.tally)
                    histories.append((path, history))
                    if history.known is not None:
                        known[path] = history.known
                elif path.is_dir() and (found := enclosing_repository(path, request.root)) is not None:
                    inside.append((path, *found))
        report = scan_paths(request.paths, base=request.base, scanner=scanner, suppress=request.suppress,
                            exclude=request.exclude, jobs=request.jobs, known=known, root=request.root,
                            tally=request.tally)
        for path, repo, within in inside:  # their part of its history
            shown = display_path(str(path), request.base)
            try:
                if locations(repo, work_tree=True)[2] != str(repo):
                    raise ConfigError("git cannot read the repository it lies in")
                histories.append((path, scan_git(repo, scanner=scanner, suppress=request.suppress,
                                                 exclude=request.exclude, cache=request.git_cache,
                                                 prefix="" if shown == "." else f"{shown}/", within=within,
                                                 tally=request.tally)))
            except ConfigError as exc:  # not read, so never clean
                report.stats.not_scanned.append(f"{shown} (git history): {exc.diagnostics()}")
        if request.git:  # the repositories the walk met inside the paths: their history too
            histories += _met_histories(request, scanner, report, [path for path, _ in histories])
        for path, history in histories:
            if history.known is not None:
                history.known.save()
            report.extend(history.leaks, f"{path} (git history)")
            report.also.extend(history.also)
            report.stats.merge(history.stats)
        return report


def _met_histories(request: ScanRequest, scanner: Scanner, report: ScanReport,
                   read: list[Path]) -> list[tuple[Path, HistoryScan]]:
    """The history of each repository the walk met inside the paths (`--git`), shown at its
    place there: once per git directory (a worktree's is its main repository's; those of
    `read` were read already). One git reads as another (a folder that only looks like a
    repository, a damaged `.git`: git would read the repository above it), whose git directory
    lies outside the paths (a `.git` file naming a folder elsewhere) or that borrows objects
    from outside them (`objects/info/alternates`: on a node's copy, paths of this machine) is
    not read, and said not scanned whole."""
    tops = [os.path.realpath(path) for path in request.paths]

    def inside(path: str) -> bool:
        return any(path == top or path.startswith(top + os.sep) for top in tops)

    done = set()
    for path in read:
        with contextlib.suppress(ConfigError):
            done.add(os.path.realpath(common_dir(path)))
    out = []
    for folder, shown, store in report.repositories:
        repo = Path(folder)
        try:
            own, shared, tree = locations(repo, work_tree=not store)
            if store:  # a .git folder or a bare repository: git reads that git directory
                expected, found = os.path.realpath(store), own
            else:  # a .git file: git reads this folder's working tree
                expected, found = os.path.realpath(folder), tree
            if found != expected:
                raise ConfigError("git cannot read it as a repository (it would read the one above it)")
            if shared in done:
                continue
            if not all(inside(path) for path in (own, shared)):
                raise ConfigError("its git directory lies outside the folders scanned")
            if not all(inside(path) for path in alternates(shared)):
                raise ConfigError("it borrows objects from a folder outside the folders scanned "
                                  "(objects/info/alternates)")
            done.add(shared)
            out.append((Path(shown), scan_git(repo, scanner=scanner, suppress=request.suppress, exclude=request.exclude,
                                              cache=request.git_cache, prefix="" if shown == "." else f"{shown}/",
                                              tally=request.tally)))
        except ConfigError as exc:  # not read, so never clean: its history is not scanned whole
            report.stats.not_scanned.append(f"{shown} (git history): {exc.diagnostics()}")
    return out


def engines_dir() -> Path:
    explicit = os.environ.get("AUDITOR_ENGINES_DIR")
    if explicit:
        return Path(explicit)
    from auditor._cache import cache_root

    return cache_root() / "engines"


class Trufflehog3Engine(Engine):
    name = "trufflehog3"

    def __init__(self, timeout: float = 3600.0) -> None:
        self.timeout = timeout

    @staticmethod
    def executable() -> Path:
        return engines_dir() / f"trufflehog3-{TRUFFLEHOG3_VERSION}" / "bin" / "trufflehog3"

    def install(self) -> Path:
        """trufflehog3's own virtualenv: the one made before while its seal holds (see _seal),
        else made now (concurrent callers wait for the first)."""
        exe = self.executable()
        venv = exe.parent.parent
        done = venv / ".complete"
        if _sound(venv):
            return exe
        make_folder(venv.parent, parents=True, exist_ok=True)
        with _locked(venv.parent / ".trufflehog3.lock"):
            if _sound(venv):
                return exe
            _clear(venv)
            try:
                self.make(venv)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
                _clear(venv)
                detail = getattr(exc, "stderr", b"") or b""
                last = detail.decode("utf-8", "replace").strip().splitlines()[-1:] if detail else []
                raise ConfigError(
                    f"could not install trufflehog3 {TRUFFLEHOG3_VERSION} into {venv}: "
                    f"{last[0] if last else exc}"
                ) from None
            seal = _seal(venv)
            if seal is not None:  # else it is made again next time
                done.write_text(seal)
        return exe

    @staticmethod
    def make(venv: Path) -> None:
        """Create the virtualenv `venv` and install trufflehog3 into it (pip, from the package
        index); then pip and setuptools, which trufflehog3 never imports, leave it: three
        quarters of its bytes, which each use would digest again (see _seal)."""
        python = str(venv / "bin" / "python")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"trufflehog3=={TRUFFLEHOG3_VERSION}"],
            check=True, capture_output=True, timeout=900,
        )
        subprocess.run([python, "-m", "pip", "uninstall", "--yes", "--quiet", "pip", "setuptools"],
                       check=True, capture_output=True, timeout=300)

    def scan(self, request: ScanRequest) -> ScanReport:
        exe = self.install()
        report = ScanReport()
        for root in request.paths:
            report.leaks.extend(self._scan_one(exe, root, request))
        return report

    def _scan_one(self, exe: Path, root: Path, request: ScanRequest) -> list[Leak]:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="auditor-th3-") as tmp:
            os.chmod(tmp, 0o700)
            out = Path(tmp) / "report.json"
            args = [str(exe), "--zero", "--format", "JSON", "--output", str(out)]
            if not request.git:
                args.append("--no-history")
            if not _inline(request):  # its own `nosecret` markers too (see Scanner.inline)
                args.append("--ignore-nosecret")
            args.append(str(root))
            env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1",  # nothing written into its sealed virtualenv
                   "GIT_NO_REPLACE_OBJECTS": "1",  # the history as it is (auditor._secrets.gitrepo.GIT)
                   **untrusted_env()}  # no program the repository's settings name (gitrepo.UNTRUSTED_CONFIG)
            try:
                proc = subprocess.run(args, capture_output=True, timeout=self.timeout, check=False, env=env)
            except subprocess.TimeoutExpired:
                raise ConfigError(f"trufflehog3 took longer than {self.timeout:.0f}s", file=root) from None
            except OSError as exc:
                raise ConfigError(f"trufflehog3 cannot be run: {exc.strerror or exc}", file=root) from None
            if proc.returncode != 0 or not out.is_file():
                err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
                raise ConfigError(f"trufflehog3 failed: {err[-1] if err else proc.returncode}", file=root)
            try:
                issues = json.loads(out.read_text() or "[]")
            except ValueError:
                raise ConfigError("trufflehog3 wrote a report that is not JSON", file=root) from None
        return [leak for issue in issues if (leak := self._leak(issue, root, request)) is not None]

    @staticmethod
    def _leak(issue: object, root: Path, request: ScanRequest) -> Leak | None:
        """One trufflehog3 issue as a redacted finding; its raw secret goes no further than here."""
        if not isinstance(issue, dict):
            return None
        rule = issue.get("rule") or {}
        secret = str(issue.get("secret") or "")
        rel = str(issue.get("path") or "")
        if not secret or not rel:
            return None
        file = root / rel if root.is_dir() else root
        try:
            shown = str(file.relative_to(request.base))
        except ValueError:
            shown = str(file)
        try:
            line_no = int(str(issue.get("line") or 0))
        except ValueError:
            line_no = 0
        from auditor import _limits as limits

        column, mode, previous, text = 1, "", b"", b""
        with contextlib.suppress(OSError, ReadError):
            lines = read_regular(file, limits.get("file-bytes")).split(b"\n")
            mode = f"{stat.S_IMODE(file.stat().st_mode):04o}"
            if 0 < line_no <= len(lines):
                text = lines[line_no - 1]
                previous = lines[line_no - 2] if line_no > 1 else b""
                column = max(text.find(secret.encode()), 0) + 1
        rule_id = f"trufflehog3:{rule.get('id', 'unknown')}"
        if _inline(request) and inline_ignored(text, previous, rule_id):
            return None
        leak = Leak.from_secret(
            rule_id, "custom", shown, line_no, column, secret.encode(),
            confidence="low", engine="trufflehog3", file_mode=mode, log=bool(LOG_NAMES.search(shown)),
            details={"severity": str(rule.get("severity", "")), "message": str(rule.get("message", ""))[:120]},
        )
        return None if request.suppress.accepts(leak) else leak


def _inline(request: ScanRequest) -> bool:
    """Whether ignore comments in the scanned files drop the findings they mark (Scanner.inline)."""
    return request.scanner is None or request.scanner.inline


def _seal(venv: Path) -> str | None:
    """What `.complete` holds in trufflehog3's virtualenv `venv` once it is made: the version,
    where the virtualenv is (its scripts name their interpreter by that path), and a SHA-256 of
    every entry in it (name, kind, executable bits, the target of a link, a file's bytes).
    A virtualenv whose seal differs (a file damaged or edited, one that would run and report
    nothing, a folder moved) or whose interpreter is gone (the Python it was made from
    removed) is made again, as though there were none. None: something in it is neither a
    folder, a regular file nor a link, or cannot be read."""
    import hashlib

    if not (venv / "bin" / "python").is_file():
        return None
    digest = hashlib.sha256()
    folders = [venv]
    try:
        while folders:
            folder = folders.pop()
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                if entry.path == str(venv / ".complete"):
                    continue
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISLNK(mode):
                    body = os.fsencode(os.readlink(entry.path))
                elif stat.S_ISDIR(mode):
                    body = b""
                    folders.append(Path(entry.path))
                elif stat.S_ISREG(mode):
                    body = read_regular(entry.path, 64 << 20, follow_symlinks=False)
                else:
                    return None
                name = os.fsencode(os.path.relpath(entry.path, venv))
                digest.update(b"%d %o %d %s %d\n" % (stat.S_IFMT(mode), mode & 0o111, len(name), name, len(body)))
                digest.update(body)
    except (OSError, ReadError):
        return None
    return f"{TRUFFLEHOG3_VERSION}\n{venv.absolute()}\n{digest.hexdigest()}\n"


def _sound(venv: Path) -> bool:
    """Whether trufflehog3's virtualenv `venv` is whole and as it was made (see _seal)."""
    try:
        kept = read_regular(venv / ".complete", 4096)
    except ReadError:
        return False
    return kept.decode("utf-8", "replace") == _seal(venv)


def _clear(path: Path) -> None:
    """Remove whatever is at `path` (a folder and all in it, a file, a link, a FIFO), if it can be."""
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on the file `path`, made if need be. Whatever else is in its place is
    removed first: a folder cannot be opened, and opening a FIFO to write waits for a reader."""
    import fcntl

    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISREG(os.lstat(path).st_mode):
            _clear(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot lock {path}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def get_engine(name: str) -> Engine:
    """The engine registered as `name` (auditor._secrets.ENGINES); ConfigError if none is."""
    from auditor._secrets import ENGINES

    return ENGINES.load(name)()


def secret_key(leak: Leak) -> tuple[str, str, str]:
    """What identifies the same secret in the same file (or commit's blob) across engines: the
    preview's hash (a finding is each secret of a file once: `collapsed`)."""
    return leak.path, leak.commit, leak.preview.rsplit("(", 1)[-1]


def merge(primary: ScanReport, others: Sequence[ScanReport]) -> ScanReport:
    """Our findings, plus those only another engine reported (the same secret in the same file is one)."""
    if not others:
        return primary
    known = {secret_key(x) for x in primary.leaks}
    merged = ScanReport(list(primary.leaks), primary.stats, list(primary.also))
    for other in others:
        for leak in collapsed(other.leaks):
            key = secret_key(leak)
            if key in known:
                continue
            known.add(key)
            merged.leaks.append(leak)
    return merged


def run_engines(names: Sequence[str], request: ScanRequest) -> ScanReport:
    reports = [get_engine(n).scan(request) for n in dict.fromkeys(names)]
    if not reports:
        return ScanReport()
    return merge(reports[0], reports[1:])
