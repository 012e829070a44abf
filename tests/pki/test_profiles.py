"""Profiles as data: the shipped set, a CA's own overrides, and errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pki.errors import ProfileError
from pki.profiles import load_profile, parse_profile, shipped_names


def test_shipped_profiles_and_their_defaults() -> None:
    assert set(shipped_names()) == {"root", "intermediate", "nats-server", "nats-client", "nats-leaf", "admin"}
    root, inter, server = load_profile("root"), load_profile("intermediate"), load_profile("nats-server")
    assert (root.path_length, root.lifetime_days) == (1, 20 * 365)
    assert (inter.path_length, inter.lifetime_days) == (0, 3 * 365)
    assert server.lifetime_days == 90
    assert server.extended_key_usage == ("serverAuth", "clientAuth")
    assert load_profile("nats-client").extended_key_usage == ("clientAuth",)
    assert all(load_profile(n).lifetime_days == 90 for n in ("nats-client", "nats-leaf", "admin"))


def test_a_ca_folder_can_replace_a_profile(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles/nats-client.yaml").write_text(
        "name: nats-client\nkind: leaf\nlifetime_days: 7\nkey_usage: [digitalSignature]\nextended_key_usage: [clientAuth]\n"
    )
    assert load_profile("nats-client", tmp_path).lifetime_days == 7
    assert load_profile("nats-server", tmp_path).lifetime_days == 90


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nkind: leaf\nlifetime_days: 9\nkey_usage: [digitalSignature]\ncolour: red\n", "field 'colour': unknown"),
        ("name: x\nkind: leaf\nlifetime_days: 0\nkey_usage: [digitalSignature]\n", "field 'lifetime_days'"),
        ("name: x\nkind: leaf\nlifetime_days: 9\nkey_usage: [keyCertSign]\n", "field 'key_usage': a leaf"),
        ("name: x\nkind: root\nlifetime_days: 9\nkey_usage: [keyCertSign]\n", "field 'path_length'"),
        ("name: x\nkind: leaf\nlifetime_days: 9\nkey_usage: [digitalSignature]\nextended_key_usage: [web]\n", "'web'"),
        ("name: x\nkind: leaf\nlifetime_days: 9\nkey_usage: [a\n", "not valid YAML"),
        ("- a list\n", "a mapping"),
        ("name: x\nkind: leaf\nlifetime_days: 9\nkey_usage: [digitalSignature]\ncritical: !!bool maybe\n", "its tag"),
        ("name: !!timestamp nope\n", "its tag"),
    ],
)
def test_bad_profiles_are_located(text: str, message: str) -> None:
    with pytest.raises(ProfileError, match=r"^my\.yaml") as info:
        parse_profile(text, "my.yaml")
    assert message in str(info.value)


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(ProfileError, match="known: admin, intermediate"):
        load_profile("webserver")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parse_profile_never_crashes(text: str) -> None:
    try:
        parse_profile(text, "fuzz.yaml")
    except ProfileError as exc:
        assert str(exc).startswith("fuzz.yaml")


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["name", "kind", "lifetime_days", "key_usage", "path_length",
                                        "extended_key_usage", "require_san", "key_type"]),
                       st.one_of(st.integers(-5, 50000), st.text(max_size=10), st.booleans(), st.none(),
                                 st.lists(st.text(max_size=12), max_size=3))))
def test_parse_profile_structured_fuzz(data: dict[str, object]) -> None:
    import yaml

    try:
        profile = parse_profile(yaml.safe_dump(data), "fuzz.yaml")
    except ProfileError:
        return
    assert profile.lifetime_days >= 1
