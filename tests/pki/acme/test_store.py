"""The state database: private (0600, with its WAL), a regular file only, persistent, single-use nonces."""

from __future__ import annotations

import os
import secrets
import sqlite3
import stat
import time
from pathlib import Path

import pytest

from pki.acme import store as store_module
from pki.acme.store import NewAuthz, Store, StoreError


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_private_and_persistent(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        eab = s.create_eab("ops")
        nonce = s.new_nonce()
        folder = tmp_path / "acme"
        assert mode(folder) == 0o700
        for path in folder.iterdir():  # state.sqlite and, while open, its -wal and -shm
            assert mode(path) == 0o600, path
    with Store(tmp_path) as again:
        assert again.eab(eab.kid) == eab
        assert again.use_nonce(nonce) and not again.use_nonce(nonce)
        account = again.new_account(thumbprint="t", jwk="{}", kid=eab.kid, contact=["mailto:a@example.com"])
        assert account is not None and account.name == "ops"
        assert again.new_account(thumbprint="u", jwk="{}", kid=eab.kid, contact=()) is None  # one EAB, one account
        assert again.new_account(thumbprint="u", jwk="{}", kid="nope", contact=()) is None


def test_nonces_expire(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Store(tmp_path) as s:
        monkeypatch.setattr(store_module, "NONCE_LIFETIME", -1.0)
        stale = s.new_nonce()
        assert not s.use_nonce(stale)


def test_an_order_expires_and_its_authorizations_with_it(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        eab = s.create_eab("ops")
        account = s.new_account(thumbprint="t", jwk="{}", kid=eab.kid, contact=())
        assert account is not None
        order = s.new_order(account=account.id, identifiers=[("dns", "a.example.com")], profile="nats-server",
                            lifetime_days=30, authzs=[NewAuthz("dns", "a.example.com", False, ("http-01",))],
                            lifetime=0.01)
        time.sleep(0.05)
        expired = s.order(order.id)
        assert expired is not None and expired.status == "invalid" and expired.error is not None
        assert [a.status for a in s.authzs_of(order.id)] == ["invalid"]


def test_only_a_regular_file_of_ours(tmp_path: Path) -> None:
    (tmp_path / "acme").mkdir()
    os.symlink("/etc/passwd", tmp_path / "acme" / "state.sqlite")
    with pytest.raises(StoreError, match="not a regular file"):
        Store(tmp_path)
    os.unlink(tmp_path / "acme" / "state.sqlite")
    (tmp_path / "acme" / "state.sqlite").write_bytes(b"not a database" * 100)
    with pytest.raises(StoreError, match="not a usable ACME state database"):
        Store(tmp_path)
    os.unlink(tmp_path / "acme" / "state.sqlite")
    with Store(tmp_path) as s:
        s.db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 99"):
        Store(tmp_path)
    assert sqlite3.sqlite_version


def test_nonces_stay_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "MAX_NONCES", 10)
    monkeypatch.setattr(secrets, "randbelow", lambda n: 0)  # clean up on every insert
    with Store(tmp_path) as s:
        nonces = [s.new_nonce() for _ in range(30)]
        assert s.db.execute("SELECT COUNT(*) FROM nonces").fetchone()[0] == 10
        assert s.use_nonce(nonces[-1]) and not s.use_nonce(nonces[0])  # the oldest went first


def test_eab_keys_never_look_like_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`lego --kid -x...` and `certbot --eab-hmac-key -x...` would take the value for an option."""
    ids, keys = iter(["-startsWithDash", "plainKeyId"]), iter([b"\xfb" + bytes(31), bytes(32)])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda _n: next(ids))
    monkeypatch.setattr(secrets, "token_bytes", lambda _n: next(keys))
    with Store(tmp_path) as s:
        eab = s.create_eab("ops")
    assert eab.kid == "plainKeyId" and not eab.hmac.startswith("-") and eab.hmac == store_module.b64url(bytes(32))
