"""Evidence kinds: each has a JSON Schema in auditor/schemas/evidence/<kind>.schema.json."""

from __future__ import annotations

import functools
from importlib import resources

from auditor.loader.schema import SCHEMA_PACKAGE, schema_errors

SUFFIX = ".schema.json"


@functools.cache
def known_kinds() -> frozenset[str]:
    folder = resources.files(SCHEMA_PACKAGE).joinpath("evidence")
    return frozenset(p.name[: -len(SUFFIX)] for p in folder.iterdir() if p.name.endswith(SUFFIX))


def schema_id(kind: str) -> str:
    return f"urn:auditor:schemas:evidence/{kind}"


def data_errors(kind: str, data: object) -> list[tuple[tuple[object, ...], str]]:
    """Schema errors of one record's data (an unknown kind is itself an error)."""
    if kind not in known_kinds():
        return [((), f"unknown evidence kind '{kind}'")]
    return schema_errors(data, f"evidence/{kind}")
