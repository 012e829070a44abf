"""Shared by the report tests: the demo scan as a findings document and evidence bundle."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from auditor._demo import demo_inventory
from auditor._models import RedactedResult
from auditor._render import renderer
from auditor._scan import scan_target


@dataclass(frozen=True)
class DemoScan:
    result: RedactedResult
    result_path: Path
    bundle_path: Path


def demo_scan(folder: Path) -> DemoScan:
    """Scan the demo node; write RESULT.json (as `auditor scan --format json` does) and the bundle."""
    bundle, result = scan_target(demo_inventory().target("cim-prod-001"))
    result_path = folder / "result.json"
    text = renderer("json").document(result)
    assert isinstance(text, str)
    result_path.write_text(text)
    bundle_path = folder / "bundle.json"
    bundle.write(bundle_path)
    return DemoScan(result, result_path, bundle_path)
