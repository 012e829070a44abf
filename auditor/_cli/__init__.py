"""The `auditor` command: a thin layer that parses arguments, calls the library and renders.

Each command group lives in its own module with `register(subparsers)`; modules import the
library lazily inside their handlers so `auditor --help` stays fast. Only this module prints
errors and chooses the exit code (see docs/exit-codes.md).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from auditor import __version__
from auditor._exitcodes import ExitCode
from auditor._terminal import printable, warn

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (see auditor._cli._replay)

if TYPE_CHECKING:
    import argparse
    from typing import NoReturn

COMMANDS: dict[str, str] = {
    "scan": "scan", "evaluate": "scan", "collect": "collect", "targets": "targets", "rules": "rules",
    "policies": "rules", "schema": "schema", "report": "report", "signoff": "signoff", "verify": "signoff",
    "history": "history", "diff": "history", "schedule": "schedule", "serve": "schedule", "waivers": "waivers",
    "pki": "pki", "nats": "nats", "secrets": "secrets", "yubikey": "yubikey", "agent": "remote",
    "worker": "remote", "fleet": "remote",
}
"""Each command and the module under auditor._cli that registers it (in the order `--help` lists
them): a command line that names one imports only its module."""


def command_modules(command: str | None = None) -> list[ModuleType]:
    """The modules registering every command, or only `command`'s when it is one."""
    names = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    return [importlib.import_module(f"auditor._cli.{name}") for name in names]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `command`, only that command's part of it (faster to build)."""
    import argparse  # here: a report printed again (`_replay`) needs no parser

    class _Parser(argparse.ArgumentParser):
        """Usage errors on one line, like every other error, with where to find help."""

        def error(self, message: str) -> NoReturn:
            self.exit(
                int(ExitCode.USAGE),
                f"auditor: error: {printable(message)} (see '{self.prog} --help')\n",
            )

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
    for module in command_modules(command):
        module.register(sub)
    return parser


HINTS: tuple[tuple[str, str], ...] = (
    ("auditor._resultfile:NotAFindingsDocument", "write one with `auditor scan --format json -o FILE`"),
    ("auditor._signoff.record:AlreadySigned", "pass --replace to sign again"),
    ("auditor.errors:WouldOverwrite", "pass --force to replace it"),
    ("auditor._render.chromium:ChromiumMissing", "or write --format html and print that from a browser"),
    ("pki.errors:NoCA", "create one with `auditor pki init --dir {exc.folder}`"),
    ("pki.errors:NoIntermediate", "create one with `auditor pki intermediate --dir {exc.folder}`"),
    ("pki.errors:SeveralProfiles", "choose one with --profile"),
    ("pki.errors:SeveralYubiKeys", "choose one with --yubikey-serial"),
    ("pki.errors:NoSubjectNames", "give --dns NAME or --ip ADDRESS"),
    ("pki.errors:InvalidName", "given with --{exc.kind}"),
    ("pki.errors:LongLifetime", "--allow-long-lifetime allows it"),
    ("pki.errors:OutlivesIssuer", "`auditor pki intermediate` makes a new issuing CA"),
    ("pki.errors:NameTypeNotPermitted", "an intermediate made with --permitted-{exc.name_type} permits them"),
    ("pki.errors:LogDoesNotVerify", "see `auditor pki log verify --dir {exc.folder}`"),
    ("pki.errors:NoInventory", "rebuild it with `auditor pki log rebuild --dir {exc.folder}`"),
    ("auditor._remote.connection:HalfClientCertificate", "give both --nats-cert and --nats-key"),
    ("auditor._schedule.export:NoSchedules", "or pass --fleet to write only the agent and worker units"),
    ("auditor._schedule.fleetunits:LoginInUnit", "give --nats without them, with --nats-creds or --nats-cert and --nats-key"),
)
"""What the command line adds to a library error: the flag or command that helps, formatted
with the error as `exc`. Library errors carry data and never name flags; the hint is added
here, once."""


def _hint(exc: BaseException) -> str:
    for dotted, hint in HINTS:
        module_name, _, name = dotted.partition(":")
        module = sys.modules.get(module_name)  # an error of a module never imported cannot occur
        cls = getattr(module, name, None) if module is not None else None
        if isinstance(cls, type) and isinstance(exc, cls):
            return hint.format(exc=exc)
    return ""


