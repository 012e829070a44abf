"""The installed version of a distribution, read without importing importlib.metadata.

importlib.metadata answers by importing the email parser and scanning every distribution on
sys.path: about 10 ms of a command's start-up. Here the `Version:` header is read from the
one `NAME-*.dist-info` folder beside the package (found without importing it); when that is
not conclusive (no such folder, several, unreadable), importlib.metadata answers after all.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import re
from pathlib import Path

from pki.fsutil import ReadError, read_regular

MAX_METADATA = 4 << 20
"""A METADATA file larger than this (it holds the long description) is left to importlib.metadata."""


@functools.cache
def installed_version(distribution: str, package: str) -> str | None:
    """The version of `distribution` (whose top-level package is `package`), or None when it
    is not installed."""
    found = _beside(distribution, package)
    if found is not None:
        return found
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _beside(distribution: str, package: str) -> str | None:
    prefix = re.sub(r"[-_.]+", "_", distribution).lower()
    with contextlib.suppress(ImportError, ValueError, OSError, ReadError):
        spec = importlib.util.find_spec(package)  # a top-level name: nothing is imported
        for folder in (spec.submodule_search_locations or ()) if spec is not None else ():
            infos = [p for p in Path(folder).parent.glob("*.dist-info") if p.name.lower().startswith(prefix + "-")]
            if len(infos) != 1:
                return None
            text = read_regular(infos[0] / "METADATA", MAX_METADATA).decode("utf-8")
            for line in text.splitlines():
                if line.startswith("Version:"):
                    return line.partition(":")[2].strip() or None
                if not line.strip():
                    return None  # the headers end at the first blank line
    return None


@functools.cache
def linter_name() -> str:
    """`pkilint VERSION`, as lint reports and the lint cache name the linter (here, so naming it
    does not import pki.lint)."""
    version = installed_version("pkilint", "pkilint")
    return "pkilint" if version is None else f"pkilint {version}"
