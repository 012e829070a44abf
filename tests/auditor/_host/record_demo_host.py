"""Record the demo node's host commands with the real programs (docs/demo.md).

    .venv/bin/python -m tests.auditor._host.record_demo_host

Writes auditor/_demo/node/cim-prod-001/var/lib/auditor/recorded/host-commands.json, the answers
the `host` collector replays for the demo (its `recorded_commands`):

- `nft -j list ruleset`: the real nft (nftables 1.0.6) after loading
  tests/auditor/_host/data/demo/cim-prod-001.nft into a fresh network namespace;
- `nix-instantiate --eval ...`: the real nix-instantiate (Debian's nix-bin, no <nixpkgs>, so the
  standalone evaluation) on a copy of the demo's etc/nixos, its temporary path written back as
  /etc/nixos;
- `systemd-analyze security UNIT`: the real systemd-analyze of Debian 12 (systemd 252) on the
  demo's unit files, offline (`--offline=yes`), since no systemd manages them here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from auditor._host import nixos
from auditor._host.system import recorded_arg
from tests.auditor._host import netns

REPO = Path(__file__).resolve().parents[3]
NODE = REPO / "auditor/_demo/node/cim-prod-001"
OUT = NODE / "var/lib/auditor/recorded/host-commands.json"
RULESET = Path(__file__).parent / "data/demo/cim-prod-001.nft"
UNITS = ("nats.service", "cim-agent.service")


def entry(argv: list[str], proc: subprocess.CompletedProcess[str], stdout: str | None = None) -> dict[str, Any]:
    key = [argv[0], *(recorded_arg(argv[i - 1], a) for i, a in enumerate(argv) if i)]
    return {"argv": key, "returncode": proc.returncode, "stdout": proc.stdout if stdout is None else stdout,
            "stderr": "\n".join(ln for ln in proc.stderr.splitlines() if "nixbld" not in ln)}


def main() -> int:
    why = netns.unavailable()
    if why:
        print(f"record_demo_host: {why}", file=sys.stderr)
        return 1
    commands = []
    spaces = netns.Namespaces([22])
    spaces.up()
    try:
        loaded = spaces.in_server("nft", "-f", "-", stdin="flush ruleset\n" + RULESET.read_text())
        if loaded.returncode != 0:
            print(loaded.stderr, file=sys.stderr)
            return 1
        listed = spaces.in_server("nft", "-j", "list", "ruleset")
        commands.append(entry(["nft", "-j", "list", "ruleset"], listed))
    finally:
        spaces.down()
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(NODE / "etc/nixos", Path(tmp) / "etc/nixos")
        config = f"{tmp}/etc/nixos/configuration.nix"
        proc = subprocess.run(nixos.command(config), capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return 1
        commands.append(entry(nixos.command(), proc, proc.stdout.replace(tmp, "")))
        for unit in UNITS:
            shutil.copy(NODE / "etc/systemd/system" / unit, Path(tmp) / unit)
            proc = subprocess.run(["systemd-analyze", "security", "--no-pager", "--offline=yes", f"{tmp}/{unit}"],
                                  capture_output=True, text=True, check=False)
            commands.append(entry(["systemd-analyze", "security", "--no-pager", unit], proc, proc.stdout.replace(tmp, "")))
    doc = {"recorded_from": "the real nft 1.0.6 (network namespace), nix-instantiate 2.8 (standalone evaluation) "
                            "and systemd-analyze 252 (--offline) on the demo's files: tests/auditor/_host/record_demo_host.py",
           "commands": commands}
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
