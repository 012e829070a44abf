"""The renderer seam: a renderer turns a RedactedResult into text; the CLI decides where it goes.

Renderers accept a RedactedResult only (auditor._redact.redact_result made it): nothing can
print a result that has not been redacted."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from auditor._models import RedactedResult

if TYPE_CHECKING:
    from auditor._signoff.model import SignoffCheck


@dataclass(frozen=True)
class RenderOptions:
    """How to render: colour, verbosity, and what a report shows beside the result."""

    color: bool = False
    verbose: bool = False
    """Also list passing findings (text) — structured formats always hold everything."""
    signoffs: tuple[SignoffCheck, ...] = ()
    """Sign-offs recorded beside the result so far, as checked (HTML, PDF, Markdown)."""
    result_sha256: str = ""
    """The SHA-256 of the findings document the report was made from, when it came from a file."""
    appendix: bool = False
    """Sign-off reports (HTML, PDF, Markdown): also every finding with its evidence, after the
    sign-off block."""


class Renderer(abc.ABC):
    """One output format."""

    name: str
    binary: bool = False
    """True for formats written as bytes (PDF); render_bytes is then used."""

    def __init__(self, options: RenderOptions | None = None) -> None:
        self.options = options or RenderOptions()

    @abc.abstractmethod
    def render(self, result: RedactedResult) -> str:
        """The whole document, even when there are no findings."""

    def render_bytes(self, result: RedactedResult) -> bytes:
        """The whole document as bytes (what binary formats implement)."""
        return self.render(result).encode()

    def document(self, result: RedactedResult) -> str | bytes:
        """The whole document, as text or (binary formats) bytes."""
        return self.render_bytes(result) if self.binary else self.render(result)

    def parts(self, result: RedactedResult) -> str | bytes | Iterator[str]:
        """What the CLI writes: the document, or (formats that hold every finding) its text in
        parts, so that a result of a million findings is never one string in memory."""
        return self.document(result)
