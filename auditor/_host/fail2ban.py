"""fail2ban: its jails as configured (jail.conf, jail.d/*.conf, jail.local, jail.d/*.local, later
files overriding earlier ones, as fail2ban reads them) and, on a live host, as running
(`fail2ban-client status`)."""

from __future__ import annotations

import configparser
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from auditor._host.system import CommandRunner, CommandUnavailable, HostFileError, HostFiles

CONFIG_DIR = "/etc/fail2ban"
MAX_CONFIG_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Jail:
    name: str
    enabled: bool
    filter: str | None
    filter_present: bool
    maxretry: int | None
    port: str | None
    bantime: str | None
    findtime: str | None
    missing_actions: tuple[str, ...] = ()
    """Actions of an enabled jail that action.d does not hold (fail2ban skips the jail)."""

    @property
    def loads(self) -> bool:
        """fail2ban starts this jail: enabled, its filter and actions found."""
        return self.enabled and self.filter_present and not self.missing_actions


@dataclass(frozen=True)
class Fail2ban:
    configured: bool
    """A fail2ban configuration exists (/etc/fail2ban/jail.conf or jail.local or jail.d)."""
    service_enabled: bool | None
    """fail2ban.service is wanted by a target (None: no systemd unit folder to tell)."""
    running_jails: tuple[str, ...] | None
    """Jails the running server reports (None: not asked, e.g. a recorded host)."""
    jails: tuple[Jail, ...]
    files: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    refused: str | None = None
    """Why fail2ban would refuse the whole configuration and start no jail (then `jails` is empty)."""


def _files(files: HostFiles) -> list[str]:
    """Configuration files in fail2ban's reading order (ConfigReader.read: jail.conf, jail.d/*.conf,
    jail.local, jail.d/*.local, each folder's sorted)."""
    folder = f"{CONFIG_DIR}/jail.d"
    names = sorted(files.listdir(folder))
    return [f"{CONFIG_DIR}/jail.conf", *(f"{folder}/{n}" for n in names if n.endswith(".conf")),
            f"{CONFIG_DIR}/jail.local", *(f"{folder}/{n}" for n in names if n.endswith(".local"))]


class Refused(Exception):
    """fail2ban refuses the whole configuration: it would start no jail."""


class _Interpolation(configparser.BasicInterpolation):
    """fail2ban's reading of `%(name)s`: `__name__` is the section's name, `%(section/option)s`
    another section's option (`default/` and `known/` ones too); a value is checked only when
    read, as fail2ban reads its files (RawConfigParser.read checks nothing)."""

    _REFERENCE = re.compile(r"%\(([\w\-]+)/([^)]+)\)s")

    def before_set(self, parser: Any, section: str, option: str, value: str) -> str:
        return value

    def _interpolate_some(self, parser: Any, option: str, accum: list[str], rest: str, section: str,
                          map: Any, depth: int) -> None:
        """Each text met on the way (a value, then the values it names) may name another
        section's option: it is added to the names first."""
        names = dict(map)
        names.setdefault("__name__", section)
        for owner, name in self._REFERENCE.findall(rest):
            key = f"{owner}/{name}"
            if key in names:
                continue
            low = owner.lower()
            place = parser._defaults if low in ("default", "known") else parser._sections.get(owner, {})
            if low == "known":
                place = {**parser._defaults, **parser._sections.get(section, {})}
            if name in place:
                names[key] = place[name]
        super()._interpolate_some(parser, option, accum, rest, section, names, depth)  # type: ignore[misc]


def _parser() -> configparser.ConfigParser:
    """A parser set as fail2ban sets its own: `;` inline comments, duplicate sections and options
    in one file refused, names in lower case."""
    return configparser.ConfigParser(interpolation=_Interpolation(), inline_comment_prefixes=(";",),
                                     strict=True, default_section="DEFAULT")


class _Files:
    """The configuration files as fail2ban reads them: each parsed once, alone (Refused where it
    does not parse); a file no one gave is read through `more` when [INCLUDES] names it."""

    def __init__(self, texts: dict[str, str], more: Callable[[str], str | None] | None) -> None:
        self._texts, self._more = texts, more
        self._parsed: dict[str, configparser.ConfigParser | None] = {}

    def parsed(self, path: str) -> configparser.ConfigParser | None:
        if path not in self._parsed:
            text = self._texts.get(path)
            if text is None and self._more is not None:
                text = self._more(path)
            one = None
            if text is not None:
                one = _parser()
                try:
                    one.read_string(text, source=path)
                except configparser.Error as exc:
                    raise Refused(f"{path}: {_why(exc)}") from None
            self._parsed[path] = one
        return self._parsed[path]


