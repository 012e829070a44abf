"""Credentials typed on command lines, as a shell's history and scripts keep them: curl's
`-u USER:PASSWORD`, an `Authorization` or key header given to `-H`, and a variable set for one
command (`PGPASSWORD=... psql`). The scan found none of curl's (Kingfisher found them) and took
the command after a variable for part of its value (`PGPASSWORD=x psql -h db` was the secret
`x psql -h db`, a fingerprint no other place of `x` shares, or nothing past three words). Each
is held to its outside reader: what curl itself sends a loopback HTTP server, what Python's
shlex (POSIX shell word splitting) makes of the line, and Kingfisher's findings."""

from __future__ import annotations

import base64
import json
import re
import shlex
import shutil
import subprocess
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._secrets import yamlblocks
from auditor._secrets.model import secret_fingerprint
from auditor._secrets.scanner import Scanner
from tests.servers import http_server

BASIC = base64.b64encode(b"ci:Zq8vR2mX9kLp4TbW04").decode()
CURL = [  # (a line of shell history, the rule its secret is reported under)
    ("curl -u deploy:Zq8vR2mX9kLp4TbW01 {url}/a", "password"),
    ("curl -s --user 'admin:Zq8v R2mX9kLp4TbW02' {url}/b", "password"),  # quoted: a password with a blank
    ('curl -X POST --user "ops:Zq8vR2mX9kLp4TbW03" {url}/c', "password"),
    ('curl -H "Authorization: Basic ' + BASIC + '" {url}/d', "password"),
    ("curl -H 'Authorization: Bearer Zq8vR2mX9kLp4TbW05Zq8vR2mX9kLp4TbW05' {url}/e", "generic-secret"),
    ('curl --header "X-Api-Key: Zq8vR2mX9kLp4TbW06Zq8vR2" {url}/f', "generic-secret"),
    ("curl -k -o /dev/null \\\n  -u backup:Zq8vR2mX9kLp4TbW07 {url}/g", "password"),  # continued on a second line
]
NOT_CREDENTIALS = [
    "docker run -u 1000:1000 registry.example.com/cim/agent:1.4",  # -u of another command: uid:gid
    "sudo -u postgres psql -c 'select 1'",
    'curl -u "$NEXUS_USER:$NEXUS_PASSWORD" https://nexus.example.com/',
    "curl -u user:pass https://httpbin.example.com/basic-auth/user/pass",
    "curl --user \"$(cat login.txt):$(cat password.txt)\" https://api.example.com/",
    'curl -H "Authorization: Bearer $TOKEN" https://api.example.com/',
    "curl -H 'Authorization: Bearer <token>' https://api.example.com/",
    'curl -u ":" https://localhost:9200',
]


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[dict[str, dict[str, str]]] = {}

    def do_GET(self) -> None:
        _Recorder.seen[self.path] = {k.lower(): v for k, v in self.headers.items()}
        self.send_response(204)
        self.end_headers()

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


