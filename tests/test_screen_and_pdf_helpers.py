"""The helpers that look at reports as a reader does (tests/browser.py, tests/pdf.py) can fail:
text below the first screen, hidden or folded away is not 'visible'; pages are counted by pdfinfo."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor._render.chromium import html_to_pdf
from tests.browser import FIRST_SCREEN, first_screen
from tests.pdf import pdf_page_png, pdf_pages, pdf_text

pytestmark = pytest.mark.slow

PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>
body {{ margin: 0; font: 16px sans-serif; }}
.tall {{ height: {below}px; }}
@media print {{ .break {{ break-before: page; }} }}
</style></head><body>
<h1>Verdict: NOT READY</h1>
<p>Blocking: <code>etc/cim/app.env:3</code> <span style="visibility:hidden">hidden words</span></p>
<p style="display:none">not displayed</p>
<details><summary>Passes (12)</summary><p>folded away</p></details>
<div class="tall"></div>
<p class="break">below the fold</p>
<p class="break">third page</p>
</body></html>"""


def test_first_screen_holds_only_what_a_reader_sees(tmp_path: Path) -> None:
    html = tmp_path / "page.html"
    html.write_text(PAGE.format(below=FIRST_SCREEN[1]))
    shot = tmp_path / "first.png"
    screen = first_screen(html, shot)
    assert screen.log.errors() == []
    assert "Verdict: NOT READY" in screen.text and "etc/cim/app.env:3" in screen.text
    assert "Passes (12)" in screen.text
    for unseen in ("hidden words", "not displayed", "folded away", "below the fold", "third page"):
        assert unseen not in screen.text
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == FIRST_SCREEN


def test_pdf_pages_text_and_picture(tmp_path: Path) -> None:
    pdf = tmp_path / "page.pdf"
    pdf.write_bytes(html_to_pdf(PAGE.format(below=10)))
    assert pdf_pages(pdf) == 3
    assert "Verdict: NOT READY" in pdf_text(pdf, 1, 1) and "third page" not in pdf_text(pdf, 1, 1)
    assert "third page" in pdf_text(pdf, 3)
    png = pdf_page_png(pdf, 1, tmp_path / "p1.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
