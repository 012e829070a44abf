"""What the ACME server may issue: `CA/acme/policy.yaml`, checked field by field.

```yaml
names: [".example.com"]          # patterns of names any account may obtain (default: the
                                 #   intermediate's permitted DNS subtrees)
allow_wildcards: false           # "*.example.com" identifiers (dns-01 only)
default_profile: nats-server     # when an order names none
profiles:                        # the profiles ACME may issue and their lifetime
  nats-server: {lifetime_days: 30}
key_types: [ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096]
rate_limits:
  orders_per_account_per_hour: 300
  certificates_per_name_per_week: 50
attestation:                     # device-attest-01 (a YubiKey-held key)
  names: [".hs.example.com"]     # names whose orders must include an attested YubiKey
  pin_policy: [once, always]     # accepted PIN policies of the attested key
  touch_policy: [always, cached] # accepted touch policies
accounts:                        # per account (the name given to `auditor pki acme eab`)
  ops:
    names: ["cim-*.example.com"] # narrows the names above for this account
    profiles: [nats-server]      # narrows the profiles
    yubikeys: [12345678]         # the YubiKey serials it may attest
```

A pattern is a DNS name whose labels may hold `*` (any characters within one label:
`cim-*.example.com`), or a name starting with a dot (`.example.com`: every name below
example.com, at any depth). Every name must also lie inside the issuing intermediate's name
constraints, whatever the policy says. Errors name the file, the line and the field.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pki import yamlload
from pki.errors import PKIError
from pki.fsutil import ReadError, read_regular
from pki.keytypes import KEY_TYPES

DEFAULT_LIFETIME_DAYS = 30
DEFAULT_PROFILE = "nats-server"
DEFAULT_KEY_TYPES = ("ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048", "rsa-3072", "rsa-4096")
DEFAULT_ORDERS_PER_HOUR = 300
DEFAULT_CERTS_PER_NAME_PER_WEEK = 50
PIN_POLICIES = ("never", "once", "always", "match-once", "match-always")
TOUCH_POLICIES = ("never", "always", "cached")
DEFAULT_PIN_POLICIES = ("once", "always", "match-once", "match-always")
DEFAULT_TOUCH_POLICIES = ("always", "cached")
MAX_POLICY_BYTES = 256 * 1024
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_PATTERN_LABEL = re.compile(r"^[a-z0-9*]([a-z0-9*-]{0,61}[a-z0-9*])?$")
_TOP = {"names", "allow_wildcards", "default_profile", "profiles", "key_types", "rate_limits", "attestation", "accounts"}


class PolicyError(PKIError):
    """The ACME policy file is malformed (names the file, line and field)."""


def is_dns_name(name: str) -> bool:
    """A lower-case DNS name of LDH labels (no wildcard), at most 253 characters."""
    if not name or len(name) > 253:
        return False
    return all(_LABEL.match(label) for label in name.split("."))


def valid_pattern(pattern: str) -> bool:
    body = pattern[1:] if pattern.startswith(".") else pattern
    if not body or len(body) > 253:
        return False
    return all(_PATTERN_LABEL.match(label) for label in body.split("."))


def name_matches(pattern: str, name: str) -> bool:
    """Does `name` (a DNS name, maybe `*.x` for a wildcard) match the policy `pattern`?"""
    if pattern.startswith("."):
        return name.endswith(pattern) and len(name) > len(pattern)
    want, have = pattern.split("."), name.split(".")
    if len(want) != len(have):
        return False
    return all(w == h or ("*" in w and h != "*" and fnmatch.fnmatchcase(h, w)) for w, h in zip(want, have, strict=True))


@dataclass(frozen=True)
class Constraints:
    """The issuing intermediate's DNS name constraints (empty `permitted`: unconstrained)."""

    permitted: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    def allows(self, name: str) -> bool:
        base = name[2:] if name.startswith("*.") else name
        if any(_within(base, c) for c in self.excluded):
            return False
        return not self.permitted or any(_within(base, c) for c in self.permitted)


def _within(name: str, subtree: str) -> bool:
    subtree = subtree.lower()
    if subtree.startswith("."):
        return name.endswith(subtree)
    return name == subtree or name.endswith("." + subtree)


