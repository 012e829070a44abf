"""Schedules in the inventory: per target and per tag, a bad one located at its file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor._inventory.load import load_inventory
from auditor._schedule import plan
from auditor.errors import ConfigError
from tests.conftest import run_cli

BASE = """\
version: 1
schedules:
  - tag: edge
    schedule: "{tag}"
targets:
  - name: a
    environment: production
    tags: [edge]
    policies: [cim-production]
    schedule: "{target}"
    sources: []
  - name: b
    environment: production
    tags: [edge]
    policies: [cim-production]
    sources: []
"""


def write(tmp: Path, *, tag: str = "@daily", target: str = "*/5 * * * *") -> Path:
    path = tmp / "auditor.yaml"
    path.write_text(BASE.format(tag=tag, target=target))
    return path


def test_plan(tmp_path: Path) -> None:
    schedules = plan(load_inventory(write(tmp_path)))
    assert [(s.name, [t.name for t in s.targets]) for s in schedules] == [
        ("target-a", ["a"]), ("tag-edge", ["a", "b"]),
    ]
    assert schedules[0].scan_args() == ["--target", "a"] and schedules[1].scan_args() == ["--tag", "edge"]


@pytest.mark.parametrize(
    ("kwargs", "line", "field", "fragment"),
    [
        ({"target": "61 * * * *"}, 10, "targets[0].schedule", "not a valid cron expression"),
        ({"tag": "0 0 1 * mon"}, 4, "schedules[0].schedule", "restricts both"),
        ({"tag": "every day"}, 4, "schedules[0].schedule", "has 2 fields"),
    ],
)
def test_bad_schedules_are_located(tmp_path: Path, kwargs: dict[str, str], line: int, field: str, fragment: str) -> None:
    path = write(tmp_path, **kwargs)
    with pytest.raises(ConfigError) as caught:
        load_inventory(path)
    err = caught.value
    assert (err.file, err.line, err.field) == (str(path), line, field)
    assert fragment in err.diagnostics()
    run = run_cli("schedule", "list", "--inventory", str(path))
    assert run.code == 2 and run.err.startswith(f"auditor: error: {path}:{line}: field '{field}'")


def test_tag_schedule_must_select_a_target(tmp_path: Path) -> None:
    path = tmp_path / "auditor.yaml"
    path.write_text(BASE.format(tag="@daily", target="@hourly").replace("  - tag: edge", "  - tag: core"))
    with pytest.raises(ConfigError, match="no target has tag 'core'") as caught:
        load_inventory(path)
    assert caught.value.line == 3


def test_schedule_list(tmp_path: Path) -> None:
    run = run_cli("schedule", "list", "--inventory", str(write(tmp_path)))
    assert run.code == 0
    assert "target-a: */5 * * * *" in run.out and "tag-edge: @daily" in run.out and "targets: a, b" in run.out
