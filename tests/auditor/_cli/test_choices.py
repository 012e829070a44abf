"""Every choice the command line offers comes from a registry or an enum, and resolves
(pip-audit's test_to_format_is_exhaustive, for every closed vocabulary of the CLI)."""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Callable, Iterator
from importlib import resources

import pytest

from auditor._cli import build_parser
from auditor._collectors import COLLECTORS
from auditor._collectors.interface import Collector
from auditor._render import FORMATS
from auditor._render.interface import Renderer
from auditor._secrets import ENGINES
from auditor._secrets.engines import Engine
from auditor._severity import Severity
from auditor.errors import ConfigError
from pki.backends import BACKENDS
from pki.backends.interface import KeyBackend
from pki.errors import BackendError
from pki.keytypes import CA_KEY_TYPES, KEY_TYPES, KeyType
from pki.registry import Registry, UnknownName

Choice = tuple[tuple[str, ...], str, tuple[str, ...]]


def cli_choices() -> Iterator[Choice]:
    """(command path, option, choices) for every option of the CLI that has choices."""

    def walk(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> Iterator[Choice]:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, (*path, name))
            elif action.choices is not None:
                yield path, (action.option_strings or [action.dest])[-1], tuple(action.choices)

    yield from walk(build_parser(), ())


def _key_type(name: str) -> object:
    from pki.keys import check_key_type

    return check_key_type(KeyType(name).value)


def _member_of(module: str, vocabulary: str) -> Callable[[str], object]:
    """A resolver checking a choice against the library's own list (or mapping) of them."""

    def resolve(name: str) -> object:
        known = getattr(importlib.import_module(module), vocabulary)
        assert name in known, (module, vocabulary, name)
        return name

    return resolve


def _listing(name: str) -> object:
    assert name in ("text", "json")  # the listing commands' own two forms: a table or JSON
    return name


def _export_format(name: str) -> object:
    assert name == "nats"  # pki export writes a NATS tls block; the only format so far
    return name


RESOLVERS: dict[str, Callable[[str], object]] = {
    "--fail-on": Severity,
    "--threshold": Severity,
    "--key-type": _key_type,
    "--backend": BACKENDS.load,
    "--engine": ENGINES.load,
    "--reason": _member_of("pki.crl", "REASONS"),
    "--purpose": _member_of("pki.verify", "PURPOSES"),
    "--touch-policy": _member_of("pki.backends.yubikey", "TOUCH_POLICIES"),
    "--role": _member_of("auditor._signoff.model", "ROLES"),
    "--decision": _member_of("auditor._signoff.model", "DECISIONS"),
}
"""How each option's choices resolve into the library's object (a class, an enum member)."""


def resolver(path: tuple[str, ...], option: str) -> Callable[[str], object]:
    if option == "--format":
        if path in (("scan",), ("evaluate",), ("report",)):
            return FORMATS.load
        if path == ("pki", "export"):
            return _export_format
        return _listing
    return RESOLVERS[option]


@pytest.mark.parametrize("choice", list(cli_choices()), ids=lambda c: " ".join((*c[0], c[1])))
def test_every_cli_choice_resolves(choice: Choice) -> None:
    path, option, choices = choice
    resolve = resolver(path, option)
    for value in choices:
        assert resolve(value) is not None, (path, option, value)


def test_choices_are_the_whole_vocabulary() -> None:
    """The CLI offers exactly the registries' names and the enums' members (nothing dropped,
    nothing of its own), the CA commands the key types a CA key may have."""
    offered = {(path, option): set(choices) for path, option, choices in cli_choices()}
    assert offered[("scan",), "--format"] == offered[("report",), "--format"] == set(FORMATS.names())
    assert offered[("scan",), "--fail-on"] == offered[("serve",), "--threshold"] == {s.value for s in Severity}
    assert offered[("pki", "issue"), "--key-type"] == set(KEY_TYPES) == {k.value for k in KeyType}
    assert offered[("pki", "init"), "--key-type"] == set(CA_KEY_TYPES) == {k.value for k in KeyType if k.for_ca}
    assert offered[("pki", "init"), "--backend"] == set(BACKENDS.names())
    assert offered[("secrets", "scan"), "--engine"] == set(ENGINES.names())


@pytest.mark.parametrize(
    ("registry", "base"),
    [(COLLECTORS, Collector), (FORMATS, Renderer), (ENGINES, Engine), (BACKENDS, KeyBackend)],
    ids=["collectors", "formats", "engines", "backends"],
)
def test_every_registered_name_loads_a_class_of_that_name(registry: Registry[object], base: type) -> None:
    assert registry.names()
    for name in registry.names():
        cls = registry.load(name)
        assert issubclass(cls, base) and getattr(cls, "name", None) == name, name


def test_every_collector_has_an_options_schema() -> None:
    root = resources.files("auditor.schemas").joinpath("collectors")
    for name in COLLECTORS.names():
        schema = json.loads(root.joinpath(f"{name}.schema.json").read_text())
        assert schema["properties"]["collector"] == {"const": name}


def test_the_secrets_collector_offers_the_registered_engines() -> None:
    schema = json.loads(resources.files("auditor.schemas").joinpath("collectors", "secrets.schema.json").read_text())
    assert schema["properties"]["engines"]["items"]["enum"] == list(ENGINES.names())


def test_an_unknown_name_is_each_seams_own_error() -> None:
    with pytest.raises(ConfigError, match=r"unknown output format 'docx' \(known: text, json"):
        FORMATS.load("docx")
    with pytest.raises(ConfigError, match=r"unknown engine 'gitleaks'"):
        ENGINES.load("gitleaks")
    with pytest.raises(BackendError, match=r"ca\.json: unknown key backend 'tpm'"):
        BACKENDS.load("tpm")
    plain: Registry[object] = Registry("thing", "builtins:object", {"a": "builtins:int"})
    with pytest.raises(UnknownName) as caught:
        plain.load("b")
    assert (caught.value.name, caught.value.known) == ("b", ("a",))


def test_a_registered_class_of_the_wrong_kind_is_refused() -> None:
    wrong: Registry[Renderer] = Registry("output format", "auditor._render.interface:Renderer", {"x": "builtins:int"})
    with pytest.raises(TypeError, match=r"not a subclass"):
        wrong.load("x")
