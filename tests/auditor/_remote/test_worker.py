"""The worker's pipeline (auditor._remote.worker.Worker): while one scan is being stored, its
pool judges the next message. A real nats-server with JetStream on loopback, real signed
bundles and a real SQLite history, whose saving the test holds back."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any

from auditor._history.sqlite import SQLiteStore
from auditor._remote import wire
from auditor._remote.connection import NatsSettings
from auditor._remote.envelope import Signer, seal
from auditor._remote.worker import InventorySource, Worker, WorkerOptions
from tests.auditor._remote.fleetlab import make_nodes, start_nats
from tests.auditor._remote.signing import small_bundle
from tests.certs import CertFactory

NODES = ("node-a", "node-b", "node-c")


class _HeldStore(SQLiteStore):
    """A SQLite history whose saving waits until `release` is set; `saving` names the targets
    whose save has begun, in order."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.release = threading.Event()
        self.saving: list[str] = []

    def save_signed(self, result: Any, **kwargs: Any) -> Any:
        self.saving.append(str(result.target.get("name")))
        assert self.release.wait(120), "never released"
        return super().save_signed(result, **kwargs)


def test_the_next_message_is_judged_while_a_scan_is_stored(tmp_path: Path, certs: CertFactory) -> None:
    """With one evaluating process, a second message is judged (and reaches the history) while
    the first one's scan is still being stored; a third is not taken before one of them is done
    (at most twice --concurrency messages in hand). Each is stored once, and acknowledged."""
    nats = start_nats(tmp_path)
    try:
        made = make_nodes(tmp_path, certs, dict.fromkeys(NODES, 1))
        messages = []
        for name in NODES:
            signer = Signer.load(made.folder / name / "signing/key.pem", made.folder / name / "signing/cert.pem")
            messages.append((wire.evidence_subject(name), wire.pack(seal(small_bundle(name), signer))))
        store = _HeldStore(tmp_path / "history.sqlite")
        worker = Worker(InventorySource(str(made.inventory)), store, NatsSettings.make(nats.url),
                        options=WorkerOptions(concurrency=1, fetch_wait=0.2))

        taken: list[str] = []  # the subjects the worker took, in order (its log: "evaluating SUBJECT ...")

        class Taken(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                if record.msg.startswith("evaluating %s"):
                    taken.append(str(record.args[0]) if isinstance(record.args, tuple) else "")

        log = logging.getLogger("auditor.worker")
        handler, level = Taken(), log.level
        log.addHandler(handler)
        log.setLevel(logging.INFO)

        async def scenario() -> tuple[list[str], list[str], list[str], int]:
            import nats as nats_py

            running = asyncio.create_task(worker.run())
            try:
                nc = await nats_py.connect(nats.url)
                js = nc.jetstream()
                for subject, data in messages:
                    while True:  # the worker makes the stream once it is connected
                        try:
                            await js.publish(subject, data)
                            break
                        except Exception:
                            await asyncio.sleep(0.1)
                for _ in range(1200):  # two saves begun: the second judged while the first is held
                    if len(store.saving) >= 2 or running.done():
                        break
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.5)  # time for a third to be taken, were it allowed
                held, in_hand = list(store.saving), list(taken)
                store.release.set()
                for _ in range(1200):
                    if worker.stored >= len(NODES) or running.done():
                        break
                    await asyncio.sleep(0.05)
                info = await js.consumer_info(wire.STREAM, wire.CONSUMER)
                pending = int(info.num_pending or 0) + int(info.num_ack_pending or 0)
                worker.stop.set()
                await asyncio.wait_for(running, 60)
                await nc.close()
            finally:
                store.release.set()  # a failing run is not left waiting for it
            return held, in_hand, list(store.saving), pending

        try:
            held, in_hand, saved, pending = asyncio.run(scenario())
        finally:
            log.removeHandler(handler)
            log.setLevel(level)
            store.close()
        assert held == list(NODES[:2]), held  # the second reached the history while the first was held
        assert in_hand == [subject for subject, _ in messages[:2]], in_hand  # and the third was not taken
        assert saved == list(NODES) and worker.stored == len(NODES)
        assert pending == 0  # every message acknowledged
        with SQLiteStore(tmp_path / "history.sqlite") as reader:
            assert sorted(e.target for e in reader.entries(limit=10)) == sorted(NODES)
    finally:
        nats.stop()
