"""Renderers, by format name (the registry is import-free; a renderer's module is imported
when it is used). The seam itself is :mod:`auditor._render.interface`."""

from __future__ import annotations

from auditor.errors import ConfigError
from pki.registry import Registry

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (see auditor._cli._replay)

if TYPE_CHECKING:
    from auditor._render.interface import Renderer, RenderOptions

FORMATS: Registry[Renderer] = Registry("output format", "auditor._render.interface:Renderer", {
    "text": "auditor._render.text:TextRenderer",
    "json": "auditor._render.json:JsonRenderer",
    "html": "auditor._render.html:HtmlRenderer",
    "pdf": "auditor._render.pdf:PdfRenderer",
    "md": "auditor._render.markdown:MarkdownRenderer",
    "sarif": "auditor._render.sarif:SarifRenderer",
    "junit": "auditor._render.junit:JunitRenderer",
}, error=lambda unknown: ConfigError(str(unknown)))
"""Every output format of a scan result, by the name `--format` takes."""


def renderer(name: str, options: RenderOptions | None = None) -> Renderer:
    """The renderer of format `name`, with `options`."""
    return FORMATS.load(name)(options)


__all__ = ["FORMATS", "renderer"]
