"""Exporting a node's certificate for the software that uses it; `nats` is the one format.

For NATS: `nats-cert.pem` (the node's certificate followed by its intermediate, so peers that
only trust the root can build the path), `nats-ca.pem` (the CA's overlap bundle: every usable
intermediate and the root, so a rotation never leaves a gap) and the `tls {}` block for
nats.conf that points at them, written to `nats-tls.conf` and returned. The names differ from
`pki issue`'s, so exporting into the folder `issue` wrote (where key.pem is) is the usual way.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from pki.ca import CA, pem
from pki.errors import CAError, SeveralProfiles
from pki.fsutil import MAX_PKI_FILE, ReadError, make_folder, read_regular, write_files
from pki.inventory import Entry

FORMATS = ("nats",)


@dataclass(frozen=True)
class Export:
    entry: Entry
    files: tuple[Path, ...]
    tls_block: str
    key_file: Path


def choose(ca: CA, node: str, profile: str | None, now: dt.datetime) -> Entry:
    with ca.inventory() as inv:
        current = [e for e in inv.for_node(node) if e.state(now) == "valid"]
    if profile is not None:
        current = [e for e in current if e.profile == profile]
    if not current:
        which = f" {profile}" if profile else ""
        raise CAError(f"node '{node}' has no valid{which} certificate in {ca.folder} ")
    profiles = sorted({e.profile for e in current})
    if len(profiles) > 1:
        if "nats-server" not in profiles:
            raise SeveralProfiles(f"node '{node}' has certificates of several profiles ({', '.join(profiles)})", tuple(profiles))
        current = [e for e in current if e.profile == "nats-server"]
    return max(current, key=lambda e: e.issued_at)


def export_nats(ca: CA, node: str, out_dir: Path, *, key_file: Path | None = None,
                profile: str | None = None, overwrite: bool = False, now: dt.datetime | None = None) -> Export:
    now = now or dt.datetime.now(dt.UTC)
    entry = choose(ca, node, profile, now)
    cert = entry.certificate()
    issuer = ca.certificate(entry.issuer_serial or ca.root.serial)
    bundle_path = ca.folder / "certs/ca-bundle.pem"
    try:
        bundle = read_regular(bundle_path, MAX_PKI_FILE)
    except ReadError as exc:
        raise CAError(f"{bundle_path}: cannot read the CA bundle ({exc.reason})") from None
    out_dir = Path(out_dir)
    if not out_dir.exists():
        if not out_dir.parent.is_dir():
            raise CAError(f"{out_dir.parent}: folder does not exist")
        make_folder(out_dir)
    out = out_dir.resolve()
    key = (key_file or out / "key.pem").resolve()
    verify_line = "  verify: true\n" if "clientAuth" in _ekus(entry) or entry.profile == "nats-server" else ""
    block = (
        "tls {\n"
        f'  cert_file: "{out / "nats-cert.pem"}"\n'
        f'  key_file: "{key}"\n'
        f'  ca_file: "{out / "nats-ca.pem"}"\n'
        f"{verify_line}"
        "  timeout: 2\n"
        "}\n"
    )
    files = {
        out / "nats-cert.pem": (pem(cert) + pem(issuer), 0o644),
        out / "nats-ca.pem": (bundle, 0o644),
        out / "nats-tls.conf": (block.encode(), 0o644),
    }
    write_files(files, overwrite=overwrite)
    return Export(entry, tuple(files), block, key)


def _ekus(entry: Entry) -> list[str]:
    from pki.facts import certificate_facts

    return list(certificate_facts(entry.certificate()).extended_key_usage)
