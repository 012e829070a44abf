"""Done when: `auditor history` and `auditor diff` show two scans of the demo node."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from auditor._history.sqlite import SQLiteStore
from tests.conftest import run_cli


def test_history_and_diff_show_two_scans_of_the_demo_node(tmp_path: Path) -> None:
    env = {"AUDITOR_DB": str(tmp_path / "history.sqlite")}
    first = run_cli("scan", "--target", "cim-prod-001", env=env)
    assert first.code == 1 and "stored as scan 1" in first.err, first.err
    # the second scan is evaluated after the CERT-006 waiver (2027-12-31) has lapsed
    second = run_cli("scan", "--target", "cim-prod-001", "--at", "2028-01-02", env=env)
    assert second.code == 1 and "stored as scan 2" in second.err, second.err

    history = run_cli("history", "--target", "cim-prod-001", env=env)
    assert history.code == 0, history.err
    rows = [line.split() for line in history.out.splitlines() if line.strip()[:1].isdigit()]
    assert [r[0] for r in rows] == ["2", "1"]
    assert "failures per area of cim-prod-001" in history.out and "certificates" in history.out
    # problems lead, with both counts (the later scan: the CERT-006 waiver lapsed, certificates expired)
    problems = [int(r[5]) for r in rows]
    hits = [int(r[6]) for r in rows]
    assert problems[1] < hits[1] and problems[0] < hits[0] and hits[0] > hits[1]
    assert f"problems of cim-prod-001, oldest to newest (scans 1..2): {problems[1]} ({hits[1]} rule hits) -> " \
           f"{problems[0]} ({hits[0]} rule hits)" in history.out

    doc = json.loads(run_cli("history", "--target", "cim-prod-001", "--format", "json", env=env).out)
    assert [s["id"] for s in doc["scans"]] == [2, 1]
    assert doc["scans"][1]["origin"] == "scan" and len(doc["scans"][1]["bundle_digest"]) == 64

    diff = run_cli("diff", "--target", "cim-prod-001", env=env)
    assert diff.code == 0, diff.err
    assert "scan 1" in diff.out and "scan 2" in diff.out
    assert "CERT-006" in diff.out.split("new failures")[1].split("fixed")[0]
    assert "trend per area" in diff.out
    assert f"problems {problems[1]} -> {problems[0]}, rule hits {hits[1]} -> {hits[0]}" in diff.out

    data = json.loads(run_cli("diff", "1", "2", "--format", "json", env=env).out)
    new = {(c["rule_id"], c["resource"]): c["id"] for c in data["new_failures"]}
    assert new[("CERT-006", "etc/nats/certs/monitor-legacy.pem")] == "CERT-006:938960cb8ee76e5b"  # the waiver's id
    assert data["problems"] == {"before": problems[1], "after": problems[0]}
    assert data["before"]["id"] == 1 and data["after"]["id"] == 2
    areas = {a["area"] for a in data["areas"]}
    assert "certificates" in areas and areas <= {"certificates", "containers", "key-rotation", "gpg", "vault", "nats", "secrets", "yubikey", "pki", "host"}
    assert data == json.loads(run_cli("diff", "2", "--format", "json", env=env).out)  # 2 vs the one before
    assert run_cli("diff", env=env).out == diff.out  # the only target in the history


def test_no_store_and_a_broken_history(tmp_path: Path) -> None:
    env = {"AUDITOR_DB": str(tmp_path / "history.sqlite")}
    run = run_cli("scan", "--target", "cim-prod-001", "--no-store", env=env)
    assert run.code == 1 and "stored" not in run.err and not (tmp_path / "history.sqlite").exists()

    # storing fails: the result is still printed and the exit code is still the scan's
    broken = tmp_path / "not-a-db.sqlite"
    broken.write_text("my notes\n" * 200)
    run = run_cli("scan", "--target", "cim-prod-001", "--db", str(broken))
    assert run.code == 1 and "Verdict: NOT READY" in run.out
    assert "warning: the result was not stored" in run.err and "not an auditor history" in run.err
    assert "Traceback" not in run.err and broken.read_text().startswith("my notes")


def test_diff_and_history_errors_are_one_line(tmp_path: Path) -> None:
    env = {"AUDITOR_DB": str(tmp_path / "history.sqlite")}
    missing = run_cli("history", "--target", "cim-prod-001", env=env)  # reading never creates one
    assert missing.code == 2 and "there is no history at" in missing.err and "auditor scan" in missing.err
    assert not (tmp_path / "history.sqlite").exists()
    SQLiteStore(tmp_path / "history.sqlite").close()
    empty = run_cli("history", "--target", "cim-prod-001", env=env)
    assert empty.code == 0 and "no scans of cim-prod-001" in empty.out
    for args, fragment in (
        (("diff",), "targets in"),
        (("diff", "1", "2"), "no scan 1"),
        (("diff", "1", "2", "3"), "at most two"),
        (("history", "--limit", "0"), "--limit"),
    ):
        run = run_cli(*args, env=env)
        assert run.code == 2 and fragment in run.err and len(run.err.strip().splitlines()) == 1, (args, run.err)
    run_cli("scan", "--target", "cim-prod-001", env=env)
    one = run_cli("diff", "--target", "cim-prod-001", env=env)
    assert one.code == 2 and "has 1 stored scan" in one.err
    check = run_cli("history", "--check", env=env)
    assert check.code == 0 and "sound" in check.out


def test_history_db_refuses_what_is_not_an_auditor_history(tmp_path: Path) -> None:
    """Issue 18: `history --db FILE` wrote a schema into an existing non-database file and
    created a missing one silently."""
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    other = tmp_path / "other.sqlite"
    import sqlite3

    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    before = other.read_bytes()
    os.mkfifo(tmp_path / "fifo")
    for db, fragment in ((empty, "an empty file"), (other, "SQLite database of something else"),
                         (tmp_path / "fifo", "not a regular file (fifo)"), (tmp_path / "missing", "no history at")):
        run = run_cli("history", "--db", str(db))
        assert run.code == 2 and fragment in run.err and len(run.err.strip().splitlines()) == 1, (db, run.err)
    assert empty.read_bytes() == b"" and other.read_bytes() == before and not (tmp_path / "missing").exists()


def test_history_file_and_folder_are_private_whatever_the_umask(tmp_path: Path) -> None:
    """Issue 18: a pre-existing 0644 history stayed 0644; folders followed the umask."""
    db = tmp_path / "a" / "b" / "history.sqlite"
    old = os.umask(0)
    try:
        SQLiteStore(db).close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700 and stat.S_IMODE(db.parent.parent.stat().st_mode) == 0o700
    os.chmod(db, 0o644)
    warned = run_cli("history", "--db", str(db))
    assert warned.code == 0 and "mode 0644" in warned.err and "--fix-modes" in warned.err
    assert stat.S_IMODE(db.stat().st_mode) == 0o644  # reported, not changed without consent
    fixed = run_cli("history", "--db", str(db), "--fix-modes")
    assert fixed.code == 0 and "0600" in fixed.err
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
