"""Renderers, by format name, imported lazily."""

from __future__ import annotations

import importlib

from auditor.render.interface import Renderer, RenderOptions

REGISTRY: dict[str, str] = {
    "text": "auditor.render.text:TextRenderer",
    "json": "auditor.render.json:JsonRenderer",
    "html": "auditor.render.html:HtmlRenderer",
    "pdf": "auditor.render.pdf:PdfRenderer",
    "md": "auditor.render.markdown:MarkdownRenderer",
    "sarif": "auditor.render.sarif:SarifRenderer",
    "junit": "auditor.render.junit:JunitRenderer",
}


def format_names() -> list[str]:
    return list(REGISTRY)


def renderer(name: str, options: RenderOptions | None = None) -> Renderer:
    module_name, _, cls_name = REGISTRY[name].partition(":")
    cls: type[Renderer] = getattr(importlib.import_module(module_name), cls_name)
    return cls(options)


__all__ = ["REGISTRY", "RenderOptions", "Renderer", "format_names", "renderer"]