def _sent(headers: dict[str, str]) -> str:
    """The secret curl sent: the password of Basic credentials, a Bearer token, a key header's value."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        return base64.b64decode(value).decode().partition(":")[2]
    if scheme.lower() == "bearer":
        return value
    return headers["x-api-key"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_what_curl_sends_is_what_the_scan_finds_in_its_command_lines(tmp_path: Path) -> None:
    _Recorder.seen = {}
    with http_server(_Recorder) as port:
        url = f"http://127.0.0.1:{port}"
        lines = [line.format(url=url) for line, _ in CURL]
        for line in lines:  # curl itself, given the words a shell would give it
            subprocess.run(shlex.split(line.replace("\\\n", " ")), check=True, capture_output=True, timeout=30)
    sent = [_sent(_Recorder.seen["/" + line.rsplit("/", 1)[1]]) for line in lines]
    assert sent[1] == "Zq8v R2mX9kLp4TbW02" and len(set(sent)) == len(CURL)
    history = tmp_path / ".bash_history"
    history.write_text("\n".join(["ls -la", *lines, *NOT_CREDENTIALS, "exit"]) + "\n")
    leaks = sorted(Scanner().scan_file(history, ".bash_history").leaks, key=lambda x: x.line)
    assert [(x.rule, x.fingerprint) for x in leaks] == [
        (rule, secret_fingerprint(rule, secret.encode())) for (_, rule), secret in zip(CURL, sent, strict=True)]
    # the outside reader: each line Kingfisher finds a credential on, the scan finds one on
    exe = shutil.which("kingfisher", path=str(Path(sys.executable).parent))
    assert exe, "kingfisher-bin is not installed"
    out = tmp_path / "kingfisher.json"
    subprocess.run([exe, "scan", "--no-dedup", "--no-validate", "--no-update-check", "--format", "json",
                    "--output", str(out), str(history)], capture_output=True, check=False, timeout=300)
    theirs = {f["finding"]["line"] for f in json.loads(out.read_text())["findings"]}
    assert len(theirs) >= 4 and theirs <= {x.line for x in leaks}


@pytest.mark.parametrize("name", [".bash_history", "deploy.sh", ".zsh_history", "Dockerfile", "home.tgz!root/.bashrc"])
def test_a_variable_set_for_one_command_is_the_shell_s_word(tmp_path: Path, name: str) -> None:
    """In a shell's lines an unquoted value ends at a blank: `PGPASSWORD=x psql -h db -U cim`
    gives psql the password `x` (shlex, splitting as a POSIX shell, says so), and the finding
    is `x`'s, with the fingerprint `x` gets anywhere else."""
    line = "PGPASSWORD=Zq8vR2mX9kLp4TbW08 psql -h db.example.com -U cim cim"
    word = shlex.split(line)[0].partition("=")[2]
    assert word == "Zq8vR2mX9kLp4TbW08"
    leaks = Scanner()._leaks_in(f"{line}\nRUN_AS=cim DB_PASSWORD=Zq8vR2mX9kLp4TbW09 ./migrate --all\n".encode(), name, "",
                                whole=True, member=name.rpartition("!")[2])
    assert [(x.line, x.fingerprint) for x in leaks] == [
        (1, secret_fingerprint("password", word.encode())), (2, secret_fingerprint("password", b"Zq8vR2mX9kLp4TbW09"))]
    # the same text in a dotenv file: a value may hold blanks there (python-dotenv reads them whole)
    assert Scanner()._leaks_in(b"DB_PASSWORD=Xq9v Lp7w Zt4H\n", ".env", "", whole=True)[0].fingerprint == \
        secret_fingerprint("password", b"Xq9v Lp7w Zt4H")


LINES_OF_ASSIGNMENTS = {  # a file's name, a line of blank-separated KEY=VALUE words (split as a shell splits them)
    "cim-agent.service": "Environment=NATS_URL=tls://hub:4222 NATS_PASSWORD=Zq8vR2mX9kLp4TbW41 LOG=info",
    "hosts.ini": "node-7 ansible_host=10.0.0.7 ansible_password=Zq8vR2mX9kLp4TbW44 ansible_become_pass=Zq8vR2mX9kLp4TbW45",
    "agent.log": "ts=2026-12-06T19:30:00Z level=info db_password=Zq8vR2mX9kLp4TbW46 user=cim msg=connected",
}


@pytest.mark.parametrize("name", list(LINES_OF_ASSIGNMENTS))
def test_each_of_a_line_s_blank_separated_assignments_is_its_own_value(name: str) -> None:
    """systemd's `Environment=A=x B=y`, an Ansible inventory's host line (Ansible splits it with
    shlex), a logfmt log line: an unquoted value ran on over the next assignment (one finding,
    `x B=y` its secret) and the second secret on the line was not found. Each value is the word
    shlex makes of it now, each secret found with its own fingerprint."""
    line = LINES_OF_ASSIGNMENTS[name]
    words = dict(w.rpartition("=")[::2] for w in shlex.split(line) if "=" in w)
    secrets = [v for k, v in words.items() if "pass" in k.lower()]
    assert secrets and all(" " not in v for v in secrets)
    leaks = Scanner()._leaks_in(f"{line}\n".encode(), name, "", whole=True)
    assert sorted(x.fingerprint for x in leaks) == sorted(secret_fingerprint("password", v.encode()) for v in secrets)


