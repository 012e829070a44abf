"""`auditor yubikey roots`: which Yubico attestation certificates auditor trusts, and from where.

Thin: `pki.attestation.installed()` reads them (the shipped package data, then the folder
named by AUDITOR_YUBICO_ROOTS); this prints them, and the Yubico certificates auditor knows
of but does not ship. Exit 0, or 2 when a file could not be read or AUDITOR_YUBICO_ROOTS is
not a folder (what could be read is still listed).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from auditor._exitcodes import ExitCode
from auditor._terminal import warn


def register(sub: Any) -> None:
    p = sub.add_parser(
        "yubikey",
        help="YubiKey attestation trust: the Yubico roots and intermediates auditor trusts",
        description="YubiKey attestation is checked against Yubico's certificates. See docs/yubikey.md.",
    )
    y_sub = p.add_subparsers(dest="yubikey_command", metavar="COMMAND", required=True)
    c = y_sub.add_parser(
        "roots", allow_abbrev=False,
        help="list the Yubico attestation roots and intermediates trusted (shipped and AUDITOR_YUBICO_ROOTS)",
        description=(
            "Lists every Yubico attestation root and intermediate auditor trusts: those shipped with "
            "it (pki/data/yubico) and those in the folder named by AUDITOR_YUBICO_ROOTS, with their "
            "SHA-256 fingerprints (DER); then the Yubico certificates auditor does not ship. Exit 2 "
            "when a file cannot be read or AUDITOR_YUBICO_ROOTS is not a folder."
        ),
    )
    c.add_argument("--format", choices=("text", "json"), default="text")
    c.set_defaults(handler=run_roots)


def _clean(text: str) -> str:
    """Control characters (a file name may hold any) escaped before they reach a terminal."""
    from auditor._terminal import printable

    return printable(text)


def _cn(subject: Any) -> str:
    from cryptography.x509.oid import NameOID

    names = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else subject.rfc4514_string()


def roots_document() -> dict[str, Any]:
    """What `auditor yubikey roots --format json` prints."""
    import os

    from pki import attestation as att

    found = att.installed()
    fingerprints = {f.sha256 for f in found.found}
    subjects = {_cn(f.certificate.subject) for f in found.found}
    return {
        "env": {"name": att.ROOTS_ENV, "value": os.environ.get(att.ROOTS_ENV) or None},
        "trusted": [
            {
                "role": f.role,
                "subject": f.certificate.subject.rfc4514_string(),
                "issuer": f.certificate.issuer.rfc4514_string(),
                "sha256": f.sha256,
                "not_before": f.certificate.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "not_after": f.certificate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "source": f.source,
                "shipped": f.shipped,
            }
            for f in found.found
        ],
        "not_shipped": [
            {"name": name, "sha256": sha, "note": note,
             "installed": (sha in fingerprints) if sha else name in subjects}
            for name, sha, note in att.NOT_SHIPPED
        ],
        "problems": [{"where": where, "what": what} for where, what in found.problems],
    }


def run_roots(args: argparse.Namespace) -> int:
    doc = roots_document()
    if args.format == "json":
        print(json.dumps(doc, indent=2))
    else:
        env = doc["env"]["value"]
        print(f"Yubico attestation certificates trusted (shipped in pki/data/yubico; "
              f"{doc['env']['name']}={_clean(env) if env else 'unset'}):")
        for t in doc["trusted"]:
            where = "shipped" if t["shipped"] else "added"
            print(f"  {t['role']:<12} {_clean(t['subject'])}  (until {t['not_after'][:10]}; {where}: {_clean(t['source'])})")
            print(f"  {'':<12} SHA-256 {t['sha256']}")
        if not doc["trusted"]:
            print("  none")
        print(f"Not shipped (add them to the folder named by {doc['env']['name']}; docs/yubikey.md):")
        for n in doc["not_shipped"]:
            state = "added" if n["installed"] else "not added"
            print(f"  {n['name']} ({state}): {n['note']}")
            if n["sha256"]:
                print(f"    SHA-256 {n['sha256']}")
    for p in doc["problems"]:
        warn(f"auditor: error: {p['where']}: {p['what']}")
    return int(ExitCode.USAGE if doc["problems"] else ExitCode.OK)
