"""The per-user cache folder, and a cache of documents already known to be schema-valid.

The cache is only ever an optimisation: deleting it changes nothing but speed, and a cache
that cannot be read or written is ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from auditor import __version__
from auditor.models import canonical_json, sha256_hex


def cache_root() -> Path:
    """$AUDITOR_CACHE_DIR, else $XDG_CACHE_HOME/auditor, else ~/.cache/auditor."""
    explicit = os.environ.get("AUDITOR_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "auditor"


class ValidDocuments:
    """Digests of documents (their parsed value) that passed a schema, per schema content.

    Loading the built-in rules, checklists, packs and the inventory validates about 160
    documents on every run; remembering which exact documents were valid skips that work (and
    loading jsonschema at all) when nothing changed.
    Any change to a document or to the schema (or to auditor's version) misses the cache.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        self.key = sha256_hex(canonical_json([__version__, schema]))[:16]
        self.path = cache_root() / "valid-documents" / f"{self.key}.json"
        self.known: set[str] = set()
        self.dirty = False
        with contextlib.suppress(OSError, ValueError, TypeError):
            self.known = set(json.loads(self.path.read_text()))

    @staticmethod
    def digest(value: Any) -> str | None:
        """The value's digest, or None for a value JSON cannot express (never cached)."""
        try:
            return sha256_hex(canonical_json(value))
        except (TypeError, ValueError):
            return None

    def __contains__(self, value: Any) -> bool:
        digest = self.digest(value)
        return digest is not None and digest in self.known

    def add(self, value: Any) -> None:
        digest = self.digest(value)
        if digest is not None and digest not in self.known:
            self.known.add(digest)
            self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        from auditor.fsutil import atomic_write
        from pki.errors import PKIError
        from pki.fsutil import make_folder

        with contextlib.suppress(OSError, ValueError, PKIError):
            make_folder(self.path.parent, parents=True, exist_ok=True)
            atomic_write(self.path, json.dumps(sorted(self.known)).encode())
            self.dirty = False
