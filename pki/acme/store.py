"""The ACME server's state: SQLite in `CA/acme/state.sqlite` (mode 0600: it holds the external
account binding keys), so a restart loses no account, nonce, order or challenge.

WAL journal with synchronous=FULL: every change is on disk before the response that reports
it (nonces excepted: they are committed without an fsync, see `transaction`). One connection, serialised by a lock: the server's threads share it; another process (such
as `auditor pki acme eab`) waits for SQLite's lock up to `busy_timeout`.

Times are seconds since the epoch (floats); the server renders them as RFC 3339.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pki.errors import PKIError

SCHEMA_VERSION = "1"
NONCE_LIFETIME = 3600.0
"""Seconds a nonce stays usable."""
MAX_NONCES = 100_000
"""Nonces kept at most (the oldest go first): a flood of new-nonce requests stays bounded."""
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS eab (
    kid      TEXT PRIMARY KEY,
    name     TEXT NOT NULL,          -- the operator or node the key was made for (policy 'accounts')
    hmac     TEXT NOT NULL,          -- base64url HMAC key: a secret
    created  REAL NOT NULL,
    account  TEXT                    -- the account it bound (a key binds one account)
);
CREATE TABLE IF NOT EXISTS accounts (
    id         TEXT PRIMARY KEY,
    thumbprint TEXT NOT NULL UNIQUE, -- RFC 7638 SHA-256 thumbprint of the account key, base64url
    jwk        TEXT NOT NULL,
    name       TEXT NOT NULL,
    kid        TEXT NOT NULL,
    contact    TEXT NOT NULL,        -- JSON list
    status     TEXT NOT NULL,        -- valid, deactivated
    created    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS nonces (value TEXT PRIMARY KEY, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    id            TEXT PRIMARY KEY,
    account       TEXT NOT NULL,
    status        TEXT NOT NULL,     -- pending, ready, processing, valid, invalid
    identifiers   TEXT NOT NULL,     -- JSON [{"type", "value"}]
    profile       TEXT NOT NULL,
    lifetime_days INTEGER NOT NULL,
    created       REAL NOT NULL,
    expires       REAL NOT NULL,
    error         TEXT,              -- JSON problem document
    csr           TEXT,              -- base64url DER, kept from finalize until issued
    serial        TEXT,              -- the certificate issued
    finalized     REAL
);
CREATE INDEX IF NOT EXISTS orders_account ON orders (account, created);
CREATE INDEX IF NOT EXISTS orders_status ON orders (status);
CREATE TABLE IF NOT EXISTS authzs (
    id        TEXT PRIMARY KEY,
    order_id  TEXT NOT NULL,
    account   TEXT NOT NULL,
    type      TEXT NOT NULL,         -- dns, permanent-identifier
    value     TEXT NOT NULL,
    status    TEXT NOT NULL,         -- pending, valid, invalid, deactivated
    expires   REAL NOT NULL,
    wildcard  INTEGER NOT NULL,
    position  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS authzs_order ON authzs (order_id);
CREATE TABLE IF NOT EXISTS challenges (
    id        TEXT PRIMARY KEY,
    authz     TEXT NOT NULL,
    type      TEXT NOT NULL,         -- http-01, tls-alpn-01, dns-01, device-attest-01
    token     TEXT NOT NULL,
    status    TEXT NOT NULL,         -- pending, processing, valid, invalid
    validated REAL,
    error     TEXT,                  -- JSON problem document
    payload   TEXT,                  -- the client's response (device-attest-01: attObj)
    attested  TEXT,                  -- JSON: what device-attest-01 proved (key, serial, policies)
    position  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS challenges_authz ON challenges (authz);
CREATE INDEX IF NOT EXISTS challenges_status ON challenges (status);
CREATE TABLE IF NOT EXISTS certificates (
    serial   TEXT PRIMARY KEY,
    account  TEXT NOT NULL,
    order_id TEXT NOT NULL,
    issued   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS issued_names (name TEXT NOT NULL, issued REAL NOT NULL);
CREATE INDEX IF NOT EXISTS issued_names_name ON issued_names (name, issued);
"""


class StoreError(PKIError):
    """The ACME state database cannot be opened or is not ours."""


def new_id() -> str:
    """A random id (72 bits), never starting with '-': EAB key ids are typed as command-line
    values (`lego --kid ID`, `certbot --eab-kid ID`), which would take it for an option."""
    return _not_an_option(lambda: secrets.token_urlsafe(12))


