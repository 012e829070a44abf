"""Issue 18: only regular files are opened, and every read has a bound.

The one way to read a file is pki.fsutil.read_regular (auditor._fsutil.read_user_bytes and
auditor._collectors._files.read_bounded wrap it with auditor's limits): it refuses a FIFO,
socket or device without blocking and reads at most a limit. This test scans the source of
auditor/ and pki/ for every other way of opening a file for reading (`open(...)`,
`Path.read_text()`, `Path.read_bytes()`, `Path.open()`, `os.open(...)` without a write flag,
`.read()` without a size) and fails on any not listed below with the reason it is safe. A new
unbounded read fails here: use read_regular (or a wrapper), or add it with its reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SHIPPED = "reads data shipped in the package (importlib.resources or the module's own source)"
OWN_TEMP = "reads a file auditor itself just wrote in a private temporary folder"
BOUNDED = "a bounded reader of its own: regular files only (checked on the descriptor), at most a limit"

ALLOWED: dict[tuple[str, str], str] = {
    ("pki/fsutil.py", "read_regular"): "the one bounded reader of regular files",
    ("pki/fsutil.py", "open_regular"): "the one opener of regular files read piece by piece (the pki log)",
    ("pki/fsutil.py", "fsync_folder"): "opens a folder to fsync it; reads nothing",
    ("pki/log.py", "repair_tail"): "checks the descriptor is a regular file; reads at most the last MiB",
    ("pki/ca.py", "CA.lock"): "the lock file: refused unless a regular file (see CA.lock); nothing read",
    ("pki/records.py", "rebuild"): "opens the inventory it just wrote, to fsync it; reads nothing",
    ("pki/profiles.py", "load_profile"): SHIPPED,
    ("pki/attestation.py", "installed"): SHIPPED,
    ("auditor/_policy/cel.py", "_signature"): SHIPPED,
    ("auditor/_policy/batch.py", "_code_digest"): SHIPPED,
    ("auditor/_render/html.py", "_load_template"): SHIPPED,
    ("auditor/_loader/schema.py", "load_schema"): SHIPPED,
    ("auditor/_host/nixos.py", "expression"): SHIPPED,
    ("auditor/_render/chromium.py", "html_to_pdf"): OWN_TEMP + " (Chromium's PDF)",
    ("auditor/_secrets/engines.py", "Trufflehog3Engine._scan_one"): OWN_TEMP + " (trufflehog3's report)",
    ("auditor/_demo/build.py", "_build_pki"): "copies the demo shipped in the package",
    ("auditor/_demo/nats_demo.py", "build_nats"): OWN_TEMP + " (the demo being built)",
    ("auditor/_demo/sops_dates.py", "date_sops_files"): OWN_TEMP + " (the demo being built)",
    ("auditor/_redact.py", "_read_key"): BOUNDED + " (4 KiB, O_NOFOLLOW)",
    ("auditor/_secrets/scanner.py", "Scanner.scan_file"): BOUNDED + " (streamed in windows)",
    ("auditor/_host/system.py", "HostFiles.read_bytes"): BOUNDED,
    ("auditor/_secrets/history.py", "KnownBlobs._from_tree"): BOUNDED + " (under the scanner's WINDOW, O_NOFOLLOW)",
    ("auditor/_secrets/memo.py", "_digest"): BOUNDED + " (O_NOFOLLOW, O_NONBLOCK; a byte budget; digested, never kept)",
    ("auditor/_remote/agent.py", "collect_child"): "reads the pickled task its own parent wrote to its stdin",
    ("auditor/_fleet.py", "worker_main"): "reads the pickled task its own parent wrote to its stdin",
    ("pki/containers.py", "_child"): "reads the PKCS#12 file its own parent read (bounded) and wrote to its stdin",
}

WRITE_FLAGS = {"O_WRONLY", "O_CREAT", "O_APPEND"}


def _mode(call: ast.Call, position: int) -> str | None:
    """The mode string given to an open call (positional at `position` or `mode=`), if literal."""
    args = [k.value for k in call.keywords if k.arg == "mode"] or call.args[position:position + 1]
    if args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
        return args[0].value
    return None if args else "r"


def _writes_only(mode: str | None) -> bool:
    return mode is not None and "r" not in mode and "+" not in mode


def _names(node: ast.AST) -> set[str]:
    return {n.attr if isinstance(n, ast.Attribute) else n.id
            for n in ast.walk(node) if isinstance(n, ast.Attribute | ast.Name)}


def unbounded_reads(tree: ast.AST) -> list[tuple[str, int, str]]:
    """(enclosing function, line, call) of every read that does not go through read_regular."""
    found: list[tuple[str, int, str]] = []

    def visit(node: ast.AST, scope: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                inner = child.name if not scope or isinstance(node, ast.Module) else f"{scope}.{child.name}"
                visit(child, inner if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else scope)
                continue
            if isinstance(child, ast.Call):
                what = _classify(child)
                if what:
                    found.append((scope, child.lineno, what))
            visit(child, scope)

    visit(tree, "")
    return found


def _classify(call: ast.Call) -> str | None:
    f = call.func
    if isinstance(f, ast.Name) and f.id == "open":
        return None if _writes_only(_mode(call, 1)) else "open()"
    if not isinstance(f, ast.Attribute):
        return None
    owner = f.value.id if isinstance(f.value, ast.Name) else None
    if owner in {"io", "codecs"} and f.attr == "open":
        return f"{owner}.open()"
    if owner == "os" and f.attr == "open":
        flags = call.args[1] if len(call.args) > 1 else None
        return None if flags is not None and _names(flags) & WRITE_FLAGS else "os.open()"
    if f.attr in {"read_text", "read_bytes"} and not call.args:
        return f".{f.attr}()"
    path_open = {k.arg for k in call.keywords} <= {"mode", "buffering", "encoding", "errors", "newline"}
    if f.attr == "open" and path_open and (not call.args or isinstance(call.args[0], ast.Constant)):
        return None if _writes_only(_mode(call, 0)) else ".open()"
    if f.attr == "read" and not call.args and not call.keywords:
        return ".read()"
    return None


def _sources() -> list[Path]:
    return sorted(p for package in ("auditor", "pki") for p in (ROOT / package).rglob("*.py"))


def test_every_read_is_of_a_regular_file_and_bounded() -> None:
    unexplained = []
    used = set()
    for path in _sources():
        rel = str(path.relative_to(ROOT))
        for scope, line, what in unbounded_reads(ast.parse(path.read_text(), str(path))):
            if (rel, scope) in ALLOWED:
                used.add((rel, scope))
            else:
                unexplained.append(f"{rel}:{line} {what} in {scope or 'the module'}")
    assert unexplained == [], (
        "read with pki.fsutil.read_regular (auditor._fsutil.read_user_bytes), or list the read in "
        "ALLOWED with the reason it is safe: " + "; ".join(unexplained))
    assert sorted(set(ALLOWED) - used) == [], "ALLOWED lists reads that are gone"


def test_the_scan_finds_what_it_must() -> None:
    """The scanner itself: each unbounded form is found, each bounded or writing form is not."""
    source = '''
def f(p, fd):
    open(p)
    open(p, "rb")
    open(p, "wb")
    p.read_text()
    p.read_bytes()
    p.open()
    p.open("w")
    files.read_text(p, 10)
    os.open(p, os.O_RDONLY)
    os.open(p, os.O_WRONLY | os.O_CREAT)
    fh.read()
    fh.read(10)
    CA.open(p)
    token.open(user_pin=p, rw=True)
    read_regular(p, 10)
'''
    found = [(line, what) for _scope, line, what in unbounded_reads(ast.parse(source))]
    assert found == [(3, "open()"), (4, "open()"), (6, ".read_text()"), (7, ".read_bytes()"), (8, ".open()"),
                     (11, "os.open()"), (13, ".read()")]