def test_a_password_flag_with_a_prefix_is_a_command_line_password() -> None:
    """`--nats-password X`, `--db-password=X`: a password flag named for what it logs in to, as
    `--password` is (ExecStart= lines, scripts); `--vault-password-file F` names a file."""
    text = ("ExecStart=/usr/bin/cim-agent --nats-password Zq8vR2mX9kLp4TbW43 --log info\n"
            "migrate --db-password=Zq8vR2mX9kLp4TbW47\n"
            "ansible-playbook --vault-password-file /run/secrets/vault-pass site.yml\n")
    flags = [shlex.split(line) for line in text.splitlines()]
    told = [flags[0][flags[0].index("--nats-password") + 1], flags[1][1].partition("=")[2]]
    leaks = Scanner()._leaks_in(text.encode(), "cim-agent.service", "", whole=True)
    assert [(x.line, x.fingerprint) for x in leaks] == [
        (1, secret_fingerprint("password", told[0].encode())), (2, secret_fingerprint("password", told[1].encode()))]


def test_a_token_in_basic_credentials_is_one_finding_under_its_own_rule(tmp_path: Path) -> None:
    """actions/checkout leaves `http.extraheader = AUTHORIZATION: basic BASE64(x-access-token:ghs_...)`
    in a repository's .git/config (git sends it with every request). The token was found twice
    at once: as the header's password and as a GitHub token in the base64 decoded (two
    fingerprints for one secret). It is one finding now, the GitHub token's; the token is what
    git itself sends a loopback HTTP server."""
    token = "ghs_16C7e42F292c6912E7710c838347Ae178B4a"
    header = "AUTHORIZATION: basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()
    repo = tmp_path / "checkout"
    subprocess.run(["git", "init", "-q", str(repo)], check=True, timeout=60)
    subprocess.run(["git", "-C", str(repo), "config", "http.extraheader", header], check=True, timeout=60)
    _Recorder.seen = {}
    with http_server(_Recorder) as port:
        subprocess.run(["git", "-C", str(repo), "ls-remote", f"http://127.0.0.1:{port}/cim.git"],
                       capture_output=True, timeout=60, check=False)
    sent = {_sent(headers) for headers in _Recorder.seen.values()}
    assert sent == {token}
    leaks = Scanner().scan_file(repo / ".git" / "config", "checkout/.git/config").leaks
    assert [(x.rule, x.fingerprint) for x in leaks] == [("github-token", secret_fingerprint("github-token", token.encode()))]


MANIFEST = """apiVersion: apps/v1
kind: Deployment
metadata: {name: exporter}
spec:
  template:
    spec:
      containers:
        - name: exporter
          image: natsio/prometheus-nats-exporter:0.15.0
          args:
            - -varz
            - --nats-password
            - Zq8vR2mX9kLp4TbW90
            - "--db-password=Zq8vR2mX9kLp4TbW91"
            - --password
            - $(NATS_PASSWORD)
          command: ["sh", "-c", "PGPASSWORD=Zq8vR2mX9kLp4TbW92 psql -h db -U cim -c 'select 1'"]
        - name: db
          image: postgres:16
          args: ["--admin-password", "Zq8vR2mX9kLp4TbW93"]
          env:
            - name: POSTGRES_INITDB_ARGS
              value: --auth=scram-sha-256
"""
COMPOSE = "services:\n  db:\n    environment:\n      - POSTGRES_PASSWORD=Xq9v Lp7w Zt4H\n"


def test_passwords_in_a_manifest_s_argument_lists_are_the_program_s_arguments() -> None:
    """A container's `args` give a flag and its value as two items (`- --nats-password` then
    `- VALUE`, or `["--admin-password", "VALUE"]`), and `command: ["sh", "-c", "PGPASSWORD=x
    psql ..."]` sets a variable for one command: the scan found none of these (a flag's value
    was looked for after `=` or a blank only; the variable's value ran on to the end of the
    string, more than three words: no secret). Each is what the program is given, as PyYAML
    reads the manifest and shlex splits `sh -c`'s script; a variable reference is not a value."""
    import yaml

    containers = yaml.safe_load(MANIFEST)["spec"]["template"]["spec"]["containers"]
    args = [*containers[0]["args"], *containers[1]["args"]]
    given = [args[args.index("--nats-password") + 1], args[args.index("--db-password=Zq8vR2mX9kLp4TbW91")].partition("=")[2],
             shlex.split(containers[0]["command"][2])[0].partition("=")[2], args[args.index("--admin-password") + 1]]
    assert args[args.index("--password") + 1] == "$(NATS_PASSWORD)"
    leaks = sorted(Scanner()._leaks_in(MANIFEST.encode(), "k8s/exporter.yaml", "", whole=True), key=lambda x: x.line)
    assert [x.fingerprint for x in leaks] == [secret_fingerprint("password", v.encode()) for v in given]
    # an env-file entry at the start of a list item keeps its blanks, as compose reads it
    value = yaml.safe_load(COMPOSE)["services"]["db"]["environment"][0].partition("=")[2]
    assert [x.fingerprint for x in Scanner()._leaks_in(COMPOSE.encode(), "docker-compose.yml", "", whole=True)] == [
        secret_fingerprint("password", value.encode())]


