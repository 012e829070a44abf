"""Cron expressions: strict validation, evaluation checked against a brute-force reading of
the same fields, and the systemd and Kubernetes translations checked against systemd itself."""

from __future__ import annotations

import datetime as dt
import re
import subprocess

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from auditor._schedule import cron as cron_module
from auditor._schedule.cron import croniter_values, parse_cron, plain_values
from auditor.errors import ConfigError
from tests.servers import tool

UTC = dt.UTC
BASE = dt.datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "after", "expected"),
    [
        ("*/15 * * * *", BASE, dt.datetime(2026, 3, 14, 15, 15, tzinfo=UTC)),
        ("0 3 * * *", BASE, dt.datetime(2026, 3, 15, 3, 0, tzinfo=UTC)),
        ("@weekly", BASE, dt.datetime(2026, 3, 15, 0, 0, tzinfo=UTC)),  # 2026-03-15 is a Sunday
        ("0 6 * * mon-fri", BASE, dt.datetime(2026, 3, 16, 6, 0, tzinfo=UTC)),
        ("0 0 29 feb *", BASE, dt.datetime(2028, 2, 29, tzinfo=UTC)),
        ("*/10 * * * * *", BASE, dt.datetime(2026, 3, 14, 15, 9, 30, tzinfo=UTC)),
        ("0 0 */1 * 7", BASE, dt.datetime(2026, 3, 15, tzinfo=UTC)),  # */1 is every day: Sundays only
        ("  0   3 * * *  ", BASE, dt.datetime(2026, 3, 15, 3, 0, tzinfo=UTC)),
    ],
)
def test_next_run(text: str, after: dt.datetime, expected: dt.datetime) -> None:
    assert parse_cron(text).next_after(after) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "has 0 fields"),
        ("* * * *", "has 4 fields"),
        ("* * * * * * *", "has 7 fields"),
        ("61 * * * *", "not a valid cron expression"),
        ("*/0 * * * *", "not a valid cron expression"),
        ("5-1 * * * *", "from low to high"),
        ("0 0 L * *", "'l' is not a day-of-month"),
        ("0 0 * * 5#2", "L, W, #, ? and H are not supported"),
        ("0 0 ? * *", "L, W, #, ? and H are not supported"),
        ("H * * * *", "is not a minute"),
        ("0 0 31 2 *", "never fires"),
        ("0 0 1 * mon", "restricts both the day of the month and the day of the week"),
        ("@reboot", "unknown schedule"),
        ("0 0 * foo *", "'foo' is not a month"),
        ("0 0 * * funday", "is not a day-of-week"),
    ],
)
def test_invalid_expressions_say_why(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        parse_cron(text)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789*/,-@ LW#?Hmonjaesudfbrtlycvwhik\t")), max_size=40))
def test_any_text_is_a_schedule_or_a_config_error(text: str) -> None:
    try:
        cron = parse_cron(text)
    except ConfigError as exc:
        assert exc.diagnostics()
        return
    assert cron.next_after(BASE) > BASE


# -- evaluation against brute force -------------------------------------------------------------


def field(low: int, high: int) -> st.SearchStrategy[tuple[str, frozenset[int] | None]]:
    """A cron field as text, with the set of values it means (None: every value)."""
    value = st.integers(low, high)

    @st.composite
    def part(draw: st.DrawFn) -> tuple[str, frozenset[int]]:
        kind = draw(st.sampled_from(["one", "range", "step", "rangestep"]))
        if kind == "one":
            v = draw(value)
            return str(v), frozenset([v])
        a, b = sorted((draw(value), draw(value)))
        n = draw(st.integers(1, max(1, high - low)))
        if kind == "range":
            return f"{a}-{b}", frozenset(range(a, b + 1))
        if kind == "step":
            return f"*/{n}", frozenset(range(low, high + 1, n))
        return f"{a}-{b}/{n}", frozenset(range(a, b + 1, n))

    @st.composite
    def whole(draw: st.DrawFn) -> tuple[str, frozenset[int] | None]:
        if draw(st.booleans()):
            return "*", None
        parts = draw(st.lists(part(), min_size=1, max_size=3))
        return ",".join(p[0] for p in parts), frozenset().union(*(p[1] for p in parts))

    return whole()


def brute_next(sets: list[frozenset[int] | None], after: dt.datetime) -> dt.datetime | None:
    seconds, minutes, hours, days, months, weekdays = sets

    def ok(values: frozenset[int] | None, v: int) -> bool:
        return values is None or v in values

    day = after.date()
    for _ in range(366 * 9):
        cron_weekday = (day.weekday() + 1) % 7
        if ok(months, day.month) and ok(days, day.day) and ok(weekdays, cron_weekday):
            for h in range(24):
                for m in range(60):
                    if not (ok(hours, h) and ok(minutes, m)):
                        continue
                    for s in range(60):
                        moment = dt.datetime(day.year, day.month, day.day, h, m, s, tzinfo=UTC)
                        if ok(seconds, s) and moment > after:
                            return moment
        day += dt.timedelta(days=1)
    return None


def full(values: frozenset[int] | None, low: int, high: int) -> bool:
    return values is None or values == frozenset(range(low, high + 1))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.booleans(),
    field(0, 59), field(0, 59), field(0, 23), field(1, 31), field(1, 12), field(0, 6),
    st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2035, 1, 1)),
)
def test_next_run_matches_brute_force(
    with_seconds: bool,
    sec: tuple[str, frozenset[int] | None],
    minute: tuple[str, frozenset[int] | None],
    hour: tuple[str, frozenset[int] | None],
    dom: tuple[str, frozenset[int] | None],
    month: tuple[str, frozenset[int] | None],
    dow: tuple[str, frozenset[int] | None],
    start: dt.datetime,
) -> None:
    fields = [minute, hour, dom, month, dow]
    text = " ".join(f[0] for f in ([sec] if with_seconds else []) + fields)
    restricted_both = not full(dom[1], 1, 31) and not full(dow[1], 0, 6)
    try:
        cron = parse_cron(text)
    except ConfigError as exc:
        # the only valid fields we generate that are refused: both day fields restricted, or a
        # day-of-month that never comes in the months allowed
        assert restricted_both or "never fires" in str(exc), (text, str(exc))
        return
    assert not restricted_both, text
    after = start.replace(tzinfo=UTC)
    seconds = sec[1] if with_seconds else frozenset([0])
    expected = brute_next([seconds, minute[1], hour[1], dom[1], month[1], dow[1]], after)
    assume(expected is not None)
    assert cron.next_after(after) == expected, text
    # the Kubernetes form means the same (when the schedule is at most once a minute)
    if not with_seconds or seconds == frozenset([0]):
        again = parse_cron(cron.kubernetes())
        assert again.next_after(after) == expected


