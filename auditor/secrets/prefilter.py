"""The multi-pattern prefilter: one pass over a buffer finds every detector's anchor.

Hyperscan (Intel's SIMD regex engine, the `hyperscan` wheel) matches all anchors at once at
GB/s and reports where each ends; only there do the detectors run their full expressions.
Where Hyperscan is not installed, one combined Python expression gives the same hits, slower.
"""

from __future__ import annotations

import abc
import contextlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pki.errors import PKIError
from pki.fsutil import make_folder


class Prefilter(abc.ABC):
    """Finds anchor hits: (pattern index, start, end); each end reported at least once.

    The start is exact for patterns compiled with `som` (start of match), else 0.
    """

    name: str

    @abc.abstractmethod
    def scan(self, data: bytes) -> list[tuple[int, int, int]]:
        ...


class HyperscanPrefilter(Prefilter):
    name = "hyperscan"

    def __init__(self, anchors: Sequence[bytes], som: Sequence[bool] = ()) -> None:
        import hyperscan

        self._hs = hyperscan
        wants = list(som) + [False] * (len(anchors) - len(som))
        flags = [hyperscan.HS_FLAG_SOM_LEFTMOST if w else 0 for w in wants]
        self._db = _cached_database(list(anchors), flags)

    def scan(self, data: bytes) -> list[tuple[int, int, int]]:
        hits: list[tuple[int, int, int]] = []
        append = hits.append

        def on_match(ident: int, start: int, end: int, flags: int, context: object) -> None:
            append((ident, start, end))

        self._db.scan(data, match_event_handler=on_match)
        return hits


class RegexPrefilter(Prefilter):
    """The same hits with Python's `re`: one alternation per anchor, searched in turn."""

    name = "python-re"

    def __init__(self, anchors: Sequence[bytes], som: Sequence[bool] = ()) -> None:
        self._patterns = [re.compile(a) for a in anchors]

    def scan(self, data: bytes) -> list[tuple[int, int, int]]:
        hits: list[tuple[int, int, int]] = []
        for ident, pattern in enumerate(self._patterns):
            pos = 0
            while True:
                m = pattern.search(data, pos)
                if m is None:
                    break
                hits.append((ident, m.start(), m.end()))
                pos = m.start() + 1
        return hits


def _cached_database(anchors: list[bytes], flags: list[int]) -> Any:
    """Compile the anchors, or load the database compiled by an earlier run (the cache folder)."""
    import hashlib

    import hyperscan

    version = str(getattr(hyperscan, "__version__", ""))
    digest = hashlib.sha256(repr((version, anchors, flags)).encode()).hexdigest()[:24]
    folder = _cache_dir()
    cache = folder / f"hs-{digest}.db" if folder else None
    if cache is not None and cache.is_file():
        try:
            loaded = hyperscan.loadb(cache.read_bytes(), hyperscan.HS_MODE_BLOCK)
            loaded.scratch = hyperscan.Scratch(loaded)  # a loaded database comes without one
            return loaded
        except (hyperscan.error, OSError, ValueError):
            pass
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=anchors, ids=list(range(len(anchors))), elements=len(anchors), flags=flags)
    if cache is not None:
        with contextlib.suppress(OSError, PKIError):
            make_folder(cache.parent, parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(hyperscan.dumpb(db))
            os.replace(tmp, cache)
    return db


def _cache_dir() -> Path | None:
    try:
        from auditor.cache import cache_root

        return cache_root() / "hyperscan"
    except (ImportError, RuntimeError):  # pragma: no cover - no home folder to cache in
        return None


def hyperscan_available() -> bool:
    try:
        import hyperscan  # noqa: F401
    except ImportError:
        return False
    return True


def make_prefilter(anchors: Sequence[bytes], prefer: str = "auto", som: Sequence[bool] = ()) -> Prefilter:
    if prefer in ("auto", "hyperscan") and hyperscan_available():
        return HyperscanPrefilter(anchors, som)
    if prefer == "hyperscan":
        raise RuntimeError("hyperscan is not installed")
    return RegexPrefilter(anchors, som)
