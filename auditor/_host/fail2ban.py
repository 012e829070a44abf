"""fail2ban: its jails as configured (jail.conf, jail.d/*.conf, jail.local, jail.d/*.local, later
files overriding earlier ones, as fail2ban reads them) and, on a live host, as running
(`fail2ban-client status`)."""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass

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


def _files(files: HostFiles) -> list[str]:
    """Configuration files in fail2ban's reading order."""
    folder = f"{CONFIG_DIR}/jail.d"
    names = files.listdir(folder)
    return [f"{CONFIG_DIR}/jail.conf", *(f"{folder}/{n}" for n in names if n.endswith(".conf")),
            f"{CONFIG_DIR}/jail.local", *(f"{folder}/{n}" for n in names if n.endswith(".local"))]


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    m = re.match(r"\s*(\d{1,9})\s*$", value)
    return int(m.group(1)) if m else None


def _filter_name(value: str | None, jail: str) -> str | None:
    if value is None:
        return jail
    value = value.replace("%(__name__)s", jail).strip()
    value = value.split("[", 1)[0].strip()
    return value[:128] or None


def parse_jails(texts: list[tuple[str, str]], filter_exists: set[str] | None = None) -> tuple[list[Jail], list[str]]:
    """Jails from (path, text) pairs in reading order; `filter_exists` names filter.d entries."""
    parser = configparser.RawConfigParser(strict=False, interpolation=None, inline_comment_prefixes=("#", ";"),
                                          comment_prefixes=("#", ";"), default_section="DEFAULT")
    problems = []
    for path, text in texts:
        try:
            parser.read_string(text, source=path)
        except configparser.Error as exc:
            problems.append(f"{path}: {' '.join(str(exc).split())[:200]}")
    jails = []
    for name in parser.sections():
        if name in ("INCLUDES", "Definition", "Init"):
            continue
        sec = parser[name]
        enabled = str(sec.get("enabled", "false")).strip().lower() in ("true", "yes", "1", "on")
        fname = _filter_name(sec.get("filter"), name)
        present = filter_exists is None or (fname is not None and fname in filter_exists)
        jails.append(Jail(name[:128], enabled, fname, present, _int(sec.get("maxretry")),
                          (sec.get("port") or None) and str(sec.get("port"))[:128],
                          (sec.get("bantime") or None) and str(sec.get("bantime"))[:64],
                          (sec.get("findtime") or None) and str(sec.get("findtime"))[:64]))
    return jails, problems


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
    filters = {n.rsplit(".", 1)[0] for n in files.listdir(f"{CONFIG_DIR}/filter.d") if n.endswith((".conf", ".local"))}
    jails, more = parse_jails(texts, filters)
    running = None
    if runner.which("fail2ban-client"):
        try:
            res = runner.run(["fail2ban-client", "status"], timeout=15)
            running = tuple(parse_status(res.stdout)) if res.ok else ()
            if not res.ok:
                problems.append(f"fail2ban-client status: {res.problem()}")
        except CommandUnavailable as exc:
            problems.append(str(exc))
    return Fail2ban(bool(texts), _service_enabled(files), running, tuple(jails), tuple(p for p, _ in texts),
                    tuple(problems + more))
