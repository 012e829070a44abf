"""Collectors build the evidence types themselves (issue 14, item 2), and domain packages know
nothing of evidence records.

A collector maps a domain package's typed results onto the evidence types field by field; it
neither hands plain dicts to a decoding seam (the former `CollectContext.adapt`, `interface.typed`)
nor decodes them with msgspec, except where it reads JSON (a recording, the lint cache, a JWT's
claims).
Untrusted values of the wrong type are checked where they are copied (collectors/_untrusted)
and become a failure of that one record.
"""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._collectors import _untrusted as untrusted
from auditor._collectors import run_collector
from auditor._collectors import yubikey as yk
from auditor._collectors.interface import CollectContext
from auditor._inventory.model import SourceSpec, Target
from auditor.evidence.record import Evidence, Failure
from tests.softpiv import SoftPivCard
from tests.softpiv.devices import provision

ROOT = Path(__file__).resolve().parents[3]
COLLECTORS = ROOT / "auditor" / "_collectors"
TYPED = tuple(sorted(p.relative_to(COLLECTORS).with_suffix("").as_posix() for p in COLLECTORS.rglob("*.py")))
"""Every module of the collectors package: each builds its evidence types directly."""
DECODERS = {("certificates", "Lint"), ("recorded", "kind"), ("nats_credentials", "NatsJwt")}
"""msgspec.convert calls that decode JSON (the lint cache, a recording, a JWT's untrusted claims,
whose misfit is a failure record), by module and type argument."""
DOMAIN = ("auditor/_sops", "auditor/_secrets", "auditor/_nats", "auditor/_host", "pki")


def test_every_collector_is_checked() -> None:
    """The list above is the collectors package (so the checks below cannot miss a collector)."""
    from auditor._collectors import COLLECTORS

    modules = {COLLECTORS.load(name).__module__ for name in COLLECTORS.names()}
    assert len(modules) == len(COLLECTORS.names()) > 10
    assert {m.removeprefix("auditor._collectors.").replace(".", "/") for m in modules} <= set(TYPED)


def test_the_decoding_seam_is_gone() -> None:
    from auditor._collectors import interface

    assert not hasattr(interface.CollectContext, "adapt")
    assert not hasattr(interface, "typed") and not hasattr(interface, "ShapeError")


def _calls(module: str) -> list[ast.Call]:
    tree = ast.parse((COLLECTORS / f"{module}.py").read_text())
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return f"{_name(func.value)}.{func.attr}"
    return func.id if isinstance(func, ast.Name) else "?"


@pytest.mark.parametrize("module", TYPED)
def test_the_collector_builds_its_evidence_types(module: str) -> None:
    adapted = [f"line {c.lineno}: {_name(c.func)}" for c in _calls(module)
               if _name(c.func).endswith(".adapt") or _name(c.func) in ("typed", "interface.typed")]
    assert adapted == [], f"collectors/{module}.py hands plain data to the decoding seam: {adapted}"
    converted = [f"line {c.lineno}" for c in _calls(module)
                 if _name(c.func) in ("msgspec.convert", "convert")
                 and (module, _name(c.args[1]) if len(c.args) > 1 else "") not in DECODERS]
    assert converted == [], f"collectors/{module}.py decodes plain data into evidence: {converted}"


def test_the_check_finds_an_adapt_call(tmp_path: Path) -> None:
    """The check above can fail: it sees `ctx.adapt(...)` and msgspec.convert of plain data."""
    tree = ast.parse("def f(ctx, d):\n    yield ctx.adapt('r', K, d)\n    return msgspec.convert(d, K)\n")
    names = [_name(c.func) for c in ast.walk(tree) if isinstance(c, ast.Call)]
    assert "ctx.adapt" in names and "msgspec.convert" in names


@pytest.mark.parametrize("package", DOMAIN)
def test_domain_packages_know_nothing_of_evidence(package: str) -> None:
    offending = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom | ast.Import):
                modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                offending += [f"{path.relative_to(ROOT)}:{node.lineno} imports {m}" for m in modules
                              if m.startswith(("auditor.evidence", "auditor._collectors"))]
    assert offending == []


