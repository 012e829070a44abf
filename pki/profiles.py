"""Certificate profiles as data: the shipped ones (pki/data/profiles/*.yaml) and a CA's own.

A CA folder may hold `profiles/NAME.yaml`, which replaces the shipped profile of that name
(for example to change a lifetime). Every field is checked; an error names the file and field.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from cryptography.x509.oid import ExtendedKeyUsageOID

from pki import yamlload
from pki.errors import ProfileError
from pki.fsutil import ReadError, read_regular
from pki.keytypes import KEY_TYPES

KINDS = ("root", "intermediate", "leaf")
KEY_USAGES = (
    "digitalSignature", "contentCommitment", "keyEncipherment", "dataEncipherment",
    "keyAgreement", "keyCertSign", "cRLSign",
)
EKUS = {
    "serverAuth": ExtendedKeyUsageOID.SERVER_AUTH,
    "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "codeSigning": ExtendedKeyUsageOID.CODE_SIGNING,
    "emailProtection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "OCSPSigning": ExtendedKeyUsageOID.OCSP_SIGNING,
}
_FIELDS = {
    "name", "kind", "description", "lifetime_days", "max_lifetime_days", "key_type", "key_types",
    "path_length", "key_usage", "extended_key_usage", "organizational_unit", "require_san",
}
MAX_SHIPPED_BYTES = 64 * 1024
MAX_LIFETIME_DAYS = 36500
"""No certificate is made for longer than 100 years, whatever a profile or `--days` says."""
MAX_PATH_LENGTH = 8
"""The longest path length a CA profile (or `--pathlen`) may give: more is never needed here."""
CA_KEY_TYPES = tuple(k for k in KEY_TYPES if k != "rsa-2048")
"""Key types a CA profile allows by default: RSA keys of CAs have at least 3072 bits."""


@dataclass(frozen=True)
class Profile:
    """What a certificate of one role looks like."""

    name: str
    kind: str
    description: str
    lifetime_days: int
    key_type: str
    key_usage: tuple[str, ...]
    extended_key_usage: tuple[str, ...] = ()
    path_length: int | None = None
    organizational_unit: str | None = None
    require_san: bool = False
    source: str = "shipped"
    max_lifetime_days: int = 0
    """The longest lifetime `--days` may ask for without an explicit, logged override
    (0: the same as `lifetime_days`)."""
    key_types: tuple[str, ...] = ()
    """Key types a certificate of this profile may have (empty: every type the kind allows)."""

    @property
    def max_days(self) -> int:
        return self.max_lifetime_days or self.lifetime_days

    @property
    def allowed_key_types(self) -> tuple[str, ...]:
        return self.key_types or (KEY_TYPES if self.kind == "leaf" else CA_KEY_TYPES)

    @property
    def is_ca(self) -> bool:
        return self.kind in ("root", "intermediate")


def _shipped_dir() -> Any:
    return resources.files("pki.data").joinpath("profiles")


def shipped_names() -> list[str]:
    return sorted(p.name[:-5] for p in _shipped_dir().iterdir() if p.name.endswith(".yaml"))


def parse_profile(text: str, source: str) -> Profile:
    """Parse and check one profile document; errors name `source` and the field."""
    try:
        data, _node = yamlload.load(text)
    except yamlload.YamlProblem as exc:
        where = f":{exc.line}" if exc.line is not None else ""
        raise ProfileError(f"{source}{where}: {exc.why}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{source}: a profile is a mapping of fields")

    def bad(field: str, why: str) -> ProfileError:
        return ProfileError(f"{source}: field '{field}': {why}")

    unknown = sorted(str(k) for k in data if k not in _FIELDS)
    if unknown:
        raise bad(unknown[0], f"unknown field (known: {', '.join(sorted(_FIELDS))})")
    for required in ("name", "kind", "lifetime_days", "key_usage"):
        if required not in data:
            raise bad(required, "missing")
    name, kind = data["name"], data["kind"]
    if not isinstance(name, str) or not name or not name.replace("-", "").isalnum():
        raise bad("name", "letters, digits and '-' only")
    if kind not in KINDS:
        raise bad("kind", f"one of {', '.join(KINDS)}")
    days = data["lifetime_days"]
    if not _whole(days, 1, MAX_LIFETIME_DAYS):
        raise bad("lifetime_days", f"a whole number of days from 1 to {MAX_LIFETIME_DAYS}")
    max_days = data["max_lifetime_days"] if "max_lifetime_days" in data else days
    if not _whole(max_days, days, MAX_LIFETIME_DAYS):
        raise bad("max_lifetime_days", f"a whole number of days from lifetime_days ({days}) to {MAX_LIFETIME_DAYS}")
    key_types = _str_list(data.get("key_types", []), "key_types", bad)
    for k in key_types:
        if k not in KEY_TYPES:
            raise bad("key_types", f"'{k}' is not one of {', '.join(KEY_TYPES)}")
        if kind != "leaf" and k not in CA_KEY_TYPES:
            raise bad("key_types", f"'{k}' is too weak for a CA (RSA CA keys have at least 3072 bits)")
    key_type = data.get("key_type", key_types[0] if key_types else "ecdsa-p256")
    if key_type not in KEY_TYPES:
        raise bad("key_type", f"one of {', '.join(KEY_TYPES)}")
    if key_type not in (key_types or (KEY_TYPES if kind == "leaf" else CA_KEY_TYPES)):
        raise bad("key_type", f"'{key_type}' is not among the profile's key_types")
    usages = _str_list(data["key_usage"], "key_usage", bad)
    for u in usages:
        if u not in KEY_USAGES:
            raise bad("key_usage", f"'{u}' is not one of {', '.join(KEY_USAGES)}")
    ekus = _str_list(data.get("extended_key_usage", []), "extended_key_usage", bad)
    for e in ekus:
        if e not in EKUS:
            raise bad("extended_key_usage", f"'{e}' is not one of {', '.join(EKUS)}")
    path_length = data.get("path_length")
    if kind == "leaf":
        if path_length is not None:
            raise bad("path_length", "only CA profiles have a path length")
        if "keyCertSign" in usages:
            raise bad("key_usage", "a leaf profile cannot have keyCertSign")
    else:
        if not _whole(path_length, 0, MAX_PATH_LENGTH):
            raise bad("path_length", f"a CA profile needs a path length from 0 to {MAX_PATH_LENGTH}")
        if "keyCertSign" not in usages:
            raise bad("key_usage", "a CA profile needs keyCertSign")
    ou = data.get("organizational_unit")
    if ou is not None and (not isinstance(ou, str) or not ou.strip()):
        raise bad("organizational_unit", "a non-empty string")
    require_san = data.get("require_san", False)
    if not isinstance(require_san, bool):
        raise bad("require_san", "true or false")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise bad("description", "a string")
    return Profile(
        name=name, kind=kind, description=description, lifetime_days=days, key_type=key_type,
        key_usage=tuple(usages), extended_key_usage=tuple(ekus), path_length=path_length,
        organizational_unit=ou, require_san=require_san, source=source,
        max_lifetime_days=max_days, key_types=tuple(key_types),
    )


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _str_list(value: Any, field: str, bad: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad(field, "a list of names")
    return list(value)


@functools.lru_cache(maxsize=64)
def _parse_cached(text: str, source: str) -> Profile:
    return parse_profile(text, source)


def load_profile(name: str, ca_dir: Path | None = None) -> Profile:
    """The profile `name`: the CA folder's own `profiles/NAME.yaml` first, else the shipped one."""
    if ca_dir is not None:
        own = ca_dir / "profiles" / f"{name}.yaml"
        if own.is_file():
            try:
                text = read_regular(own, MAX_SHIPPED_BYTES).decode("utf-8")
            except ReadError as exc:
                raise ProfileError(f"{own}: cannot read: {exc.reason}") from None
            except UnicodeDecodeError as exc:
                raise ProfileError(f"{own}: cannot read: {exc}") from None
            return _named(_parse_cached(text, str(own)), name, str(own))
    shipped = _shipped_dir().joinpath(f"{name}.yaml")
    if not shipped.is_file():
        known = shipped_names()
        raise ProfileError(f"unknown profile '{name}' (known: {', '.join(known)})")
    return _named(_parse_cached(shipped.read_text(encoding="utf-8"), f"profile {name}"), name, name)


def _named(profile: Profile, name: str, source: str) -> Profile:
    if profile.name != name:
        raise ProfileError(f"{source}: field 'name': is '{profile.name}', the file is named '{name}'")
    return profile
