"""The renderer seam: a renderer turns a ScanResult into text; the CLI decides where it goes."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING

from auditor.models import ScanResult

if TYPE_CHECKING:
    from auditor.signoff.model import SignoffCheck


@dataclass(frozen=True)
class RenderOptions:
    color: bool = False
    verbose: bool = False
    """Also list passing findings (text) — structured formats always hold everything."""
    signoffs: tuple[SignoffCheck, ...] = ()
    """Sign-offs recorded beside the result so far, as checked (HTML, PDF, Markdown)."""
    result_sha256: str = ""
    """The SHA-256 of the findings document the report was made from, when it came from a file."""


class Renderer(abc.ABC):
    name: str
    binary: bool = False
    """True for formats written as bytes (PDF); render_bytes is then used."""

    def __init__(self, options: RenderOptions | None = None) -> None:
        self.options = options or RenderOptions()

    @abc.abstractmethod
    def render(self, result: ScanResult) -> str:
        """The whole document, even when there are no findings."""

    def render_bytes(self, result: ScanResult) -> bytes:
        return self.render(result).encode()

    def document(self, result: ScanResult) -> str | bytes:
        """The whole document with every secret-looking value redacted: what the CLI writes."""
        safe = result.scrubbed()
        return self.render_bytes(safe) if self.binary else self.render(safe)
