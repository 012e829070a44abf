"""The renderer seam: a renderer turns a ScanResult into text; the CLI decides where it goes."""

from __future__ import annotations

import abc
from dataclasses import dataclass

from auditor.models import ScanResult


@dataclass(frozen=True)
class RenderOptions:
    color: bool = False
    verbose: bool = False
    """Also list passing findings (text) — structured formats always hold everything."""


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