def _read_all(files: _Files, paths: list[str]) -> configparser.ConfigParser:
    """Every file of `paths`, with its [INCLUDES] before and after, merged in order as fail2ban
    merges them: defaults updated, a section's options updated."""
    merged = _parser()
    for path in _with_includes(files, paths, []):
        one = files.parsed(path)
        assert one is not None  # _with_includes keeps the files that are there
        merged._defaults.update(one._defaults)  # type: ignore[attr-defined]
        for name, options in one._sections.items():  # type: ignore[attr-defined]
            if "?" in name:  # a conditional section (name?key=value): options of its own, not a jail
                continue
            merged._sections.setdefault(name, {}).update(options)  # type: ignore[attr-defined]
    return merged


def _with_includes(files: _Files, paths: list[str], seen: list[str]) -> list[str]:
    """`paths` with the files each one's [INCLUDES] names before and after it (relative to its
    folder; an included file's .local follows it), depth first; a file already on the way is
    not read again."""
    out: list[str] = []
    for path in paths:
        one = files.parsed(path)
        if one is None:
            continue
        before: list[str] = []
        after: list[str] = []
        for key, into in (("before", before), ("after", after)):
            names = one.get("INCLUDES", key, raw=True, fallback="") if one.has_section("INCLUDES") else ""
            for name in filter(None, (line.strip() for line in str(names).split("\n"))):
                target = name if name.startswith("/") else posixpath.join(posixpath.dirname(path), name)
                if target not in seen and target != path:
                    local = target.rsplit(".", 1)[0] + ".local"
                    into.extend(_with_includes(files, [target, *([local] if local != target else [])], [*seen, path]))
        out += [*before, path, *after]
    return out


def _get(parser: configparser.ConfigParser, section: str, option: str) -> str | None:
    """An option's value, interpolated; Refused where interpolation fails (fail2ban stops)."""
    try:
        return parser.get(section, option, fallback=None)
    except (configparser.Error, ValueError) as exc:
        raise Refused(f"[{section}] {option}: {_why(exc)}") from None


def _why(exc: Exception) -> str:
    """configparser's message without the text it quotes from the file (a line, a raw value:
    an action's API key may be in it), with the line number where it has one."""
    first = str(exc).split("\n", 1)[0].split(" Raw value:", 1)[0]
    line = getattr(exc, "lineno", None)
    errors = getattr(exc, "errors", None)
    if isinstance(exc, configparser.MissingSectionHeaderError):
        first = "an option before any [section]"
    elif isinstance(exc, configparser.ParsingError):
        first = "a line that is neither a section, an option nor a continuation" + (
            f" (line {errors[0][0]})" if errors else "")
    if line is not None and "line" not in first:
        first += f" (line {line})"
    return " ".join(first.split())[:200]


def _int(value: str | None) -> int | None:
    """int() as fail2ban converts an int option (a value it cannot read is its default, none)."""
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


_FILTER = re.compile(r"([^\[]+)(?:\[(.*)\])?\s*$", re.DOTALL)
"""jail.conf's `filter = NAME[option=value, ...]`: the name is all before `[`, blanks included
(fail2ban then looks for `filter.d/NAME.conf` as written)."""


def parse_jails(texts: list[tuple[str, str]], filter_exists: set[str] | None = None,
                more: Callable[[str], str | None] | None = None, action_exists: set[str] | None = None,
                ) -> tuple[list[Jail], str | None]:
    """Jails from (path, text) pairs in reading order, as `fail2ban-client -d` reads them, and
    why fail2ban would refuse the whole configuration (then no jails); `filter_exists` and
    `action_exists` name filter.d and action.d entries (None: not checked), `more` reads a file
    [INCLUDES] names (paths-*.conf)."""
    try:
        return _jails(texts, filter_exists, more, action_exists), None
    except Refused as exc:
        return [], str(exc)


