"""Issue 18: no internal error on any input. Every parser of what an attacker may have written
is fed random bytes and mutations of the demo's own files; a parser may refuse its input only
with auditor's (or pki's) located error, never with anything else (RecursionError,
UnicodeError, KeyError, ...), which the command line would turn into exit 70.

The suite runs a fixed budget (FUZZ_EXAMPLES per parser); a longer run is:

    AUDITOR_FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest tests/auditor/test_fuzz.py -q -s | grep '^fuzz'

which prints the count of inputs tried per parser.
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
REPO = Path(__file__).resolve().parents[2]
NODE = REPO / "auditor" / "_demo" / "node" / "cim-prod-001"
RECORDED = NODE / "var" / "lib" / "auditor" / "recorded"
SEEN: dict[str, int] = {}


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")  # as the readers decode what they pass on


def _json(data: bytes) -> None:
    from auditor._loader.jsonfile import load_json

    load_json(data, file="fuzz.json")


def _yaml(data: bytes) -> None:
    from auditor._loader.yamlfile import load_yaml_documents

    list(load_yaml_documents("fuzz.yaml", text=_text(data)))


def _inventory(data: bytes) -> None:
    from auditor._inventory.load import load_inventory

    load_inventory(Path("/nonexistent/fuzz.yaml"), text=_text(data), base=Path("/nonexistent"))


def _result(data: bytes) -> None:
    from auditor._resultfile import parse_document

    parse_document(data, file="fuzz.json")


def _bundle(data: bytes) -> None:
    from auditor._loader.jsonfile import load_json
    from auditor.evidence.bundle import parse_bundle

    parse_bundle(load_json(data, file="fuzz.json"), file="fuzz.json")


def _nats_conf(data: bytes) -> None:
    from auditor._collectors._untrusted import UnexpectedValue
    from auditor._collectors.nats_config import config_facts, user_facts
    from auditor._nats.conf import parse_text
    from auditor._nats.config import interpret

    cfg = interpret(parse_text(_text(data), env={}))
    try:  # the evidence the collector builds from it: any other exception is a bug
        config_facts(cfg)
    except UnexpectedValue:
        pass  # a value of the wrong type: the collector's failure record for this config
    for user in cfg.users:
        user_facts(user)


def _creds(data: bytes) -> None:
    from auditor._nats.creds import CredsError, decode_jwt, parse_creds

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
    from auditor._sops.document import parse

    for fmt in ("yaml", "json", "dotenv", "ini"):
        try:
            parse("fuzz", _text(data), fmt)
        except (AuditorError, PKIError):
            pass


def _manifests(data: bytes) -> None:
    from auditor._collectors.k8s.read import read_bytes

    list(read_bytes(data, "fuzz.yaml", is_json=False))
    list(read_bytes(data, "fuzz.json", is_json=True))


def _secrets(data: bytes) -> None:
    from auditor._secrets.scanner import Scanner

    Scanner().scan_bytes(data, "fuzz.env")


def _host(data: bytes) -> None:
    from auditor._host import (
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
    from auditor._host.system import HostFiles

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


def _rules(data: bytes) -> None:
    from auditor._loader.yamlfile import Document, load_yaml_documents
    from auditor._policy.rule import load_rule

    for doc in load_yaml_documents("/nonexistent/PKI-002.yaml", text=_text(data)):
        if isinstance(doc, Document):
            load_rule(doc)


def _pki_profile(data: bytes) -> None:
    from pki.profiles import parse_profile

    parse_profile(_text(data), "fuzz.yaml")


def _acme_policy(data: bytes) -> None:
    from pki.acme.policy import parse

    parse(_text(data), "fuzz.yaml")


def _acme_jws(data: bytes) -> None:
    from pki.acme.problems import AcmeProblem
    from pki.acme.signed import parse

    try:  # AcmeProblem is the server's documented refusal: an RFC 8555 problem document
        parse(data).body()
    except AcmeProblem:
        pass


def _crl(data: bytes) -> None:
    from pki.crl import load_crls

    load_crls(data, "fuzz.pem")


def _statement(data: bytes) -> None:
    from auditor._signoff.model import parse_statement

    parse_statement(data)


def _secrets_rules(data: bytes) -> None:
    from auditor._loader.yamlfile import load_yaml
    from auditor._secrets.custom import parse_rules

    doc = load_yaml("fuzz.yaml", text=_text(data))
    parse_rules(doc.value, file="fuzz.yaml", line_of=doc.line_of)


def _cron(data: bytes) -> None:
    from auditor._schedule.cron import parse_cron

    parse_cron(_text(data))


def _via_file(load: Callable[[Path], Any], name: str) -> Callable[[bytes], None]:
    """A parser that reads a file (by path), fed `data` through a file named `name`."""
    def parse(data: bytes) -> None:
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / name
            path.write_bytes(data)
            load(path)
    return parse


def _sops_config(path: Path) -> None:
    from auditor._sops.rules import load_config

    load_config(path)


def _secrets_config(path: Path) -> None:
    from auditor._secrets.config import load_scan_config

    load_scan_config(path)


def _baseline(path: Path) -> None:
    from auditor._secrets.suppress import load_baseline

    load_baseline(path)


def _allowed_signers(path: Path) -> None:
    from auditor._signoff.allowed import load_allowed_signers

    load_allowed_signers(path)


def _key_file(path: Path) -> None:
    from pki.keys import load_key_file

    load_key_file(path)


def _csr(data: bytes) -> None:
    from cryptography import x509

    from pki.issuance import request_from_csr
    from pki.profiles import load_profile

    request_from_csr(data, load_profile("nats-client"), x509.Name([]))


def _crl_seed() -> bytes:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    revoked = x509.RevokedCertificateBuilder().serial_number(7).revocation_date(now).build()
    crl = (x509.CertificateRevocationListBuilder()
           .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Fuzz CA")]))
           .last_update(now).next_update(now + dt.timedelta(days=7)).add_revoked_certificate(revoked)
           .add_extension(x509.CRLNumber(3), critical=False).sign(key, hashes.SHA256()))
    return crl.public_bytes(serialization.Encoding.PEM)


def _jws_seed() -> bytes:
    import base64
    import json

    from cryptography.hazmat.primitives.asymmetric import ec

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    numbers = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "x": b64(numbers.x.to_bytes(32, "big")), "y": b64(numbers.y.to_bytes(32, "big"))}
    header = {"alg": "ES256", "nonce": "n0nce", "url": "https://ca.example/acme/new-account", "jwk": jwk}
    return json.dumps({"protected": b64(json.dumps(header).encode()), "signature": b64(bytes(64)),
                       "payload": b64(b'{"termsOfServiceAgreed": true}')}).encode()


PARSERS: dict[str, tuple[Callable[[bytes], Any], tuple[Path | Callable[[], bytes], ...]]] = {
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
    "rules": (_rules, (REPO / "rules/pki/PKI-002.yaml",)),
    "pki-profile": (_pki_profile, (REPO / "pki/data/profiles/nats-client.yaml",)),
    "acme-policy": (_acme_policy, ()),
    "acme-jws": (_acme_jws, (_jws_seed,)),
    "crl": (_crl, (_crl_seed,)),
    "signoff-statement": (_statement, ()),
    "secrets-rules": (_secrets_rules, ()),
    "cron": (_cron, ()),
    "sops-config": (_via_file(_sops_config, ".sops.yaml"), (NODE / ".sops.yaml",)),
    "secrets-config": (_via_file(_secrets_config, "secrets.yaml"), ()),
    "secrets-baseline": (_via_file(_baseline, "baseline.json"), ()),
    "allowed-signers": (_via_file(_allowed_signers, "allowed.yaml"), ()),
    "key-file": (_via_file(_key_file, "key.pem"), ()),
    "csr": (_csr, ()),
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
    seeds = tuple(p.read_bytes() if isinstance(p, Path) else p() for p in PARSERS[name][1])
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
    print(f"fuzz {name}: {SEEN[name]:,} inputs")  # the count per parser, shown with -s
    assert SEEN[name] >= min(FUZZ_EXAMPLES, 10)
