"""The sign-off report as PDF: the HTML report printed by headless Chromium (see chromium.py)."""

from __future__ import annotations

from auditor._models import RedactedResult
from auditor._render.html import HtmlRenderer
from auditor._render.interface import Renderer


class PdfRenderer(Renderer):
    name = "pdf"
    binary = True

    def render(self, result: RedactedResult) -> str:
        """The HTML that is printed (the PDF itself comes from render_bytes)."""
        return HtmlRenderer(self.options).render(result)

    def render_bytes(self, result: RedactedResult) -> bytes:
        from auditor._render.chromium import html_to_pdf

        return html_to_pdf(self.render(result))
