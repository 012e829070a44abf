"""The `auditor` command: a thin layer that parses arguments, calls the library and renders.

Each command group lives in its own module with `register(subparsers)`; modules import the
library lazily inside their handlers so `auditor --help` stays fast. Only this module prints
errors and chooses the exit code (see docs/exit-codes.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from auditor import __version__
from auditor.cli import (
    collect,
    history,
    nats,
    pki,
    report,
    rules,
    scan,
    schedule,
    schema,
    secrets,
    signoff,
    targets,
    waivers,
    yubikey,
)
from auditor.exitcodes import ExitCode

COMMAND_MODULES = (
    scan, collect, targets, rules, schema, report, signoff, history, schedule, waivers, pki, nats,
    secrets, yubikey,
)


class _Parser(argparse.ArgumentParser):
    """Usage errors on one line, like every other error, with where to find help."""

    def error(self, message: str) -> NoReturn:
        self.exit(
            int(ExitCode.USAGE),
            f"auditor: error: {message} (see '{self.prog} --help')\n",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="auditor",
        description=(
            "Security and compliance audits of NATS-based nodes: collect evidence, evaluate "
            "declarative rules, report findings a person can act on."
        ),
        epilog=(
            "Exit codes: 0 no failure at or above --fail-on; 1 failures; 2 usage or "
            "configuration error; 3 a required evidence source could not be collected. "
            "Start with: auditor scan --target cim-prod-001"
        ),
    )
    parser.add_argument("--version", action="version", version=f"auditor {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show a traceback for internal errors"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from auditor.errors import AuditorError

    try:
        code: int = args.handler(args)
        return code
    except AuditorError as exc:
        print(f"auditor: error: {exc.diagnostics()}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("auditor: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (e.g. `| head`); silence the flush at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return int(ExitCode.OK)
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"auditor: internal error: {type(exc).__name__}: {exc} "
            "(this is a bug in auditor; rerun with --debug for a traceback)",
            file=sys.stderr,
        )
        return int(ExitCode.INTERNAL)
