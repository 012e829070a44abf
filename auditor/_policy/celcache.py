"""Compiled CEL programs kept between runs, in the user's cache.

Compiling (parsing and type-checking) an expression costs about three times as much as
loading its checked form back into the runtime, and every run compiles every rule's
expressions (about 800 for the built-in rules). So each compiled program's checked form is
stored, by its text, in one file per CEL environment ($AUDITOR_CACHE_DIR/cel/, see
auditor._cache); the file's name is a digest of everything the checked form depends on
(auditor's version, the CEL runtime's version, the environment's declarations), so any change
to those starts a new file. Only expressions that compiled are stored: an expression with an
error is compiled, and reported, every time.

A seed of this cache for the built-in rules and the demo ships with auditor (see
auditor._cache.seed_dir), so a first run does not compile them either.

The cache is only ever an optimisation: a file that is missing, unreadable, too large,
damaged or made for anything else (a digest of what it was made from and of its content is
checked) is ignored whole, and an entry that does not load is compiled again.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_BYTES = 64 << 20
"""A cache file larger than this is not read."""
MAX_ENTRIES = 20_000
"""Past this many entries, a save keeps only the programs this process used."""


@dataclass
class _Programs:
    path: Path
    made_from: bytes
    """What the programs depend on besides their texts (the file's name is a digest of it)."""
    stored: dict[str, bytes] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    dirty: bool = False

    def load(self) -> None:
        import msgspec

        from auditor._cache import read_cached, unsealed
        from pki.fsutil import ReadError

        with contextlib.suppress(OSError, ReadError, ValueError, msgspec.DecodeError):
            payload = unsealed(self.made_from, read_cached(self.path, MAX_BYTES))  # or the seed's
            if payload is not None:
                self.stored = msgspec.msgpack.decode(payload, type=dict[str, bytes])

    def keep_returns(self, text: str, program: Any) -> None:
        """Store the return type of `program` (compiled from `text`) beside it."""
        returns = str(program.return_type()).encode("ascii")
        if self.stored.get(RETURNS + text) != returns:
            self.stored[RETURNS + text] = returns
            self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        import msgspec

        from auditor._cache import sealed, write_cache

        keep = self.stored if len(self.stored) <= MAX_ENTRIES else {k: self.stored[k] for k in self.used}
        if write_cache(self.path, sealed(self.made_from, msgspec.msgpack.encode(keep))):
            self.dirty = False


_BY_ENV: dict[str, _Programs] = {}


def _programs(signature: str) -> _Programs:
    found = _BY_ENV.get(signature)
    if found is None:
        from auditor import __version__
        from auditor._cache import CACHE_FORMAT, cache_root

        made_from = "\0".join([CACHE_FORMAT, __version__, cel_version(), signature]).encode()
        name = hashlib.sha256(made_from).hexdigest()[:24]
        found = _BY_ENV[signature] = _Programs(cache_root() / "cel" / f"{name}.msgpack", made_from)
        found.load()
    return found


def cel_version() -> str:
    """The installed CEL runtime's version."""
    from pki.versions import installed_version

    return installed_version("cel-expr-python", "cel_expr_python") or "unknown"


RETURNS = "\0returns\0"
"""The key of a program's return type in the cache: this prefix, then the program's text."""


def compiled(env: Any, signature: str, text: str) -> Any:
    """`env.compile(text)`, or the same program loaded from the cache; `signature` describes
    `env` (its variables and functions) completely. Raises what `env.compile` raises."""
    programs = _programs(signature)
    programs.used.update((text, RETURNS + text))
    stored = programs.stored.get(text)
    if stored is not None:
        with contextlib.suppress(Exception):  # a damaged entry: compile it again
            program = env.deserialize(stored)
            programs.keep_returns(text, program)
            return program
    program = env.compile(text)
    with contextlib.suppress(Exception):
        programs.stored[text] = program.serialize()
        programs.dirty = True
        programs.keep_returns(text, program)
    return program


FACTS = "\0fact\0"
"""The key of a fact remembered beside the programs (`remembered`): this prefix, then its key."""


def remembered(signature: str, key: str, make: Callable[[], bytes]) -> bytes:
    """`make()`, kept in the cache of the programs of `signature` under `key`: a fact that
    follows from programs of that environment (which fields of the evidence they read), where
    `key` names the programs and everything else the fact depends on. Made again when the
    cache does not hold it; nothing is kept when `make` raises."""
    programs = _programs(signature)
    entry = FACTS + key
    programs.used.add(entry)
    found = programs.stored.get(entry)
    if found is None:
        found = programs.stored[entry] = make()
        programs.dirty = True
    return found


def stored_returns(signature: str, text: str) -> str | None:
    """The return type (`BOOL`, `DYN`...) of the program compiled from `text` when the cache
    holds that program (it compiled before: `compiled` will give it without error), else None.
    Loading a program back costs more than all else a rule's load does: a rule a run never
    evaluates needs only this."""
    programs = _programs(signature)
    if text not in programs.stored:
        return None
    returns = programs.stored.get(RETURNS + text)
    if returns is None:
        return None
    programs.used.update((text, RETURNS + text))
    return returns.decode("ascii", "replace")


@atexit.register
def save() -> None:
    """Write the programs this process compiled to the cache (also done at exit)."""
    for programs in _BY_ENV.values():
        programs.save()
