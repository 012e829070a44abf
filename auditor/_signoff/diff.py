"""What changed between two JSON documents, said in a few lines a person can read."""

from __future__ import annotations

import json
from typing import Any

from auditor._loader.yamlfile import dotted_path


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 70 else text[:67] + "…"


def _label(path: tuple[Any, ...], value: Any) -> str:
    where = dotted_path(path) or "(the document)"
    if isinstance(value, dict) and "rule_id" in value and "resource" in value:
        where += f" ({value['rule_id']} {value['resource']})"
    return where


def json_diff(old: Any, new: Any, path: tuple[Any, ...] = ()) -> list[str]:
    """Every difference from `old` to `new`: `findings[3] (CERT-004 x.pem).status: "fail" → "pass"`."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            if key not in new:
                out.append(f"{dotted_path((*path, key))}: removed (was {_short(old[key])})")
            elif key not in old:
                out.append(f"{dotted_path((*path, key))}: added ({_short(new[key])})")
            else:
                out.extend(json_diff(old[key], new[key], (*path, key)))
        return [_prefix(line, path, old) for line in out] if path and _needs_label(old) else out
    if isinstance(old, list) and isinstance(new, list):
        out = []
        if len(old) != len(new):
            out.append(f"{dotted_path(path) or '(the document)'}: {len(old)} → {len(new)} entries")
        for i, (a, b) in enumerate(zip(old, new, strict=False)):
            out.extend(json_diff(a, b, (*path, i)))
        return out
    if old == new and type(old) is type(new):
        return []
    return [f"{dotted_path(path) or '(the document)'}: {_short(old)} → {_short(new)}"]


def _needs_label(value: Any) -> bool:
    return isinstance(value, dict) and "rule_id" in value and "resource" in value


def _prefix(line: str, path: tuple[Any, ...], value: Any) -> str:
    plain = dotted_path(path)
    return line.replace(plain, _label(path, value), 1) if line.startswith(plain) else line


def describe(old: Any, new: Any, *, limit: int = 3) -> str:
    """The first `limit` differences on one line, and how many more there are."""
    diffs = json_diff(old, new)
    if not diffs:
        return ""
    text = "; ".join(diffs[:limit])
    if len(diffs) > limit:
        text += f" (and {len(diffs) - limit} more)"
    return text
