"""`auditor signoff`: a lead signs a findings document for a role; `auditor verify` checks it all."""

from __future__ import annotations

import argparse
import functools
from typing import Any

from auditor._cli import _common


def register(sub: Any) -> None:
    from auditor._signoff.model import DECISIONS, ROLES

    s = sub.add_parser(
        "signoff",
        help="sign a findings document for a role (OpenPGP, detached)",
        description=(
            "Sign RESULT.json for ROLE with the OpenPGP key FINGERPRINT from your GnuPG keyring "
            "($GNUPGHOME). The signed statement, its signature and your public key are written "
            "to RESULT.json.signoffs/; several roles' sign-offs accumulate there."
        ),
    )
    s.add_argument("result", metavar="RESULT.json", help="findings document")
    s.add_argument("--role", required=True, choices=list(ROLES), help="the role you sign for")
    s.add_argument("--key", required=True, metavar="FINGERPRINT", help="full fingerprint of your signing key")
    s.add_argument("--decision", choices=DECISIONS, default="approve", help="default: approve")
    s.add_argument("--comment", default="", metavar="TEXT", help="a note recorded (and signed) with the decision")
    s.add_argument("--replace", action="store_true", help="replace this role's earlier sign-off")
    s.set_defaults(handler=run_signoff)

    v = sub.add_parser(
        "verify",
        help="check a findings document's sign-offs (and, given the bundle, its findings)",
        description=(
            "Check every sign-off beside RESULT.json: the signature, that the signer may sign for "
            "the role (--allowed-signers), and that the document is byte for byte what was signed. "
            "With --bundle, also re-evaluate the evidence at the result's time and compare. "
            "Exit 0 when everything checks out, 1 otherwise."
        ),
    )
    v.add_argument("result", metavar="RESULT.json", help="findings document")
    v.add_argument("--allowed-signers", metavar="FILE", help="who may sign for which role (YAML; docs/signoff.md)")
    v.add_argument("--bundle", metavar="BUNDLE", help="the evidence bundle the result was evaluated from")
    _common.add_inventory(v)
    _common.add_catalog(v)
    v.set_defaults(handler=run_verify)


def run_signoff(args: argparse.Namespace) -> int:
    from pathlib import Path

    from auditor._signoff.record import record_signoff

    files = record_signoff(
        Path(args.result),
        role=args.role,
        key=args.key,
        decision=args.decision,
        comment=args.comment,
        replace=args.replace,
    )
    _common.emit(f"{args.role}: {args.decision} signed; recorded in {files.statement.parent}/\n", None)
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from pathlib import Path

    from auditor._cli.report import _allowed
    from auditor._signoff.verify import summary_lines, verify

    allowed = _allowed(args)
    inventory = functools.cache(lambda: _common.load_inventory(args))

    def catalog() -> Any:
        return _common.load_catalog(args, inventory())

    def judge(bundle: Any) -> Any:
        from auditor._bundle_runs import judged_target

        return judged_target(bundle, inventory(), args.bundle)

    result = verify(
        Path(args.result),
        allowed=allowed,
        bundle=Path(args.bundle) if args.bundle else None,
        catalog=catalog,
        judge=judge,
    )
    lines = summary_lines(result)
    if args.bundle is None or allowed is None:
        lines.append("  (--bundle BUNDLE compares the findings with the evidence; --allowed-signers FILE checks the signers)")
    _common.emit("\n".join(lines) + "\n", None)
    return 0 if result.ok else 1
