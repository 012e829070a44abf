"""Cron expressions for scheduled scans, validated strictly and translated for export.

Five fields (minute hour day-of-month month day-of-week), or six with a leading seconds
field, or one of @hourly, @daily (@midnight), @weekly, @monthly, @yearly (@annually). Times
are UTC. Lists, ranges, steps and month/day names work as in cron; the extensions that cron
implementations disagree on (L, W, #, ?, H, a year field) are refused, and so is restricting
both the day of the month and the day of the week (cron runs when *either* matches; systemd
when both do). Evaluation is croniter's; the same expansion drives the systemd OnCalendar and
Kubernetes translations, so all three agree. Plain fields (numbers, names, ranges, `*/step`)
are expanded here without importing croniter (plain_values, checked against croniter's
expansion by the tests); anything else is croniter's to judge.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from auditor.errors import ConfigError

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_FIELD = re.compile(r"^[0-9a-z*/,-]+$")
_NAMES = re.compile(r"[a-z]+")
_DEGENERATE = re.compile(r"(?<![0-9a-z])([0-9a-z]+)-\1(?:/[0-9]+)?(?![0-9a-z])")
"""A range of one value (`3-3`, `3-3/2`): croniter 7 reads it as `*`, so it is written `3`."""
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MONTHS, _DAYS = set(_MONTH_NAMES), set(_DAY_NAMES)
_SYSTEMD_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
_LABELS = ("second", "minute", "hour", "day-of-month", "month", "day-of-week")

Values = tuple[int, ...] | None
"""The values a field allows, or None for every value ('*')."""


@dataclass(frozen=True)
class Cron:
    text: str
    """As written (whitespace normalised)."""
    seconds: Values
    minutes: Values
    hours: Values
    days: Values
    months: Values
    weekdays: Values
    """0 = Sunday ... 6 = Saturday."""
    has_seconds: bool

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        """The first time strictly after `moment` (aware) that the schedule fires, in UTC."""
        from croniter import croniter

        it = croniter(expression(self), moment.astimezone(dt.UTC), second_at_beginning=True)
        nxt: dt.datetime = it.get_next(dt.datetime)
        return nxt.astimezone(dt.UTC)

    def kubernetes(self) -> str:
        """The five-field form a Kubernetes CronJob takes (it runs at most once a minute)."""
        if self.has_seconds and self.seconds != (0,):
            raise ConfigError(
                f"schedule '{self.text}' fires more than once a minute; a Kubernetes CronJob cannot"
            )
        return " ".join(_field_text(v) for v in (self.minutes, self.hours, self.days, self.months, self.weekdays))

    def on_calendar(self) -> str:
        """The systemd OnCalendar= form (UTC)."""
        date = f"*-{_two(self.months)}-{_two(self.days)}"
        if self.weekdays is not None:
            date = ",".join(_SYSTEMD_DAYS[d] for d in self.weekdays) + " " + date
        seconds = _two(self.seconds) if self.has_seconds else "00"
        return f"{date} {_two(self.hours)}:{_two(self.minutes)}:{seconds} UTC"


def expression(cron: Cron) -> str:
    """The six-field, seconds-first, expanded expression of `cron` (what croniter evaluates)."""
    seconds = cron.seconds if cron.has_seconds else (0,)
    return " ".join(
        _field_text(v) for v in (seconds, cron.minutes, cron.hours, cron.days, cron.months, cron.weekdays)
    )


def _field_text(values: Values) -> str:
    """`*`, or a comma list with runs of three or more written as ranges (1-5)."""
    if values is None:
        return "*"
    parts: list[str] = []
    run: list[int] = []
    for v in [*values, None]:
        if run and (v is None or v != run[-1] + 1):
            parts.append(f"{run[0]}-{run[-1]}" if len(run) >= 3 else ",".join(map(str, run)))
            run = []
        if v is not None:
            run.append(v)
    return ",".join(parts)


def _two(values: Values) -> str:
    return "*" if values is None else ",".join(f"{v:02d}" for v in values)


def parse_cron(text: str) -> Cron:
    """A validated schedule, or a ConfigError saying what is wrong with `text`."""
    if not isinstance(text, str):
        raise ConfigError("a schedule is a cron expression such as '0 3 * * *'")
    written = " ".join(text.split())
    lowered = written.lower()
    expr = MACROS.get(lowered, lowered)
    if expr.startswith("@"):
        raise ConfigError(f"unknown schedule '{written}' (known: {', '.join(sorted(MACROS))})")
    fields = expr.split(" ")
    if len(fields) not in (5, 6):
        raise ConfigError(
            f"schedule '{written}' has {len(fields) if expr else 0} fields; a cron expression has five "
            "(minute hour day-of-month month day-of-week), or six with seconds first"
        )
    has_seconds = len(fields) == 6
    labels = _LABELS if has_seconds else _LABELS[1:]
    for label, field in zip(labels, fields, strict=True):
        if not _FIELD.match(field):
            raise ConfigError(
                f"schedule '{written}': the {label} field '{field}' may hold only numbers, names, "
                "'*', ',', '-' and '/' (L, W, #, ? and H are not supported)"
            )
        names = set(_NAMES.findall(field))
        allowed = _MONTHS if label == "month" else _DAYS if label == "day-of-week" else set()
        if names - allowed:
            raise ConfigError(
                f"schedule '{written}': '{sorted(names - allowed)[0]}' is not a {label} "
                "(L, W, #, ? and H are not supported)"
            )
    if any(_wraps(f) for f in fields):
        raise ConfigError(f"schedule '{written}': a range runs from low to high (e.g. 1-5)")
    fields = [_DEGENERATE.sub(r"\1", f) for f in fields]
    six = fields if has_seconds else ["0", *fields]
    plain = plain_values(six)
    found = plain if plain is not None else croniter_values(" ".join(six))
    if found is None:
        raise ConfigError(f"schedule '{written}' is not a valid cron expression")
    seconds, minutes, hours, days, months, weekdays = found
    if days is not None and weekdays is not None:
        raise ConfigError(
            f"schedule '{written}' restricts both the day of the month and the day of the week; "
            "cron implementations disagree on what that means: restrict one of them"
        )
    cron = Cron(written, seconds if has_seconds else None, minutes, hours, days, months, weekdays, has_seconds)
    if plain is not None and (days is None or days[0] <= 28):
        return cron  # every month has days 1 to 28 (and every day of the week): it fires
    try:
        cron.next_after(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    except Exception:
        raise ConfigError(f"schedule '{written}' never fires (no such date)") from None
    return cron


def croniter_values(six: str) -> list[Values] | None:
    """The values of each field of `six` (seconds first) as croniter expands them, or None
    when croniter finds it invalid."""
    from croniter import croniter

    try:
        valid = croniter.is_valid(six, second_at_beginning=True)
        expanded = croniter.expand(six, second_at_beginning=True)[0] if valid else None
    except Exception:  # croniter raises assorted errors for odd input; all mean "invalid"
        valid, expanded = False, None
    if not valid or expanded is None or len(expanded) != 6:
        return None
    minutes, hours, days, months, weekdays, seconds = (
        _values(f, size) for f, size in zip(expanded, (60, 24, 31, 12, 7, 60), strict=True)
    )
    return [seconds, minutes, hours, days, months, weekdays]


_PLAIN_PART = re.compile(r"^(?:\*/([1-9][0-9]?)|([1-9]?[0-9]|[a-z]{3})(?:-([1-9]?[0-9]|[a-z]{3}))?)$")
_BOUNDS = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_NUMBERED = {**{name: i + 1 for i, name in enumerate(_MONTH_NAMES)}, **{name: i for i, name in enumerate(_DAY_NAMES)}}


def plain_values(six: Sequence[str]) -> list[Values] | None:
    """The values of each field of `six` (seconds first) when every field is plain: `*`, or a
    list of numbers, names, ranges and `*/step`, all in range (the forms schedules are written
    in). None for anything else, which croniter then judges (croniter_values). On plain fields
    the two agree (a test compares them on generated expressions); this one spares importing
    croniter (and dateutil) on every inventory load."""
    out: list[Values] = []
    for position, field in enumerate(six):
        low, high = _BOUNDS[position]
        if field == "*":
            out.append(None)
            continue
        values: set[int] = set()
        for part in field.split(","):
            match = _PLAIN_PART.match(part)
            if match is None:
                return None
            step, first, last = match.groups()
            if step is not None:
                span = 7 if position == 5 else high - low + 1
                if int(step) >= span:
                    return None  # croniter reads a step past the range as '*'
                values.update(range(low, low + span, int(step)))
                continue
            start, end = _number(first, position), _number(last or first, position)
            if start is None or end is None or not low <= start <= end <= high:
                return None
            if last is not None and (start == end or first.isdigit() != last.isdigit()):
                return None  # croniter reads a range of one value (or 1-jan) as '*'
            values.update(range(start, end + 1))
        size = high - low + 1
        if position == 5:
            values, size = {v % 7 for v in values}, 7
        out.append(None if len(values) == size else tuple(sorted(values)))
    return out


def _number(text: str, position: int) -> int | None:
    if text.isdigit():
        return int(text)
    if (position == 4 and text in _MONTHS) or (position == 5 and text in _DAYS):
        return _NUMBERED[text]
    return None


def _values(field: Sequence[int | str], size: int) -> Values:
    """The allowed values, or None when every value of the field is allowed ('*', '*/1', 0-6)."""
    if field == ["*"]:
        return None
    values = tuple(sorted({int(v) % 7 if size == 7 else int(v) for v in field}))
    return None if len(values) == size else values


def _wraps(field: str) -> bool:
    for part in field.split(","):
        span = part.split("/")[0]
        if "-" in span:
            low, high = span.split("-", 1)
            if low.isdigit() and high.isdigit() and int(low) > int(high):
                return True
    return False
