"""The HTML sign-off report: one self-contained file (inline CSS and SVG, no script, no fetch).

The template is package data (auditor/_render/templates/), read through importlib.resources and
rendered by Jinja2 with autoescaping on: every value from the findings document is text, and
nothing from it is ever marked safe.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import TYPE_CHECKING

from auditor._models import RedactedResult
from auditor._render.interface import Renderer

if TYPE_CHECKING:
    import jinja2
    import markupsafe

TEMPLATE_PACKAGE = "auditor._render"


def _load_template(name: str) -> str:
    return resources.files(TEMPLATE_PACKAGE).joinpath("templates", name).read_text(encoding="utf-8")


_SEPARATOR = re.compile(r"(?<=[/.:#,=@_\-])")
"""After each of these a path, URL, resource or id may break across lines; nowhere else."""


def breakable(value: object) -> markupsafe.Markup:
    """`value` escaped, with a line-break opportunity (<wbr>) after each separator, so a long path
    or id wraps at `/`, `.`, `:`, `#`, ... and never mid-word (the CSS keeps words whole). Each
    piece is escaped before it is joined: the only markup added is <wbr>."""
    import markupsafe

    pieces = _SEPARATOR.split(str(value))
    return markupsafe.Markup("<wbr>").join(markupsafe.escape(p) for p in pieces)


@functools.cache
def environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_load_template),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
    )
    env.filters["breakable"] = breakable
    return env


class HtmlRenderer(Renderer):
    name = "html"

    def render(self, result: RedactedResult) -> str:
        from auditor._render.sections import ITEM_STATUS_TEXT, STATUS_COLOR, build_view

        view = build_view(result, self.options)
        template = environment().get_template("report.html.j2")
        return template.render(view=view, colors=STATUS_COLOR, status_text=ITEM_STATUS_TEXT) + "\n"
