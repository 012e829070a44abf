"""The least NATS permissions docs/fleet.md names are enough, held to a real nats-server: an agent,
a worker and a workstation each with only their own subjects; an agent cannot publish another
node's evidence."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from auditor._remote import wire
from tests.auditor._remote.fleetlab import JETSTREAM, Proc, auditor, make_nodes
from tests.certs import CertFactory
from tests.conftest import run_cli
from tests.servers import NatsServer

DOC = Path(__file__).resolve().parents[3] / "docs" / "fleet.md"
ROLES = {"agent of target T": ("agent-a", "agent-pass-1"), "worker": ("worker", "worker-pass-2"),
         "workstation": ("lead", "lead-pass-3")}


def documented_permissions() -> str:
    """The authorization block made from docs/fleet.md's table (T is node-a)."""
    users = []
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] not in ROLES:
            continue
        user, password = ROLES[cells[0]]
        publish, subscribe = ([s.replace(".T", ".node-a") for s in re.findall(r"`([^`]+)`", c)] for c in cells[1:])
        users.append(f"{{user: {user}, password: {password}, permissions: {{publish: {json.dumps(publish)}, "
                     f"subscribe: {json.dumps(subscribe)}}}}}")
    assert len(users) == 3, "docs/fleet.md's permission table changed shape"
    return "authorization {\n  users: [\n    " + "\n    ".join(users) + "\n  ]\n}\n"


def test_each_role_works_with_only_its_documented_permissions(tmp_path: Path, certs: CertFactory) -> None:
    made = make_nodes(tmp_path, certs, {"node-a": 2})
    nats = NatsServer(tmp_path)
    nats.start(JETSTREAM.format(store=tmp_path / "js") + documented_permissions())
    url = f"127.0.0.1:{nats.port}"
    procs: list[Proc] = []
    try:
        procs.append(auditor("worker", tmp_path, "worker", "--nats", f"nats://worker:worker-pass-2@{url}", "--db",
                             str(tmp_path / "h.sqlite"), "--inventory", str(made.inventory), "--concurrency", "1"))
        procs.append(auditor("agent", tmp_path, "agent", "--target", "node-a", "--nats",
                             f"nats://agent-a:agent-pass-1@{url}", "--inventory", str(made.inventory)))
        procs[0].wait_for("ready in", timeout=90)
        procs[1].wait_for("connected to", timeout=90)
        lead = f"nats://lead:lead-pass-3@{url}"
        run = run_cli("fleet", "collect", "--target", "node-a", "--nats", lead, "--wait", "60")
        assert run.code == 0 and run.out.startswith("node-a: READY (exit 0)"), run.out + run.err
        status = run_cli("fleet", "status", "--nats", lead, "--format", "json")
        assert status.code == 0, status.err
        state = json.loads(status.out)
        assert [a["target"] for a in state["agents"]] == ["node-a"] and state["consumer"]["lag"] == 0
        assert state["targets"][0]["target"] == "node-a" and state["targets"][0]["bundle_digest"]
        assert "permissions violation" not in "".join(p.text() for p in procs).lower()
        for secret in ("agent-pass-1", "worker-pass-2", "lead-pass-3"):
            assert secret not in "".join(p.text() for p in procs) + run.out + run.err + status.out + status.err
        assert asyncio.run(_agent_may_publish(f"nats://agent-a:agent-pass-1@{url}", "node-b")) is False
        assert asyncio.run(_agent_may_publish(f"nats://agent-a:agent-pass-1@{url}", "node-a")) is True
    finally:
        for p in procs:
            p.stop()
        nats.stop()


async def _agent_may_publish(url: str, target: str) -> bool:
    import nats

    violations: list[str] = []

    async def on_error(exc: Exception) -> None:
        violations.append(str(exc))

    nc = await nats.connect(url, error_cb=on_error, allow_reconnect=False)
    js = nc.jetstream()
    try:
        await js.publish(wire.evidence_subject(target), b"x", timeout=2, headers={"Nats-Msg-Id": f"probe-{target}"})
        allowed = True
    except Exception:
        allowed = False
    await nc.close()
    if not allowed:
        assert any("permissions violation" in v.lower() for v in violations), violations
    return allowed
