"""Fixtures for the PKI tests: a CA folder made through the library with file keys."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pki.backends import key_opener
from pki.backends.file import FileBackend
from pki.ca import CA, KeyOpener

PASSPHRASE = "correct horse battery staple"
PIN = "123456"


def secrets(kind: str, what: str) -> str:
    return {"passphrase": PASSPHRASE, "pin": PIN}[kind]


def new_ca(folder: Path, *, permitted_dns: tuple[str, ...] = ("example.com", "localhost"),
           permitted_ip: tuple[str, ...] = ("127.0.0.0/8", "10.0.0.0/8"), backdate_days: int = 0,
           **init: Any) -> tuple[CA, KeyOpener]:
    """A root and an intermediate (limited to `permitted_dns` and `permitted_ip`), both valid
    from `backdate_days` ago (to issue certificates that have expired already)."""
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=backdate_days, minutes=10)
    if backdate_days:
        init.setdefault("not_before", start)
    ca = CA.init(folder, "Test Root CA", FileBackend(folder, secrets), organization="CIM", **init)
    opener = key_opener(ca.folder, secrets)
    ca.create_intermediate("Test Intermediate CA", opener, FileBackend(ca.folder, secrets), permitted_dns=permitted_dns,
                           permitted_ip=permitted_ip, not_before=start if backdate_days else None)
    return ca, opener


@pytest.fixture
def make_ca(tmp_path: Path) -> Callable[..., tuple[CA, KeyOpener]]:
    def make(name: str = "ca", **kwargs: Any) -> tuple[CA, KeyOpener]:
        return new_ca(tmp_path / name, **kwargs)

    return make


@pytest.fixture
def pki_env() -> dict[str, str]:
    """Environment for `auditor pki` runs: the passphrase in a variable the CLI is told about."""
    return {"PKI_PASS": PASSPHRASE}
