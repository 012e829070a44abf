"""The inventory: which targets exist, and for each its policies, evidence sources and anchors."""

from auditor._inventory.load import find_inventory, load_inventory, locate_inventory
from auditor._inventory.model import Inventory, SourceSpec, Target

__all__ = ["Inventory", "SourceSpec", "Target", "find_inventory", "load_inventory", "locate_inventory"]
