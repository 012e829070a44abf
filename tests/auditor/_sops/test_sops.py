"""sops files made by the real sops binary in every format: parsing, selectors, MAC, data keys, retime."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor._sops.crypto import data_key_from_age, data_key_from_gnupg, go_float, verify_mac
from auditor._sops.document import parse, unflatten
from auditor._sops.retime import retime
from auditor._sops.rules import Selectors, find_config, load_config
from auditor.errors import ConfigError
from tests.sops_tool import Sops

YAML = """# comment
db:
  password: hunter2
  port: 5432
  ratio: 1.5
  big: 1.0e+21
  enabled: true
  when: 2024-01-02
  stamp: 2024-01-02T03:04:05.5+02:00
  octal: 0o17
  empty: ""
  nothing:
  list: [a, 1, x, 2.50]
public_unencrypted: hello
"""
JSON = '{"db": {"password": "hunter2", "port": 5432, "ratio": 1.5e3, "ok": false, "n": null}, "list": ["a", 2]}\n'
DOTENV = "# comment\nDB_PASSWORD=hunter2\nPORT=5432\nMULTI=a\\nb\nNAME_unencrypted=cim\n"
INI = "top = 1\n[db]\npassword = hunter2\nport = 5432 ; c\n[other]\nx = \"quoted\"\nname_unencrypted = cim\n"


@pytest.fixture
def sops(tmp_path: Path) -> Sops:
    return Sops.create(tmp_path)


def verified(path: Path, sops: Sops, fmt: str | None = None) -> str:
    doc = parse(path, path.read_text(), fmt)
    key = data_key_from_age(doc, [sops.identity])
    assert key is not None
    return verify_mac(doc, key, "age").status


@pytest.mark.parametrize(("name", "text"), [("s.yaml", YAML), ("s.json", JSON), ("s.env", DOTENV), ("s.ini", INI)])
def test_every_format_verifies_and_detects_tampering(sops: Sops, name: str, text: str) -> None:
    path = sops.encrypt(name, text, "--age", sops.recipient)
    doc = parse(path, path.read_text())
    assert doc.is_sops and doc.leaves
    assert verified(path, sops) == "verified"
    if "_unencrypted" in text or "public_unencrypted" in text:
        tampered = re.sub(r"(_unencrypted\s*[:=]\s*)(\w+)", r"\1tampered", path.read_text(), count=1)
        path.write_text(tampered)
        assert verified(path, sops) == "mismatch"
        assert sops.run("decrypt", path.name, check=False).returncode != 0  # sops agrees


def test_binary_store(sops: Sops) -> None:
    raw = sops.folder / "blob.bin"
    raw.write_bytes(b"binary\x00data\n")
    out = sops.run("encrypt", "--age", sops.recipient, "--input-type", "binary", "blob.bin").stdout
    enc = sops.folder / "blob.sops"
    enc.write_text(out)
    doc = parse(enc, out)
    assert doc.format == "binary" and [leaf.path for leaf in doc.leaves] == [("data",)]
    assert verified(enc, sops) == "verified"


def test_mac_only_encrypted_does_not_cover_plaintext(sops: Sops) -> None:
    (sops.folder / ".sops.yaml").write_text(
        f"creation_rules:\n  - encrypted_regex: '^password$'\n    mac_only_encrypted: true\n    age: {sops.recipient}\n")
    path = sops.encrypt("m.yaml", "password: hunter2\nport: 5432\n")
    assert parse(path, path.read_text()).metadata["mac_only_encrypted"] is True  # type: ignore[index]
    path.write_text(path.read_text().replace("port: 5432", "port: 9999"))
    assert verified(path, sops) == "verified"  # the caveat: an unencrypted value changed unnoticed
    assert sops.run("decrypt", "m.yaml", check=False).returncode == 0


WORDS = ["password", "db_password", "token", "host", "port", "key", "api_key", "name_unencrypted", "secret_enc", "user"]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    tree=st.dictionaries(st.sampled_from(WORDS), st.one_of(
        st.text(alphabet="abcdef", min_size=1, max_size=5),
        st.dictionaries(st.sampled_from(WORDS), st.text(alphabet="xyz", min_size=1, max_size=4), min_size=1, max_size=3),
    ), min_size=1, max_size=5),
    selector=st.sampled_from([
        ("encrypted_regex", "^(password|token|api_key)$"), ("unencrypted_regex", "^(host|port|user)$"),
        ("encrypted_suffix", "_enc"), ("unencrypted_suffix", "_unencrypted"), ("encrypted_regex", "pass"),
    ]),
)
def test_selectors_agree_with_sops(sops: Sops, tree: dict[str, Any], selector: tuple[str, str]) -> None:
    option, value = selector
    path = sops.encrypt("p.json", json.dumps(tree), "--age", sops.recipient, f"--{option.replace('_', '-')}", value)
    doc = parse(path, path.read_text())
    sel = Selectors.from_mapping({option: value})
    assert Selectors.from_mapping(doc.metadata or {}) == sel
    for leaf in doc.leaves:
        assert leaf.encrypted == sel.should_encrypt(leaf.path), leaf.path
    assert verified(path, sops) == "verified"


def test_pgp_recipient_through_gnupg(sops: Sops, tmp_path: Path) -> None:
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    try:
        subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Ops <ops@example.com>", "ed25519",
                        "cert", "never"], env=env, check=True, capture_output=True, timeout=60)
        listing = subprocess.run(["gpg", "--batch", "--with-colons", "--list-keys"], env=env, check=True,
                                 capture_output=True, text=True, timeout=60).stdout
        fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
        subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-add-key", fpr, "cv25519", "encr", "never"],
                       env=env, check=True, capture_output=True, timeout=60)
        path = sops.encrypt("g.yaml", "token: abc\n", "--pgp", fpr, env={"GNUPGHOME": str(home)})
        doc = parse(path, path.read_text())
        assert data_key_from_age(doc, [sops.identity]) is None
        key = data_key_from_gnupg(doc, home)
        assert key is not None and verify_mac(doc, key, "GnuPG").status == "verified"
        assert data_key_from_gnupg(doc, tmp_path / "empty-home") is None
    finally:  # the agent gpg started in the home, stopped (it outlived the test)
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, check=False, capture_output=True, timeout=60)


def test_retime_keeps_the_file_valid_for_sops(sops: Sops) -> None:
    path = sops.encrypt("r.env", DOTENV, "--age", sops.recipient)
    old = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    retime(path, [sops.identity], old, created_at=old)
    doc = parse(path, path.read_text())
    assert doc.metadata is not None and doc.metadata["lastmodified"] == "2024-05-06T07:08:09Z"
    assert verified(path, sops) == "verified"
    assert "DB_PASSWORD=hunter2" in sops.run("decrypt", "r.env").stdout  # real sops checks the re-sealed MAC
    with pytest.raises(ConfigError, match="none of the age identities"):
        retime(path, [], old)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_go_float_round_trips_without_exponent(x: float) -> None:
    text = go_float(x)
    assert "e" not in text.lower()
    assert float(text) == x and math.copysign(1, float(text)) == math.copysign(1, x)


@pytest.mark.parametrize(("x", "go"), [(1.5, "1.5"), (1500.0, "1500"), (1e21, "1000000000000000000000"),
                                       (1e-7, "0.0000001"), (0.1, "0.1"), (-0.0, "-0"), (2.5, "2.5")])
def test_go_float_known_values(x: float, go: str) -> None:
    assert go_float(x) == go


def _flatten(value: Any, prefix: str) -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}__map_{k}" if prefix else k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.update(_flatten(v, f"{prefix}__list_{i}"))
    else:
        out[prefix] = value
    return out


@given(st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), st.recursive(
    st.text(alphabet="abc", min_size=1, max_size=3),
    lambda inner: st.one_of(st.lists(inner, min_size=1, max_size=3),
                            st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), inner, min_size=1, max_size=3)),
    max_leaves=6), min_size=1, max_size=3))
def test_unflatten_inverts_sops_flattening(tree: dict[str, Any]) -> None:
    assert unflatten(_flatten(tree, "")) == tree


@given(st.text(max_size=300), st.sampled_from(["yaml", "json", "dotenv", "ini", "binary", None]))
def test_parse_raises_only_config_errors(text: str, fmt: str | None) -> None:
    try:
        parse("fuzz", text, fmt)
    except ConfigError as exc:
        assert exc.file == "fuzz"


def test_creation_rules(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / ".sops.yaml").write_text(
        "creation_rules:\n  - path_regex: secrets/prod/.*\n    age: age1a,age1b\n    pgp: 'AB CD'\n"
        "  - path_regex: secrets/.*\\.yaml$\n    encrypted_suffix: _enc\n    key_groups:\n      - age: [age1c]\n")
    found = find_config(tmp_path / "secrets", tmp_path)
    assert found == tmp_path / ".sops.yaml"
    config = load_config(found)
    rule = config.rule_for(tmp_path / "secrets/app.yaml")
    assert rule is not None and rule.index == 1 and rule.recipients == (("age", "age1c"),)
    assert rule.selectors.encrypted_suffix == "_enc"
    prod = config.rule_for(tmp_path / "secrets/prod/x.env")
    assert prod is not None and prod.recipients == (("age", "age1a"), ("age", "age1b"), ("pgp", "ABCD"))
    assert config.rule_for(tmp_path / "other.txt") is None
    assert find_config(tmp_path / "secrets", tmp_path / "secrets") is None  # never above the stop folder
    (tmp_path / ".sops.yaml").write_text("creation_rules:\n  - path_regex: '([a-'\n")
    with pytest.raises(ConfigError, match="invalid regular expression") as err:
        load_config(tmp_path / ".sops.yaml")
    assert err.value.line == 2


@pytest.mark.parametrize("absolute", [False, True])
def test_a_linked_file_meets_the_creation_rule_of_its_own_path_as_sops_does(sops: Sops, absolute: bool) -> None:
    """A file under secrets/ that is a symbolic link into store/: sops matches the creation rules
    against the path it was given (the link's), not where the link leads, and so do we (was:
    the path resolved first, so no rule matched it)."""
    (sops.folder / ".sops.yaml").write_text(f"creation_rules:\n  - path_regex: ^secrets/.*\n    age: {sops.recipient}\n")
    (sops.folder / "store").mkdir()
    (sops.folder / "secrets").mkdir()
    kept = sops.folder / "store" / "x.yaml"
    kept.write_text("a: 1\n")
    link = sops.folder / "secrets" / "x.yaml"
    link.symlink_to(kept if absolute else Path("..") / "store" / "x.yaml")
    config = load_config(sops.folder / ".sops.yaml")
    for path, rel in ((link, "secrets/x.yaml"), (kept, "store/x.yaml")):
        made = sops.run("encrypt", rel, check=False)
        ours = config.rule_for(path)
        assert (made.returncode == 0) == (ours is not None), (rel, made.stderr)
    assert config.rule_for(link) is not None and config.rule_for(kept) is None  # what sops said, above


def test_ini_multiline_values_as_go_ini_reads_them() -> None:
    text = ('[a]\nk = """one\ntwo"""\nq = `x\n y`\nsame = """inline"""\nplain = v ; c\n'
            '[sops]\nmac = """ENC[x]"""\nage__list_0__map_enc = """-----BEGIN AGE ENCRYPTED FILE-----\nAAA\n'
            '-----END AGE ENCRYPTED FILE-----"""\nage__list_0__map_recipient = age1abc\n')
    doc = parse("m.ini", text)
    assert [(leaf.dotted, leaf.value, leaf.line) for leaf in doc.leaves] == [
        ("a.k", "one\ntwo", 2), ("a.q", "x\n y", 4), ("a.same", "inline", 6), ("a.plain", "v", 7)]
    assert doc.metadata is not None and doc.metadata["age"][0]["enc"].splitlines()[1] == "AAA"
    with pytest.raises(ConfigError, match="never closed") as info:
        parse("bad.ini", '[a]\nk = """open\nstill open\n')
    assert info.value.line == 2