@dataclass(frozen=True)
class AccountRule:
    names: tuple[str, ...] | None = None
    profiles: tuple[str, ...] | None = None
    yubikeys: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Policy:
    names: tuple[str, ...] | None = None
    """None: the intermediate's permitted subtrees."""
    allow_wildcards: bool = False
    default_profile: str = DEFAULT_PROFILE
    profiles: Mapping[str, int] = field(default_factory=lambda: {DEFAULT_PROFILE: DEFAULT_LIFETIME_DAYS})
    """Profile name -> lifetime in days."""
    key_types: tuple[str, ...] = DEFAULT_KEY_TYPES
    orders_per_account_per_hour: int = DEFAULT_ORDERS_PER_HOUR
    certificates_per_name_per_week: int = DEFAULT_CERTS_PER_NAME_PER_WEEK
    attestation_names: tuple[str, ...] = ()
    pin_policies: tuple[str, ...] = DEFAULT_PIN_POLICIES
    touch_policies: tuple[str, ...] = DEFAULT_TOUCH_POLICIES
    accounts: Mapping[str, AccountRule] = field(default_factory=dict)
    source: str = "the default policy"

    def patterns(self, account: str, constraints: Constraints) -> tuple[str, ...]:
        base = self.names
        if base is None:
            base = tuple(p for c in constraints.permitted for p in (c.lstrip(".").lower(), "." + c.lstrip(".").lower()))
        return base

    def name_problem(self, account: str, name: str, constraints: Constraints) -> str | None:
        """Why `account` may not obtain `name` (None: it may)."""
        wildcard = name.startswith("*.")
        if wildcard and not self.allow_wildcards:
            return "wildcard names are not allowed by the ACME policy"
        if not constraints.allows(name):
            return f"'{name}' is outside the issuing CA's name constraints"
        patterns = self.patterns(account, constraints)
        if not patterns:
            return "no names are allowed: the ACME policy lists none ('names' in CA/acme/policy.yaml)"
        if not any(name_matches(p, name) for p in patterns):
            return f"'{name}' is not allowed by the ACME policy"
        rule = self.accounts.get(account)
        if rule is not None and rule.names is not None and not any(name_matches(p, name) for p in rule.names):
            return f"account '{account}' may not obtain '{name}' (ACME policy: accounts.{account}.names)"
        return None

    def profile_for(self, account: str, requested: str | None) -> tuple[str, int] | str:
        """(profile, lifetime days), or why the profile is refused."""
        name = requested or self.default_profile
        if name not in self.profiles:
            return f"profile '{name}' is not offered (offered: {', '.join(sorted(self.profiles))})"
        rule = self.accounts.get(account)
        if rule is not None and rule.profiles is not None and name not in rule.profiles:
            return f"account '{account}' may not obtain profile '{name}'"
        return name, self.profiles[name]

    def needs_attestation(self, name: str) -> bool:
        return any(name_matches(p, name) for p in self.attestation_names)

    def yubikey_problem(self, account: str, serial: int, pin: str | None, touch: str | None) -> str | None:
        rule = self.accounts.get(account)
        if rule is not None and rule.yubikeys is not None and serial not in rule.yubikeys:
            return f"account '{account}' may not use YubiKey {serial} (ACME policy: accounts.{account}.yubikeys)"
        if pin not in self.pin_policies:
            return f"the key's PIN policy is {pin or 'unknown'}; the policy accepts {', '.join(self.pin_policies)}"
        if touch not in self.touch_policies:
            return f"the key's touch policy is {touch or 'unknown'}; the policy accepts {', '.join(self.touch_policies)}"
        return None


# -- loading -----------------------------------------------------------------------------------


def policy_path(ca_folder: Path) -> Path:
    return ca_folder / "acme" / "policy.yaml"


