"""Installed versions read from the dist-info beside a package agree with importlib.metadata."""

from __future__ import annotations

from importlib import metadata

import pytest

from pki import versions


@pytest.mark.parametrize(
    ("distribution", "package"),
    [("pkilint", "pkilint"), ("cel-expr-python", "cel_expr_python"), ("PyYAML", "yaml"), ("cryptography", "cryptography")],
)
def test_the_version_beside_the_package_is_importlib_metadata_s(distribution: str, package: str) -> None:
    assert versions._beside(distribution, package) == metadata.version(distribution)
    assert versions.installed_version(distribution, package) == metadata.version(distribution)


def test_not_installed_is_none() -> None:
    assert versions._beside("no-such-distribution", "no_such_package_here") is None
    assert versions.installed_version("no-such-distribution", "no_such_package_here") is None


def test_a_package_without_its_dist_info_asks_importlib_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(versions, "_beside", lambda distribution, package: None)
    versions.installed_version.cache_clear()
    try:
        assert versions.installed_version("pkilint", "pkilint") == metadata.version("pkilint")
    finally:
        versions.installed_version.cache_clear()
