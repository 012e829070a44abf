"""Where the built-in rules/ and policies/ are.

In a wheel they are package data under auditor/_builtin/ (pyproject's force-include); in a
source checkout (an editable install, or the tests) they are the top-level folders.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def builtin_dir(name: str) -> Path:
    """The folder of built-in `rules` or `policies`."""
    packaged = Path(str(resources.files("auditor"))) / "_builtin" / name
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parent.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"built-in {name} are missing from this installation of auditor")


def checklist_dir() -> Path:
    return Path(str(resources.files("auditor._data"))) / "checklists"
