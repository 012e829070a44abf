"""Damage done to a cache file, for the tests that a damaged cache changes nothing but speed."""

from __future__ import annotations

import random

from hypothesis import strategies as st

DAMAGE = st.tuples(st.sampled_from(["truncate", "flip", "random", "append"]), st.integers(0, 1 << 20),
                   st.integers(1, 255))
"""How (truncated, one byte flipped, random bytes, bytes appended), where, and a byte value."""


def damaged(good: bytes, damage: tuple[str, int, int]) -> bytes:
    """`good` with `damage` (a DAMAGE): never `good` itself."""
    how, at, value = damage
    if how == "truncate":
        return good[: at % len(good)]
    if how == "flip":
        flipped = bytearray(good)
        flipped[at % len(good)] ^= value
        return bytes(flipped)
    if how == "random":
        return random.Random(at).randbytes(len(good))
    return good + bytes([value]) * (1 + at % 64)
