"""Checklist catalogues: the deployment checklist items that rules evidence."""

from __future__ import annotations

from dataclasses import dataclass

from auditor.loader.schema import validate_document
from auditor.loader.yamlfile import Document


@dataclass(frozen=True)
class ChecklistItem:
    id: str
    section: str
    text: str
    automatable: bool = True


@dataclass(frozen=True)
class Checklist:
    id: str
    title: str
    source: str
    items: tuple[ChecklistItem, ...]

    def item(self, item_id: str) -> ChecklistItem | None:
        return next((i for i in self.items if i.id == item_id), None)


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
