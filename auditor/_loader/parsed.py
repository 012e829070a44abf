"""YAML documents remembered as parsed, by the digest of their text: the catalogue loads about
190 rule, pack and checklist files on every run, and parsing them (libyaml, then the walk that
records every value's line) costs about 55 ms of CPU; reading them back from one JSON file
about 20 ms.

What is cached: for each document text (its SHA-256), the value (only a plain one JSON holds
exactly: mappings with string keys, lists, strings, finite numbers, booleans and nulls; no
dates, no merge keys) and the line of every value; the value's size (its values once aliases
are expanded, which the yaml-values limit bounds) is counted again when it is read. Where:
`<cache>/yaml-documents/<key>.json` (0600), the key a digest of auditor's and PyYAML's
versions, seeded for the built-in files (auditor._cache.read_cached). A file is always read
(regular-only, within yaml-bytes) and its text digested; a text not in the cache, an entry of
another shape (a corrupt or foreign file is ignored), or one larger than the yaml-values limit
in force is parsed as ever, with the errors it always had. A well-formed entry is trusted as
the compiled CEL programs beside it are: the cache folder is the user's own.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

from auditor import __version__
from auditor import _limits as limits
from auditor._cache import cache_root, read_cached
from auditor._fsutil import path_text, read_user_file
from auditor._loader.yamlfile import Document, load_yaml
from pki.fsutil import ReadError


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


def _lines(raw: Any) -> dict[tuple[str | int, ...], int] | None:
    try:
        lines = {tuple(path): line for path, line in raw}
    except (TypeError, ValueError):
        return None
    if not (all(type(line) is int for line in lines.values())
            and all(type(part) is str or type(part) is int for path in lines for part in path)):
        return None
    return lines


class ParsedDocuments:
    """The cache file of one auditor and PyYAML version (see the module's notes)."""

    def __init__(self) -> None:
        import yaml

        from auditor._models import canonical_json, sha256_hex

        key = sha256_hex(canonical_json([__version__, yaml.__version__, hasattr(yaml, "CSafeLoader")]))[:16]
        self.path = cache_root() / "yaml-documents" / f"{key}.json"
        self.known: dict[str, Any] = {}
        self.dirty = False
        with contextlib.suppress(OSError, ReadError, ValueError, TypeError):
            loaded = json.loads(read_cached(self.path))
            if isinstance(loaded, dict):
                self.known = loaded

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
        if not isinstance(text, str):
            return None
        try:
            entry = json.loads(text)
        except ValueError:
            return None
        if not (isinstance(entry, list) and len(entry) == 2):
            return None
        value, raw = entry
        size = _plain_size(value)
        if size is None or size > limits.get("yaml-values"):
            return None
        lines = _lines(raw)
        return None if lines is None else Document(value=value, file=path_text(path), index=0, lines=lines)

    def save(self) -> None:
        if not self.dirty:
            return
        from auditor._fsutil import atomic_write
        from pki.errors import PKIError
        from pki.fsutil import make_folder

        with contextlib.suppress(OSError, ValueError, PKIError):
            make_folder(self.path.parent, parents=True, exist_ok=True)
            atomic_write(self.path, json.dumps(self.known).encode(), mode=0o600)
            self.dirty = False


_OPEN: dict[Path, ParsedDocuments] = {}


def parsed_documents() -> ParsedDocuments:
    """This process's cache of parsed documents in the current cache folder (read once)."""
    root = cache_root()
    found = _OPEN.get(root)
    if found is None:
        found = _OPEN[root] = ParsedDocuments()
    return found