@pytest.mark.parametrize(("check", "value", "message"), [
    (lambda v: untrusted.text(v, "a.b"), 3, "Expected `str`, got `int` - at `$.a.b`"),
    (lambda v: untrusted.text_or_none(v, "x"), ["l"], "Expected `str | null`, got `array` - at `$.x`"),
    (lambda v: untrusted.flag_or_none(v, "x"), "yes", "Expected `bool | null`, got `str` - at `$.x`"),
    (lambda v: untrusted.one_of(v, ("never", "always"), "p"), "sometimes", "Invalid enum value 'sometimes' - at `$.p`"),
    (lambda v: untrusted.one_of(v, ("never", "always"), "p"), True, "Expected `str`, got `bool` - at `$.p`"),
    (lambda v: untrusted.texts(v, "l"), ["a", 1], "Expected `str`, got `int` - at `$.l[1]`"),
])
def test_untrusted_values_of_the_wrong_type_are_refused(check: object, value: object, message: str) -> None:
    with pytest.raises(untrusted.UnexpectedValue) as caught:
        check(value)  # type: ignore[operator]
    assert str(caught.value) == f"unexpected value: {message}"


def test_untrusted_values_of_the_right_type_pass() -> None:
    assert untrusted.text("a", "x") == "a" and untrusted.text_or_none(None, "x") is None
    assert untrusted.flag_or_none(False, "x") is False and untrusted.one_of("never", ("never",), "x") == "never"
    assert untrusted.one_of_or_none(None, ("never",), "x") is None and untrusted.texts(["a"], "x") == ("a",)


class _OddListing(yk.DeviceSource):
    """TEST DOUBLE: a device listing that says `fips: "yes"` (a string where a boolean belongs)."""

    name = "odd listing (test double)"

    def __init__(self, card: SoftPivCard) -> None:
        self.card = card

    def devices(self) -> list[yk.Device]:
        return [yk.Device(self.card.serial, self.card.connect, {"fips": "yes", "form_factor": "usb-a-keychain"})]


def test_a_value_of_the_wrong_type_fails_its_record_only(tmp_path: Path) -> None:
    card = SoftPivCard(serial=31234567, version=(5, 7, 4))
    provision(card, "9a", "ecdsa-p256", subject="admin")
    spec = SourceSpec("yubikey", "yubikeys", True, {})
    target = Target(name="t", environment="test", policies=("p",), sources=(spec,), root=tmp_path)
    with yk.using(_OddListing(card)):
        records = {r.resource: r for r in run_collector(CollectContext(target, spec, dt.datetime.now(dt.UTC)))}
    device = records["yubikey:31234567"]
    assert isinstance(device, Failure) and device.kind == "yubikey.device"
    assert device.error == "unexpected value: Expected `bool | null`, got `str` - at `$.fips`"
    assert isinstance(records["yubikey:31234567/9a"], Evidence)  # the slot is still collected
    assert isinstance(records["yubikeys"], Evidence)


json_values = st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=6),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                           max_leaves=8)
role_keys = st.sampled_from(["allow_any_name", "allowed_domains", "key_type", "key_bits", "ttl", "max_ttl", "no_store"])
mount_keys = st.sampled_from(["type", "description", "local", "options", "config"])


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(role_keys, json_values), st.dictionaries(st.text(max_size=6), st.dictionaries(mount_keys, json_values)))
def test_any_vault_answer_makes_valid_parts_or_a_value_error(role: dict[str, Any], table: dict[str, Any]) -> None:
    """Vault's JSON is untyped: whatever it says becomes valid parts of vault.pki/vault.server
    or a ValueError/TypeError (a failure of the record), never evidence of the wrong shape."""
    from auditor._collectors import vault
    from auditor.evidence.kinds import vault as ev

    try:
        parts = [vault._role("r", role, "roles[0]"), *vault._mount_table(table, "mounts"), *vault._audit_devices(table)]
    except (ValueError, TypeError):
        return
    for part in parts:
        msgspec.convert(msgspec.to_builtins(part), type(part))  # raises if a value is of the wrong type
    assert all(isinstance(p, ev.Role | ev.Mount | ev.AuditDevice) for p in parts)