def test_a_value_inside_a_command_ends_at_the_quote_or_code_span_around_it() -> None:
    """A command in a string or a Markdown code span: its closing quote or backtick ends the
    value as a blank does (`"PGPASSWORD=x"` is `x`; `DB_PASSWORD=changeme` in backticks is a
    placeholder, no finding)."""
    text = ('command: ["sh", "-c", "PGPASSWORD=Zq8vR2mX9kLp4TbW92"]\n'
            "Set `DB_PASSWORD=changeme` in the file before you start the agent.\n")
    word = shlex.split(text.splitlines()[0].split('"-c", ')[1].rstrip("]"))[0].partition("=")[2]
    assert [(x.line, x.fingerprint) for x in Scanner()._leaks_in(text.encode(), "README.md", "", whole=True)] == [
        (1, secret_fingerprint("password", word.encode()))]


ACCESS_LOG = (
    '10.0.0.1 - - [06/Dec/2026:19:30:00 +0000] "GET /v1/data?api_key=Zq8vR2mX9kLp4TbW95Zq8v&format=json HTTP/1.1" 200 512\n'
    '10.0.0.2 - - [06/Dec/2026:19:30:01 +0000] "GET /login?user=a&password=Zq8v%21R2mX+9kLp4&token=Zq8vR2mX9kLp4TbW99Zq8v HTTP/1.1" 302 0\n'
)


def test_a_query_parameter_is_its_value_as_the_server_reads_it() -> None:
    """An access log's request line: a parameter's value ran on over the parameters after it
    and the rest of the line (`x&format=json HTTP/1.1"`, a fingerprint no other place of `x`
    shares), and a second secret in the same query was not found. Each value is what
    urllib.parse.parse_qs reads from the query now, percent-encoding decoded."""
    wanted = []
    for line in ACCESS_LOG.splitlines():
        query = urllib.parse.urlsplit(line.split('"')[1].split()[1]).query
        wanted += [(k, v[0]) for k, v in urllib.parse.parse_qs(query).items() if k in ("api_key", "password", "token")]
    assert [v for _, v in wanted] == ["Zq8vR2mX9kLp4TbW95Zq8v", "Zq8v!R2mX 9kLp4", "Zq8vR2mX9kLp4TbW99Zq8v"]
    leaks = sorted(Scanner()._leaks_in(ACCESS_LOG.encode(), "access.log", "", whole=True), key=lambda x: (x.line, x.column))
    assert [x.fingerprint for x in leaks] == [
        secret_fingerprint("password" if k == "password" else "generic-secret", v.encode()) for k, v in wanted]


@pytest.mark.skipif(shutil.which("keytool") is None, reason="keytool (a JDK) is not installed")
def test_a_keystore_password_given_to_keytool_is_found_and_opens_the_keystore(tmp_path: Path) -> None:
    """keytool and jarsigner take a keystore's and a key's passwords as `-storepass X`,
    `-keypass X`, `-srcstorepass X`, `-deststorepass X` (one dash; `-storepass:env VAR` names a
    variable): the scan found none in a shell's history (Kingfisher finds none either). Each is
    a finding now; the one found opens the keystore keytool itself made with the line."""
    store = tmp_path / "cim.p12"
    lines = [f"keytool -genkeypair -alias cim -keyalg EC -dname CN=cim -keystore {store} -storetype PKCS12 "
             "-storepass Zq8vR2mX9kLp4TbWb4 -keypass Zq8vR2mX9kLp4TbWb4",
             f"keytool -list -keystore {store} -storepass:env CIM_STORE_PASSWORD"]
    subprocess.run(shlex.split(lines[0]), check=True, capture_output=True, timeout=120)
    words = shlex.split(lines[0])
    password = words[words.index("-storepass") + 1]

    def opens(candidate: str) -> bool:
        return subprocess.run(["keytool", "-list", "-keystore", str(store), "-storepass", candidate],
                              capture_output=True, timeout=120, check=False).returncode == 0

    assert opens(password) and not opens(password + "x")
    history = tmp_path / ".bash_history"
    history.write_text("\n".join(lines) + "\n")
    leaks = Scanner().scan_file(history, ".bash_history").leaks
    assert [(x.line, x.fingerprint) for x in leaks] == [(1, secret_fingerprint("password", password.encode()))] * 2