def _not_an_option(make: Callable[[], str]) -> str:
    while True:
        value = make()
        if not value.startswith("-"):
            return value


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class Eab:
    kid: str
    name: str
    hmac: str
    created: float
    account: str | None


@dataclass(frozen=True)
class Account:
    id: str
    thumbprint: str
    jwk: str
    name: str
    kid: str
    contact: tuple[str, ...]
    status: str
    created: float


@dataclass(frozen=True)
class Order:
    id: str
    account: str
    status: str
    identifiers: tuple[tuple[str, str], ...]
    profile: str
    lifetime_days: int
    created: float
    expires: float
    error: dict[str, Any] | None
    csr: str | None
    serial: str | None
    finalized: float | None


@dataclass(frozen=True)
class Authz:
    id: str
    order_id: str
    account: str
    type: str
    value: str
    status: str
    expires: float
    wildcard: bool


@dataclass(frozen=True)
class Challenge:
    id: str
    authz: str
    type: str
    token: str
    status: str
    validated: float | None
    error: dict[str, Any] | None
    payload: str | None
    attested: dict[str, Any] | None


@dataclass(frozen=True)
class NewAuthz:
    """What `new_order` makes for one identifier: its type, value and challenge types."""

    type: str
    value: str
    wildcard: bool
    challenges: tuple[str, ...]


def state_path(ca_folder: Path) -> Path:
    return ca_folder / "acme" / "state.sqlite"


def _ensure_private_file(path: Path) -> None:
    """Make `path` an empty 0600 regular file if it does not exist; refuse anything else."""
    folder = path.parent
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"{folder}: cannot create the folder: {exc.strerror or exc}") from None
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            return _ensure_private_file(path)
        except OSError as exc:
            raise StoreError(f"{path}: cannot create: {exc.strerror or exc}") from None
        os.close(fd)
        return
    if not stat.S_ISREG(info.st_mode):
        raise StoreError(f"{path}: not a regular file")


