"""Headless Chromium: print an HTML document to PDF with its print stylesheet.

Chromium is found as $AUDITOR_CHROMIUM, else `chromium`, `chromium-browser`, `google-chrome`
on PATH (Debian: `apt-get install chromium`). It runs with a fresh profile, no network of its
own (background networking, component updates and sync off) and, as root, without its sandbox.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from auditor.errors import AuditorError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_SECONDS = 120


class ChromiumError(AuditorError):
    """Chromium is missing or could not print the report (exit 2)."""


class ChromiumMissing(ChromiumError):
    """No Chromium to print with."""


def find_chromium() -> str:
    explicit = os.environ.get("AUDITOR_CHROMIUM")
    if explicit:
        if shutil.which(explicit):
            return explicit
        raise ChromiumError(f"AUDITOR_CHROMIUM={explicit} is not an executable")
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise ChromiumMissing(
        "PDF reports need headless Chromium, which is not installed: install it "
        "(Debian: apt-get install chromium) or set AUDITOR_CHROMIUM to its path"
    )


def base_flags(profile: Path) -> list[str]:
    """The flags every headless run here needs (see the module docstring)."""
    flags = [
        "--headless",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        flags.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    return flags


def run_bounded(argv: Sequence[str], *, timeout: float = TIMEOUT_SECONDS) -> subprocess.CompletedProcess[bytes]:
    """Run Chromium in its own process group; kill the whole group if it overruns."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise ChromiumError(f"Chromium did not finish printing within {timeout:.0f} seconds") from None
    return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)


def html_to_pdf(html: str, *, timeout: float = TIMEOUT_SECONDS) -> bytes:
    """The PDF Chromium prints from `html` (A4, the document's own print stylesheet)."""
    exe = find_chromium()
    with tempfile.TemporaryDirectory(prefix="auditor-pdf-") as tmp:
        folder = Path(tmp)
        page = folder / "report.html"
        page.write_text(html, encoding="utf-8")
        out = folder / "report.pdf"
        argv = [
            exe,
            *base_flags(folder / "profile"),
            "--no-pdf-header-footer",
            f"--print-to-pdf={out}",
            page.as_uri(),
        ]
        proc = run_bounded(argv, timeout=timeout)
        if not out.is_file() or out.stat().st_size == 0:
            lines = [ln for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
            why = lines[-1] if lines else f"exit status {proc.returncode}"
            raise ChromiumError(f"Chromium could not print the report to PDF: {why}")
        return out.read_bytes()
