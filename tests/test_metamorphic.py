"""tests/metamorphic.py, the probe of "a verdict never improves by adding input": its cases
stay true to the demo, and the cases that found this round's defects hold."""

from __future__ import annotations

import sys

from auditor._demo import demo_root
from tests import metamorphic


def test_the_cases_are_named_once_and_name_files_of_the_demo() -> None:
    names = [c.name for c in metamorphic.cases()]
    assert len(names) == len(set(names)) and len(names) > 200
    node = demo_root() / metamorphic.NODE
    named = [*metamorphic.TEXT_FILES, *(rel for rel, _, _ in metamorphic.SPELLINGS), *metamorphic.UNREADABLE,
             *metamorphic.UNREADABLE_IN_FOLDERS,
             *metamorphic.LINKED, *metamorphic.LINKED_FOLDERS, *metamorphic.RENAMED]
    assert [rel for rel in named if not (node / rel).exists()] == []


def test_the_cases_that_found_defects_lose_no_rule() -> None:
    """Each of these lost a failing rule, or moved every leak's id, before this round: a sops
    file sops refuses (SEC-012 passed), a socket table unread (HOST-017 and HOST-030 passed), the
    secrets scan over a wider path. The first two move ids by right: what was a failure at one
    leak or one listener is an error at what could not be read."""
    chosen = [c for c in metamorphic.cases() if c.name in {
        "secrets/secrets.yaml twice", "proc/net/tcp as a fifo", "inventory: secrets over the whole node"}]
    assert len(chosen) == 3
    shown: list[str] = []
    outcomes = metamorphic.run([sys.executable, "-m", "auditor"], chosen, show=shown.append)
    assert {o.name: (o.lost, o.moved) for o in outcomes} == {
        "secrets/secrets.yaml twice": ((), ("SEC-012",)),
        "proc/net/tcp as a fifo": ((), ("HOST-017",)),
        "inventory: secrets over the whole node": ((), ()),
    }, shown