@pytest.mark.parametrize("name", [".bash_history", "README.md"])
def test_a_relative_path_to_a_credentials_file_is_no_secret(name: str) -> None:
    """`nats --creds=creds/ADMIN/admin.creds server list`: the value names where the secret is,
    as `/etc/nats/leaf.creds` does; cut to the shell's word it is no finding (before the cut,
    the words after it made it prose). A token with slashes in it still is one."""
    text = ("nats --creds=creds/ADMIN/admin.creds server list\n"
            "- The README tells readers to `nats --creds=creds/ADMIN/admin.creds server list`.\n"
            "API_TOKEN=abc/def/Zq8vR2mX9kLp4TbW12Zq8v\n")
    assert [(x.line, x.fingerprint) for x in Scanner()._leaks_in(text.encode(), name, "", whole=True)] == [
        (3, secret_fingerprint("generic-secret", b"abc/def/Zq8vR2mX9kLp4TbW12Zq8v"))]


@pytest.mark.parametrize("text", [
    "** Wget now supports the --ftp-user and --ftp-password command line options.\n",  # a flag named in prose
    "been renamed to --http-password and --proxy-password respectively, and\n",
    "\twget --output-document=- --ask-password -user=foo \\\n",  # the next option, no value
    "        --username and --password options instead of via the URL.\n",
    "* New option --use-askpass=COMMAND. Fetch user/password by calling\n",  # a word of a sentence
    "keytool -list -keystore ks -storepass changeit -v\n",  # the JDK's default, a placeholder
    "  cvs://:pserver:anoncvs@sources.redhat.com:/cvs/src\n",  # CVS's method and user, no password
    "tag psK=Zq8vR2mX9kLp4TbWd7\n",  # three letters of another word, not a pre-shared key
    "gnutls\\-serv \\-\\-http \\-\\-priority NORMAL:+PSK:+SRP:+CTYPE\\-CLI\\-RAWPK:+CTYPE\\-SRV\\-RAWPK \\\n",  # gnutls-serv(1)
    "gnutls-cli --priority NONE:+VERS-TLS1.2:+PSK:+ECDHE-PSK:+AES-256-GCM:+AEAD localhost\n",  # a priority list's items
])
def test_what_system_documentation_says_of_passwords_is_no_finding(text: str) -> None:
    """Lines from Debian's /usr/share/doc (wget's NEWS and changelog, binutils' copyright), pip's
    sources and the JDK's test logs that the new readings of command lines took for passwords
    when first run over a whole system's documentation (measured against the scan before
    them), and a GnuTLS priority list from gnutls-serv(1) (`NORMAL:+PSK:+SRP...`, its `PSK:`
    read as a key): none is a finding."""
    assert list(Scanner()._leaks_in(text.encode(), "NEWS", "", whole=True)) == []
    assert [x.rule for x in Scanner()._leaks_in(b"wpa_psk=Zq8vR2mX9kLp4TbWd7\n", "NEWS", "", whole=True)] == ["password"]


def test_a_pkcs11_uri_s_token_attribute_is_a_label() -> None:
    """A PKCS#11 URI (RFC 7512) names its token by `token=LABEL`: msmtp's manual (installed with
    its Debian package) gives `tls_key_file pkcs11:...;token=PIV_II%20%28PIV%20Card...;...`,
    which the scan reported as a token. No attribute of a URI's path is a secret; a `token=`
    outside one still is."""
    uri = ("     tls_key_file  pkcs11:model=PKCS%2315%20emulated;manufacturer=piv_II;serial=00000000;"
           "token=PIV_II%20%28PIV%20Card%20Holder%20pin%29;id=%01;object=PIV%20AUTH%20key;type=private\n")
    env = "SIGNING_KEY=pkcs11:token=Zq8vR2mX9kLp4TbWq1Zq8vR2mX9k;object=cim-ca\n"
    assert list(Scanner()._leaks_in((uri + env).encode(), "msmtp.info", "", whole=True)) == []
    plain = b"token=Zq8vR2mX9kLp4TbWq1Zq8vR2mX9k;object=cim-ca\n"
    assert [x.rule for x in Scanner()._leaks_in(plain, "app.env", "", whole=True)] == ["generic-secret"]


