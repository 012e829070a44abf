"""The history stores: one contract, run on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import sqlite3
import stat
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from auditor._demo import demo_inventory
from auditor._history import HistoryError, Store, default_db_path, open_store, resolve_db
from auditor._history.document import stored_document
from auditor._history.postgres import PostgresStore
from auditor._history.schema import MIGRATIONS, Migration
from auditor._history.sqlite import SQLiteStore
from auditor._models import RedactedResult, Status
from auditor._scan import scan_target
from tests.servers import postgres_server


@dataclasses.dataclass(frozen=True)
class Backend:
    kind: str
    where: str

    def __call__(self, migrations: tuple[Migration, ...] = MIGRATIONS) -> Store:
        if self.kind == "sqlite":
            return SQLiteStore(Path(self.where), migrations=migrations)
        return PostgresStore(self.where, migrations=migrations)


Opener = Backend


@pytest.fixture(scope="module")
def demo_result() -> RedactedResult:
    return scan_target(demo_inventory().target("cim-prod-001"))[1]


@pytest.fixture(scope="module")
def pg_cluster() -> Iterator[str]:
    with postgres_server() as url:
        yield url


def _fresh_pg_db(cluster: str) -> str:
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(cluster, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")  # the name is ours: letters, digits, _
    return cluster.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    if request.param == "sqlite":
        return Backend("sqlite", str(tmp_path / "h" / "history.sqlite"))
    return Backend("postgres", _fresh_pg_db(request.getfixturevalue("pg_cluster")))


def _renamed(result: RedactedResult, name: str) -> RedactedResult:
    return result.changed(target={**result.target, "name": name})


def test_save_and_read_back(opener: Opener, demo_result: RedactedResult) -> None:
    with opener() as store:
        assert store.schema_version == MIGRATIONS[-1].version
        first = store.save(demo_result, origin="scan", exit_code=1)
        second = store.save(demo_result, origin="serve", exit_code=1)
        other = store.save(_renamed(demo_result, "other-node"), origin="fleet", exit_code=0)
        assert first < second < other
    with opener() as store:  # a new connection sees everything committed
        back = store.result(first)
        assert back.to_dict() == demo_result.to_dict()
        entries = store.entries("cim-prod-001")
        assert [e.id for e in entries] == [second, first]
        assert entries[0].origin == "serve" and entries[1].exit_code == 1
        assert entries[0].bundle_digest == demo_result.bundle_digest
        assert entries[0].summary == demo_result.summary.to_dict()
        assert [e.id for e in store.entries(None)] == [other, second, first]
        assert [e.id for e in store.entries(None, limit=1)] == [other]
        assert store.targets() == ["cim-prod-001", "other-node"]
        prev = store.previous(second)
        assert prev is not None and prev.id == first
        assert store.previous(first) is None
        assert store.previous(other) is None
        assert store.check() == []


def test_no_secret_value_is_stored(opener: Opener, demo_result: RedactedResult) -> None:
    """The store takes a RedactedResult only (mypy refuses a ScanResult); what it keeps, in
    every row, is that redacted form."""
    secret = "hvs.CAESIJlJq0kq7hLxUeyNoFe4Hq0ZtWz9"
    leaky = msgspec.structs.replace(demo_result.findings[0], message=f"token {secret}", resource=f"a#{secret}")
    result = demo_result.changed(findings=(leaky, *demo_result.findings[1:]))
    with opener() as store:
        scan_id = store.save(result, origin="scan", exit_code=1)
        back = store.result(scan_id)
        problems = store.check()  # the findings rows agree with the stored document
        assert isinstance(store, SQLiteStore | PostgresStore)
        rows = store._select("SELECT * FROM scans") + store._select("SELECT * FROM findings")
        documents = [stored_document(*r) for r in store._select("SELECT document, document_zlib FROM scans")]
    assert secret not in json.dumps(back.to_dict()) and "hvs.…(hmac:" in back.findings[0].message
    assert secret not in repr(rows) and "hvs.…(hmac:" in repr(rows)
    assert secret not in json.dumps(documents) and "hvs.…(hmac:" in json.dumps(documents, ensure_ascii=False)
    assert problems == []


def test_documents_are_stored_compressed_and_older_ones_still_read(opener: Opener, demo_result: RedactedResult) -> None:
    with opener() as store:
        first = store.save(demo_result, origin="scan", exit_code=1)
        second = store.save(demo_result, origin="scan", exit_code=1)
        assert isinstance(store, SQLiteStore | PostgresStore)
        text, packed = store._select("SELECT document, document_zlib FROM scans WHERE id = ?", [first])[0]
        assert text == "" and len(bytes(packed)) * 5 < len(json.dumps(demo_result.to_dict()))
        with store._transaction() as cur:  # a scan as versions before 3 stored it: JSON text
            cur.execute(store._sql("UPDATE scans SET document = ?, document_zlib = NULL WHERE id = ?"),
                        (json.dumps(demo_result.to_dict(), sort_keys=True), second))
        assert store.result(first).to_dict() == store.result(second).to_dict() == demo_result.to_dict()
        assert store.check() == []
        with store._transaction() as cur:
            cur.execute(store._sql("UPDATE scans SET document_zlib = ? WHERE id = ?"), (b"not zlib", first))
        with pytest.raises(HistoryError, match=f"scan {first} .* unreadable: its compressed document is damaged"):
            store.result(first)
        assert [p for p in store.check() if f"scan {first}" in p]


@pytest.mark.parametrize(("damage", "says"), [
    (zlib.compress(b'{"findings": [' + b" " * (3 << 20) + b"]}", 9), "too large: over the result-bytes limit"),
    (zlib.compress(b"[" * 100_000 + b"]" * 100_000), "nested too deep"),
    (zlib.compress(b'{"findings": []}')[:-4], "cut short"),
    (zlib.compress(b'{"findings": [1,'), "not readable JSON"),
    (zlib.compress(b"[1, 2]"), "not a JSON object"),
], ids=["bomb", "deep", "cut", "torn-json", "a-list"])
def test_a_damaged_stored_document_is_a_clear_error_in_bounded_memory(
        opener: Opener, demo_result: RedactedResult, monkeypatch: pytest.MonkeyPatch, damage: bytes, says: str) -> None:
    """A store may be shared by a fleet: a row's compressed document was inflated whole (600 KB
    became 1.2 GB in memory) and parsed without bounds (deep nesting: exit 70, RecursionError).
    It is inflated no further than the result-bytes limit and parsed within the JSON limits."""
    monkeypatch.setenv("AUDITOR_LIMIT_RESULT_BYTES", "2MiB")
    with opener() as store:
        scan_id = store.save(demo_result, origin="scan", exit_code=1)
        assert isinstance(store, SQLiteStore | PostgresStore)
        with store._transaction() as cur:
            cur.execute(store._sql("UPDATE scans SET document_zlib = ? WHERE id = ?"), (damage, scan_id))
        with pytest.raises(HistoryError, match=f"scan {scan_id} .* unreadable: .*{says}"):
            store.result(scan_id)
        assert [p for p in store.check() if f"scan {scan_id}" in p]


def _stored(store: SQLiteStore | PostgresStore, scan_id: int) -> list[list[Any]]:
    """What `store` holds of a scan: its scans row and its findings rows, but the ids and stored_at."""
    scan = store._select("SELECT * FROM scans WHERE id = ?", [scan_id])[0]
    rows = store._select("SELECT * FROM findings WHERE scan_id = ? ORDER BY seq", [scan_id])
    values = [bytes(v) if isinstance(v, memoryview) else v for v in scan]
    return [values[1:4] + values[5:], [r[1:] for r in rows]]


def test_a_document_packed_beside_its_rows_is_stored_the_same(
    opener: Opener, demo_result: RedactedResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large scan's document is packed in a thread while its findings rows are written: the
    rows and bytes stored are those of the plain way; a packing that fails stores nothing."""
    from auditor._history import sql

    with opener() as store:
        assert isinstance(store, SQLiteStore | PostgresStore)
        plain = store.save(demo_result, origin="scan", exit_code=1)
        monkeypatch.setattr(sql, "PACK_BESIDE", 1)
        beside = store.save(demo_result, origin="scan", exit_code=1)

        assert _stored(store, beside) == _stored(store, plain) and len(_stored(store, beside)[1]) == len(demo_result.findings)
        assert store.result(beside).to_dict() == demo_result.to_dict()

        def broken(*_: object) -> bytes:
            raise ValueError("packing failed")

        monkeypatch.setattr(sql, "packed_document", broken)
        with pytest.raises(ValueError, match="packing failed"):
            store.save(demo_result, origin="scan", exit_code=1)
        assert [e.id for e in store.entries()] == [beside, plain]
        assert store.check() == []


