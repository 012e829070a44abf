"""Issue 18: escape and control bytes from any input never reach the terminal raw."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from auditor.terminal import guard, printable
from tests.conftest import run_cli

POD = """apiVersion: v1
kind: Pod
metadata:
  name: "p\\e[2K\\rFAKE LINE"
spec:
  containers:
  - name: c
    image: nginx
"""


def test_printable_escapes_control_characters() -> None:
    assert printable("p\x1b[2K\rFAKE") == "p\\x1b[2K\\rFAKE"
    assert printable("a\u202eb\x9bc\x7f") == "a\\u202eb\\x9bc\\x7f"
    assert printable("line\nnext", keep="\n") == "line\nnext"
    assert printable("plain ünïcode") == "plain ünïcode"


@given(st.text())
def test_guard_leaves_no_control_character_but_newline_and_tab(text: str) -> None:
    out = guard(text)
    assert not any(ord(c) < 0x20 and c not in "\n\t" for c in out)
    assert guard(out) == out


@given(st.text())
def test_guard_leaves_json_unchanged(text: str) -> None:
    doc = json.dumps({"name": text}, ensure_ascii=False, indent=1)
    assert guard(doc) == doc


def test_guard_keeps_the_renderers_colours_only_when_styled() -> None:
    assert guard("\x1b[31mFAIL\x1b[0m", styled=True) == "\x1b[31mFAIL\x1b[0m"
    assert guard("\x1b[31mFAIL\x1b[0m") == "\\x1b[31mFAIL\\x1b[0m"


def test_a_pod_name_cannot_erase_its_own_fail_line(tmp_path: Path) -> None:
    """Measured: a Pod named `p\\e[2K\\rFAKE LINE` erased its own FAIL line."""
    (tmp_path / "pod.yaml").write_text(POD)
    (tmp_path / "p\udcff.yaml").write_text(POD)  # a file name that is not UTF-8
    run = run_cli("scan", "--path", str(tmp_path), "--policy", "pss-restricted", "--no-store", "-v")
    assert run.code == 1, run.err
    assert "\x1b" not in run.out and "\r" not in run.out
    assert "Pod/p\\x1b[2K\\rFAKE LINE" in run.out
    assert "p\\xff.yaml" in run.out and "UnicodeEncodeError" not in run.out


def test_a_file_name_cannot_reach_the_terminal_raw(tmp_path: Path) -> None:
    (tmp_path / "a\udcff\x1b[2K.env").write_text('password = "Xk9#mQ2$vL7pR4wZ"\n')
    run = run_cli("secrets", "scan", str(tmp_path), cwd=tmp_path)
    assert run.code == 1, run.err
    assert "\x1b" not in run.out and "a\\xff\\x1b[2K.env:1:" in run.out
    doc = json.loads(run_cli("secrets", "scan", str(tmp_path), "--format", "json", cwd=tmp_path).out)
    assert doc["findings"][0]["file"].endswith("a\\xff\x1b[2K.env")  # JSON escapes ESC itself