_ACTION = re.compile(r"""[^\[\s]+(?:\s*\[(?:"[^"]*"|'[^']*'|[^\]"'])*\])*|\S+""")
"""One action of `action =` (splitWithOptions): a name, then groups of options in brackets
(`name[a=1][b=2]`; they may hold blanks and new lines)."""


def _missing_actions(written: str | None, action_exists: set[str] | None) -> tuple[str, ...]:
    """The actions of `written` that action.d does not hold (a Python action, NAME.py, is a file
    of its own: taken as there)."""
    if not written or action_exists is None:
        return ()
    missing = []
    for action in _ACTION.findall(written):
        name = action.strip().split("[", 1)[0]
        if name and not name.endswith(".py") and name not in action_exists:
            missing.append(name[:128])
    return tuple(missing)


def _jails(texts: list[tuple[str, str]], filter_exists: set[str] | None,
           more: Callable[[str], str | None] | None, action_exists: set[str] | None) -> list[Jail]:
    parser = _read_all(_Files(dict(texts), more), [path for path, _ in texts])
    jails = []
    for name in parser.sections():
        if name == "INCLUDES" or name.startswith("KNOWN/"):
            continue
        enabled = (_get(parser, name, "enabled") or "").lower() in ("1", "on", "true", "yes")
        written = _get(parser, name, "filter")
        match = _FILTER.match(written) if written else None
        fname = match.group(1) if match else written
        present = filter_exists is None or (match is not None and fname in filter_exists)
        maxretry = port = bantime = findtime = None
        missing: tuple[str, ...] = ()
        if enabled and present:  # fail2ban reads a jail's other options once its filter is read
            maxretry, port = _int(_get(parser, name, "maxretry")), _get(parser, name, "port")
            bantime, findtime = _get(parser, name, "bantime"), _get(parser, name, "findtime")
            missing = _missing_actions(_get(parser, name, "action"), action_exists)
        jails.append(Jail(name[:128], enabled, fname and fname[:128], present, maxretry, port and port[:128],
                          bantime and bantime[:64], findtime and findtime[:64], missing))
    failing = [j.name for j in jails if j.enabled and not j.loads]
    if failing and not any(j.loads for j in jails):
        raise Refused(f"every enabled jail fails to load its filter or an action ({', '.join(failing)[:160]})")
    return jails


def parse_status(text: str) -> list[str]:
    """Jail names from `fail2ban-client status`."""
    for line in text.splitlines():
        if "Jail list:" in line:
            return [j.strip() for j in line.split("Jail list:", 1)[1].split(",") if j.strip()]
    return []


def _service_enabled(files: HostFiles) -> bool | None:
    base = "/etc/systemd/system"
    if not files.is_dir(base):
        return None
    return any(n.endswith(".wants") and files.exists(f"{base}/{n}/fail2ban.service") for n in files.listdir(base))


_LOG_PREFIX = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ +\S+ +\[\d+\]: +[A-Z]+ +")
"""The time, logger and process id fail2ban-client puts before a message: a problem says the
same in every collection (history compares them)."""


def read_fail2ban(files: HostFiles, runner: CommandRunner) -> Fail2ban:
    texts: list[tuple[str, str]] = []
    problems: list[str] = []
    for path in _files(files):
        try:
            text = files.text_or_none(path, MAX_CONFIG_BYTES)
        except HostFileError as exc:
            problems.append(f"{path}: {exc.reason}")
            continue
        if text is not None:
            texts.append((path, text))
    def named(folder: str) -> set[str]:
        return {n.rsplit(".", 1)[0] for n in files.listdir(f"{CONFIG_DIR}/{folder}") if n.endswith((".conf", ".local"))}

    def more(path: str) -> str | None:
        try:
            return files.text_or_none(path, MAX_CONFIG_BYTES)
        except HostFileError:
            return None

    jails, refused = parse_jails(texts, named("filter.d"), more, named("action.d"))
    running = None
    if runner.which("fail2ban-client"):
        try:
            res = runner.run(["fail2ban-client", "status"], timeout=15)
            running = tuple(parse_status(res.stdout)) if res.ok else ()
            if not res.ok:
                problems.append(f"fail2ban-client status: {_LOG_PREFIX.sub('', res.problem())}")
        except CommandUnavailable as exc:
            problems.append(str(exc))
    return Fail2ban(bool(texts), _service_enabled(files), running, tuple(jails), tuple(p for p, _ in texts),
                    tuple(problems), refused)
