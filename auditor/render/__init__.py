"""Renderers, by format name (the registry is import-free; a renderer's module is imported
when it is used). The seam itself is :mod:`auditor.render.interface`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from auditor.errors import ConfigError
from pki.registry import Registry

if TYPE_CHECKING:
    from auditor.render.interface import Renderer, RenderOptions

FORMATS: Registry[Renderer] = Registry("output format", "auditor.render.interface:Renderer", {
    "text": "auditor.render.text:TextRenderer",
    "json": "auditor.render.json:JsonRenderer",
    "html": "auditor.render.html:HtmlRenderer",
    "pdf": "auditor.render.pdf:PdfRenderer",
    "md": "auditor.render.markdown:MarkdownRenderer",
    "sarif": "auditor.render.sarif:SarifRenderer",
    "junit": "auditor.render.junit:JunitRenderer",
}, error=lambda unknown: ConfigError(str(unknown)))
"""Every output format of a scan result, by the name `--format` takes."""


def renderer(name: str, options: RenderOptions | None = None) -> Renderer:
    """The renderer of format `name`, with `options`."""
    return FORMATS.load(name)(options)


__all__ = ["FORMATS", "renderer"]
