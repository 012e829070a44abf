"""Record what the real nft prints for the rulesets in data/*.nft, and what the kernel admits.

    .venv/bin/python -m tests.auditor._host.record_nft

Each NAME.nft is loaded into a fresh network namespace with `nft -f`; `nft -j list ruleset`
is saved as NAME.json and the kernel's answer to a new TCP connection from 203.0.113.7 /
2001:db8::7 on each test port as NAME.verdicts.json (needs root and `ip netns`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.auditor._host import netns
from tests.auditor._host.test_firewall import DATA, PORTS


def main() -> int:
    why = netns.unavailable()
    if why:
        print(f"record_nft: {why}", file=sys.stderr)
        return 1
    spaces = netns.Namespaces(PORTS)
    spaces.up()
    try:
        for source in sorted(DATA.glob("*.nft")):
            loaded = spaces.in_server("nft", "-f", "-", stdin="flush ruleset\n" + source.read_text())
            if loaded.returncode != 0:
                print(f"{source.name}: {loaded.stderr.strip()}", file=sys.stderr)
                return 1
            listed = spaces.in_server("nft", "-j", "list", "ruleset")
            Path(DATA / f"{source.stem}.json").write_text(json.dumps(json.loads(listed.stdout), indent=1) + "\n")
            got = spaces.probe((4, 6), PORTS, timeout=0.5)
            verdicts = {f"ipv{v}/{p}": verdict for (v, p), verdict in got.items()}
            Path(DATA / f"{source.stem}.verdicts.json").write_text(json.dumps(verdicts, indent=1, sort_keys=True) + "\n")
            print(f"recorded {source.stem}")
    finally:
        spaces.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
