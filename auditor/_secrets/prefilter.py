"""The multi-pattern prefilter: one pass over a buffer finds every detector's anchor.

Hyperscan (Intel's SIMD regex engine, the `hyperscan` wheel) matches all anchors at once at
GB/s and reports where each ends; only there do the detectors run their full expressions.
Where Hyperscan is not installed, one combined Python expression gives the same hits, slower.
"""

from __future__ import annotations

import abc
import contextlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pki.fsutil import ReadError, read_regular


class Prefilter(abc.ABC):
    """Finds anchor hits: (pattern index, start, end); each end reported at least once.

    The start is exact for patterns compiled with `som` (start of match), else 0.
    """

    name: str

    @abc.abstractmethod
    def scan(self, data: bytes) -> list[tuple[int, int, int]]:
        ...

    def ends(self, data: bytes) -> dict[int, list[int]]:
        """Pattern index -> the ends of its hits, in the order `scan` reports them (patterns in
        the order of their first hit)."""
        out: dict[int, list[int]] = {}
        for ident, _start, end in self.scan(data):
            out.setdefault(ident, []).append(end)
        return out


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

    def ends(self, data: bytes) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        get = out.get

        def on_match(ident: int, start: int, end: int, flags: int, context: object) -> None:
            seen = get(ident)
            if seen is None:
                out[ident] = [end]
            else:
                seen.append(end)

        self._db.scan(data, match_event_handler=on_match)
        return out


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


def _made_from(anchors: Sequence[bytes], flags: Sequence[int]) -> bytes:
    """Everything a compiled database depends on: its form, the Hyperscan version, the anchors
    and their flags."""
    import hyperscan

    from auditor._cache import CACHE_FORMAT

    version = str(getattr(hyperscan, "__version__", ""))
    return repr((CACHE_FORMAT, version, list(anchors), list(flags))).encode()


def database_name(anchors: Sequence[bytes], flags: Sequence[int]) -> str:
    """The file name of the database for these anchors, flags and Hyperscan version."""
    import hashlib

    return f"hs-{hashlib.sha256(_made_from(anchors, flags)).hexdigest()[:24]}.db"


def shipped_folder() -> Path:
    """Where the package ships the built-in detectors' database, compiled (`python -m
    auditor._secrets.prefilter` writes it; a test checks it is current)."""
    return Path(__file__).with_name("data")


def _load(blob: bytes) -> Any:
    import hyperscan

    loaded = hyperscan.loadb(blob, hyperscan.HS_MODE_BLOCK)
    loaded.scratch = hyperscan.Scratch(loaded)  # a loaded database comes without one
    return loaded


def _compiled(anchors: list[bytes], flags: list[int]) -> Any:
    import hyperscan

    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=anchors, ids=list(range(len(anchors))), elements=len(anchors), flags=flags)
    return db


def _cached_database(anchors: list[bytes], flags: list[int]) -> Any:
    """The anchors' database: the one shipped with the package (the built-in detectors), else
    the one an earlier run compiled (the cache folder), else compiled now and kept there. A
    file is used only whole and sealed (auditor._cache.sealed: a SHA-256 of these anchors,
    flags and Hyperscan version and of the database): Hyperscan loads any valid database,
    and one compiled from other anchors (another file's, one of an older form) would find
    less and so miss secrets. A file that is not that, or that this Hyperscan or this CPU
    cannot load, is compiled again."""
    import hyperscan

    from auditor._cache import MAX_CACHE_BYTES, sealed, unsealed, write_cache

    made_from = _made_from(anchors, flags)
    name = database_name(anchors, flags)
    folder = _cache_dir()
    cache = folder / name if folder else None
    for candidate in (shipped_folder() / name, cache):
        if candidate is not None:
            with contextlib.suppress(ReadError, hyperscan.error, ValueError):
                blob = unsealed(made_from, read_regular(candidate, MAX_CACHE_BYTES))
                if blob is not None:
                    return _load(blob)
    db = _compiled(anchors, flags)
    if cache is not None:
        write_cache(cache, sealed(made_from, hyperscan.dumpb(db)))
    return db


def _cache_dir() -> Path | None:
    try:
        from auditor._cache import cache_root

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


def write_shipped() -> Path:
    """Compile the built-in detectors' database into the package (and remove older ones)."""
    import hyperscan

    from auditor._cache import sealed
    from auditor._secrets.scanner import Scanner

    anchors = Scanner().anchors()
    flags = [0] * len(anchors)
    folder = shipped_folder()
    folder.mkdir(exist_ok=True)
    target = folder / database_name(anchors, flags)
    for old in folder.glob("hs-*.db"):
        if old != target:
            old.unlink()
    target.write_bytes(sealed(_made_from(anchors, flags), hyperscan.dumpb(_compiled(anchors, flags))))
    return target


if __name__ == "__main__":
    print(write_shipped())
