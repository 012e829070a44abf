"""save_signed: a worker's scan is stored once per bundle, replays are refused; SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor._history import Provenance, Store
from auditor._history.postgres import PostgresStore
from auditor._history.sqlite import SQLiteStore
from auditor._models import RedactedResult
from auditor._scan import evaluate_bundle
from tests.auditor._remote.signing import small_bundle
from tests.servers import postgres_server


@pytest.fixture(scope="module")
def result() -> RedactedResult:
    return evaluate_bundle(small_bundle("node-a"))


@pytest.fixture(scope="module")
def pg_cluster() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "history.sqlite")
    import psycopg

    cluster = request.getfixturevalue("pg_cluster")
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(cluster, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")  # the name is ours
    return str(cluster.rsplit("/", 1)[0] + "/" + name)


def _open(where: str) -> Store:
    return PostgresStore(where) if where.startswith("postgresql://") else SQLiteStore(Path(where))


def _as(result: RedactedResult, digest: str, target: str = "node-a") -> RedactedResult:
    return result.changed(bundle_digest=digest, target={**result.target, "name": target})


def _prov(digest: str, at: str, target: str = "node-a") -> Provenance:
    return Provenance(digest, target, at, "CN=node-a.example.com", "req")


def test_stored_once_then_duplicate_then_replay_refused(where: str, result: RedactedResult) -> None:
    with _open(where) as store:
        first = store.save_signed(_as(result, "a" * 64), origin="worker", exit_code=0,
                                  provenance=_prov("a" * 64, "2026-01-01T10:00:00Z"))
        assert first.status == "stored" and first.scan_id is not None
        again = store.save_signed(_as(result, "a" * 64), origin="worker", exit_code=0,
                                  provenance=_prov("a" * 64, "2026-01-01T10:00:00Z"))
        assert (again.status, again.scan_id) == ("duplicate", first.scan_id)
        newer = store.save_signed(_as(result, "b" * 64), origin="worker", exit_code=0,
                                  provenance=_prov("b" * 64, "2026-01-01T11:00:00Z"))
        assert newer.status == "stored"
        older = store.save_signed(_as(result, "c" * 64), origin="worker", exit_code=0,
                                  provenance=_prov("c" * 64, "2026-01-01T10:30:00Z"))
        assert (older.status, older.scan_id) == ("replayed", None)
        assert "before the last accepted bundle of node-a (collected at 2026-01-01T11:00:00Z)" in older.reason
        # an old bundle already stored is recognised as such, not called a replay
        assert store.save_signed(_as(result, "a" * 64), origin="worker", exit_code=0,
                                 provenance=_prov("a" * 64, "2026-01-01T10:00:00Z")).status == "duplicate"
        # another target has its own order
        assert store.save_signed(_as(result, "d" * 64, "node-b"), origin="worker", exit_code=0,
                                 provenance=_prov("d" * 64, "2026-01-01T09:00:00Z", "node-b")).status == "stored"
        entries = store.entries("node-a", limit=10)
        assert [e.bundle_digest for e in entries] == ["b" * 64, "a" * 64]
        assert {e.origin for e in entries} == {"worker"}
        assert store.check() == []
        with pytest.raises(ValueError, match="node-b"):
            store.save_signed(_as(result, "f" * 64), origin="worker", exit_code=0,
                              provenance=_prov("f" * 64, "2026-01-01T12:00:00Z", "node-b"))


def test_concurrent_workers_store_one_bundle_once(where: str, result: RedactedResult) -> None:
    """Eight connections store the same bundle and eight older/newer ones at once: one scan per
    bundle digest, and no bundle older than one already accepted is stored after it."""
    barrier = threading.Barrier(8)
    outcomes: list[tuple[str, str]] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        with _open(where) as store:
            barrier.wait()
            for digest, at in (("e" * 64, "2026-02-01T00:00:00Z"), (f"{i:064x}", f"2026-02-01T00:00:{10 + i:02d}Z")):
                outcome = store.save_signed(_as(result, digest), origin="worker", exit_code=0,
                                            provenance=_prov(digest, at))
                with lock:
                    outcomes.append((digest, outcome.status))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    same = [status for digest, status in outcomes if digest == "e" * 64]
    assert same.count("stored") == 1 and same.count("duplicate") + same.count("replayed") == 7
    with _open(where) as store:
        entries = store.entries("node-a", limit=100)
        digests = [e.bundle_digest for e in entries]
        assert len(digests) == len(set(digests))
        stored = {d for d, status in outcomes if status == "stored"}
        assert set(digests) == stored
        # stored in collection order: each new one was collected after every one stored before it
        at = {f"{i:064x}": 10 + i for i in range(8)} | {"e" * 64: 0}
        assert [at[d] for d in reversed(digests)] == sorted(at[d] for d in digests)
        assert store.check() == []