def load(ca_folder: Path, profile_lifetimes: Mapping[str, int] | None = None) -> Policy:
    """The CA folder's policy (the defaults when there is no file). `profile_lifetimes` maps
    the CA's leaf profiles to their own lifetime: the policy may name only those, and no
    lifetime above the profile's."""
    path = policy_path(ca_folder)
    if not path.exists():
        policy = Policy()
    else:
        try:
            text = read_regular(path, MAX_POLICY_BYTES).decode("utf-8")
        except ReadError as exc:
            raise PolicyError(f"{path}: " + ("is a folder, not a regular file" if exc.why == "folder" else exc.reason)) from None
        except UnicodeDecodeError as exc:
            raise PolicyError(f"{path}: cannot read: {exc}") from None
        policy = parse(text, str(path))
    if profile_lifetimes is not None:
        for name, days in policy.profiles.items():
            if name not in profile_lifetimes:
                raise PolicyError(f"{policy.source}: field 'profiles.{name}': not a leaf profile of this CA "
                                  f"(known: {', '.join(sorted(profile_lifetimes))})")
            if days > profile_lifetimes[name]:
                raise PolicyError(f"{policy.source}: field 'profiles.{name}.lifetime_days': {days} is longer than "
                                  f"the profile's own {profile_lifetimes[name]} days")
    return policy


class _Bad:
    """Builds errors that name the source, the line (from the YAML node tree) and the field."""

    def __init__(self, source: str, root: yaml.Node | None) -> None:
        self.source = source
        self.root = root

    def __call__(self, path: Sequence[str | int], why: str) -> PolicyError:
        line = _line_of(self.root, path)
        where = f"{self.source}:{line}" if line else self.source
        dotted = ".".join(str(p) for p in path)
        return PolicyError(f"{where}: field '{dotted}': {why}")


def _line_of(node: yaml.Node | None, path: Sequence[str | int]) -> int | None:
    line = None
    for step in path:
        if isinstance(node, yaml.MappingNode):
            found = None
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(step):
                    found = (key, value)
                    break
            if found is None:
                break
            line = found[0].start_mark.line + 1
            node = found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
            line = node.start_mark.line + 1
        else:
            break
    return line


