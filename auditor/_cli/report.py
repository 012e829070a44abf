"""`auditor report`: render a findings document (RESULT.json) as HTML, PDF, Markdown, SARIF,
JUnit, text or JSON, with the sign-offs recorded beside it."""

from __future__ import annotations

import argparse
from typing import Any

from auditor._cli import _common
from auditor._render import FORMATS


def register(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="render a findings document as a sign-off report (html, pdf, md, sarif, junit, ...)",
        description=(
            "Render RESULT.json (written by `auditor scan --format json -o RESULT.json`) as the "
            "sign-off report. HTML and PDF show the sign-offs recorded beside it, as checked; "
            "PDF needs headless Chromium."
        ),
    )
    p.add_argument("result", metavar="RESULT.json", help="findings document")
    p.add_argument(
        "--format", choices=FORMATS.names(), default="html", help="output format (default: html)"
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write the report here instead of stdout")
    p.add_argument(
        "--allowed-signers", metavar="FILE",
        help="also check that each signer may sign for its role (see docs/signoff.md)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="text format: also list passing findings")
    _common.add_appendix(p)
    p.add_argument("--no-color", action="store_true", help="never colour the output")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from auditor._resultfile import read_result

    path = Path(args.result)
    loaded = read_result(path)
    checks: tuple[Any, ...] = ()
    if args.format in ("html", "pdf", "md"):
        from auditor._signoff.model import recorded_roles

        roles = recorded_roles(path)
        if roles:
            from auditor._signoff.gpg import GpgError
            from auditor._signoff.model import SignoffCheck
            from auditor._signoff.verify import check_signoffs

            allowed = _allowed(args)
            try:
                _, checks = check_signoffs(path, allowed)
            except GpgError as exc:  # still report, saying the sign-offs are unchecked
                checks = tuple(SignoffCheck(r, problems=(f"not checked: {exc}",)) for r in roles)
    document = _common.render_result(args, loaded.result, signoffs=checks, result_sha256=loaded.sha256)
    _common.emit(document, args.output, inputs=(args.result,), styled=True)
    return 0


def _allowed(args: argparse.Namespace) -> Any:
    if not getattr(args, "allowed_signers", None):
        return None
    from pathlib import Path

    from auditor._signoff.allowed import load_allowed_signers

    return load_allowed_signers(Path(args.allowed_signers))
