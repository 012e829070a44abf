"""Passwords given to programs as arguments of their own (auditor/_secrets/commands.py): a
registry client's `login -p X`, OpenLDAP's `-w X`, mosquitto's `-P X`, the InfluxDB shell's
`-password X` and htpasswd's `-b FILE USER X`. None was a finding (Kingfisher finds none of
them either). Each is held to the program itself: what skopeo, ldapsearch, ldappasswd and
influx send a loopback server, a real nats-server's MQTT listener taking or refusing the
password mosquitto_pub was given, and htpasswd verifying the password of the file it wrote.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor._secrets import commands
from auditor._secrets.model import secret_fingerprint
from auditor._secrets.scanner import Scanner
from tests.servers import LOOPBACK, http_server, nats_server, tool


def _found(text: str, name: str = ".bash_history") -> list[tuple[int, str]]:
    """(line, fingerprint) of each finding in `text` read as file `name`."""
    return sorted((x.line, x.fingerprint) for x in Scanner()._leaks_in(text.encode(), name, "", whole=True))


def _words(line: str) -> list[str]:
    """The words bash makes of `line` (quotes, escapes and joined lines as the shell reads them),
    the program's name first: what the program gets."""
    out = subprocess.run(["bash", "-c", "printf '%s\\0' " + line], capture_output=True, timeout=30, check=True)
    return out.stdout.decode().split("\0")[:-1]


def _fingerprints(secrets: list[str]) -> list[tuple[int, str]]:
    return [(line, secret_fingerprint("password", secret.encode())) for line, secret in enumerate(secrets, 1)]


class _Refusing(BaseHTTPRequestHandler):
    """A server (a registry, InfluxDB) refusing every request, keeping the passwords of the Basic
    credentials it was sent."""

    sent: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        scheme, _, value = (self.headers.get("Authorization") or "").partition(" ")
        if scheme == "Basic":
            _Refusing.sent.append(base64.b64decode(value).decode().partition(":")[2])
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="registry"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


REGISTRY_LOGINS = [  # skopeo's flags are spf13/pflag's, as docker's, podman's, helm's and oras's are
    "skopeo login --tls-verify=false -u ci -p Zq8vR2mX9kLp4TbWe1 {host}",
    "skopeo login --tls-verify=false -u ci -pZq8vR2mX9kLp4TbWe2 {host}",
    "skopeo login --tls-verify=false -u ci -p=Zq8vR2mX9kLp4TbWe3 {host}",
    "skopeo login --tls-verify=false --username ci --password 'Zq8v R2mX9kLp4TbWe4' {host}",
    "skopeo login --tls-verify=false {host} -u=ci --password=Zq8vR2mX9kLp4TbWe5",
]


def test_a_registry_login_s_password_is_what_the_client_sends(tmp_path: Path) -> None:
    skopeo = tool("skopeo", "Debian skopeo")
    _Refusing.sent = []
    with http_server(_Refusing) as port:
        lines = [line.format(host=f"{LOOPBACK}:{port}") for line in REGISTRY_LOGINS]
        for line in lines:
            subprocess.run([skopeo, *_words(line)[1:]], capture_output=True, timeout=60, check=False,
                           env={"HOME": str(tmp_path), "REGISTRY_AUTH_FILE": str(tmp_path / "auth.json")})
    sent = list(dict.fromkeys(_Refusing.sent))  # a client may try twice
    assert len(sent) == len(lines) and sent[3] == "Zq8v R2mX9kLp4TbWe4"
    assert _found("\n".join(lines) + "\n") == _fingerprints(sent)
    # the other clients, written as their documentation writes them, read alike
    others = ["docker login -u ci -p Zq8vR2mX9kLp4TbWe1 registry.example.com",
              "podman --log-level=debug login -u ci -pZq8vR2mX9kLp4TbWe2 registry.example.com",
              "helm registry login registry.example.com --username ci -p=Zq8vR2mX9kLp4TbWe3",
              "docker login \\\n  -u ci \\\n  -p Zq8vR2mX9kLp4TbWe6 registry.example.com"]
    assert [fp for _, fp in _found("\n".join(others) + "\n")] == [fp for _, fp in _fingerprints(
        [*sent[:3], "Zq8vR2mX9kLp4TbWe6"])]
    crlf = "docker login \\\r\n  -u ci \\\r\n  -p Zq8vR2mX9kLp4TbWe6 registry.example.com\r\n"  # a script saved with CRLF
    assert [fp for _, fp in _found(crlf, "deploy.sh")] == [fp for _, fp in _fingerprints(["Zq8vR2mX9kLp4TbWe6"])]


