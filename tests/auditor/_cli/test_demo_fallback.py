"""The embedded demo is announced, never silent: commands that fall back to it say so in one
line on stderr; those that run unattended or over a fleet refuse to, unless --demo is given."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli

NOTE = "auditor: note: no --inventory and no ./auditor.yaml: using the embedded demo inventory"


def test_the_first_command_of_the_readme_works_and_says_it_uses_the_demo(tmp_path: Path) -> None:
    run = run_cli("scan", "--target", "cim-prod-001", "--no-store", cwd=tmp_path)
    assert run.code == 1, run.err
    assert "Verdict: NOT READY" in run.out
    assert run.err.splitlines() == [NOTE + " (target cim-prod-001)"]


@pytest.mark.parametrize(
    "args",
    [
        ("targets", "list"),
        ("schedule", "list"),
        ("collect", "--target", "cim-prod-001", "-o", "bundle.json"),
    ],
)
def test_every_fallback_is_announced_once(tmp_path: Path, args: tuple[str, ...]) -> None:
    run = run_cli(*args, cwd=tmp_path)
    assert run.code == 0, run.err
    assert run.err.count(NOTE) == 1, run.err


def test_no_note_when_the_inventory_is_named(tmp_path: Path) -> None:
    demo = run_cli("targets", "list", "--demo", cwd=tmp_path)
    assert demo.code == 0 and demo.err == "" and "cim-prod-001" in demo.out
    (tmp_path / "auditor.yaml").write_text(
        "version: 1\ntargets:\n  - name: n\n    environment: test\n    policies: [cim-production]\n"
        "    sources:\n      - {collector: certificates, paths: [certs]}\n"
    )
    local = run_cli("targets", "list", cwd=tmp_path)
    assert local.code == 0 and local.err == "" and "cim-prod-001" not in local.out


@pytest.mark.parametrize(
    "args",
    [
        ("serve",),
        ("scan", "--all"),
        ("scan", "--tag", "demo"),
        ("schedule", "export", "--systemd", "-o", "out"),
        ("waivers",),
    ],
)
def test_unattended_and_fleet_commands_refuse_the_fallback(tmp_path: Path, args: tuple[str, ...]) -> None:
    run = run_cli(*args, cwd=tmp_path)
    assert run.code == 2, run.err
    lines = run.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("auditor: error: no inventory"), run.err
    assert "--inventory" in lines[0] and "--demo" in lines[0]
    assert list(tmp_path.iterdir()) == []  # nothing was written


def test_refusing_commands_run_on_the_demo_when_asked(tmp_path: Path) -> None:
    run = run_cli("waivers", "--demo", cwd=tmp_path)
    assert run.code == 0 and run.err == "" and "CERT-00" in run.out
    both = run_cli("waivers", "--demo", "--inventory", "x.yaml", cwd=tmp_path)
    assert both.code == 2 and "not allowed with" in both.err
