"""YAML documents remembered as parsed, by the digest of their text: the catalogue loads about
190 rule, pack and checklist files on every run, and parsing them (libyaml, then the walk that
records every value's line) costs about 55 ms of CPU; reading them back from one JSON file
about 20 ms.

What is cached: for each document text (its SHA-256), the value (only a plain one JSON holds
exactly: mappings with string keys, lists, strings, finite numbers, booleans and nulls; no
dates, no merge keys) and the line of every value; the value's size (its values once aliases
are expanded, which the yaml-values limit bounds) is counted again when it is read. Where:
`<cache>/yaml-documents/<key>.json` (0600, sealed: auditor._cache.write_sealed), the key a
digest of auditor's and PyYAML's versions and the cache format, seeded for the built-in files
(auditor._cache.read_cached). A file is always read (regular-only, within yaml-bytes) and its
text digested; a text not in the cache, or one larger than the yaml-values limit in force, is
parsed as ever, with the errors it always had. A cache file that is damaged in any way (its
seal does not match, or it or an entry is not of the one shape written) is ignored whole: an
entry that decodes but was changed would change a rule, so none is trusted that the seal
does not vouch for.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import msgspec

from auditor import __version__
from auditor import _limits as limits
from auditor._cache import CACHE_FORMAT, cache_root, read_sealed, write_sealed
from auditor._fsutil import path_text, read_user_file
from auditor._loader.yamlfile import Document, load_yaml


def _plain_size(value: Any, depth: int = 0) -> int | None:
    """The number of values in `value` (a mapping's keys counted, as the YAML walk counts
    them), or None if JSON would not give it back exactly."""
    if depth > 200:
        return None
    if isinstance(value, str) or value is None or isinstance(value, bool | int):
        return 1
    if isinstance(value, float):
        return 1 if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, list):
        total = 1
        for item in value:
            size = _plain_size(item, depth + 1)
            if size is None:
                return None
            total += size
        return total
    if isinstance(value, dict):
        total = 1
        for key, item in value.items():
            size = _plain_size(item, depth + 1)
            if not isinstance(key, str) or size is None:
                return None
            total += 1 + size
        return total
    return None


Entry = tuple[Any, list[tuple[tuple[str | int, ...], int]]]
"""One entry's text decoded: the document's value and, per value's path, its line."""


class ParsedDocuments:
    """The cache file of one auditor and PyYAML version (see the module's notes)."""

    def __init__(self) -> None:
        import yaml

        from auditor._models import canonical_json, sha256_hex

        key = sha256_hex(canonical_json([__version__, CACHE_FORMAT, yaml.__version__, hasattr(yaml, "CSafeLoader")]))[:16]
        self.path = cache_root() / "yaml-documents" / f"{key}.json"
        self.known: dict[str, str] = read_sealed(self.path, dict[str, str], seeded=True) or {}
        self.dirty = False

    def load(self, path: Path) -> Document:
        """What `load_yaml(path)` gives (the same document, or the same error)."""
        text = read_user_file(path, limit="yaml-bytes", what="YAML file")
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        known = self._known(digest, path)
        if known is not None:
            return known
        doc = load_yaml(path, text=text)
        size = None if "<<" in text else _plain_size(doc.value)
        if size is not None:  # kept as JSON text: each load makes objects of its own
            self.known[digest] = json.dumps([doc.value, [[list(k), v] for k, v in doc.lines.items()]])
            self.dirty = True
        return doc

    def _known(self, digest: str, path: Path) -> Document | None:
        text = self.known.get(digest)
        if text is None:
            return None
        try:
            value, lines = msgspec.json.decode(text, type=Entry)
        except (ValueError, RecursionError):  # msgspec's DecodeError is a ValueError
            return None
        size = _plain_size(value)
        if size is None or size > limits.get("yaml-values"):
            return None
        return Document(value=value, file=path_text(path), index=0, lines=dict(lines))

    def save(self) -> None:
        if self.dirty and write_sealed(self.path, self.known):
            self.dirty = False


_OPEN: dict[Path, ParsedDocuments] = {}


def parsed_documents() -> ParsedDocuments:
    """This process's cache of parsed documents in the current cache folder (read once)."""
    root = cache_root()
    found = _OPEN.get(root)
    if found is None:
        found = _OPEN[root] = ParsedDocuments()
    return found