SCRIPTS_IN_YAML = {  # a file, and its text: shell scripts in YAML block scalars, one password each
    ".github/workflows/migrate.yml": """\
jobs:
  migrate:
    steps:
      - name: schema
        run: |
          echo "migrating"
          PGPASSWORD=Zq8vR2mX9kLp4TbWs1 psql -h db -U cim -f schema.sql
      - run: >-
          MYSQL_PWD=Zq8vR2mX9kLp4TbWs2 mysql -h db -e 'select 1'
""",
    ".gitlab-ci.yml": """\
test:
  script:
    - |
      REDIS_PASSWORD=Zq8vR2mX9kLp4TbWs3 redis-cli -h cache ping
    - echo done
""",
    "k8s/backup.yaml": """\
spec:
  containers:
    - name: backup
      command: ["/bin/sh", "-c"]
      args:
      - |
        NATS_PASSWORD=Zq8vR2mX9kLp4TbWs4 nats --server nats://nats:4222 stream backup ORDERS /backup
""",
    "playbook.yml": """\
- hosts: db
  tasks:
    - name: dump
      ansible.builtin.shell: |
        PGPASSWORD=Zq8vR2mX9kLp4TbWs5 pg_dump -h localhost cim > /var/backups/cim.sql
""",
}


def _scripts(node: object) -> list[str]:
    """Every string in a YAML document holding a `NAME=` assignment: the scripts."""
    if isinstance(node, dict):
        return [s for value in node.values() for s in _scripts(value)]
    if isinstance(node, list):
        return [s for item in node for s in _scripts(item)]
    return [node] if isinstance(node, str) and re.search(r"(?m)^\s*[A-Z_]+=", node) else []


@pytest.mark.parametrize("name", list(SCRIPTS_IN_YAML))
def test_a_script_in_a_yaml_block_is_read_as_the_shell_reads_it(name: str) -> None:
    """A CI step's `run: |`, GitLab's `script:` item, a container's `args:` for `sh -c` and
    Ansible's `shell: |` hold shell scripts: a `NAME=value command ...` line in them starts
    with the assignment, and was read as an env-file entry (its value to the line's end: the
    command's words made it prose, no finding; nor Kingfisher's). The password is the word bash
    makes of it, in the script PyYAML reads from the file."""
    text = SCRIPTS_IN_YAML[name]
    expected = []
    for script in _scripts(yaml.safe_load(text)):
        line = next(line for line in script.splitlines() if "=" in line.split()[0])
        password = subprocess.run(["bash", "-c", "set -- " + line.split("=", 1)[1] + "\nprintf %s \"$1\""],
                                  capture_output=True, check=True, timeout=30).stdout
        expected.append(secret_fingerprint("password", password))
    leaks = list(Scanner()._leaks_in(text.encode(), name, "", whole=True))
    assert expected and [x.fingerprint for x in leaks] == expected


def test_an_env_file_in_a_yaml_block_keeps_its_blanks() -> None:
    """A ConfigMap's `app.env: |` block is an env file, not a script: an entry's value runs to
    the line's end, as before."""
    text = "data:\n  app.env: |\n    DB_PASSWORD=Zq8vR2mX9kLp4TbWs6 x\n"
    assert [x.fingerprint for x in Scanner()._leaks_in(text.encode(), "configmap.yaml", "", whole=True)] == [
        secret_fingerprint("password", b"Zq8vR2mX9kLp4TbWs6 x")]


_KEYS = ["run", "script", "args", "ansible.builtin.shell", "name", "env", "app.env", "steps", "data"]


