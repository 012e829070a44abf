"""The embedded demo node `cim-prod-001`, shipped as package data.

The node's static files (nats.conf, NixOS configuration, Kubernetes manifests, ...) live in
node/cim-prod-001/. Its certificates and keys are issued fresh, relative to today, when the
demo is first used each day, so the demo shows the same findings whenever it runs: the tree is
copied to a cache folder ($AUDITOR_CACHE_DIR, else $XDG_CACHE_HOME/auditor, else
~/.cache/auditor) and completed there by :mod:`auditor._demo.build`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from auditor import __version__
from auditor._cache import cache_root
from pki.fsutil import ReadError, read_regular

if TYPE_CHECKING:
    from auditor._demo.linter import LintProcess
    from auditor._inventory.model import Inventory

DEMO_TARGET = "cim-prod-001"
MAX_AGE_SECONDS = 12 * 3600
"""A materialised demo older than this is rebuilt, so its certificate dates stay relative to today."""


def _package_dir() -> Path:
    return Path(str(resources.files("auditor._demo")))


@functools.cache
def _tree_hash(folder: Path) -> str:
    """Identifies the demo's sources (the node's files and the code that builds it) by name,
    size and modification time: cheap enough for every scan, and any edit changes it (once
    per process: the process runs the code it loaded)."""
    h = hashlib.sha256(__version__.encode())
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            stat = path.stat()
            h.update(f"{path.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return h.hexdigest()[:12]


BUILD_MODULES = ("auditor._demo.build", "auditor._demo.gnupg", "auditor._demo.nats_demo", "auditor._demo.sops_dates")
"""What building the demo imports: about 200 modules, all but a dozen of which a scan imports
anyway (cryptography, pki, YAML, ...), so start_build imports them before it forks."""

_building: int | None = None
"""The process id of a child building the demo (start_build), joined by wait_built."""

_linting: LintProcess | None = None
"""The process linting for that child (start_build), reaped by wait_built."""


def _final() -> Path:
    return cache_root() / "demo" / f"{__version__}-{_tree_hash(_package_dir())}"


_checked: dict[Path, int] = {}
"""Demo folders this process found whole, with their stamp's mtime (a power cut cannot happen
between two checks of one process)."""


def _fresh(final: Path) -> bool:
    stamp = final / ".built"
    try:
        mtime = stamp.stat().st_mtime_ns
        if time.time() - mtime / 1e9 >= MAX_AGE_SECONDS:
            return False
        if _checked.get(final) == mtime:
            return True
        built = json.loads(read_regular(stamp, 1 << 12))
        if not (isinstance(built, dict) and built.get("sizes") == _sizes(final)):
            return False
    except (OSError, ValueError, ReadError):
        return False
    _checked[final] = mtime
    return True


def _sizes(folder: Path) -> str:
    """A digest of the name and size of every regular file under `folder` (but the stamp). The
    build is not forced to disk (it is staged, published by one rename, and rebuilt when lost:
    see demo_root); a file a power cut catches unwritten comes back empty, or shorter when only
    some of its pages were written back (the CA's log, its SQLite inventory), so a tree whose
    sizes are not those its stamp (`.built`) recorded is built again."""
    rows = []
    for path, _, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(OSError):
                info = os.lstat(os.path.join(path, name))
                if stat.S_ISREG(info.st_mode) and not (name == ".built" and path == str(folder)):
                    rows.append(f"{os.path.relpath(os.path.join(path, name), folder)}\0{info.st_size}")
    return hashlib.sha256("\n".join(sorted(rows)).encode("utf-8", "surrogateescape")).hexdigest()


def start_build() -> None:
    """Build a missing or stale demo in a child process while this one goes on (loading the
    rules): on a machine with a second core the first `auditor scan --demo` pays for the
    longer of the two, not their sum. `wait_built` joins it; the demo's inventory can be
    loaded meanwhile (it only names paths). The builder's certificates are linted by a
    second child, forked first, that imports pkilint while this process imports the modules
    the builder needs (auditor._demo.linter)."""
    global _building, _linting
    if _building is not None or not hasattr(os, "fork") or _fresh(_final()):
        return
    import importlib

    from auditor._demo.linter import LintProcess

    # cryptography's x509, which pkilint and the scan both import (a third of pkilint's import
    # on its own), imported before the lint process forks: once for both, and the lint process
    # is ready no later
    importlib.import_module("cryptography.x509")
    try:
        linting = LintProcess.start()
    except OSError:  # no process to spare: wait_built builds the demo here
        return
    try:
        for module in BUILD_MODULES:  # imported once, here: the child inherits them
            importlib.import_module(module)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        try:
            pid = os.fork()
        except OSError:
            linting.release()
            linting.reap()
            return
        if pid == 0:  # the child: build, then leave without running the parent's exit handlers
            code = 1
            try:
                from pki.lint import linted_by

                with linted_by(linting.lint):
                    demo_root()
                code = 0
            except BaseException:  # noqa: S110 - the parent builds again and reports what fails
                pass
            finally:
                os._exit(code)
    except BaseException:
        linting.release()
        linting.reap()
        raise
    linting.release()  # the builder holds its own ends: the lint process stops with it
    _building, _linting = pid, linting


def wait_built() -> Path:
    """The demo folder once built: by the child of start_build if one runs, else (or if it
    failed) here, raising what goes wrong."""
    global _building, _linting
    if _building is not None:
        pid, _building = _building, None
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    if _linting is not None:
        linting, _linting = _linting, None
        linting.reap()
    return demo_root()


def demo_root() -> Path:
    """The materialised demo folder (holding cim-prod-001/), built if missing or stale."""
    source = _package_dir() / "node"
    base = cache_root() / "demo"
    final = _final()
    if _fresh(final):
        return final
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=base))
    try:
        shutil.copytree(source, work, dirs_exist_ok=True)
        from auditor._demo.build import build_node, lint_ahead
        from auditor._demo.sops_dates import date_sops_files
        from pki.fsutil import unsynced

        with unsynced():  # a staging tree, published whole below: see _sizes
            build_node(work / DEMO_TARGET)
            date_sops_files(work / DEMO_TARGET, dt.datetime.now(dt.UTC))
        lint_ahead(work / DEMO_TARGET)
        (work / ".built").write_text(json.dumps({"version": __version__, "sizes": _sizes(work)}) + "\n")
        old = None
        if final.exists():
            old = base / f".old-{os.getpid()}-{time.time_ns()}"
            with contextlib.suppress(OSError):
                final.rename(old)
        try:
            work.rename(final)
        except OSError:
            # another process finished first: use its tree
            if not (final / ".built").is_file():
                raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return final


def demo_inventory() -> Inventory:
    from auditor._inventory.load import load_inventory

    base = _final() if _building is not None else demo_root()  # being built: wait_built() before reading it
    return load_inventory(_package_dir() / "inventory.yaml", base=base, embedded=True)