@contextlib.contextmanager
def _listener(replies: int = 0) -> Iterator[tuple[int, list[bytes]]]:
    """A loopback port keeping what its one client sends: its first message, and with `replies`
    that many more, each first answered with an LDAP success for the message before."""
    server = socket.create_server((LOOPBACK, 0))
    got: list[bytes] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = server.accept()
            with conn:
                conn.settimeout(10)
                for turn in range(replies + 1):
                    data = conn.recv(65536)
                    got.append(data)
                    if turn < replies:  # LDAPMessage {id, bindResponse {success, "", ""}}
                        conn.sendall(b"\x30\x0c\x02\x01" + data[4:5] + b"\x61\x07\x0a\x01\x00\x04\x00\x04\x00")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1]), got
    finally:
        server.close()
        thread.join(15)


LDAP = [  # getopt's forms: the argument in the next word or the same, in a cluster, after operands
    ("ldapsearch -x -H {url} -D cn=admin,dc=cim -w Zq8vR2mX9kLp4TbWf1 -b dc=cim", 0),
    ("ldapsearch -H {url} -D cn=admin,dc=cim -wZq8vR2mX9kLp4TbWf2 -b dc=cim", 0),
    ("ldapsearch -H {url} -LLL -D cn=admin,dc=cim -xw 'Zq8v\"R2mX9kLp4TbWf3' -b dc=cim", 0),
    ("ldapsearch -x -H {url} -b dc=cim -D cn=admin,dc=cim '(uid=*)' -xwZq8vR2mX9kLp4TbWf4", 0),
    ("ldapwhoami -x -H {url} -D cn=admin,dc=cim -w \"Zq8vR2m\\$X9kLp4TbWf5\"", 0),
    ("ldappasswd -x -H {url} -D cn=admin,dc=cim -W -s Zq8vR2mX9kLp4TbWf6 uid=ci,dc=cim", 1),
]


def _ldap_password(sent: list[bytes], replies: int) -> str:
    """The password an OpenLDAP client sent: a simple bind's credentials ([0] at the request's
    end) or a password modify request's new password ([2] in its value)."""
    data = sent[replies]
    if replies == 0:
        at = data.rindex(b"\x80")
        assert data[at + 1] == len(data) - at - 2
        return data[at + 2:].decode()
    at = data.rindex(b"\x82")
    return data[at + 2:at + 2 + data[at + 1]].decode()


def test_an_openldap_client_s_password_is_what_it_binds_with() -> None:
    tools = {name: tool(name, "Debian ldap-utils") for name in ("ldapsearch", "ldapwhoami", "ldappasswd")}
    lines, sent = [], []
    for line, replies in LDAP:
        with _listener(replies) as (port, got):
            line = line.format(url=f"ldap://{LOOPBACK}:{port}")
            words = _words(line)
            subprocess.run([tools[words[0]], *words[1:]], capture_output=True, timeout=30, check=False,
                           env={"LDAPNOINIT": "1"})
        lines.append(line)
        sent.append(_ldap_password(got, replies))
    assert sent[2] == 'Zq8v"R2mX9kLp4TbWf3' and sent[4] == "Zq8vR2m$X9kLp4TbWf5"
    assert _found("\n".join(lines) + "\n", "deploy.sh") == _fingerprints(sent)


def test_a_mosquitto_client_s_password_is_the_one_the_broker_takes(tmp_path: Path) -> None:
    """nats-server's MQTT listener (the fleet's own broker) with one user: mosquitto_pub is let in
    with the password the scan finds, refused with another and when the password is glued to
    `-P` (mosquitto refuses the option: no password given, no finding)."""
    pub = tool("mosquitto_pub", "Debian mosquitto-clients")
    password = "Zq8vR2mX9kLp4TbWg1"
    mqtt_port = socket.create_server((LOOPBACK, 0))
    port = mqtt_port.getsockname()[1]
    mqtt_port.close()
    body = (f'server_name: cim\njetstream {{ store_dir: "{tmp_path / "js"}" }}\n'
            f"mqtt {{ listen: {LOOPBACK}:{port} }}\n"
            f'authorization {{ users: [{{ user: ci, password: "{password}" }}] }}\n')
    lines = [f"mosquitto_pub -h {LOOPBACK} -p {port} -u ci -P {password} -q 1 -t cim/x -m up",
             f"mosquitto_pub -h {LOOPBACK} -p {port} -u ci --pw Zq8vR2mX9kLp4TbWg2 -q 1 -t cim/x -m up",
             f"mosquitto_pub -h {LOOPBACK} -p {port} -u ci -P{password} -q 1 -t cim/x -m up"]
    with nats_server(tmp_path, body):
        codes = [subprocess.run([pub, *_words(line)[1:]], capture_output=True, timeout=30,
                                check=False).returncode for line in lines]
    assert codes[0] == 0 and codes[1] != 0 and codes[2] != 0
    assert _found("\n".join(lines) + "\n") == _fingerprints([password, "Zq8vR2mX9kLp4TbWg2"])


