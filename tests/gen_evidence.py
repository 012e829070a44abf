"""Generate what derives from the evidence types: the published JSON Schema of every kind
(auditor/schemas/evidence/KIND.schema.json) and the evidence reference (docs/evidence-reference.md).

    python -m tests.gen_evidence          # write them
    python -m tests.gen_evidence --check  # exit 1, listing them, if any differs (run by the tests)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auditor._collectors import COLLECTORS  # noqa: E402
from auditor.evidence._reference import render  # noqa: E402
from auditor.evidence._schema import kind_schema  # noqa: E402
from auditor.evidence.kinds import KINDS  # noqa: E402

SCHEMAS = ROOT / "auditor/schemas/evidence"
REFERENCE = ROOT / "docs/evidence-reference.md"


def outputs() -> dict[Path, str]:
    """Every generated file and its content."""
    collectors: dict[str, list[str]] = {}
    for name in sorted(COLLECTORS):
        for kind in COLLECTORS.load(name).kinds:
            collectors.setdefault(kind, []).append(name)
    files = {SCHEMAS / f"{kind}.schema.json": json.dumps(kind_schema(kind), indent=2, ensure_ascii=False) + "\n"
             for kind in sorted(KINDS)}
    files[REFERENCE] = render(collectors)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the files are up to date")
    args = parser.parse_args(argv)
    wanted = outputs()
    stale = [p for p, text in wanted.items() if not p.is_file() or p.read_text(encoding="utf-8") != text]
    extra = sorted(p for p in SCHEMAS.glob("*.schema.json") if p not in wanted)
    if args.check:
        for path in [*stale, *extra]:
            print(f"{path.relative_to(ROOT)}: not what tests/gen_evidence.py generates", file=sys.stderr)
        return 1 if stale or extra else 0
    for path in stale:
        path.write_text(wanted[path], encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    for path in extra:
        path.unlink()
        print(f"removed {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