def test_kubernetes_cannot_run_every_second() -> None:
    with pytest.raises(ConfigError, match="more than once a minute"):
        parse_cron("* * * * * *").kubernetes()
    assert parse_cron("0 */5 * * * *").kubernetes() == "*/5 * * * *".replace("*/5", "0,5,10,15,20,25,30,35,40,45,50,55")
    assert parse_cron("@daily").kubernetes() == "0 0 * * *"
    assert parse_cron("0 6 * * mon-fri").kubernetes() == "0 6 * * 1-5"


# -- systemd agrees with our translation --------------------------------------------------------


def systemd_next(expr: str, base: dt.datetime, n: int) -> list[dt.datetime]:
    proc = subprocess.run(
        [tool("systemd-analyze", "Debian systemd"), "calendar", f"--base-time={base.strftime('%Y-%m-%d %H:%M:%S')} UTC", f"--iterations={n}", expr],
        capture_output=True, text=True, timeout=30, check=False, env={"TZ": "UTC", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    found = re.findall(r"(?:Next elapse|Iter\. #\d+): \w+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", proc.stdout)
    return [dt.datetime.strptime(f, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) for f in found]


@pytest.mark.parametrize(
    "text",
    ["*/15 * * * *", "0 3 * * *", "@weekly", "@monthly", "@yearly", "30 6 * * mon-fri", "0 0 29 2 *",
     "5,35 */6 1-10 * *", "0 12 * jan,jul sun", "*/20 * * * * *", "15 */2 * * * *"],
)
def test_systemd_oncalendar_fires_when_cron_does(text: str) -> None:
    cron = parse_cron(text)
    ours = []
    moment = BASE
    for _ in range(4):
        moment = cron.next_after(moment)
        ours.append(moment)
    assert systemd_next(cron.on_calendar(), BASE, 4) == ours


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field(0, 59), field(0, 23), field(1, 28), field(1, 12))
def test_systemd_agrees_on_generated_schedules(
    minute: tuple[str, frozenset[int] | None],
    hour: tuple[str, frozenset[int] | None],
    dom: tuple[str, frozenset[int] | None],
    month: tuple[str, frozenset[int] | None],
) -> None:
    cron = parse_cron(f"{minute[0]} {hour[0]} {dom[0]} {month[0]} *")
    expected = [cron.next_after(BASE)]
    expected.append(cron.next_after(expected[0]))
    assert systemd_next(cron.on_calendar(), BASE, 2) == expected


# The plain fields parse_cron reads without croniter (plain_values) must mean exactly what
# croniter makes of them: every single token in every position, then whole expressions.
_POSITION_HIGH = (59, 59, 23, 31, 12, 7)
_NAMES_ALL = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
              "sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _tokens(position: int) -> list[str]:
    numbers = [str(n) for n in range(100)] + ["00", "01", "07", "060"]
    names = [*_NAMES_ALL, "foo"]
    steps = [f"*/{n}" for n in range(101)] + [f"1-5/{n}" for n in (1, 2)] + ["*/01"]
    high = _POSITION_HIGH[position]
    atoms = [str(n) for n in range(high + 2)] + (names if position >= 4 else [])
    ranges = [f"{a}-{b}" for a in atoms for b in atoms if a != b]
    return numbers + names + steps + ranges


@pytest.mark.parametrize("position", range(6))
def test_plain_fields_agree_with_croniter_token_by_token(position: int) -> None:
    agreed = 0
    for token in _tokens(position):
        six = ["0", "0", "0", "*", "*", "*"]
        six[position] = token
        plain = plain_values(six)
        if plain is not None:
            assert plain == croniter_values(" ".join(six)), six
            agreed += 1
    assert agreed > 50  # the plain reading covers the usual forms


def _plain_part(position: int) -> st.SearchStrategy[str]:
    high = _POSITION_HIGH[position]
    number = st.integers(0, high + 1).map(str)
    name = st.sampled_from(_NAMES_ALL)
    atom = st.one_of(number, name) if position >= 4 else number
    return st.one_of(
        atom,
        st.tuples(atom, atom).map("-".join),
        st.integers(0, high + 2).map(lambda n: f"*/{n}"),
    )


@st.composite
def _plain_six(draw: st.DrawFn) -> list[str]:
    out = []
    for position in range(6):
        if draw(st.booleans()):
            out.append("*")
        else:
            out.append(",".join(draw(st.lists(_plain_part(position), min_size=1, max_size=4))))
    return out


@settings(max_examples=400, deadline=None)
@given(_plain_six())
def test_plain_expressions_agree_with_croniter(six: list[str]) -> None:
    plain = plain_values(six)
    if plain is not None:
        assert plain == croniter_values(" ".join(six)), six


def _outcome(text: str) -> object:
    try:
        return parse_cron(text)
    except ConfigError as exc:
        return str(exc)


@settings(max_examples=400, deadline=None)
@given(_plain_six(), st.booleans())
def test_parse_cron_is_the_same_with_and_without_croniter_reading(six: list[str], with_seconds: bool) -> None:
    """The whole of parse_cron (validation, messages, the never-fires check) is unchanged by
    the plain reading: the same expression parsed with croniter alone gives the same result."""
    text = " ".join(six if with_seconds else six[1:])
    fast = _outcome(text)
    original = cron_module.plain_values
    cron_module.plain_values = lambda six: None
    try:
        slow = _outcome(text)
    finally:
        cron_module.plain_values = original
    assert fast == slow, text
