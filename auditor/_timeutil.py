"""Times and durations as users write them: RFC 3339 timestamps, `30d`, `12h`, `90 days`."""

from __future__ import annotations

import datetime as dt
import re

from auditor.errors import ConfigError

_DURATION = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|d|days?|w|weeks?|y|years?)\s*$",
    re.IGNORECASE,
)
_UNIT_SECONDS = {
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "y": 365 * 86400,
}


def whole_days(delta: dt.timedelta) -> int:
    """Whole days in `delta`, rounded down (7 days and 23 hours: 7; -1 hour: -1): the one
    rounding of day counts in messages ("expires in 7 days", "issued 82 days ago"), through the
    CEL function wholeDays."""
    return int(delta.total_seconds() // 86400)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def rfc3339(moment: dt.datetime) -> str:
    """`2026-11-23T19:43:00Z` for an aware datetime (converted to UTC)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def go_time(value: dt.datetime) -> str:
    """Go's time.Time.MarshalText (RFC 3339 with fractional seconds, trailing zeros trimmed, `Z` for UTC)."""
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += "." + f"{value.microsecond:06d}".rstrip("0")
    offset = value.utcoffset() or dt.timedelta(0)
    if offset == dt.timedelta(0):
        return text + "Z"
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def parse_duration(text: str, *, what: str = "duration") -> dt.timedelta:
    """Parse `30d`, `12h`, `90 days`, `1y` (365 days), `45m`, `10s`."""
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(f"{what} '{text}' is not a duration such as 30d, 12h or 90 days")
    unit = match.group(2).lower()
    key = "m" if unit.startswith("min") or unit == "m" else unit[0]
    return dt.timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[key])


def parse_time(text: str, *, what: str = "time") -> dt.datetime:
    """Parse an RFC 3339 timestamp or a date (midnight UTC). Naive times are taken as UTC."""
    raw = text.strip()
    try:
        if len(raw) == 10:
            moment = dt.datetime.combine(dt.date.fromisoformat(raw), dt.time(), dt.UTC)
        else:
            moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{what} '{text}' is not a date or time such as 2026-12-31 or 2026-12-31T12:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)
