"""Fixtures for the PKI tests: a CA folder made through the library with file keys."""

from __future__ import annotations

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


def new_ca(folder: Path, *, permitted_dns: tuple[str, ...] = ("example.com", "localhost"), **init: Any) -> tuple[CA, KeyOpener]:
    ca = CA.init(folder, "Test Root CA", FileBackend(folder, secrets), organization="CIM", **init)
    opener = key_opener(ca.folder, secrets)
    ca.create_intermediate("Test Intermediate CA", opener, FileBackend(ca.folder, secrets), permitted_dns=permitted_dns)
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
