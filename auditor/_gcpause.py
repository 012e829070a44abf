"""Cyclic garbage collection paused around work that makes many objects and no reference cycles.

Python's collector runs every few hundred allocations and walks the young objects each time;
work that only builds values (a parsed config, the findings of a bundle) frees them by
reference counts, so those walks find nothing. Tests check that the work paused here leaves no
cyclic garbage behind.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The collector off for the block, and on again after it if it was on before (however the
    block ends)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
