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

from auditor import _ending


@contextlib.contextmanager
def _collector(on: bool) -> Iterator[None]:
    """The collector on (or off) for the block, and back as it was after it however the block
    ends."""
    was = gc.isenabled()
    if on:
        gc.enable()
    else:
        gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
        else:
            gc.disable()


def gc_paused() -> contextlib.AbstractContextManager[None]:
    """The collector off for the block, and on again after it if it was on before (however the
    block ends)."""
    return _collector(False)


def collecting() -> contextlib.AbstractContextManager[None]:
    """The collector on for the block, and off again after it if it was off before (however the
    block ends): for work inside a one-shot command (one_shot) that leaves reference cycles per
    unit of input, such as each command and SFTP request over SSH (asyncssh's channels and
    readers refer to each other, a failed request's future holds its traceback: about 25 and 60
    objects, 6 and 8 KB, each; a host's authorized_keys are read account by account)."""
    return _collector(True)


YOUNG_OBJECTS = 10_000
"""Allocations between two collections of the youngest generation in `fewer_collections`
(Python's default: 700)."""


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """For a command that builds many objects living until it ends (a scan's modules, rules,
    records, findings and output): the collector looks at young objects every YOUNG_OBJECTS
    allocations instead of every 700, so the old generations, which hold the whole scan, are
    walked far less often (the demo scan: about 120 collections, 5 % of its CPU; 2,400 Kubernetes
    workloads: ten walks of the whole heap, an eighth of its time, down to none, peak memory 1.5 %
    higher). Reference counts still free what is let go at once; cycles are still collected,
    later. The thresholds are put back however the block ends. Used by fleet scans (`scan
    --all`, `--tag`), never by the library (a daemon keeps Python's defaults)."""
    old = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS, *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


@contextlib.contextmanager
def one_shot() -> Iterator[None]:
    """For a command that scans or evaluates one target and ends (`scan`, `evaluate` of one
    bundle): the collector off until it is done (gc_paused). What such a command makes lives
    until it ends or is freed by reference counts: the reference cycles it leaves are a fixed
    thousand objects or so (argparse's parser, msgspec's type information), however large the
    input (tests/auditor/test_gcpause.py holds the YAML loading, the Kubernetes collector and the
    evaluation to none). Even fewer_collections walked every object a large scan makes
    twice, as each generation filled: 2,400 Kubernetes workloads, about a tenth of the CPU.
    When the process ends with the command (auditor._ending: the program, not the library
    or a test), the collector stays off after it: turned on again, its first collection would
    walk everything the command made (80 ms at 2,400 workloads) just before the process ends.
    Never used by the library (a daemon keeps Python's defaults)."""
    if _ending.ENDING:
        gc.disable()
        yield
        return
    with gc_paused():
        yield


@contextlib.contextmanager
def frozen_alive() -> Iterator[None]:
    """For a loop over many units of work, in this process or in a pool of forked workers (an
    `evaluate` of many bundles): the objects alive now (the catalog, its compiled programs, the
    modules) left out of every collection while the block runs (gc.freeze). Each collection
    would otherwise walk them again (`evaluate --jobs 1` over 60 bundles: about 4 % of its CPU);
    a forked worker's would also write to each object it inherits, and so copy every page of
    them (`evaluate --jobs 2`: a fifth more CPU). Unfrozen after the block, unless objects were
    frozen before it (they are left so: which of them were cannot be told apart)."""
    before = gc.get_freeze_count()
    gc.freeze()
    try:
        yield
    finally:
        if not before:
            gc.unfreeze()
