"""PDF facts for tests, read by poppler-utils (pdfinfo, pdftotext, pdftoppm): an outside
reader, not our own parsing."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path


def _run(*argv: str) -> str:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"{argv[0]} failed: {proc.stderr.strip()}")
    return proc.stdout


def pdf_pages(path: Path) -> int:
    """How many pages the PDF at `path` has (pdfinfo)."""
    found = re.search(r"^Pages:\s+(\d+)$", _run("pdfinfo", str(path)), re.MULTILINE)
    assert found, f"pdfinfo gave no page count for {path}"
    return int(found.group(1))


def pdf_text(path: Path, first: int = 1, last: int | None = None, *, raw: bool = False) -> str:
    """The text of pages first..last (default: to the end): laid out as printed, or (raw) in the
    order it was drawn, which keeps each table cell's lines together."""
    pages = ["-f", str(first)] + (["-l", str(last)] if last is not None else [])
    return _run("pdftotext", "-raw" if raw else "-layout", *pages, str(path), "-")


def pdf_page_png(path: Path, page: int, out: Path, *, dpi: int = 80) -> Path:
    """Page `page` of the PDF as a PNG at `out` (pdftoppm)."""
    stem = out.with_suffix("")
    _run("pdftoppm", "-png", "-singlefile", "-r", str(dpi), "-f", str(page), "-l", str(page), str(path), str(stem))
    made = stem.with_suffix(".png")
    if made != out:
        made.replace(out)
    return out
