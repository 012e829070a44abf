"""The findings document (schema: auditor/schemas/findings.schema.json)."""

from __future__ import annotations

import json

from auditor.models import ScanResult
from auditor.render.interface import Renderer


class JsonRenderer(Renderer):
    name = "json"

    def render(self, result: ScanResult) -> str:
        return json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n"