def test_a_result_packed_ahead_in_a_worker_is_stored_the_same(
    opener: Opener, demo_result: RedactedResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`evaluate --jobs`: a worker packs the result's document (pack_ahead) and sends the result
    back pickled; the process that stores it writes those bytes, the rows and bytes of the plain
    way, without making the document again."""
    from auditor._history import document, interface

    ahead = pickle.loads(pickle.dumps(demo_result))  # noqa: S301 - a copy of our own result
    document.pack_ahead(ahead)
    back = pickle.loads(pickle.dumps(ahead))  # noqa: S301 - as the pool returns it
    assert document.packed_ahead(back) and not document.packed_ahead(demo_result)
    with opener() as store:
        assert isinstance(store, SQLiteStore | PostgresStore)
        plain = store.save(demo_result, origin="evaluate", exit_code=1)

        def unmade(*_: object) -> bytes:
            raise AssertionError("the document was made again")

        monkeypatch.setattr(document, "_pack", unmade)
        monkeypatch.setattr(interface, "document_rest", unmade)
        packed = store.save(back, origin="evaluate", exit_code=1)

        assert _stored(store, packed) == _stored(store, plain) and len(_stored(store, packed)[1]) == len(demo_result.findings)
        assert store.result(packed).to_dict() == demo_result.to_dict()


def test_the_stored_document_says_what_a_rules_findings_share_once(
        opener: Opener, demo_result: RedactedResult) -> None:
    """The history stores its findings' document with each rule's title, area, severity,
    remediation and references said once (`finding_defaults`), a pass's message left out (its
    title): its findings in under half the bytes. It reads back as the
    result; so does a document stored whole, as versions before this one stored it."""
    from auditor._render import renderer

    whole = renderer("json").render(demo_result).encode()
    with opener() as store:
        assert isinstance(store, SQLiteStore | PostgresStore)
        ids = store.save(demo_result, origin="scan", exit_code=1), store.save(demo_result, origin="scan", exit_code=1)
        text = zlib.decompress(bytes(store._select("SELECT document_zlib FROM scans WHERE id = ?", [ids[0]])[0][0]))
        with store._transaction() as cur:  # as versions before this one stored it: the output's document
            cur.execute(store._sql("UPDATE scans SET document_zlib = ? WHERE id = ?"), (zlib.compress(whole), ids[1]))
        assert [store.result(i).to_dict() for i in ids] == [demo_result.to_dict()] * 2
        assert store.check() == []
    stored = json.loads(text)
    passes = [f for f in stored["findings"] if f["status"] == "pass"]
    assert passes and not any(k in f for f in passes for k in ("title", "message", "remediation", "references"))
    assert set(stored["finding_defaults"]) == {f.rule_id for f in demo_result.findings}
    findings = msgspec.json.encode(stored["findings"])  # both compact: what is left out, not json's spaces
    assert len(findings) < len(msgspec.json.encode(demo_result.to_dict()["findings"])) / 2


def test_a_scan_whose_before_commit_raises_is_not_stored(opener: Opener, demo_result: RedactedResult) -> None:
    """`before_commit` runs once every row is written, inside the transaction: raising there
    (the command line's output failed) stores nothing; returning lets the scan be committed."""
    calls = []

    def refuse() -> None:
        calls.append("refused")
        raise KeyError("the output failed")

    with opener() as store:
        with pytest.raises(KeyError):
            store.save(demo_result, origin="scan", exit_code=1, before_commit=refuse)
        assert store.entries(None) == [] and calls == ["refused"]
        scan_id = store.save(demo_result, origin="scan", exit_code=1, before_commit=lambda: calls.append("ok"))
        assert [e.id for e in store.entries(None)] == [scan_id] and calls == ["refused", "ok"]
        assert isinstance(store, SQLiteStore | PostgresStore)
        assert store._select("SELECT COUNT(*) FROM findings")[0][0] == len(demo_result.findings)
        assert store.check() == []


def test_unknown_scan_is_a_clear_error(opener: Opener) -> None:
    with opener() as store, pytest.raises(HistoryError, match="no scan 42"):
        store.entry(42)
    with opener() as store, pytest.raises(HistoryError, match="no scan 7"):
        store.result(7)


def test_check_finds_findings_rows_that_do_not_match(opener: Opener, demo_result: RedactedResult) -> None:
    with opener() as store:
        scan_id = store.save(demo_result, origin="scan", exit_code=1)
        assert isinstance(store, SQLiteStore | PostgresStore)
        with store._transaction() as cur:  # damage it behind the store's back
            cur.execute(store._sql("DELETE FROM findings WHERE scan_id = ? AND seq = 0"), (scan_id,))
        problems = store.check()
    assert len(problems) == 1 and f"scan {scan_id}" in problems[0]


def test_a_newer_schema_is_refused_and_left_alone(opener: Opener) -> None:
    extra = (*MIGRATIONS, Migration(99, "from the future", ("CREATE TABLE future (x INTEGER)",)))
    opener(extra).close()
    with pytest.raises(HistoryError, match="schema version 99, newer than this auditor knows"):
        opener()


def test_an_auditor_that_cannot_fill_in_defaults_refuses_the_history(opener: Opener,
                                                                     demo_result: RedactedResult) -> None:
    """A history holding documents that say what a rule's findings share once (schema version
    4) is refused by an auditor that knows only the versions before: it would read those
    findings without their titles, areas and severities, as unreadable scans."""
    (defaults,) = [m for m in MIGRATIONS if "finding_defaults" in m.description]
    assert defaults.version == 4
    with opener() as store:
        store.save(demo_result, origin="scan", exit_code=1)
    before = tuple(m for m in MIGRATIONS if m.version < defaults.version)
    with pytest.raises(HistoryError, match=r"newer than this auditor knows \(3\)"):
        opener(before)


def test_migrations_apply_in_order_and_only_once(opener: Opener, demo_result: RedactedResult) -> None:
    with opener() as store:
        scan_id = store.save(demo_result, origin="scan", exit_code=1)
    last = MIGRATIONS[-1].version
    extra = (*MIGRATIONS, Migration(last + 1, "a note per scan", ("ALTER TABLE scans ADD COLUMN note TEXT",)))
    for _ in range(2):  # the second open finds the new version and does nothing
        again = opener(extra)
        assert isinstance(again, SQLiteStore | PostgresStore)
        assert again.schema_version == last + 1
        assert again.result(scan_id).to_dict() == demo_result.to_dict()
        versions = [r[0] for r in again._select("SELECT version FROM schema_migrations ORDER BY version")]
        assert versions == list(range(1, last + 2))
        again.close()


def test_sqlite_file_is_private_and_in_wal_mode(tmp_path: Path, demo_result: RedactedResult) -> None:
    path = tmp_path / "new" / "deeper" / "history.sqlite"
    with SQLiteStore(path) as store:
        store.save(demo_result, origin="scan", exit_code=1)
        mode = store._select("PRAGMA journal_mode")[0][0]
    assert mode == "wal"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not Path(str(path) + "-wal").exists() or Path(str(path) + "-wal").stat().st_size == 0


def test_sqlite_refuses_what_is_not_a_history(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(HistoryError, match="not an auditor history"):
        SQLiteStore(junk)
    assert junk.read_text().startswith("these are my notes")  # untouched
    with pytest.raises(HistoryError, match="is a folder"):
        SQLiteStore(tmp_path)


def test_a_busy_database_is_a_clear_error(tmp_path: Path, demo_result: RedactedResult, monkeypatch: pytest.MonkeyPatch) -> None:
    import auditor._history.sqlite as backend

    path = tmp_path / "h.sqlite"
    SQLiteStore(path).close()
    monkeypatch.setattr(backend, "BUSY_TIMEOUT_SECONDS", 0.2)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(HistoryError, match="locked"):
            SQLiteStore(path)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def test_where_the_history_lives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDITOR_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_db_path() == tmp_path / "xdg" / "auditor" / "history.sqlite"
    assert resolve_db(None) == str(tmp_path / "xdg" / "auditor" / "history.sqlite")
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_db_path() == Path.home() / ".local" / "share" / "auditor" / "history.sqlite"
    monkeypatch.setenv("AUDITOR_DB", str(tmp_path / "env.sqlite"))
    assert resolve_db(None) == str(tmp_path / "env.sqlite")
    assert resolve_db(str(tmp_path / "flag.sqlite")) == str(tmp_path / "flag.sqlite")
    with open_store(None) as store:
        assert isinstance(store, SQLiteStore) and store.path == tmp_path / "env.sqlite"


def test_postgres_errors_never_show_the_password() -> None:
    url = "postgresql://auditor:hunter2-secret@127.0.0.1:1/nothing"
    with pytest.raises(HistoryError) as caught:
        PostgresStore(url)
    assert "hunter2" not in caught.value.diagnostics()
    assert "auditor@" not in caught.value.diagnostics()
    assert "cannot connect to the history at postgresql://127.0.0.1:1/nothing" in caught.value.diagnostics()


def test_postgres_login_from_the_url_is_used_but_never_kept(pg_cluster: str, demo_result: RedactedResult) -> None:
    """user:password in the URL log in (the user must be right: a wrong one is refused) and
    appear neither in the store's location nor in anything it stores."""
    where = _fresh_pg_db(pg_cluster).replace("auditor@", "auditor:planted-pw-77@")
    with PostgresStore(where) as store:
        scan_id = store.save(demo_result, origin="scan", exit_code=1)
        assert "planted-pw-77" not in store.location and "auditor@" not in store.location
        assert store.entry(scan_id).target == demo_result.target["name"]
    with pytest.raises(HistoryError, match="nobody"):
        PostgresStore(where.replace("auditor:planted-pw-77@", "nobody:planted-pw-77@"))


def test_findings_table_answers_queries(opener: Opener, demo_result: RedactedResult) -> None:
    """The findings rows are there for users' own SQL: one per finding, evidence as JSON."""
    with opener() as store:
        scan_id = store.save(demo_result, origin="scan", exit_code=1)
        assert isinstance(store, SQLiteStore | PostgresStore)
        rows = store._select(
            "SELECT rule_id, resource, status, evidence FROM findings WHERE scan_id = ? ORDER BY seq", [scan_id]
        )
    assert len(rows) == len(demo_result.findings)
    failing = {(r[0], r[1]) for r in rows if r[2] == Status.FAIL.value}
    assert failing == {(f.rule_id, f.resource) for f in demo_result.findings if f.status is Status.FAIL}
    assert json.loads(rows[0][3]) == list(demo_result.findings[0].evidence)


def test_findings_rows_written_many_per_statement_are_each_findings_values(
    opener: Opener, demo_result: RedactedResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Findings rows go in ROWS_PER_INSERT a statement (the last statement shorter): every row
    holds its own finding's values, in order, whatever text they hold, the same as one row a
    statement."""
    from auditor._history import sql

    odd = [msgspec.structs.replace(f, resource=f"{f.resource} \t 'é' \"😀\" \\ {n}")
           for n, f in enumerate(demo_result.findings)]
    rows = tuple(odd) * 3
    result = demo_result.changed(findings=rows[:-1] if len(rows) % 7 == 0 else rows)  # the last statement shorter
    expected = [
        (seq, f.rule_id, f.resource, f.area, f.severity.value, f.status.value, json.dumps(list(f.evidence)))
        for seq, f in enumerate(result.findings)
    ]
    stored = []
    with opener() as store:
        assert isinstance(store, SQLiteStore | PostgresStore)
        for per in (7, 1):
            monkeypatch.setattr(sql, "ROWS_PER_INSERT", per)
            scan_id = store.save(result, origin="scan", exit_code=1)
            stored.append([tuple(r) for r in store._select(
                "SELECT seq, rule_id, resource, area, severity, status, evidence FROM findings "
                "WHERE scan_id = ? ORDER BY seq", [scan_id])])
        assert store.check() == []
    assert stored[0] == stored[1] == expected


def test_the_suite_never_writes_the_users_own_history() -> None:
    assert os.environ.get("AUDITOR_DB"), "tests/conftest.py points AUDITOR_DB at a temporary file"
