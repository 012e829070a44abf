"""The per-user cache's files (auditor._cache): a damaged file is a miss, whole, never a value
that differs from the one written, never an error, never a wait."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._cache import SEED_OFF, LintResults, ValidDocuments, read_sealed, sealed, write_sealed
from pki.lint import LintSummary
from tests.damage import DAMAGE, damaged

FINGERPRINT = "ab" * 32
LINTED = {FINGERPRINT: LintSummary(linter="pkilint 0.13.3", errors=("pkix.authority_key_identifier_extension_absent",),
                                   warnings=("pkix.w",), notices=())}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AUDITOR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(SEED_OFF, "off")
    return tmp_path / "cache"


def damages(data: bytes) -> dict[str, bytes]:
    """Damage done to the bytes of a sealed cache file, by name."""
    body = data[32:]
    middle = len(data) // 2
    return {
        "truncated": data[:middle],
        "last byte lost": data[:-1],
        "a bit flipped": data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1:],
        "a byte added": data + b" ",
        "empty": b"",
        "the seal alone": data[:32],
        "unsealed": body,
        "an old seal on a body edited": data[:32] + body[:-1] + b" " + body[-1:],
        "sealed, another shape": sealed(b"", b'{"x": 1}'),
        "sealed, nested deep": sealed(b"", b"[" * 100_000 + b"]" * 100_000),
    }


def test_a_sealed_file_reads_back_as_written(cache: Path) -> None:
    path = cache / "lint" / "x.json"
    assert write_sealed(path, LINTED)
    assert read_sealed(path, dict[str, LintSummary]) == LINTED
    assert read_sealed(path, list[str]) is None  # not of that shape: a miss
    assert read_sealed(cache / "lint" / "missing.json", dict[str, LintSummary]) is None


def test_any_damage_to_a_sealed_file_is_a_miss(cache: Path) -> None:
    path = cache / "lint" / "x.json"
    write_sealed(path, LINTED)
    for name, data in damages(path.read_bytes()).items():
        path.write_bytes(data)
        assert read_sealed(path, dict[str, LintSummary]) is None, name


@settings(max_examples=200)
@given(damage=DAMAGE)
def test_a_changed_byte_anywhere_is_a_miss(tmp_path_factory: pytest.TempPathFactory, damage: tuple[str, int, int]) -> None:
    path = tmp_path_factory.mktemp("sealed") / "x.json"
    write_sealed(path, LINTED)
    path.write_bytes(damaged(path.read_bytes(), damage))
    assert read_sealed(path, dict[str, LintSummary]) is None


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
                           lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=20)


@settings(max_examples=200)
@given(value=JSON_VALUES)
def test_a_sealed_value_of_another_shape_is_a_miss(tmp_path_factory: pytest.TempPathFactory, value: Any) -> None:
    """Well sealed, but not what the cache writes (another version's file): never an error,
    and only ever a value of the one shape."""
    path = tmp_path_factory.mktemp("sealed") / "x.json"
    write_sealed(path, value)
    found = read_sealed(path, dict[str, LintSummary])
    assert found is None or all(isinstance(lint, LintSummary) for lint in found.values())
    valid = read_sealed(path, set[str])
    assert valid is None or (isinstance(value, list) and valid == set(value))


def test_something_else_in_a_cache_file_place_is_never_read_nor_written_into(cache: Path) -> None:
    """A FIFO is never read nor written into (atomic_write would write into it and wait for a
    reader forever): it is replaced by the file; a folder is left alone, nothing written."""
    (cache / "lint").mkdir(parents=True)
    os.mkfifo(cache / "lint" / "fifo.json")
    (cache / "lint" / "folder.json").mkdir()
    for name in ("fifo.json", "folder.json"):
        assert read_sealed(cache / "lint" / name, dict[str, LintSummary]) is None
    assert write_sealed(cache / "lint" / "fifo.json", LINTED)
    assert read_sealed(cache / "lint" / "fifo.json", dict[str, LintSummary]) == LINTED
    assert not write_sealed(cache / "lint" / "folder.json", LINTED)
    assert (cache / "lint" / "folder.json").is_dir() and not any((cache / "lint" / "folder.json").iterdir())


def test_a_damaged_lint_cache_is_no_lint(cache: Path) -> None:
    """A damaged lint cache has no certificate linted (each is linted again): it never makes
    one look clean, as `{}` or an emptied summary read as an entry would."""
    results = LintResults("pkilint 0.13.3")
    results.known.update(LINTED)
    results.dirty = True
    results.save()
    assert LintResults("pkilint 0.13.3").get(FINGERPRINT) == LINTED[FINGERPRINT]
    clean = {FINGERPRINT: {"linter": "pkilint 0.13.3", "errors": [], "warnings": [], "notices": []}}
    for name, data in {**damages(results.path.read_bytes()),
                       "an old unsealed file": json.dumps(clean).encode(),
                       "an old seal on an emptied entry": results.path.read_bytes()[:32] + json.dumps(clean).encode(),
                       "an entry {}": json.dumps({FINGERPRINT: {}}).encode()}.items():
        results.path.write_bytes(data)
        assert LintResults("pkilint 0.13.3").get(FINGERPRINT) is None, name


def test_valid_documents_damaged_are_none_known_and_saved_again(cache: Path) -> None:
    known = ValidDocuments({"type": "object"})
    known.add({"id": "X-1"})
    known.save()
    assert {"id": "X-1"} in ValidDocuments({"type": "object"})
    good = known.path.read_bytes()
    for name, data in {**damages(good), "mixed items": sealed(b"", b'[1,"a",null]')}.items():
        known.path.write_bytes(data)
        again = ValidDocuments({"type": "object"})
        assert {"id": "X-1"} not in again, name
        again.add({"id": "X-1"})
        again.save()  # writes a whole file again (a mixed list once made sorted() raise: exit 70)
        assert known.path.read_bytes() == good, name
