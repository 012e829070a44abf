"""The findings document (schema: auditor/schemas/findings.schema.json)."""

from __future__ import annotations

import json

from auditor.models import ScanResult
from auditor.render.interface import Renderer

_ONE_PER_LINE = ("findings", "collection_errors")


class JsonRenderer(Renderer):
    name = "json"

    def render(self, result: ScanResult) -> str:
        """Indented, with one finding per line: json's indenting encoder is pure Python and
        takes seconds for tens of thousands of findings, its compact one is C."""
        parts = []
        for key, value in result.to_dict().items():
            if key in _ONE_PER_LINE and value:
                body = "[\n" + ",\n".join("    " + json.dumps(v, ensure_ascii=False) for v in value) + "\n  ]"
            else:
                body = json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n  ")
            parts.append(f"  {json.dumps(key)}: {body}")
        return "{\n" + ",\n".join(parts) + "\n}\n"
