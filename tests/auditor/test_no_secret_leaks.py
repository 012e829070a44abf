"""A scan of a node with planted secrets, and URL user-info in its inventory, shows none of the
raw values anywhere: in no output format, not in the bundle, the history database, the
command's stderr, `targets show`, a serve event (through a real nats-server that checks the
login taken from the URL) or a webhook post."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import secrets_corpus as corpus
from tests.auditor._schedule.serving import Hook, demo_copy, hook_server, regression_event
from tests.conftest import run_cli
from tests.servers import LOOPBACK, NatsServer, closed_port, nats_server

pytestmark = pytest.mark.slow

TOKEN_ENV = "AUDITOR_TEST_LEAK_VAULT_TOKEN"
FORMATS = ("text", "json", "html", "md", "sarif", "junit")


@dataclass(frozen=True)
class Node:
    inventory: Path
    root: Path
    secrets: dict[str, str]
    """What must never be shown: name -> raw value."""
    env: dict[str, str]

    def assert_clean(self, text: str, where: str) -> None:
        for name, value in self.secrets.items():
            assert value not in text, f"{where} shows the {name}"


def _word(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(12))


def plant(folder: Path, nats: NatsServer) -> Node:
    """A copy of the demo node with secrets in its files, and an inventory whose URLs carry
    user-info: a Vault address (nothing listens there), the real server's monitoring URL and
    a target variable."""
    rng = random.Random(1409)
    pem = corpus.private_key_pem(rng)
    secrets = {
        "nkey seed": corpus.nkey_seed(rng),
        "vault token": corpus.vault_token(rng),
        "github token": corpus.github_token(rng),
        "aws key id": corpus.aws_key_id(rng),
        "password": corpus.password(rng),
        "private key": max(pem.splitlines(), key=len),
        "vault token from the environment": corpus.vault_token(rng),
        "vault URL user": _word(rng, "vu-"),
        "vault URL password": _word(rng, "vp-"),
        "monitoring URL user": _word(rng, "mu-"),
        "monitoring URL password": _word(rng, "mp-"),
        "variable URL user": _word(rng, "xu-"),
        "variable URL password": _word(rng, "xp-"),
    }
    s = secrets
    vault = f"http://{s['vault URL user']}:{s['vault URL password']}@{LOOPBACK}:{closed_port()}"
    monitoring = f"http://{s['monitoring URL user']}:{s['monitoring URL password']}@{LOOPBACK}:{nats.http_port}"
    upstream = f"https://{s['variable URL user']}:{s['variable URL password']}@upstream.example.com/api"
    inventory = demo_copy(
        folder,
        target_lines=f"    vars: {{upstream: '{upstream}'}}\n",
        extra_sources=(
            "      - {collector: secrets, name: leaked-secrets, paths: [etc/cim]}\n"
            f"      - {{collector: vault, name: vault, address: '{vault}', token_env: {TOKEN_ENV}, timeout: 2, required: false}}\n"
            f"      - {{collector: nats-monitoring, name: nats-monitoring, url: '{monitoring}', endpoints: [varz, healthz]}}\n"
        ),
    )
    root = folder / "cim-prod-001"
    (root / "etc/cim/leaky.env").write_text(
        f"NATS_SEED={s['nkey seed']}\nVAULT_TOKEN={s['vault token']}\nGITHUB_TOKEN={s['github token']}\n"
        f"AWS_ACCESS_KEY_ID={s['aws key id']}\nDB_PASSWORD=\"{s['password']}\"\n"
    )
    (root / "etc/cim/leaky.key").write_text(pem)
    return Node(inventory, root, secrets, {TOKEN_ENV: s["vault token from the environment"]})


def database_text(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


@pytest.fixture
def hook_port() -> Iterator[int]:
    with hook_server() as port:
        yield port


def test_no_planted_secret_reaches_any_output(tmp_path: Path, hook_port: int) -> None:
    nats_password = "np-" + random.Random(7).randbytes(8).hex()
    with nats_server(tmp_path, f'authorization {{\n  user: "events"\n  password: "{nats_password}"\n}}\n',
                     monitoring=True) as nats:
        node = plant(tmp_path, nats)
        secrets = {**node.secrets, "NATS password": nats_password}
        node = Node(node.inventory, node.root, secrets, node.env)
        db = tmp_path / "history.sqlite"
        scan = ("scan", "--inventory", str(node.inventory), "--target", "cim-prod-001", "--db", str(db))

        # every output format, the bundle, and what the command says on stderr
        for fmt in FORMATS:
            out = tmp_path / f"result.{fmt}"
            extra = ("--bundle", str(tmp_path / "bundle.json")) if fmt == "json" else ()
            run = run_cli(*scan, "--format", fmt, "-o", str(out), *extra, env=node.env)
            assert run.code == 1, run.err
            node.assert_clean(out.read_text(), f"--format {fmt}")
            node.assert_clean(run.err, f"stderr of --format {fmt}")
        result = json.loads((tmp_path / "result.json").read_text())
        leaks = [f for f in result["findings"] if f["area"] == "secrets" and f["status"] == "fail"]
        # one finding per leak: the file is in its resource (file:line:column)
        assert any(f["resource"].startswith("etc/cim/leaky.env:") for f in leaks), "the planted file was not found"
        assert any("leaky.key" in f["resource"] for f in leaks), "the planted key was not found"
        bundle = (tmp_path / "bundle.json").read_text()
        node.assert_clean(bundle, "the bundle")
        records = json.loads(bundle)["records"]
        varz = [r for r in records if r["kind"] == "nats.varz"]
        assert varz and "data" in varz[0], "the monitoring URL (without its user-info) was not read"
        assert varz[0]["resource"] == f"http://{LOOPBACK}:{nats.http_port}/varz"
        vault = next(r for r in records if r["kind"] == "vault.server")
        assert vault["error"].startswith(f"cannot reach Vault at http://{LOOPBACK}:")
        assert json.loads(bundle)["target"]["vars"]["upstream"] == "https://upstream.example.com/api"

        # the history: every row of every table
        node.assert_clean(database_text(db), "the history database")

        # the inventory as `targets show` prints it
        for fmt in ("text", "json"):
            shown = run_cli("targets", "show", "cim-prod-001", "--inventory", str(node.inventory), "--format", fmt)
            assert shown.code == 0 and f"http://{LOOPBACK}:{nats.http_port}" in shown.out
            node.assert_clean(shown.out + shown.err, f"targets show --format {fmt}")

        # serve: a regression event on NATS (logging in with the URL's user-info) and a webhook
        hook_user, hook_password = "hu-events", "hp-" + random.Random(8).randbytes(8).hex()
        secrets = {**secrets, "webhook password": hook_password}
        node = Node(node.inventory, node.root, secrets, node.env)
        _, event, log = asyncio.run(regression_event(
            node.inventory, tmp_path / "serve.sqlite", env=node.env,
            nats_url=f"nats://events:{nats_password}@{LOOPBACK}:{nats.port}",
            webhook=f"http://{hook_user}:{hook_password}@{LOOPBACK}:{hook_port}/hook",
        ))
    assert event["type"] == "auditor.regression" and event["new_failures"]
    node.assert_clean(json.dumps(event), "the NATS event")
    node.assert_clean(log, "the serve log")
    node.assert_clean(database_text(tmp_path / "serve.sqlite"), "the history written by serve")
    assert Hook.received, "the webhook got nothing"
    headers, body = Hook.received[0]
    node.assert_clean(body.decode(), "the webhook post")
    expected = base64.b64encode(f"{hook_user}:{hook_password}".encode()).decode()
    assert headers["authorization"] == f"Basic {expected}"  # the user-info, sent apart from the URL
    assert headers["host"] == f"{LOOPBACK}:{hook_port}"
