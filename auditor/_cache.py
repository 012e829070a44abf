"""The per-user cache folder, and a cache of documents already known to be schema-valid.

The cache is only ever an optimisation: deleting it changes nothing but speed, and a cache
that cannot be read or written is ignored. A damaged cache file (truncated, edited, of another
shape or made for something else, not a regular file) is ignored whole: every cache file is
sealed with what it was made from (sealed, unsealed), written by write_cache, and the JSON ones
(the lint cache, the documents known valid, the parsed YAML documents, the secrets history) are
read against one typed definition each (read_sealed, write_sealed), so damage can never make a
certificate look lint-clean, a document pass a schema, a rule read otherwise than its file says
or a secret go unreported. The seal is against damage, not against the user: a file rewritten
deliberately, seal and all, is trusted (the cache folder is the user's own).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from auditor import __version__
from pki.fsutil import ReadError, read_regular

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (see auditor._cli._replay)

if TYPE_CHECKING:
    from typing import Any, TypeVar

    from cryptography import x509

    from pki.lint import LintSummary

    T = TypeVar("T")

MAX_CACHE_BYTES = 64 << 20
"""The most read of one cache file (a larger one, or one that is not a regular file, is ignored)."""


def cache_root() -> Path:
    """$AUDITOR_CACHE_DIR, else $XDG_CACHE_HOME/auditor, else ~/.cache/auditor."""
    explicit = os.environ.get("AUDITOR_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "auditor"


SEED_OFF = "AUDITOR_CACHE_SEED"
"""Set to `off`, the shipped seed is not read (how tests/gen_cache_seed.py builds it)."""


def seed_dir() -> Path:
    """The cache seed shipped with auditor (auditor/_data/cache-seed/): the files a first run
    over the built-in rules and the demo writes to the cache (compiled CEL programs, documents
    known valid), built when the package is made (`python -m tests.gen_cache_seed`, checked by
    the tests), so that a first run is as quick as a second."""
    from importlib import resources

    return Path(str(resources.files("auditor") / "_data" / "cache-seed"))


def read_cached(path: Path, max_bytes: int | None = None) -> bytes:
    """The bytes of the cache file `path`, else of the file of the same name in the shipped
    seed, read regular-only within `max_bytes` (default MAX_CACHE_BYTES). Cache file names are
    digests of everything their content depends on, so a seed built by another version or from
    other rules is simply never found. Raises FileNotFoundError when neither exists, ReadError
    when one cannot be read (not a regular file, too large)."""
    places = [path]
    if os.environ.get(SEED_OFF) != "off":
        with contextlib.suppress(ValueError):
            places.append(seed_dir() / path.relative_to(cache_root()))
    for place in places:
        try:
            return read_regular(place, MAX_CACHE_BYTES if max_bytes is None else max_bytes)
        except ReadError as exc:
            if exc.why != "missing":
                raise
    raise FileNotFoundError(path)


def sealed(made_from: bytes, body: bytes) -> bytes:
    """`body` as a cache file keeps it: behind a SHA-256 of what it was made from and of itself.
    A file that is damaged, or made from anything else (another version, other rules, another
    file's content under this name), fails `unsealed` whole, however well-formed its body."""
    return _seal(made_from, body) + body


def unsealed(made_from: bytes, raw: bytes) -> bytes | None:
    """The body `sealed(made_from, body)` kept in `raw`, or None when `raw` is not that."""
    seal, body = raw[:32], raw[32:]
    return body if _seal(made_from, body) == seal else None


def _seal(made_from: bytes, body: bytes) -> bytes:
    import hashlib

    return hashlib.sha256(hashlib.sha256(made_from).digest() + body).digest()


def read_sealed(path: Path, shape: type[T], *, made_from: bytes = b"", seeded: bool = False,
                max_bytes: int = MAX_CACHE_BYTES) -> T | None:
    """The value write_sealed wrote to the cache file `path` (with `seeded`, where the cache
    has no such file, to the shipped seed's: see read_cached), decoded as `shape`; None (a
    miss) when there is none or it is damaged in any way: not a regular file, larger than
    `max_bytes`, not sealed with `made_from` (truncated, a bit flipped, edited: see unsealed),
    or its body not JSON of exactly that shape. A damaged file is never read in part: a cache
    entry that decodes but is wrong (a lint summary emptied, a rule's text changed, a finding
    dropped) would change what a scan finds."""
    import msgspec

    try:
        raw = read_cached(path, max_bytes) if seeded else read_regular(path, max_bytes)
    except (OSError, ReadError):
        return None
    body = unsealed(made_from, raw)
    if body is None:
        return None
    try:
        return msgspec.json.decode(body, type=shape)
    except (ValueError, RecursionError):  # msgspec's DecodeError is a ValueError; deep nesting recurses
        return None


def write_sealed(path: Path, value: Any, *, made_from: bytes = b"") -> bool:
    """Write `value` as JSON to the cache file `path`, sealed with `made_from` (what read_sealed
    checks), with write_cache; False if it could not be written (the cache is only an
    optimisation)."""
    import msgspec

    return write_cache(path, sealed(made_from, msgspec.json.encode(value)))


def write_cache(path: Path, data: bytes | list[bytes]) -> bool:
    """Write the cache file `path` (0600, atomically); False, quietly, when it cannot be.
    Whatever is in its place and is not a regular file is removed first, never written to (a
    FIFO would take the bytes and block the writer until a reader came)."""
    from auditor._fsutil import atomic_write
    from auditor.errors import AuditorError
    from pki.errors import PKIError
    from pki.fsutil import make_folder

    try:
        make_folder(path.parent, parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISREG(os.lstat(path).st_mode):
                os.unlink(path)  # a folder cannot be: then nothing is written
        atomic_write(path, data, mode=0o600)
    except (OSError, AuditorError, PKIError):
        return False
    return True


CACHE_FORMAT = "sealed-1"
"""The form of every sealed cache file (sealed: a SHA-256 of what it was made from and of its
body), part of what its name is a digest of: a file of an earlier form is never found."""


class ValidDocuments:
    """Digests of documents (their parsed value) that passed a schema, per schema content.

    Loading the built-in rules, checklists, packs and the inventory validates about 160
    documents on every run; remembering which exact documents were valid skips that work (and
    loading jsonschema at all) when nothing changed.
    Any change to a document or to the schema (or to auditor's version) misses the cache.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        from auditor._models import canonical_json, sha256_hex

        self.key = sha256_hex(canonical_json([__version__, CACHE_FORMAT, schema]))[:16]
        self.path = cache_root() / "valid-documents" / f"{self.key}.json"
        self.known: set[str] = read_sealed(self.path, set[str], seeded=True) or set()
        self.dirty = False

    @staticmethod
    def digest(value: Any) -> str | None:
        """The value's digest, or None for a value JSON cannot express (never cached)."""
        try:
            from auditor._models import canonical_json, sha256_hex

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
        if self.dirty and write_sealed(self.path, sorted(self.known)):
            self.dirty = False


class LintResults:
    """pkilint's findings per certificate (by its SHA-256), per linter version.

    Importing pkilint takes 0.3 s or more; a scan whose certificates were all linted before
    (the same bytes, the same pkilint) neither imports it nor lints again. At most MAX
    certificates are remembered (the most recent). Each entry is read as pki's LintSummary,
    from a sealed file: a damaged file is linted again, never read as a clean lint. (Not as
    the evidence's Lint: building the demo lints ahead through this cache, and importing the
    evidence kinds there would cost its forked builder about 6 ms.)
    """

    MAX = 20_000

    def __init__(self, linter: str) -> None:
        from auditor._models import canonical_json, sha256_hex
        from pki.lint import LintSummary

        key = sha256_hex(canonical_json([__version__, CACHE_FORMAT, linter]))[:16]
        self.path = cache_root() / "lint" / f"{key}.json"
        self.known: dict[str, LintSummary] = read_sealed(self.path, dict[str, LintSummary]) or {}
        self.dirty = False

    def get(self, fingerprint: str) -> LintSummary | None:
        return self.known.get(fingerprint)

    def lint(self, cert: x509.Certificate, fingerprint: str) -> LintSummary:
        """pkilint's summary of `cert` (whose SHA-256 is `fingerprint`), linted now and remembered."""
        from pki.lint import lint

        found = self.known[fingerprint] = lint(cert).summary()
        self.dirty = True
        return found

    def save(self) -> None:
        if self.dirty and write_sealed(self.path, dict(list(self.known.items())[-self.MAX:])):
            self.dirty = False
