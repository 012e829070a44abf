"""The demo's sops files keep their age relative to today, so the demo never drifts.

When the demo is materialised, each sops file's `lastmodified` (and its PGP recipients'
`created_at`) is set to a fixed number of days before now and its MAC re-sealed with the
node's age identity (auditor._sops.retime): secrets.yaml and monitoring.json are recent, and
legacy.env keeps a data key 420 days old and a PGP recipient added as long ago (planted
key-rotation problems). The age identity file is made private (0600), as sops-nix keeps it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from auditor._sops.retime import retime

AGES_DAYS = {
    "secrets/secrets.yaml": 12,
    "secrets/monitoring.json": 30,
    "secrets/legacy.env": 420,
}
KEY_FILE = "var/lib/sops-nix/key.txt"


def date_sops_files(node: Path, now: dt.datetime) -> None:
    key_file = node / KEY_FILE
    key_file.chmod(0o600)
    identities = [line.strip() for line in key_file.read_text().splitlines() if line.startswith("AGE-SECRET-KEY-")]
    for rel, days in AGES_DAYS.items():
        moment = now - dt.timedelta(days=days)
        retime(node / rel, identities, moment, created_at=moment)