class Store:
    """The state database. Thread-safe; use as a context manager or call `close`."""

    def __init__(self, ca_folder: Path, *, busy_timeout: float = 10.0) -> None:
        self.path = state_path(ca_folder)
        _ensure_private_file(self.path)
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                      timeout=busy_timeout)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable ACME state database ({exc})") from None
        self._lock = threading.RLock()
        self._init_schema()

    def _init_schema(self) -> None:
        try:
            with self._lock:
                self.db.executescript(SCHEMA)
                row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                if row is None:
                    self.db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                                    (SCHEMA_VERSION,))
                elif row[0] != SCHEMA_VERSION:
                    raise StoreError(f"{self.path}: schema version {row[0]}; this tool reads {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable ACME state database ({exc})") from None

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    @contextlib.contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[None]:
        """A write transaction. Not `durable`: committed without an fsync (nonces), so it
        survives a restart of the server but maybe not a power loss, which costs clients a
        badNonce retry at worst."""
        with self._lock:
            if not durable:
                self.db.execute("PRAGMA synchronous=NORMAL")
            try:
                with self._write():
                    yield
            finally:
                if not durable:
                    self.db.execute("PRAGMA synchronous=FULL")

    def _one(self, sql: str, params: Sequence[Any]) -> Any:
        return self.db.execute(sql, params).fetchone()

    # -- external account binding ---------------------------------------------------------------

    def create_eab(self, name: str) -> Eab:
        eab = Eab(kid=new_id(), name=name, hmac=_not_an_option(lambda: b64url(secrets.token_bytes(32))), created=time.time(), account=None)
        with self.transaction():
            self.db.execute("INSERT INTO eab (kid, name, hmac, created, account) VALUES (?, ?, ?, ?, NULL)",
                            (eab.kid, eab.name, eab.hmac, eab.created))
        return eab

    def eab(self, kid: str) -> Eab | None:
        with self._lock:
            row = self._one("SELECT kid, name, hmac, created, account FROM eab WHERE kid = ?", (kid,))
        return None if row is None else Eab(*row)

    # -- accounts -----------------------------------------------------------------------------

    _ACCOUNT = "SELECT id, thumbprint, jwk, name, kid, contact, status, created FROM accounts"

    def _account(self, row: Any) -> Account | None:
        if row is None:
            return None
        data = list(row)
        data[5] = tuple(json.loads(data[5]))
        return Account(*data)

    def new_account(self, *, thumbprint: str, jwk: str, kid: str, contact: Sequence[str]) -> Account | None:
        """Bind the EAB key `kid` to a new account; None when the key is unknown or already bound."""
        account_id = new_id()
        now = time.time()
        with self.transaction():
            eab = self._one("SELECT name, account FROM eab WHERE kid = ?", (kid,))
            if eab is None or eab[1] is not None:
                return None
            self.db.execute(
                "INSERT INTO accounts (id, thumbprint, jwk, name, kid, contact, status, created) "
                "VALUES (?, ?, ?, ?, ?, ?, 'valid', ?)",
                (account_id, thumbprint, jwk, eab[0], kid, json.dumps(list(contact)), now),
            )
            self.db.execute("UPDATE eab SET account = ? WHERE kid = ?", (account_id, kid))
        return self.account(account_id)

    def account(self, account_id: str) -> Account | None:
        with self._lock:
            return self._account(self._one(f"{self._ACCOUNT} WHERE id = ?", (account_id,)))

    def account_by_thumbprint(self, thumbprint: str) -> Account | None:
        with self._lock:
            return self._account(self._one(f"{self._ACCOUNT} WHERE thumbprint = ?", (thumbprint,)))

    def update_account(self, account_id: str, *, contact: Sequence[str] | None = None,
                       status: str | None = None) -> None:
        with self.transaction():
            if contact is not None:
                self.db.execute("UPDATE accounts SET contact = ? WHERE id = ?", (json.dumps(list(contact)), account_id))
            if status is not None:
                self.db.execute("UPDATE accounts SET status = ? WHERE id = ?", (status, account_id))

    def change_key(self, account_id: str, *, thumbprint: str, jwk: str) -> bool:
        """False when another account already has the new key."""
        with self.transaction():
            if self._one("SELECT 1 FROM accounts WHERE thumbprint = ?", (thumbprint,)) is not None:
                return False
            self.db.execute("UPDATE accounts SET thumbprint = ?, jwk = ? WHERE id = ?", (thumbprint, jwk, account_id))
        return True

    # -- nonces -------------------------------------------------------------------------------

    def new_nonce(self) -> str:
        value = b64url(secrets.token_bytes(16))
        now = time.time()
        with self.transaction(durable=False):
            self.db.execute("INSERT INTO nonces (value, expires) VALUES (?, ?)", (value, now + NONCE_LIFETIME))
            if secrets.randbelow(256) == 0:  # now and then: drop expired nonces, keep at most MAX_NONCES
                self.db.execute("DELETE FROM nonces WHERE expires < ?", (now,))
                self.db.execute("DELETE FROM nonces WHERE value IN (SELECT value FROM nonces ORDER BY expires DESC "
                                "LIMIT -1 OFFSET ?)", (MAX_NONCES,))
        return value

    def use_nonce(self, value: str) -> bool:
        """Consume `value`: True once for a nonce this server gave out and that has not expired."""
        with self.transaction(durable=False):
            cur = self.db.execute("DELETE FROM nonces WHERE value = ? AND expires >= ?", (value, time.time()))
            return cur.rowcount == 1

    # -- orders, authorizations, challenges -----------------------------------------------------

    _ORDER = ("SELECT id, account, status, identifiers, profile, lifetime_days, created, expires, error, csr, serial, "
              "finalized FROM orders")
    _AUTHZ = "SELECT id, order_id, account, type, value, status, expires, wildcard FROM authzs"
    _CHALLENGE = "SELECT id, authz, type, token, status, validated, error, payload, attested FROM challenges"

    def new_order(self, *, account: str, identifiers: Sequence[tuple[str, str]], profile: str, lifetime_days: int,
                  authzs: Sequence[NewAuthz], lifetime: float) -> Order:
        order_id = new_id()
        now = time.time()
        with self.transaction():
            self.db.execute(
                "INSERT INTO orders (id, account, status, identifiers, profile, lifetime_days, created, expires) "
                "VALUES (?, ?, 'pending', ?, ?, ?, ?, ?)",
                (order_id, account, json.dumps([list(i) for i in identifiers]), profile, lifetime_days, now,
                 now + lifetime),
            )
            for position, spec in enumerate(authzs):
                authz_id = new_id()
                self.db.execute(
                    "INSERT INTO authzs (id, order_id, account, type, value, status, expires, wildcard, position) "
                    "VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
                    (authz_id, order_id, account, spec.type, spec.value, now + lifetime, int(spec.wildcard), position),
                )
                for cpos, kind in enumerate(spec.challenges):
                    self.db.execute(
                        "INSERT INTO challenges (id, authz, type, token, status, position) "
                        "VALUES (?, ?, ?, ?, 'pending', ?)",
                        (new_id(), authz_id, kind, b64url(secrets.token_bytes(32)), cpos),
                    )
        order = self.order(order_id)
        assert order is not None
        return order

    def _order(self, row: Any) -> Order | None:
        if row is None:
            return None
        data = list(row)
        data[3] = tuple((str(t), str(v)) for t, v in json.loads(data[3]))
        data[8] = json.loads(data[8]) if data[8] else None
        return Order(*data)

    def order(self, order_id: str) -> Order | None:
        with self._lock:
            self._expire(order_id)
            return self._order(self._one(f"{self._ORDER} WHERE id = ?", (order_id,)))

    def _expire(self, order_id: str) -> None:
        """An order (and its authorizations) past its expiry while pending or ready becomes invalid."""
        now = time.time()
        row = self._one("SELECT status, expires FROM orders WHERE id = ?", (order_id,))
        if row is None or row[0] not in ("pending", "ready") or row[1] >= now:
            return
        with self._write():
            self.db.execute("UPDATE orders SET status = 'invalid', error = ? WHERE id = ? AND status IN ('pending', 'ready')",
                            (json.dumps({"type": "urn:ietf:params:acme:error:malformed", "detail": "the order expired"}),
                             order_id))
            self.db.execute("UPDATE authzs SET status = 'invalid' WHERE order_id = ? AND status = 'pending'", (order_id,))

    def orders_of(self, account: str, limit: int = 1000) -> list[str]:
        with self._lock:
            rows = self.db.execute("SELECT id FROM orders WHERE account = ? ORDER BY created DESC LIMIT ?",
                                   (account, limit)).fetchall()
        return [str(r[0]) for r in rows]

    def authzs_of(self, order_id: str) -> list[Authz]:
        with self._lock:
            self._expire(order_id)
            rows = self.db.execute(f"{self._AUTHZ} WHERE order_id = ? ORDER BY position", (order_id,)).fetchall()
        return [_authz(r) for r in rows]

    def authz(self, authz_id: str) -> Authz | None:
        with self._lock:
            row = self._one("SELECT order_id FROM authzs WHERE id = ?", (authz_id,))
            if row is None:
                return None
            self._expire(str(row[0]))
            r = self._one(f"{self._AUTHZ} WHERE id = ?", (authz_id,))
        return _authz(r)

    def _challenge(self, row: Any) -> Challenge | None:
        if row is None:
            return None
        data = list(row)
        data[6] = json.loads(data[6]) if data[6] else None
        data[8] = json.loads(data[8]) if data[8] else None
        return Challenge(*data)

    def challenges_of(self, authz_id: str) -> list[Challenge]:
        with self._lock:
            rows = self.db.execute(f"{self._CHALLENGE} WHERE authz = ? ORDER BY position", (authz_id,)).fetchall()
        return [c for c in (self._challenge(r) for r in rows) if c is not None]

    def challenge(self, challenge_id: str) -> Challenge | None:
        with self._lock:
            return self._challenge(self._one(f"{self._CHALLENGE} WHERE id = ?", (challenge_id,)))

    def start_challenge(self, challenge_id: str, payload: str | None) -> bool:
        """pending -> processing (its authorization still pending); False if it was not pending."""
        with self.transaction():
            row = self._one(
                "SELECT c.status, a.status FROM challenges c JOIN authzs a ON a.id = c.authz WHERE c.id = ?",
                (challenge_id,))
            if row is None or row[0] != "pending" or row[1] != "pending":
                return False
            self.db.execute("UPDATE challenges SET status = 'processing', payload = ? WHERE id = ?",
                            (payload, challenge_id))
        return True

    def finish_challenge(self, challenge_id: str, *, error: dict[str, Any] | None,
                         attested: dict[str, Any] | None = None) -> None:
        """Record a validation's outcome: the challenge, its authorization and (when every
        authorization is valid, or one failed) its order change state in one transaction."""
        now = time.time()
        with self.transaction():
            row = self._one("SELECT c.status, c.authz, a.order_id FROM challenges c JOIN authzs a ON a.id = c.authz "
                            "WHERE c.id = ?", (challenge_id,))
            if row is None or row[0] != "processing":
                return
            _, authz_id, order_id = row
            if error is None:
                self.db.execute("UPDATE challenges SET status = 'valid', validated = ?, attested = ? WHERE id = ?",
                                (now, json.dumps(attested) if attested else None, challenge_id))
                self.db.execute("UPDATE authzs SET status = 'valid' WHERE id = ? AND status = 'pending'", (authz_id,))
                left = self._one("SELECT COUNT(*) FROM authzs WHERE order_id = ? AND status != 'valid'", (order_id,))[0]
                if left == 0:
                    self.db.execute("UPDATE orders SET status = 'ready' WHERE id = ? AND status = 'pending'", (order_id,))
            else:
                self.db.execute("UPDATE challenges SET status = 'invalid', validated = ?, error = ? WHERE id = ?",
                                (now, json.dumps(error), challenge_id))
                self.db.execute("UPDATE authzs SET status = 'invalid' WHERE id = ? AND status = 'pending'", (authz_id,))
                self.db.execute("UPDATE orders SET status = 'invalid', error = ? WHERE id = ? AND status = 'pending'",
                                (json.dumps(error), order_id))

    def deactivate_authz(self, authz_id: str) -> None:
        with self.transaction():
            row = self._one("SELECT order_id, status FROM authzs WHERE id = ?", (authz_id,))
            if row is None or row[1] not in ("pending", "valid"):
                return
            self.db.execute("UPDATE authzs SET status = 'deactivated' WHERE id = ?", (authz_id,))
            self.db.execute("UPDATE orders SET status = 'invalid' WHERE id = ? AND status IN ('pending', 'ready')",
                            (row[0],))

    def processing_challenges(self) -> list[str]:
        with self._lock:
            return [str(r[0]) for r in self.db.execute("SELECT id FROM challenges WHERE status = 'processing'")]

    def start_finalize(self, order_id: str, csr: str) -> bool:
        """ready -> processing with the CSR kept; False if the order was not ready."""
        with self.transaction():
            cur = self.db.execute(
                "UPDATE orders SET status = 'processing', csr = ?, finalized = ? WHERE id = ? AND status = 'ready'",
                (csr, time.time(), order_id))
            return cur.rowcount == 1

    def finish_order(self, order_id: str, *, serial: str | None, names: Sequence[str] = (),
                     error: dict[str, Any] | None = None) -> None:
        """processing -> valid (with the certificate) or invalid (with the error)."""
        now = time.time()
        with self.transaction():
            row = self._one("SELECT account, status FROM orders WHERE id = ?", (order_id,))
            if row is None or row[1] != "processing":
                return
            if serial is not None:
                self.db.execute("UPDATE orders SET status = 'valid', serial = ?, csr = NULL WHERE id = ?",
                                (serial, order_id))
                self.db.execute("INSERT OR IGNORE INTO certificates (serial, account, order_id, issued) VALUES (?, ?, ?, ?)",
                                (serial, row[0], order_id, now))
                self.db.executemany("INSERT INTO issued_names (name, issued) VALUES (?, ?)", [(n, now) for n in names])
            else:
                self.db.execute("UPDATE orders SET status = 'invalid', error = ?, csr = NULL WHERE id = ?",
                                (json.dumps(error), order_id))

    def processing_orders(self) -> list[str]:
        with self._lock:
            return [str(r[0]) for r in self.db.execute("SELECT id FROM orders WHERE status = 'processing'")]

    def certificate_owner(self, serial: str) -> tuple[str, str] | None:
        """(account, order) that obtained `serial` through ACME."""
        with self._lock:
            row = self._one("SELECT account, order_id FROM certificates WHERE serial = ?", (serial,))
        return None if row is None else (str(row[0]), str(row[1]))

    # -- rate limits ----------------------------------------------------------------------------

    def orders_since(self, account: str, since: float) -> int:
        with self._lock:
            return int(self._one("SELECT COUNT(*) FROM orders WHERE account = ? AND created >= ?", (account, since))[0])

    def certificates_for_name_since(self, name: str, since: float) -> int:
        with self._lock:
            return int(self._one("SELECT COUNT(*) FROM issued_names WHERE name = ? AND issued >= ?", (name, since))[0])

    def oldest_order_since(self, account: str, since: float) -> float | None:
        with self._lock:
            row = self._one("SELECT MIN(created) FROM orders WHERE account = ? AND created >= ?", (account, since))
        return None if row is None or row[0] is None else float(row[0])


def _authz(row: Any) -> Authz:
    return Authz(id=row[0], order_id=row[1], account=row[2], type=row[3], value=row[4], status=row[5],
                 expires=row[6], wildcard=bool(row[7]))
