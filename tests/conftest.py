"""Shared fixtures: an isolated cache for the demo, a CLI runner and a certificate factory."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.certs import CertFactory

REPO = Path(__file__).resolve().parent.parent
TEST_FINGERPRINT_KEY = "00112233445566778899aabbccddeeff" * 2
"""The fingerprint key of every test session (fingerprints are then the same on every run)."""

# CI runs the same examples every time (a red build must be reproducible, never a coin toss);
# AUDITOR_HYPOTHESIS=explore draws new ones, for a deeper local fuzzing run.
settings.register_profile("ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", deadline=None, max_examples=2000)
settings.load_profile("explore" if os.environ.get("AUDITOR_HYPOTHESIS") == "explore" else "ci")


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The demo is materialised once per test session in a private cache folder."""
    cache = tmp_path_factory.mktemp("auditor-cache")
    old = os.environ.get("AUDITOR_CACHE_DIR")
    os.environ["AUDITOR_CACHE_DIR"] = str(cache)
    os.environ["AUDITOR_NO_PROGRESS"] = "1"
    os.environ["AUDITOR_DB"] = str(cache / "history.sqlite")  # never the user's own history
    # trufflehog3's own virtualenv, made by `.ci/bootstrap --test` (else on first use)
    os.environ.setdefault("AUDITOR_ENGINES_DIR", str(REPO / ".cache" / "engines"))
    # secret fingerprints are HMACs under a per-installation key: the tests use a fixed one
    key = cache / "fingerprint.key"
    key.write_text(TEST_FINGERPRINT_KEY + "\n")
    key.chmod(0o600)
    os.environ["AUDITOR_FINGERPRINT_KEY_FILE"] = str(key)
    yield
    if old is None:
        os.environ.pop("AUDITOR_CACHE_DIR", None)
    else:
        os.environ["AUDITOR_CACHE_DIR"] = old


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, stdin: str | None = None) -> Run:
    """Run `auditor ARGS` in a fresh interpreter, as a user would."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "auditor", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        input=stdin,
        timeout=120,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli() -> type[Run]:
    return Run


@pytest.fixture(scope="session")
def certs() -> CertFactory:
    return CertFactory()
