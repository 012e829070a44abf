"""Scrubbing secret-looking values out of report text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditor.redact import scrub, scrub_tree


@pytest.mark.parametrize(
    "secret",
    [
        "SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU",
        "hvs.CAESIJlJq0kq7hLxUeyNoFe4Hq0ZtWz9",
        "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ",
        "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----",
    ],
)
def test_secrets_are_redacted(secret: str) -> None:
    out = scrub(f"found {secret} in the file")
    assert secret not in out and "…(sha256:" in out


@pytest.mark.parametrize("text", ["no secret: CN=nats, token missing", "password: required", "CERT-004 etc/a.pem"])
def test_prose_is_left_alone(text: str) -> None:
    assert scrub(text) == text


def test_key_value_keeps_the_key_and_tree_scrubs_every_string() -> None:
    assert scrub("password=hunter2hunter2").startswith("password=")
    tree = scrub_tree({"a": ["token: s3cr3t-v4lue"], "b": 1})
    assert "s3cr3t-v4lue" not in str(tree) and tree["b"] == 1


@given(st.text(max_size=200))
def test_scrub_is_idempotent(text: str) -> None:
    once = scrub(text)
    assert scrub(once) == once
    if once != text:
        assert "…(sha256:" in once
