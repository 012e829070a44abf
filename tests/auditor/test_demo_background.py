"""`auditor scan --demo` builds a missing demo in a child process while the built-in rules load
(auditor._demo.start_build / wait_built, Catalog.extend)."""

from __future__ import annotations

from pathlib import Path

import pytest

import auditor._demo as demo
from auditor._policy.catalog import Catalog
from tests.conftest import run_cli


def _building() -> int | None:
    return demo._building


def test_the_child_builds_the_demo_and_the_parent_waits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDITOR_CACHE_DIR", str(tmp_path))
    assert not (tmp_path / "demo").exists()
    demo.start_build()
    assert _building() is not None
    inventory = demo.demo_inventory()  # only paths: does not wait
    root = demo.wait_built()
    assert _building() is None
    assert (root / ".built").is_file() and (root / "pki-ca/ca.json").is_file()
    assert inventory.target("cim-prod-001").root.is_relative_to(root)
    demo.start_build()  # fresh: nothing to do
    assert _building() is None


def test_a_failed_child_is_built_again_in_the_parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDITOR_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(demo, "_building", 2**22 + 12345)  # a child that does not exist (or failed)
    root = demo.wait_built()
    assert (root / ".built").is_file()


def test_extend_gives_what_load_gives() -> None:
    inventory = demo.demo_inventory()
    whole = Catalog.load(inventory.rule_paths, inventory.policy_paths)
    parts = Catalog.load()
    assert inventory.policy_paths and set(parts.packs) < set(whole.packs)
    parts.extend(inventory.rule_paths, inventory.policy_paths)
    assert list(parts.rules) == list(whole.rules) and list(parts.packs) == list(whole.packs)
    assert parts.digest == whole.digest


def test_demo_scan_on_an_empty_cache_gives_the_demo_verdict(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    r = run_cli("scan", "--target", "cim-prod-001", "--demo", "--no-store",
                env={"AUDITOR_CACHE_DIR": str(cache), "AUDITOR_DB": str(cache / "history.sqlite")})
    assert r.code == 1, r.err
    warm = run_cli("scan", "--target", "cim-prod-001", "--demo", "--no-store")  # the cache the other tests warmed
    assert warm.code == 1, warm.err

    def verdict_and_totals(out: str) -> list[str]:
        lines = [line for line in out.splitlines() if line.strip()]
        return [next(line for line in lines if line.startswith("Verdict: ")), lines[-1]]

    assert verdict_and_totals(r.out) == verdict_and_totals(warm.out)
    assert "NOT READY for production" in r.out and " findings: " in verdict_and_totals(r.out)[1]
    assert not list(cache.glob("demo/.build-*"))
