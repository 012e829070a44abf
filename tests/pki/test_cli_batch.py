"""`auditor pki issue` for several nodes in one run (issue 23, item 5): the CA key opened once,
each certificate through the one issuance path (checks, pkilint, the log)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pki.backends import key_opener
from pki.ca import LeafOrder
from pki.errors import CAError
from tests.pki.conftest import secrets
from tests.pki.crashes import fast_ca
from tests.pki.test_cli import pki

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fast_ca(tmp_path_factory.mktemp("batch") / "CA").folder


def _issue(ca: Path, *args: str) -> tuple[int, str, str]:
    return pki("issue", "--dir", str(ca), "--profile", "nats-client", "--passphrase-env", "PKI_PASS", *args)


def test_several_nodes_in_one_run(ca: Path, tmp_path: Path) -> None:
    nodes = tmp_path / "nodes.txt"
    nodes.write_text("# the fleet\nbatch-b dns:batch-b.example.com ip:10.0.0.7\n\nbatch-c  # no names\n")
    out = tmp_path / "out"
    code, _, err = _issue(ca, "--node", "batch-a", "--nodes-file", str(nodes), "--out", str(out))
    assert code == 0, err
    assert "issued 3 certificates" in err
    assert sorted(p.name for p in out.iterdir()) == ["batch-a", "batch-b", "batch-c"]
    for node in ("batch-a", "batch-b", "batch-c"):
        folder = out / node
        assert sorted(p.name for p in folder.iterdir()) == ["cert.pem", "chain.pem", "key.pem"]
        assert (folder / "key.pem").stat().st_mode & 0o777 == 0o600
        verified = subprocess.run(["openssl", "verify", "-CAfile", str(ca / "certs/root.pem"), "-untrusted",
                                   str(folder / "chain.pem"), str(folder / "cert.pem")], capture_output=True, text=True)
        assert verified.returncode == 0, verified.stderr
    code, listed, _ = pki("list", "--dir", str(ca), "--format", "json")
    by_node = {e["node"]: e for e in json.loads(listed)}
    assert by_node["batch-b"]["sans"] == {"dns": ["batch-b.example.com"], "ip": ["10.0.0.7"]}
    assert by_node["batch-a"]["profile"] == by_node["batch-c"]["profile"] == "nats-client"
    code, _, err = pki("log", "verify", "--dir", str(ca))
    assert code == 0, err
    log = [json.loads(line) for line in (ca / "log.jsonl").read_text().splitlines()]
    for node in ("batch-a", "batch-b", "batch-c"):  # each through the one path: intent with lint, then issue
        intent = [e for e in log if e["node"] == node and e["event"] == "intent"]
        assert len(intent) == 1 and "lint" in intent[0]["details"]
        assert [e["event"] for e in log if e["node"] == node][-1] == "issue"


def test_a_refusal_stops_the_run_and_keeps_what_was_issued(ca: Path, tmp_path: Path) -> None:
    code, _, err = _issue(ca, "--node", "stop-a", "--out", str(tmp_path / "first"))
    assert code == 0, err
    out = tmp_path / "out"
    code, text, err = _issue(ca, "--node", "stop-b", "--node", "stop-a", "--node", "stop-c", "--out", str(out))
    assert code == 2, (text, err)
    assert "node 'stop-a' already has a valid nats-client certificate" in err
    assert len(err.strip().splitlines()) == 1
    assert "issued nats-client certificate for stop-b" in text
    assert (out / "stop-b/cert.pem").is_file() and not (out / "stop-c").exists()


@pytest.mark.parametrize(
    ("args", "content", "message"),
    [
        (["--node", "x1", "--node", "x2", "--dns", "x.example.com"], None, "for several nodes, give each node's names"),
        (["--node", "x1", "--node", "x1"], None, "node 'x1' is named twice"),
        ([], None, "give --node NAME (repeatable) or --nodes-file FILE"),
        ([], "x1\nx2 x2.example.com\n", "nodes.txt:2: 'x2.example.com': write a name as dns:NAME"),
        ([], "x1 fqdn:x1.example.com\n", "nodes.txt:1: 'fqdn:x1.example.com': write a name as dns:NAME"),
        ([], "# nothing\n\n", "nodes.txt: names no node"),
        ([], "ok-1\nok-2 ip:10.0.0.300\n", "'10.0.0.300' is not an IP address"),
        ([], b"x1\xff\n", "nodes.txt: not UTF-8 text"),
        ([], "x\x1b[31m1\n", "may hold letters, digits"),
    ],
)
def test_bad_batch_input_is_one_line_and_exit_2(ca: Path, tmp_path: Path, args: list[str],
                                                content: str | bytes | None, message: str) -> None:
    extra = []
    if content is not None:
        nodes = tmp_path / "nodes.txt"
        if isinstance(content, bytes):
            nodes.write_bytes(content)
        else:
            nodes.write_text(content)
        extra = ["--nodes-file", str(nodes)]
    code, out, err = _issue(ca, *args, *extra, "--out", str(tmp_path / "out"))
    assert code == 2, (out, err)
    assert message in err and "\x1b" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_fifo_is_not_read_as_a_nodes_file(ca: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "nodes"
    os.mkfifo(fifo)
    code, _, err = _issue(ca, "--nodes-file", str(fifo), "--out", str(tmp_path / "out"))
    assert code == 2 and "not a regular file" in err, err


def test_issue_many_opens_the_key_once_and_keeps_the_inventory(tmp_path: Path) -> None:
    ca = fast_ca(tmp_path / "CA")
    opened: list[dict[str, Any]] = []
    plain = key_opener(ca.folder, secrets)

    def open_key(ref: dict[str, Any]) -> Any:
        opened.append(ref)
        return plain(ref)

    seen: list[str] = []
    orders = [LeafOrder(f"many-{i}", tmp_path / f"many-{i}", dns=(f"many-{i}.example.com",)) for i in range(4)]
    done = ca.issue_many(orders, "nats-server", open_key, issued=lambda made: seen.append(made.entry.node))
    assert len(opened) == 1
    assert seen == [o.node for o in orders] == [d.entry.node for d in done]
    listed = {e.node: e for e in ca.list()}
    assert all(listed[o.node].status == "valid" for o in orders)
    report = ca.verify_log()
    assert report.ok and not report.notes, report
    # a refusal half-way: what came before it is issued, logged and in the inventory
    again = [LeafOrder("later-0", tmp_path / "later-0", dns=("later-0.example.com",)),
             LeafOrder("many-1", tmp_path / "again", dns=("many-1.example.com",)),
             LeafOrder("later-2", tmp_path / "later-2", dns=("later-2.example.com",))]
    with pytest.raises(CAError, match="already has a valid nats-server certificate"):
        ca.issue_many(again, "nats-server", open_key)
    nodes = {e.node for e in ca.list()}
    assert "later-0" in nodes and "later-2" not in nodes
    report = ca.verify_log()
    assert report.ok and not report.notes, report
