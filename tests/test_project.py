"""The project's own promises: README commands, CI entry point, layout, lint and types."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.servers import tool

REPO = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text, re.DOTALL)
    assert block, "README.md must open with a sh block of the two commands"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def test_readme_opens_with_the_two_commands() -> None:
    demo, tests = readme_commands()[:2]
    assert "auditor scan --target cim-prod-001" in demo
    assert "pytest" in tests
    ci = (REPO / ".ci/run").read_text()
    assert tests in ci.splitlines(), ".ci/run must run the README's test command verbatim"


def test_top_level_layout() -> None:
    for name in ("pyproject.toml", "auditor", "policies", "pki", "rules", "tests", "reports", "docs", "README.md", ".ci"):
        assert (REPO / name).exists(), name


def test_pki_never_imports_auditor() -> None:
    code = (
        "import sys, pkgutil, importlib, pki\n"
        "for m in pkgutil.walk_packages(pki.__path__, 'pki.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = [m for m in sys.modules if m == 'auditor' or m.startswith('auditor.')]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_clean() -> None:
    proc = subprocess.run([tool("ruff"), "check", "."], capture_output=True, text=True, cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_clean() -> None:
    proc = subprocess.run([tool("mypy")], capture_output=True, text=True, cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_yaml_load_without_safe_loader() -> None:
    offenders = []
    for path in list((REPO / "auditor").rglob("*.py")) + list((REPO / "pki").rglob("*.py")):
        text = path.read_text()
        if re.search(r"yaml\.(load|load_all|unsafe_load|full_load)\(", text):
            offenders.append(str(path))
        if re.search(r"shell\s*=\s*True", text):
            offenders.append(f"{path} (shell=True)")
    assert offenders == []
