"""Options and helpers shared by several commands."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (see auditor._cli._replay)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import Any

    from auditor._inventory.model import Inventory
    from auditor._models import RedactedResult, Severity
    from auditor._policy.catalog import Catalog


def add_inventory(parser: argparse.ArgumentParser, *, demo_fallback: bool = True) -> None:
    """--inventory PATH or --demo. With `demo_fallback`, no inventory at all means the demo
    (announced on stderr); without, it is refused (see load_inventory)."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--inventory",
        metavar="PATH",
        help="inventory file (default: ./auditor.yaml"
        + (", else the embedded demo inventory, saying so)" if demo_fallback else "; else --demo is needed)"),
    )
    which.add_argument("--demo", action="store_true", help="use the embedded demo inventory (target cim-prod-001)")
    parser.set_defaults(demo_fallback=demo_fallback)


def add_catalog(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rules", metavar="DIR", action="append", default=[], type=Path,
        help="extra folder (or file) of rules, in addition to the built-in ones; repeatable",
    )
    parser.add_argument(
        "--policies", metavar="DIR", action="append", default=[], type=Path,
        help="extra folder (or file) of policy packs; repeatable",
    )


def add_evaluation(parser: argparse.ArgumentParser) -> None:
    from auditor._render import (
        FORMATS,  # here: emit() (a kept secrets report printed again) needs neither
    )
    from auditor._severity import severity_names

    parser.add_argument(
        "--policy", metavar="PACK", action="append", default=[],
        help="policy pack id or .yaml file (default: the target's own packs); repeatable",
    )
    parser.add_argument(
        "--format", choices=FORMATS.names(), default="text", help="output format (default: text)"
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write the result here instead of stdout")
    parser.add_argument(
        "--fail-on", choices=severity_names(), default=None,
        help="exit 1 when a failure is at or above this severity (default: the policy's, else high)",
    )
    parser.add_argument(
        "--at", metavar="TIME",
        help="evaluate as of this time (RFC 3339 or YYYY-MM-DD; default: now)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="also list passing findings")
    add_appendix(parser)
    parser.add_argument("--no-color", action="store_true", help="never colour the output")


def add_appendix(parser: argparse.ArgumentParser) -> None:
    """--appendix: the sign-off report (html, pdf, md) also lists every finding with its evidence."""
    parser.add_argument(
        "--appendix", action="store_true",
        help="html, pdf, md: append every finding with its evidence after the sign-off block",
    )


NO_INVENTORY = "no inventory: pass --inventory PATH (or run where ./auditor.yaml is), or --demo for the embedded demo"
DEMO_NOTE = "auditor: note: no --inventory and no ./auditor.yaml: using the embedded demo inventory (target cim-prod-001)"


def load_inventory(args: argparse.Namespace, *, demo_fallback: bool | None = None) -> Inventory:
    """The inventory of --inventory, ./auditor.yaml or (--demo) the embedded demo. Falling back
    to the demo when none is given is announced in one line on stderr, or refused (exit 2) by
    the commands that run unattended or over the whole fleet (`demo_fallback` False, given
    here or by add_inventory)."""
    from auditor._demo import demo_inventory
    from auditor._inventory import load_inventory as load
    from auditor._inventory import locate_inventory
    from auditor.errors import ConfigError

    if getattr(args, "demo", False):
        return demo_inventory()
    path = locate_inventory(getattr(args, "inventory", None))
    if path is not None:
        return load(path)
    if not (getattr(args, "demo_fallback", True) if demo_fallback is None else demo_fallback):
        raise ConfigError(NO_INVENTORY)
    from auditor._terminal import warn

    warn(DEMO_NOTE)
    return demo_inventory()


def load_catalog(args: argparse.Namespace, inventory: Inventory | None = None, *,
                 before_extra: Callable[[], object] | None = None) -> Catalog:
    """The built-in rules and packs, then those of the inventory and the command line;
    `before_extra` is called in between (the demo's folders are being built meanwhile)."""
    from auditor._policy.catalog import Catalog

    rule_paths = list(getattr(args, "rules", []) or [])
    policy_paths = list(getattr(args, "policies", []) or [])
    if inventory is not None:
        rule_paths = list(inventory.rule_paths) + rule_paths
        policy_paths = list(inventory.policy_paths) + policy_paths
    if before_extra is None:
        return Catalog.load(rule_paths, policy_paths)
    catalog = Catalog.load()
    before_extra()
    catalog.extend(rule_paths, policy_paths)
    return catalog


def parse_at(args: argparse.Namespace) -> Any:
    from auditor._timeutil import parse_time

    return parse_time(args.at, what="--at") if getattr(args, "at", None) else None


def fail_on(args: argparse.Namespace) -> Severity | None:
    from auditor._models import Severity

    return Severity(args.fail_on) if args.fail_on else None


def use_color(args: argparse.Namespace, stream: Any = None) -> bool:
    stream = stream or sys.stdout
    if getattr(args, "no_color", False) or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return bool(getattr(stream, "isatty", lambda: False)())


def emit(text: str | bytes | Iterator[str], output: str | None, *, inputs: tuple[str, ...] = (),
         styled: bool = False) -> None:
    """Write to `output` atomically, or to stdout. Refuses to overwrite one of the inputs.
    Control characters in text are escaped (:func:`auditor._terminal.guard`); `styled` keeps
    the colours of a rendered result. An iterator of text parts (a large findings document) is
    written part by part, never whole in memory."""
    from auditor._terminal import guard

    parts: Iterable[bytes] | bytes
    if isinstance(text, bytes):
        parts = text
    elif isinstance(text, str):
        parts = guard(text, styled=styled).encode()
    else:
        parts = _chunks(_guarded(text, styled))
    if output and output != "-":
        from auditor._fsutil import atomic_write

        check_output(output, inputs=inputs)
        atomic_write(Path(output), parts)
        return
    if isinstance(text, str):
        sys.stdout.write(guard(text, styled=styled))
    else:
        sys.stdout.flush()
        for part in (parts,) if isinstance(parts, bytes) else parts:
            sys.stdout.buffer.write(part)
    sys.stdout.flush()


def check_output(output: str | None, *, inputs: tuple[str, ...] = ()) -> None:
    """ConfigError when `output` (a file to write, not stdout) is one of the inputs or a folder."""
    if not output or output == "-":
        return
    from auditor.errors import ConfigError

    target = Path(output)
    for item in inputs:
        if Path(item).exists() and target.exists() and Path(item).resolve() == target.resolve():
            raise ConfigError("refusing to overwrite an input file with the output", file=output)
    if target.is_dir():
        raise ConfigError("is a folder; give a file name for the output", file=output)


CHUNK = 1 << 18


def _guarded(parts: Iterable[str], styled: bool) -> Iterator[bytes]:
    """`guard(part).encode()` for each part (see guard_encoded)."""
    from auditor._terminal import guard_encoded

    for part in parts:
        yield guard_encoded(part, styled=styled)


def _chunks(parts: Iterable[bytes]) -> Iterator[bytes]:
    """The parts joined into writes of about CHUNK bytes (a findings document has a part per
    finding): the same bytes in fewer writes, never more than a chunk held at once."""
    pending: list[bytes] = []
    size = 0
    for part in parts:
        pending.append(part)
        size += len(part)
        if size >= CHUNK:
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)


def render_result(args: argparse.Namespace, result: RedactedResult, **extra: Any) -> str | bytes | Iterator[str]:
    """The result in args.format (a large one as parts, see Renderer.parts); `extra` are
    further RenderOptions (sign-offs, ...)."""
    from auditor._render import renderer
    from auditor._render.interface import RenderOptions

    to_terminal = not args.output or args.output == "-"
    options = RenderOptions(color=to_terminal and use_color(args), verbose=args.verbose,
                            appendix=getattr(args, "appendix", False), **extra)
    r = renderer(args.format, options)
    if r.binary and to_terminal and sys.stdout.isatty():
        from auditor.errors import ConfigError

        raise ConfigError(f"{args.format} output is binary: write it to a file with -o FILE")
    if r.binary:  # PDF: Chromium takes seconds
        from auditor._progress import Waiting

        with Waiting(f"rendering the {args.format.upper()} report with Chromium"):
            return r.document(result)
    return r.parts(result)
