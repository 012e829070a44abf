"""The embedded demo node `cim-prod-001`, shipped as package data.

The node's static files (nats.conf, NixOS configuration, Kubernetes manifests, ...) live in
node/cim-prod-001/. Its certificates and keys are issued fresh, relative to today, when the
demo is first used each day, so the demo shows the same findings whenever it runs: the tree is
copied to a cache folder ($AUDITOR_CACHE_DIR, else $XDG_CACHE_HOME/auditor, else
~/.cache/auditor) and completed there by :mod:`auditor.demo.build`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from auditor import __version__
from auditor.cache import cache_root

if TYPE_CHECKING:
    from auditor.inventory.model import Inventory

DEMO_TARGET = "cim-prod-001"
MAX_AGE_SECONDS = 12 * 3600
"""A materialised demo older than this is rebuilt, so its certificate dates stay relative to today."""


def _package_dir() -> Path:
    return Path(str(resources.files("auditor.demo")))


def _tree_hash(folder: Path) -> str:
    """Identifies the demo's sources (the node's files and the code that builds it) by name,
    size and modification time: cheap enough for every scan, and any edit changes it."""
    h = hashlib.sha256(__version__.encode())
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            stat = path.stat()
            h.update(f"{path.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return h.hexdigest()[:12]


def demo_root() -> Path:
    """The materialised demo folder (holding cim-prod-001/), built if missing or stale."""
    source = _package_dir() / "node"
    base = cache_root() / "demo"
    final = base / f"{__version__}-{_tree_hash(_package_dir())}"
    stamp = final / ".built"
    if stamp.is_file() and time.time() - stamp.stat().st_mtime < MAX_AGE_SECONDS:
        return final
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=base))
    try:
        shutil.copytree(source, work, dirs_exist_ok=True)
        from auditor.demo.build import build_node
        from auditor.demo.sops_dates import date_sops_files

        build_node(work / DEMO_TARGET)
        date_sops_files(work / DEMO_TARGET, dt.datetime.now(dt.UTC))
        (work / ".built").write_text(json.dumps({"version": __version__}) + "\n")
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
    from auditor.inventory.load import load_inventory

    return load_inventory(_package_dir() / "inventory.yaml", base=demo_root(), embedded=True)