def _yaml(draw: st.DrawFn, indent: int, depth: int) -> list[str]:
    """Lines of a YAML mapping at `indent`: keys with block scalars, lists (of block scalars or
    mappings, at the key's indentation or deeper) or nested mappings."""
    lines: list[str] = []
    for key in draw(st.lists(st.sampled_from(_KEYS), min_size=1, max_size=3, unique=True)):
        pad = " " * indent
        kind = draw(st.sampled_from(["block", "list", "map"] if depth < 3 else ["block"]))
        if kind == "block":
            lines.append(f"{pad}{key}: {draw(st.sampled_from(['|', '>', '|-', '>+', '| # note']))}")
            lines += _block(draw, indent + draw(st.integers(1, 4)))
        elif kind == "list":
            lines.append(f"{pad}{key}:")
            dash = indent + draw(st.sampled_from([0, 2]))
            for _ in range(draw(st.integers(1, 3))):
                if draw(st.booleans()):
                    lines.append(" " * dash + "- |")
                    lines += _block(draw, dash + draw(st.integers(1, 4)))
                else:
                    inner = _yaml(draw, dash + 2, depth + 1)
                    lines.append(" " * dash + "- " + inner[0].lstrip())
                    lines += inner[1:]
        else:
            lines.append(f"{pad}{key}:")
            lines += _yaml(draw, indent + 2, depth + 1)
    return lines


def _block(draw: st.DrawFn, indent: int) -> list[str]:
    body = draw(st.lists(st.sampled_from(["A=1 echo", "echo x", "B=x y z", "", "  C=2 run", "- D=3"]), min_size=1,
                         max_size=4))
    body[0] = body[0].strip() or "echo"  # the first line sets the block's indentation
    return [(" " * indent + line).rstrip() if line else "" for line in body]


@st.composite
def _documents(draw: st.DrawFn) -> str:
    return "\n".join(_yaml(draw, 0, 0)) + "\n"


def _shell_lines(text: str) -> set[int]:
    """The lines (0-based) PyYAML reads as the content of a block scalar that a shell key holds
    (directly, or as an item of its list)."""
    found: set[int] = set()

    def walk(node: yaml.Node, key: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                walk(v, str(k.value))
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item, key)
        elif isinstance(node, yaml.ScalarNode) and node.style in ("|", ">") \
                and key.rsplit(".", 1)[-1] in ("run", "script", "args", "shell"):
            last = node.end_mark.line - (node.end_mark.column == 0)  # the mark is past the block's last line's end
            found.update(range(node.start_mark.line + 1, last + 1))

    root = yaml.compose(text)
    assert root is not None
    walk(root, "")
    return found


@settings(max_examples=300, deadline=None)
@given(_documents())
def test_a_line_is_a_script_s_where_pyyaml_reads_a_script(text: str) -> None:
    """yamlblocks.in_shell_block against PyYAML on generated documents: a line is in a shell
    script exactly where PyYAML reads it as part of a block scalar under a shell key."""
    expected = _shell_lines(text)
    data, at = text.encode(), 0
    for number, line in enumerate(text.splitlines()):
        if line.strip():
            assert yamlblocks.in_shell_block(data, at) == (number in expected), (number, text)
        at += len(line) + 1


def _block_keys(text: str) -> dict[int, str]:
    """The lines (0-based) PyYAML reads as the content of a block scalar that a key other than
    a shell key holds directly (not as an item of its list), with that key."""
    found: dict[int, str] = {}

    def walk(node: yaml.Node, key: str, item: bool) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                walk(v, str(k.value), False)
        elif isinstance(node, yaml.SequenceNode):
            for each in node.value:
                walk(each, key, True)
        elif isinstance(node, yaml.ScalarNode) and node.style in ("|", ">") and not item \
                and key.rsplit(".", 1)[-1] not in ("run", "script", "args", "shell"):
            last = node.end_mark.line - (node.end_mark.column == 0)
            found.update(dict.fromkeys(range(node.start_mark.line + 1, last + 1), key))

    root = yaml.compose(text)
    assert root is not None
    walk(root, "", False)
    return found


@settings(max_examples=300, deadline=None)
@given(_documents())
def test_a_block_s_key_is_the_one_pyyaml_reads_it_under(text: str) -> None:
    """yamlblocks.block_key against PyYAML on generated documents: a line of a block scalar a
    key holds (`app.env: |`) has that key, which says how the text's values are read."""
    expected = _block_keys(text)
    data, at = text.encode(), 0
    for number, line in enumerate(text.splitlines()):
        if line.strip():
            assert yamlblocks.block_key(data, at).decode() == expected.get(number, ""), (number, text)
        at += len(line) + 1