def test_the_influx_shell_s_password_is_what_it_sends() -> None:
    influx = tool("influx", "Debian influxdb-client")
    _Refusing.sent = []
    lines = ["influx -host {h} -port {p} -username admin -password Zq8vR2mX9kLp4TbWh1 -execute 'SHOW DATABASES'",
             "influx -host {h} -port {p} -username admin -password=Zq8vR2mX9kLp4TbWh2 -execute 'SHOW USERS'"]
    with http_server(_Refusing) as port:
        lines = [line.format(h=LOOPBACK, p=port) for line in lines]
        for line in lines:
            subprocess.run([influx, *_words(line)[1:]], capture_output=True, timeout=30, check=False)
    sent = list(dict.fromkeys(_Refusing.sent))
    assert len(sent) == 2
    assert _found("\n".join(lines) + "\n") == _fingerprints(sent)


def test_htpasswd_s_password_is_the_one_its_file_verifies(tmp_path: Path) -> None:
    htpasswd = tool("htpasswd", "Debian apache2-utils")
    users = tmp_path / "users"
    lines = [f"htpasswd -cb {users} alice Zq8vR2mX9kLp4TbWi1",
             f"htpasswd -B -C 5 -b {users} bob 'Zq8v R2mX9kLp4TbWi2'",
             f"htpasswd -Bb -C5 {users} carol Zq8vR2mX9kLp4TbWi3",
             "htpasswd -nbB dave Zq8vR2mX9kLp4TbWi4"]
    for line in lines:
        made = subprocess.run([htpasswd, *_words(line)[1:]], capture_output=True, timeout=30, check=True)
        if b"-n" in line.encode():
            with users.open("ab") as out:
                out.write(made.stdout.strip() + b"\n")

    def verifies(user: str, password: str) -> bool:
        return subprocess.run([htpasswd, "-vb", str(users), user, password], capture_output=True, timeout=30,
                              check=False).returncode == 0

    passwords = [_words(line)[-1] for line in lines]
    assert all(verifies(user, p) for user, p in zip(("alice", "bob", "carol", "dave"), passwords, strict=True))
    assert not verifies("alice", passwords[1])
    assert _found("\n".join(lines) + "\n") == _fingerprints(passwords)


@pytest.mark.parametrize("line", [
    "docker login -u ci --password-stdin registry.example.com < token.txt",
    'docker login -u "$REGISTRY_USER" -p "$REGISTRY_PASSWORD" registry.example.com',
    "podman login -u ci -p $(cat /run/secrets/registry) registry.example.com",
    "ldapsearch -x -s sub -a always -b dc=cim '(uid=ci)'",  # -s and -a: scope and aliases, no password
    "ldapsearch -x -W -D cn=admin,dc=cim -b dc=cim",  # -W: asks for it
    "ldapsearch -x -D cn=admin,dc=cim -y /etc/ldap.secret -b dc=cim",
    "mosquitto_sub -h broker -p 8883 -t 'cim/#' -v",  # -p: the port
    "htpasswd -c /etc/nginx/.htpasswd alice",  # asks for it
    "htpasswd -b /etc/nginx/.htpasswd alice",  # no third operand
    "htpasswd -b[cmB25dpsDv] [-C cost] [-r rounds] passwordfile username password",  # its usage text
    "ldapsearch -x -D cn=admin -w secret -b dc=example,dc=com",  # a placeholder
    "An influx -password of the form shown above.",
])
def test_what_is_no_password_argument_is_no_finding(line: str) -> None:
    assert _found(line + "\n") == []


_PIECES = ["a", "Zq8", "-p", "=", " ", "  ", "\t", "'", '"', "\\", "\\\n", "\\'", '\\"', "\\\\", "x y", "-"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_PIECES), max_size=14))
def test_a_command_line_s_words_are_the_shell_s(pieces: list[str]) -> None:
    """commands.words against bash on lines of quotes, escapes, blanks and joined lines: the
    same words where bash reads the line, and where a quote is left open no word past it."""
    line = "".join(pieces)
    data = ("htpasswd " + line).encode()
    read = [w.value.decode() for w in commands.words(data, len("htpasswd"), len(data))]
    out = subprocess.run(["bash", "-c", "set -- " + line + "\nfor w; do printf '%s\\0' \"$w\"; done"],
                         capture_output=True, timeout=30, check=False)
    if out.returncode == 0:
        assert read == out.stdout.decode().split("\0")[:-1][: len(read)]
        assert len(read) == len(out.stdout.decode().split("\0")[:-1])
    for word in commands.words(data, len("htpasswd"), len(data)):
        assert 0 <= word.start <= word.end <= len(data)
