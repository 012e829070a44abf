"""CA/acme/policy.yaml: parsed field by field, errors name the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pki.acme.policy import Constraints, Policy, PolicyError, load, name_matches, parse

GOOD = """\
names: [".example.com", "node-*.example.org"]
default_profile: nats-server
profiles:
  nats-server: {lifetime_days: 30}
  nats-client: {lifetime_days: 7}
key_types: [ecdsa-p256]
rate_limits: {orders_per_account_per_hour: 10, certificates_per_name_per_week: 5}
attestation: {names: ["cim-hs-*.example.com"], pin_policy: [always], touch_policy: [always]}
accounts:
  ops: {names: ["cim-*.example.com"], profiles: [nats-server], yubikeys: [12345678]}
"""


def test_a_full_policy() -> None:
    p = parse(GOOD, "policy.yaml")
    assert p.profiles == {"nats-server": 30, "nats-client": 7} and p.key_types == ("ecdsa-p256",)
    assert (p.orders_per_account_per_hour, p.certificates_per_name_per_week) == (10, 5)
    c = Constraints(("example.com",))
    assert p.name_problem("ops", "cim-001.example.com", c) is None
    assert "may not obtain" in str(p.name_problem("ops", "www.example.com", c))
    assert p.name_problem("someone", "www.example.com", c) is None
    assert "outside the issuing CA's name constraints" in str(p.name_problem("someone", "node-1.example.org", c))
    assert p.name_problem("someone", "node-1.example.org", Constraints()) is None
    assert p.profile_for("ops", None) == ("nats-server", 30)
    assert p.profile_for("ops", "nats-client") == "account 'ops' may not obtain profile 'nats-client'"
    assert p.profile_for("x", "nats-client") == ("nats-client", 7)
    assert "not offered" in str(p.profile_for("x", "admin"))
    assert p.needs_attestation("cim-hs-1.example.com") and not p.needs_attestation("cim-1.example.com")
    assert p.yubikey_problem("ops", 12345678, "always", "always") is None
    assert "may not use YubiKey 1" in str(p.yubikey_problem("ops", 1, "always", "always"))
    assert "touch policy is never" in str(p.yubikey_problem("x", 1, "always", "never"))


@pytest.mark.parametrize(("text", "where"), [
    ("names: [1]\n", "policy.yaml:1: field 'names.0'"),
    ("profiles:\n  nats-server: {lifetime_days: 0}\n", "policy.yaml:2: field 'profiles.nats-server.lifetime_days'"),
    ("rate_limits:\n  orders_per_account_per_hour: -1\n", "policy.yaml:2: field 'rate_limits.orders_per_account_per_hour'"),
    ("accounts:\n  ops:\n    yubikeys: [true]\n", "policy.yaml:3: field 'accounts.ops.yubikeys'"),
    ("accounts:\n  ops:\n    profiles: [admin]\n", "policy.yaml:3: field 'accounts.ops.profiles.0'"),
    ("attestation: {pin_policy: [sometimes]}\n", "policy.yaml:1: field 'attestation.pin_policy.0'"),
    ("nmes: []\n", "policy.yaml:1: field 'nmes': unknown field"),
    ("default_profile: admin\n", "policy.yaml:1: field 'default_profile'"),
    ("names: [\n", "policy.yaml:2: not valid YAML"),
    ("- a\n", "policy.yaml: the policy is a mapping"),
])
def test_errors_name_file_line_and_field(text: str, where: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse(text, "policy.yaml")
    assert str(caught.value).startswith(where), str(caught.value)


def test_load_checks_profiles_against_the_ca(tmp_path: Path) -> None:
    assert load(tmp_path, {"nats-server": 90}) == Policy()
    (tmp_path / "acme").mkdir()
    (tmp_path / "acme" / "policy.yaml").write_text("profiles:\n  nats-server: {lifetime_days: 120}\n")
    with pytest.raises(PolicyError, match="longer than the profile's own 90 days"):
        load(tmp_path, {"nats-server": 90})
    (tmp_path / "acme" / "policy.yaml").write_text("profiles:\n  root: {lifetime_days: 1}\n")
    with pytest.raises(PolicyError, match="not a leaf profile of this CA"):
        load(tmp_path, {"nats-server": 90})


def test_the_default_names_are_the_intermediates_constraints() -> None:
    p = Policy()
    assert p.name_problem("a", "cim-1.example.com", Constraints(("example.com",))) is None
    assert p.name_problem("a", "example.com", Constraints(("example.com",))) is None
    assert "no names are allowed" in str(p.name_problem("a", "cim-1.example.com", Constraints()))
    assert "wildcard" in str(p.name_problem("a", "*.example.com", Constraints(("example.com",))))
    assert not Constraints(("example.com",), ("secret.example.com",)).allows("db.secret.example.com")


@pytest.mark.parametrize(("pattern", "name", "match"), [
    (".example.com", "a.b.example.com", True), (".example.com", "example.com", False),
    ("cim-*.example.com", "cim-001.example.com", True), ("cim-*.example.com", "cim-001.x.example.com", False),
    ("cim-*.example.com", "xcim-1.example.com", False), ("example.com", "example.com", True),
    ("*.example.com", "*.example.com", True), ("cim-*.example.com", "*.example.com", False),
    ("*.example.com", "a.example.com", True),
])
def test_name_patterns(pattern: str, name: str, match: bool) -> None:
    assert name_matches(pattern, name) is match


@given(st.text(max_size=400))
def test_any_text_parses_or_is_a_policy_error(text: str) -> None:
    try:
        parse(text, "fuzz.yaml")
    except PolicyError as exc:
        assert str(exc).startswith("fuzz.yaml")


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                        st.sampled_from(["names", "profiles", "accounts", "rate_limits", "attestation", "ops",
                                         "nats-server", "lifetime_days", "yubikeys", "pin_policy", "x"]), inner,
                        max_size=4), max_leaves=20))
def test_any_structure_parses_or_is_a_policy_error(value: object) -> None:
    import yaml

    try:
        parse(yaml.safe_dump(value), "fuzz.yaml")
    except PolicyError as exc:
        assert str(exc).startswith("fuzz.yaml")