def explain(exc: BaseException) -> tuple[str, int] | None:
    """The one line and the exit code for an error auditor or pki raised on purpose (None for
    anything else: a bug). The line never shows a URL's user-info or a secret-looking value,
    and no control character reaches the terminal."""
    from auditor.errors import AuditorError
    from pki.errors import PKIError

    if isinstance(exc, AuditorError):
        message, code = exc.diagnostics(), int(exc.exit_code)
    elif isinstance(exc, PKIError):
        message, code = " ".join(str(exc).split()), int(ExitCode.USAGE)
    else:
        return None
    hint = _hint(exc)
    if hint:
        message = f"{message} ({hint})"
    return printable(scrub_text(message)), code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `auditor` command; return its exit code. The one place errors become messages."""
    words = list(sys.argv[1:] if argv is None else argv)
    args: argparse.Namespace | None = None
    try:
        replayed = _replay(words)
        if replayed is not None:
            return replayed
        args = build_parser(next((w for w in words if not w.startswith("-")), None)).parse_args(words)
        code: int = args.handler(args)
        return code
    except KeyboardInterrupt:
        warn("auditor: interrupted")
        return 130
    except BrokenPipeError:
        # the reader went away (e.g. `| head`); silence the flush at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return int(ExitCode.OK)
    except Exception as exc:
        explained = explain(exc)
        if explained is not None:
            warn(f"auditor: error: {explained[0]}")
            return explained[1]
        if args is not None and args.debug:
            raise
        warn(f"auditor: internal error: {type(exc).__name__}: {scrub_text(str(exc))} "
             "(this is a bug in auditor; rerun with --debug for a traceback)")
        return int(ExitCode.INTERNAL)


def _replay(words: list[str]) -> int | None:
    """The exit code of a command answered without building the parser, else None: only
    `secrets scan` in its plain form, whose kept report still holds (auditor._secrets.memo).
    Such a run is mostly Python starting and importing, so the modules it loads import no more
    than they use: not typing (`TYPE_CHECKING = False` stands in for it), json, argparse,
    subprocess, threading or tempfile (tests/auditor/_secrets/test_memo.py, NOT_ON_A_HIT)."""
    if words[:2] != ["secrets", "scan"]:
        return None
    from auditor._cli.secrets import replay

    return replay(words[2:])


def scrub_text(text: str) -> str:
    """Free text (an unexpected error's) without URL user-info or secret-looking values."""
    from auditor._redact import scrub
    from auditor._urls import strip_userinfo

    return scrub(strip_userinfo(text))


def run() -> NoReturn:
    """The `auditor` program (`python -m auditor`, the console script): main(), then the
    process ends as soon as everything is written, without Python tearing the interpreter
    down object by object (a scan holds hundreds of compiled CEL programs whose native
    destructors alone take 50 ms or more, and the whole teardown was a tenth of the demo
    scan's time). Nothing an ordinary exit does is skipped: threading's exit callbacks run
    (executors' idle workers told to stop) and non-daemon threads are joined, the exit
    handlers run (caches saved, temporary folders removed, logging flushed), then the standard
    streams are flushed; a stream that cannot be flushed (a reader gone) leaves the exit to
    Python, as before. An exit main raises (--help, usage errors) is Python's too. Ctrl-C while
    the threads are joined is what it is in main: "interrupted" and 130, not a traceback."""
    import atexit

    from auditor._ending import command_ends_process

    command_ends_process()
    code = main()
    threading = sys.modules.get("threading")  # never imported (a kept report printed): no thread to join
    if threading is not None:
        shutdown = getattr(threading, "_shutdown", None)  # what Python's exit does first
        if shutdown is None:  # pragma: no cover - every CPython has it
            raise SystemExit(code)
        try:
            shutdown()  # threading's exit callbacks (executors' workers woken), non-daemon threads joined
        except KeyboardInterrupt:  # Ctrl-C while waiting for them: main's answer to it, not a traceback
            warn("auditor: interrupted")
            code = 130
    atexit._run_exitfuncs()
    atexit._clear()  # run once, even if Python's own exit follows
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        raise SystemExit(code) from None
    os._exit(code)