def parse(text: str, source: str) -> Policy:
    """Parse and check a policy document; errors name `source`, the line and the field."""
    try:
        data, root = yamlload.load(text)
    except yamlload.YamlProblem as exc:
        where = f":{exc.line}" if exc.line is not None else ""
        raise PolicyError(f"{source}{where}: {exc.why}") from None
    bad = _Bad(source, root)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: the policy is a mapping of fields")
    for key in data:
        if key not in _TOP:
            raise bad([str(key)], f"unknown field (known: {', '.join(sorted(_TOP))})")
    names = None
    if "names" in data:
        names = _patterns(data["names"], ["names"], bad)
    allow_wildcards = data.get("allow_wildcards", False)
    if not isinstance(allow_wildcards, bool):
        raise bad(["allow_wildcards"], "true or false")
    profiles = {DEFAULT_PROFILE: DEFAULT_LIFETIME_DAYS}
    if "profiles" in data:
        raw = data["profiles"]
        if not isinstance(raw, dict) or not raw:
            raise bad(["profiles"], "a mapping of profile names to {lifetime_days: N}")
        profiles = {}
        for name, spec in raw.items():
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9-]{1,64}", name):
                raise bad(["profiles", str(name)], "a profile name (letters, digits, '-')")
            spec = {} if spec is None else spec
            if not isinstance(spec, dict) or set(spec) - {"lifetime_days"}:
                raise bad(["profiles", name], "a mapping with the field lifetime_days")
            days = spec.get("lifetime_days", DEFAULT_LIFETIME_DAYS)
            if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650:
                raise bad(["profiles", name, "lifetime_days"], "a whole number of days from 1 to 3650")
            profiles[name] = days
    default_profile = data.get("default_profile", DEFAULT_PROFILE if DEFAULT_PROFILE in profiles else None)
    if default_profile is None:
        default_profile = sorted(profiles)[0]
    if not isinstance(default_profile, str) or default_profile not in profiles:
        raise bad(["default_profile"], f"one of the profiles listed under 'profiles' ({', '.join(sorted(profiles))})")
    key_types: tuple[str, ...] = DEFAULT_KEY_TYPES
    if "key_types" in data:
        key_types = _choices(data["key_types"], ["key_types"], KEY_TYPES, bad)
    limits = data.get("rate_limits", {}) or {}
    if not isinstance(limits, dict):
        raise bad(["rate_limits"], "a mapping")
    known_limits = {"orders_per_account_per_hour": DEFAULT_ORDERS_PER_HOUR,
                    "certificates_per_name_per_week": DEFAULT_CERTS_PER_NAME_PER_WEEK}
    for key in limits:
        if key not in known_limits:
            raise bad(["rate_limits", str(key)], f"unknown limit (known: {', '.join(known_limits)})")
    values = {}
    for key, default in known_limits.items():
        value = limits.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000_000:
            raise bad(["rate_limits", key], "a whole number from 1 to 10000000")
        values[key] = value
    att = data.get("attestation", {}) or {}
    if not isinstance(att, dict):
        raise bad(["attestation"], "a mapping")
    for key in att:
        if key not in ("names", "pin_policy", "touch_policy"):
            raise bad(["attestation", str(key)], "unknown field (known: names, pin_policy, touch_policy)")
    att_names = _patterns(att.get("names", []), ["attestation", "names"], bad) if "names" in att else ()
    pins = _choices(att["pin_policy"], ["attestation", "pin_policy"], PIN_POLICIES, bad) if "pin_policy" in att else DEFAULT_PIN_POLICIES
    touches = (_choices(att["touch_policy"], ["attestation", "touch_policy"], TOUCH_POLICIES, bad)
               if "touch_policy" in att else DEFAULT_TOUCH_POLICIES)
    accounts: dict[str, AccountRule] = {}
    raw_accounts = data.get("accounts", {}) or {}
    if not isinstance(raw_accounts, dict):
        raise bad(["accounts"], "a mapping of account names")
    for name, spec in raw_accounts.items():
        if not isinstance(name, str) or not ACCOUNT_NAME.match(name):
            raise bad(["accounts", str(name)], "an account name (letters, digits and . _ @ -)")
        spec = {} if spec is None else spec
        if not isinstance(spec, dict):
            raise bad(["accounts", name], "a mapping")
        for key in spec:
            if key not in ("names", "profiles", "yubikeys"):
                raise bad(["accounts", name, str(key)], "unknown field (known: names, profiles, yubikeys)")
        rule_names = _patterns(spec["names"], ["accounts", name, "names"], bad) if "names" in spec else None
        rule_profiles = None
        if "profiles" in spec:
            rule_profiles = _choices(spec["profiles"], ["accounts", name, "profiles"], tuple(profiles), bad)
        yubikeys = None
        if "yubikeys" in spec:
            raw_keys = spec["yubikeys"]
            if not isinstance(raw_keys, list) or not all(
                    isinstance(k, int) and not isinstance(k, bool) and 0 <= k < 2**32 for k in raw_keys):
                raise bad(["accounts", name, "yubikeys"], "a list of YubiKey serial numbers")
            yubikeys = tuple(raw_keys)
        accounts[name] = AccountRule(rule_names, rule_profiles, yubikeys)
    return Policy(
        names=names, allow_wildcards=allow_wildcards, default_profile=default_profile, profiles=profiles,
        key_types=key_types, orders_per_account_per_hour=values["orders_per_account_per_hour"],
        certificates_per_name_per_week=values["certificates_per_name_per_week"], attestation_names=att_names,
        pin_policies=pins, touch_policies=touches, accounts=accounts, source=source,
    )


ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def _patterns(value: Any, path: list[str | int], bad: _Bad) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise bad(path, "a list of name patterns")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not valid_pattern(item.lower()):
            raise bad([*path, i], "a DNS name, a pattern with * inside labels (cim-*.example.com) "
                                  "or a suffix starting with a dot (.example.com)")
        out.append(item.lower())
    return tuple(out)


def _choices(value: Any, path: list[str | int], allowed: Sequence[str], bad: _Bad) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise bad(path, f"a non-empty list of: {', '.join(allowed)}")
    for i, item in enumerate(value):
        if item not in allowed:
            raise bad([*path, i], f"'{item}' is not one of: {', '.join(allowed)}")
    return tuple(value)
