"""`auditor pki acme eab|serve` as an operator runs them: the EAB key printed once (and only
there), one-line errors with exit 2 for every bad input, and a clean stop on SIGTERM."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.pki.conftest import PASSPHRASE, new_ca
from tests.servers import LOOPBACK, free_port, stop, wait_for_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("acme-cli") / "CA"
    new_ca(folder)
    return folder


def acme(*args: str) -> tuple[int, str, str]:
    r = run_cli("pki", "acme", *args, env={"PKI_PASS": PASSPHRASE})
    assert "Traceback" not in r.err and PASSPHRASE not in r.out + r.err
    return r.code, r.out, r.err


def test_eab_prints_the_key_once_and_keeps_it_private(ca: Path) -> None:
    code, out, err = acme("eab", "--dir", str(ca), "--name", "ops", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) == {"name", "kid", "hmac"} and doc["name"] == "ops" and len(doc["hmac"]) == 43
    state = ca / "acme" / "state.sqlite"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600 and stat.S_IMODE(state.parent.stat().st_mode) == 0o700
    code, out, err = acme("eab", "--dir", str(ca), "--name", "ops")
    assert code == 0 and "kid:" in out and "hmac:" in out and "--eab-kid" in err
    assert json.loads(acme("eab", "--dir", str(ca), "--name", "ops", "--format", "json")[1])["kid"] != doc["kid"]
    code, _, err = acme("eab", "--dir", str(ca), "--name", "bad name;")
    assert code == 2 and err.count("\n") == 1
    code, _, err = acme("eab", "--dir", str(ca.parent / "nowhere"), "--name", "ops")
    assert code == 2 and "no such CA folder" in err


@pytest.mark.parametrize(("args", "message"), [
    (["--listen", "localhost"], "is not HOST:PORT"),
    (["--listen", f"{LOOPBACK}:70000"], "port 70000"),
    (["--listen", f"{LOOPBACK}:{free_port()}", "--tls-cert", "/etc/hostname"], "go together"),
    (["--listen", f"{LOOPBACK}:{free_port()}", "--tls-cert", "/etc/hostname", "--tls-key", "/etc/hostname"],
     "cannot serve TLS"),
    (["--listen", f"{LOOPBACK}:{free_port()}", "--http01-port", "0"], "--http01-port: 0 is not a port"),
    (["--listen", f"{LOOPBACK}:{free_port()}", "--dns01-hook", "/nonexistent/hook"], "no such file"),
    (["--listen", f"{LOOPBACK}:{free_port()}", "--passphrase-env", "WRONG_PASS"], "WRONG_PASS is not set"),
])
def test_serve_refuses_bad_input_on_one_line(ca: Path, args: list[str], message: str) -> None:
    code, _, err = acme("serve", "--dir", str(ca), "--passphrase-env", "PKI_PASS", *args)
    assert code == 2 and message in err and err.count("\n") == 1, err


def test_serve_refuses_a_bad_policy_a_bad_hosts_file_and_a_busy_port(ca: Path, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 ok.example.com\n999.1.1.1 bad.example.com\n")
    code, _, err = acme("serve", "--dir", str(ca), "--listen", f"{LOOPBACK}:{free_port()}", "--hosts", str(hosts),
                        "--passphrase-env", "PKI_PASS")
    assert code == 2 and f"{hosts}:2: '999.1.1.1' is not an IP address" in err
    policy = ca / "acme" / "policy.yaml"
    policy.parent.mkdir(mode=0o700, exist_ok=True)
    policy.write_text("names: ['.example.com']\nprofiles:\n  nats-server: {lifetime_days: 400}\n")
    try:
        code, _, err = acme("serve", "--dir", str(ca), "--listen", f"{LOOPBACK}:{free_port()}", "--passphrase-env", "PKI_PASS")
        assert code == 2 and f"{policy}: field 'profiles.nats-server.lifetime_days'" in err
    finally:
        policy.unlink()
    with socket.socket() as busy:
        busy.bind((LOOPBACK, 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        code, _, err = acme("serve", "--dir", str(ca), "--listen", f"{LOOPBACK}:{port}", "--passphrase-env", "PKI_PASS")
        assert code == 2 and "cannot listen" in err
    env = {**os.environ, "PKI_PASS": "Tr0ub4dor&3-not-it"}
    proc = subprocess.run([sys.executable, "-m", "auditor", "pki", "acme", "serve", "--dir", str(ca), "--listen",
                           f"{LOOPBACK}:{free_port()}", "--passphrase-env", "PKI_PASS"], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    assert proc.returncode == 2 and "wrong passphrase" in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert "Tr0ub4dor" not in proc.stderr


def test_serve_stops_cleanly_on_sigterm(ca: Path, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "auditor", "pki", "acme", "serve", "--dir", str(ca), "--listen",
                                 f"{LOOPBACK}:{port}", "--passphrase-env", "PKI_PASS"], stdout=subprocess.DEVNULL,
                                stderr=err, env={**os.environ, "PKI_PASS": PASSPHRASE})
    try:
        wait_for_port(port, proc, timeout=30, log=log)
        conn = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
        conn.request("GET", "/acme/directory")
        reply = conn.getresponse()
        body = json.loads(reply.read())
        conn.close()
        assert reply.status == 200 and body["newOrder"] == f"http://{LOOPBACK}:{port}/acme/new-order"
    finally:
        stop(proc, signal.SIGTERM)
    assert proc.returncode == 0, log.read_text()
    assert f"http://{LOOPBACK}:{port}/acme/directory" in log.read_text()


def test_other_commands_do_not_load_the_server() -> None:
    code = ("import sys\nfrom auditor._cli import build_parser\nbuild_parser().parse_args(['pki', 'list', '--dir', 'x'])\n"
            "loaded = sorted(m for m in ('uvicorn', 'acme', 'josepy', 'h11', 'pki.acme.server') if m in sys.modules)\n"
            "print(loaded)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "[]"
