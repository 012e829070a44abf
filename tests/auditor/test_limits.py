"""The limits on inputs: set through the environment, named with how to raise them, documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor import _limits as limits
from auditor.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_docs_limits_md_is_generated_from_the_table() -> None:
    assert (ROOT / "docs" / "limits.md").read_text(encoding="utf-8") == limits.document(), (
        "regenerate it: python -m auditor._limits > docs/limits.md"
    )


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert limits.Limits.from_env({}) == limits.Limits()
    got = limits.Limits.from_env({"AUDITOR_LIMIT_BUNDLE_BYTES": "1GiB", "AUDITOR_LIMIT_JSON_DEPTH": "1_000"})
    assert got.bundle_bytes == 1 << 30 and got.json_depth == 1000 and got.file_bytes == limits.Limits().file_bytes
    monkeypatch.setenv("AUDITOR_LIMIT_NATS_USERS", "7")
    assert limits.get("nats-users") == 7
    assert "raise it with AUDITOR_LIMIT_NATS_USERS=14" in limits.exceeded("nats-users", "too many users")


@pytest.mark.parametrize("name, text", [("bundle-bytes", "lots"), ("json-depth", "10MiB"), ("json-depth", "0")])
def test_a_bad_limit_value_names_its_variable(name: str, text: str) -> None:
    with pytest.raises(ConfigError, match=limits.BY_NAME[name].env):
        limits.parse_value(limits.BY_NAME[name], text)


def test_sizes_read_and_show_in_powers_of_1024() -> None:
    limit = limits.BY_NAME["file-bytes"]
    assert [limits.parse_value(limit, t) for t in ("64MiB", "64M", "2 G", "1500")] == [64 << 20, 64 << 20, 2 << 30, 1500]
    assert limits.size_text(1536 << 20) == "1536 MiB" and limits.size_text(1500) == "1500 bytes"
    assert limit.how_to_raise(32 << 20) == "raise it with AUDITOR_LIMIT_FILE_BYTES=64MiB"
