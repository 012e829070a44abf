"""Issue 18: no internal error on any input. Every parser of what an attacker may have written
is fed random bytes and mutations of the demo's own files; a parser may refuse its input only
with auditor's (or pki's) located error, never with anything else (RecursionError,
UnicodeError, KeyError, ...), which the command line would turn into exit 70.

The suite runs a fixed budget (FUZZ_EXAMPLES per parser); a longer run is:

    AUDITOR_FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest tests/auditor/test_fuzz.py -q
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.errors import AuditorError
from pki.errors import PKIError

FUZZ_EXAMPLES = int(os.environ.get("AUDITOR_FUZZ_EXAMPLES", "60"))
NODE = Path(__file__).resolve().parents[2] / "auditor" / "demo" / "node" / "cim-prod-001"
RECORDED = NODE / "var" / "lib" / "auditor" / "recorded"
SEEN: dict[str, int] = {}


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")  # as the readers decode what they pass on


def _json(data: bytes) -> None:
    from auditor.loader.jsonfile import load_json

    load_json(data, file="fuzz.json")


def _yaml(data: bytes) -> None:
    from auditor.loader.yamlfile import load_yaml_documents

    list(load_yaml_documents("fuzz.yaml", text=_text(data)))


def _inventory(data: bytes) -> None:
    from auditor.inventory.load import load_inventory

    load_inventory(Path("/nonexistent/fuzz.yaml"), text=_text(data), base=Path("/nonexistent"))


def _result(data: bytes) -> None:
    from auditor.resultfile import parse_document

    parse_document(data, file="fuzz.json")


def _bundle(data: bytes) -> None:
    from auditor.evidence.bundle import parse_bundle
    from auditor.loader.jsonfile import load_json

    parse_bundle(load_json(data, file="fuzz.json"), file="fuzz.json")


def _nats_conf(data: bytes) -> None:
    from auditor.nats.conf import parse_text
    from auditor.nats.config import interpret

    interpret(parse_text(_text(data), env={}))


def _creds(data: bytes) -> None:
    from auditor.nats.creds import CredsError, decode_jwt, parse_creds

    try:  # CredsError (a ValueError) is the documented refusal; its callers turn it into findings
        jwt, _seed = parse_creds(_text(data))
        decode_jwt(jwt)
    except CredsError:
        pass


def _pem(data: bytes) -> None:
    from pki.load import load_certificates

    load_certificates(data)


def _pki_log(data: bytes) -> None:
    import tempfile

    from pki.log import last_entry, read

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "log.jsonl"
        path.write_bytes(data)
        list(read(path))
        last_entry(path)


def _sops(data: bytes) -> None:
    from auditor.sops.document import parse

    for fmt in ("yaml", "json", "dotenv", "ini"):
        try:
            parse("fuzz", _text(data), fmt)
        except (AuditorError, PKIError):
            pass


def _manifests(data: bytes) -> None:
    from auditor.collectors.k8s.read import read_bytes

    list(read_bytes(data, "fuzz.yaml", is_json=False))
    list(read_bytes(data, "fuzz.json", is_json=True))


def _secrets(data: bytes) -> None:
    from auditor.secrets.scanner import Scanner

    Scanner().scan_bytes(data, "fuzz.env")


def _host(data: bytes) -> None:
    from auditor.host import (
        accounts,
        authkeys,
        fail2ban,
        firewall,
        mac,
        osrelease,
        sshd,
        units,
        volumes,
    )
    from auditor.host.system import HostFiles

    text = _text(data)
    accounts.parse_passwd(text)
    accounts.parse_shadow_state(text)
    accounts.parse_groups(text)
    authkeys.parse_keys("root", "/root/.ssh/authorized_keys", text)
    fail2ban.parse_jails([("/etc/fail2ban/jail.local", text)])
    mac.parse_profiles(text)
    osrelease.parse_os_release(text)
    sshd.parse_sshd_config(HostFiles(Path("/nonexistent")), text=text)
    sshd.parse_sshd_t(text)
    units.parse_unit(text)
    volumes.parse_mounts(text)
    volumes.parse_crypttab(text)
    for parse in (firewall.parse_nft_json, firewall.parse_iptables_save):
        try:
            parse(text)
        except ValueError:  # their documented refusal, which the host collector turns into a problem
            pass


PARSERS: dict[str, tuple[Callable[[bytes], Any], tuple[Path, ...]]] = {
    "json": (_json, (RECORDED / "vault.json",)),
    "yaml": (_yaml, (NODE / ".sops.yaml",)),
    "inventory": (_inventory, (NODE.parents[1] / "inventory.yaml",)),
    "findings": (_result, ()),
    "bundle": (_bundle, (RECORDED / "host-commands.json",)),
    "nats.conf": (_nats_conf, (NODE / "etc/nats/nats.conf", NODE / "etc/nats/users.conf")),
    "creds": (_creds, ()),
    "pem": (_pem, (NODE / "etc/nats/certs/monitor-legacy.pem",)),
    "pki-log": (_pki_log, ()),
    "sops": (_sops, (NODE / "secrets/secrets.yaml", NODE / "secrets/legacy.env")),
    "manifests": (_manifests, (NODE / "k8s/cim-agent.yaml",)),
    "secrets": (_secrets, (NODE / "etc/cim/agent.env", NODE / "home/cim/.bash_history")),
    "host": (_host, (NODE / "etc/ssh/sshd_config", NODE / "etc/passwd", NODE / "etc/fail2ban/jail.local")),
}


@st.composite
def mutated(draw: st.DrawFn, seeds: tuple[bytes, ...]) -> bytes:
    """A seed with a few bytes replaced, inserted, deleted or repeated (deep nesting, long runs)."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(("replace", "insert", "delete", "repeat")))
        chunk = draw(st.binary(min_size=1, max_size=8))
        if op == "replace":
            data[at:at + len(chunk)] = chunk
        elif op == "insert":
            data[at:at] = chunk
        elif op == "delete":
            del data[at:at + len(chunk)]
        else:
            data[at:at] = chunk * draw(st.integers(100, 20_000))
    return bytes(data)


def inputs(name: str) -> st.SearchStrategy[bytes]:
    seeds = tuple(p.read_bytes() for p in PARSERS[name][1])
    nasty = st.sampled_from([b"[" * 100_000, b"{" * 100_000, b"- " * 50_000, b"\xff\xfe\x00", b"\x1b[2K\r",
                             b'{"a": ' + b"9" * 5000 + b"}", b"a: &a [*a]", b"eyJhbGciOiJ." * 1000])
    return st.one_of(st.binary(max_size=2048), nasty, *([mutated(seeds)] if seeds else []))


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_no_parser_fails_but_with_a_located_error(name: str) -> None:
    parse = PARSERS[name][0]

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, print_blob=False,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(inputs(name))
    def run(data: bytes) -> None:
        SEEN[name] = SEEN.get(name, 0) + 1
        try:
            parse(data)
        except (AuditorError, PKIError):
            pass

    run()
    assert SEEN[name] >= min(FUZZ_EXAMPLES, 10)
