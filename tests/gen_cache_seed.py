"""Build the cache seed shipped with auditor (auditor/_data/cache-seed/, see auditor._cache.seed_dir):
what a first demo scan writes to an empty cache (the built-in rules' compiled CEL programs, the
documents known valid and the YAML documents as parsed), so that a first run is as quick as a
second.

    python -m tests.gen_cache_seed          # rebuild the seed
    python -m tests.gen_cache_seed --check  # exit 1 if a first run with the seed still learns something (run by the tests)

Cache file names are digests of everything their content depends on (auditor's version, the
CEL runtime, the schemas): a stale seed is never wrong, only not found, and the check says so.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auditor._cache import SEED_OFF, seed_dir  # noqa: E402

PARTS = ("cel", "valid-documents", "yaml-documents")
"""The caches seeded: those that depend only on what auditor ships."""
SCAN = ["-m", "auditor", "scan", "--target", "cim-prod-001", "--demo", "--no-store"]


def first_run(cache: Path, *, seed: bool) -> list[Path]:
    """Run the demo scan with the empty cache `cache`; the seeded cache files it wrote."""
    env = {**os.environ, "AUDITOR_CACHE_DIR": str(cache), "AUDITOR_DB": str(cache / "history.sqlite"),
           "AUDITOR_NO_PROGRESS": "1", "NO_COLOR": "1"}
    env.pop(SEED_OFF, None)
    if not seed:
        env[SEED_OFF] = "off"
    run = subprocess.run([sys.executable, *SCAN], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if run.returncode not in (0, 1):
        raise SystemExit(f"gen_cache_seed: the demo scan failed (exit {run.returncode}): {run.stderr.strip()[-500:]}")
    return sorted(p for part in PARTS for p in (cache / part).glob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the seed is complete")
    args = parser.parse_args(argv)
    seed = seed_dir()
    with tempfile.TemporaryDirectory(prefix="cache-seed-") as tmp:
        cache = Path(tmp)
        if args.check:
            learnt = first_run(cache, seed=True)
            for path in learnt:
                print(f"{seed.relative_to(ROOT)}: a first run still writes {path.relative_to(cache)}; "
                      "run `python -m tests.gen_cache_seed`", file=sys.stderr)
            return 1 if learnt else 0
        made = first_run(cache, seed=False)
        if seed.exists():
            shutil.rmtree(seed)
        for path in made:
            target = seed / path.relative_to(cache)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            print(f"wrote {target.relative_to(ROOT)} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
