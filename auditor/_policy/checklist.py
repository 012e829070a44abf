"""Checklist catalogues: the deployment checklist items that rules evidence."""

from __future__ import annotations

from auditor._loader.schema import validate_document
from auditor._loader.yamlfile import Document
from auditor._models import Checklist, ChecklistItem

__all__ = ["Checklist", "ChecklistItem", "load_checklist"]


def load_checklist(doc: Document) -> Checklist:
    validate_document(doc, "checklist")
    raw = doc.value
    seen: dict[str, int] = {}
    items = []
    for i, item in enumerate(raw["items"]):
        if item["id"] in seen:
            raise doc.error(f"duplicate checklist item id '{item['id']}'", ("items", i, "id"))
        seen[item["id"]] = i
        items.append(
            ChecklistItem(item["id"], item["section"], item["text"], item.get("automatable", True))
        )
    return Checklist(raw["id"], raw["title"], raw.get("source", ""), tuple(items))
