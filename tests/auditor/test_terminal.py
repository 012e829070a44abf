"""Issue 18: escape and control bytes from any input never reach the terminal raw."""

from __future__ import annotations

import ast
import io
import json
import logging
import os
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from auditor._terminal import guard, guard_encoded, log_handler, printable, warn
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


ROOT = Path(__file__).resolve().parents[2]
HOSTILE = "r\x1b[2K\rFAKE"


def _sources() -> list[Path]:
    return sorted(p for package in ("auditor", "pki") for p in (ROOT / package).rglob("*.py"))


def test_there_is_one_escaper_and_pki_uses_it_too() -> None:
    """pki never imports auditor, so the escaper lives in pki.terminal and auditor re-exports it;
    no other module escapes control characters its own way (an `isprintable()` loop)."""
    import pki.terminal
    from pki.webpki import name_problem

    assert printable is pki.terminal.printable
    assert f"'{printable(HOSTILE)}' is not a valid DNS name" in str(name_problem(HOSTILE))
    own = [str(p.relative_to(ROOT)) for p in _sources()
           if "isprintable()" in p.read_text() and p != ROOT / "pki" / "terminal.py"]
    assert own == []


def _stderr_writers(tree: ast.AST) -> list[int]:
    """Lines that write to stderr other than through auditor._terminal: print(..., file=sys.stderr),
    sys.stderr.write(...), a logging handler or formatter of their own."""
    def is_stderr(node: ast.AST) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "stderr"

    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Name) and f.id == "print" and any(k.arg == "file" for k in node.keywords):
            file = next(k.value for k in node.keywords if k.arg == "file")
            if any(is_stderr(n) for n in ast.walk(file)):
                lines.append(node.lineno)
        elif isinstance(f, ast.Attribute) and f.attr == "write" and is_stderr(f.value):
            lines.append(node.lineno)
        elif isinstance(f, ast.Attribute) and f.attr in {"StreamHandler", "Formatter", "basicConfig"} \
                and not any(k.arg == "handlers" for k in node.keywords):
            lines.append(node.lineno)
    return lines


def test_every_stderr_line_goes_through_the_one_escaper() -> None:
    """What reaches stderr (warnings, errors, notes, log lines) goes through auditor._terminal.warn
    or its log handler, which escape control characters; nowhere else writes to stderr."""
    allowed = {ROOT / "auditor" / "_terminal.py"}
    found = [f"{p.relative_to(ROOT)}:{n}" for p in _sources() if p not in allowed
             for n in _stderr_writers(ast.parse(p.read_text()))]
    assert found == [], "write to stderr with auditor._terminal.warn (or log_handler): " + ", ".join(found)


def test_warn_and_log_lines_escape_control_characters() -> None:
    stream = io.StringIO()
    warn(f"auditor: warning: {HOSTILE}\nnext", stream=stream)
    assert stream.getvalue() == "auditor: warning: r\\x1b[2K\\rFAKE\\nnext\n"
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "user %s", (HOSTILE,), None)
    assert log_handler("%(message)s").format(record) == "user r\\x1b[2K\\rFAKE"


def test_a_file_name_in_a_warning_reaches_stderr_escaped(tmp_path: Path) -> None:
    """A file name holding `\\x1b[2K\\r` in the warnings and errors of three commands."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / f"{HOSTILE}.yaml").write_text("x: [\n")
    validated = run_cli("rules", "validate", str(rules))
    db = tmp_path / f"{HOSTILE}.sqlite"
    from auditor._history.sqlite import SQLiteStore

    SQLiteStore(db).close()
    os.chmod(db, 0o644)
    history = run_cli("history", "--db", str(db))
    bad = tmp_path / f"{HOSTILE}.json"
    bad.write_text("{")
    report = run_cli("report", str(bad))
    for run, code in ((validated, 2), (history, 0), (report, 2)):
        assert run.code == code, run.err
        assert "r\\x1b[2K\\rFAKE" in run.err and "\x1b" not in run.err and "\r" not in run.err, run.err


@given(st.text(alphabet=st.characters(max_codepoint=0x3000)), st.booleans())
def test_guard_encoded_is_guard_encoded(text: str, styled: bool) -> None:
    """The byte check that spares the pattern escapes exactly what guard() escapes."""
    assert guard_encoded(text, styled=styled) == guard(text, styled=styled).encode()


def test_guard_encoded_escapes_every_c0_character_but_tab_and_newline() -> None:
    for code in range(256):
        char = chr(code)
        escaped = guard_encoded(f"a{char}b")
        assert (escaped == f"a{char}b".encode()) == (char in "\t\n" or code >= 32), code
