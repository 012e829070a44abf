"""The public face of the packages: `auditor.__all__` (and `pki.__all__`) is the library API,
every name in it resolves to what it says, and every public definition in it is documented."""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect
import pkgutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import auditor
import pki

REPO = Path(__file__).resolve().parents[2]


def test_the_api_names_resolve_even_after_every_module_is_imported() -> None:
    """No submodule shadows an exported name (importing `auditor.x` binds `x` on the package)."""
    for info in pkgutil.walk_packages(auditor.__path__, "auditor."):
        if "._demo.node" not in info.name and not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    for name in auditor.__all__:
        value = getattr(auditor, name)
        assert not inspect.ismodule(value), name
    from auditor._scan import collect, evaluate_bundle, scan_target

    assert (auditor.collect, auditor.evaluate, auditor.scan) == (collect, evaluate_bundle, scan_target)
    assert sorted(auditor.__all__) == sorted(set(auditor.__all__))
    assert set(auditor.__all__) == {"__version__", *auditor._EXPORTS}
    assert set(auditor.__all__) <= set(dir(auditor))
    with pytest.raises(AttributeError):
        _ = auditor.no_such_name


def test_import_auditor_loads_nothing_but_itself() -> None:
    code = "import sys, auditor; print(sorted(m for m in sys.modules if m.startswith('auditor')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert out.strip() == "['auditor']"


def test_the_library_scans_the_demo_through_the_api() -> None:
    from auditor._demo import demo_inventory

    target = demo_inventory().target("cim-prod-001")
    bundle, result = auditor.scan(target)
    assert (type(result).__name__, type(bundle).__name__) == ("RedactedResult", "Bundle")
    catalog = auditor.Catalog.load(target.rule_paths, target.policy_paths)  # the node's waivers pack
    again = auditor.evaluate(bundle, auditor.EvaluateOptions(), catalog=catalog)
    assert {f.rule_id for f in again.findings} == {f.rule_id for f in result.findings}
    assert auditor.result_exit_code(result) == auditor.ExitCode.FINDINGS


def _public_members(cls: type) -> Iterator[tuple[str, Any]]:
    """The methods and properties a class defines itself (not inherited, not _private)."""
    for name, member in vars(cls).items():
        if name.startswith("_") or isinstance(member, enum.Enum):
            continue
        if isinstance(member, staticmethod | classmethod):
            member = member.__func__
        if inspect.isfunction(member) or isinstance(member, property):
            yield name, member


def _documented(obj: Any, name: str) -> bool:
    doc = obj.__doc__ or ""
    if inspect.isclass(obj) and dataclasses.is_dataclass(obj) and doc.startswith(f"{name}("):
        return False  # the signature dataclasses writes when a class has no docstring
    return bool(doc.strip())


def _api() -> Iterator[tuple[str, Any]]:
    for package in (auditor, pki):
        for name in package.__all__:
            if not name.startswith("__"):
                yield f"{package.__name__}.{name}", getattr(package, name)


def test_every_public_definition_has_a_docstring() -> None:
    missing = []
    for qualified, obj in _api():
        short = qualified.rsplit(".", 1)[1]
        if not _documented(obj, short):
            missing.append(qualified)
        if inspect.isclass(obj):
            missing.extend(
                f"{qualified}.{name}"
                for name, member in _public_members(obj)
                if not _documented(member, name)
            )
    assert missing == []


def test_the_docstring_check_can_fail() -> None:
    @dataclasses.dataclass
    class Bare:
        x: int

        def act(self) -> None:
            pass

    assert not _documented(Bare, "Bare")
    assert [name for name, m in _public_members(Bare) if not _documented(m, name)] == ["act"]
