"""Recall on secrets from real generators' alphabets, written in 23 everyday layouts, against
Kingfisher (every rule, low confidence included: `--rule all --confidence low`) and trufflehog3
run side by side on the same files (not a corpus of our own making: the values are
random, as `openssl rand -base64`/`-hex`, Python's `secrets.token_urlsafe`, a password
manager's letters and digits and `pwgen -sy` make them, and each layout that has a reader
here is kept only where the reader reads the value whole: PyYAML, python-dotenv, configparser,
json, tomllib).

Run: .venv/bin/python -m pytest tests/benchmarks/test_bench_generated_secrets.py -m benchmark -s

A value counts as found when a finding (not a vendor example) is on its line; auditor's is
also checked to be the value itself (its fingerprint), not a part of it. Placeholders and
references (`${DB_PASSWORD}`, `changeme`, `/run/secrets/db`...) in the same layouts count as
false alarms when flagged.
"""

from __future__ import annotations

import base64
import configparser
import io
import json
import os
import random
import shutil
import string
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dotenv
import pytest
import yaml

from auditor._secrets.engines import Trufflehog3Engine
from auditor._secrets.model import secret_fingerprint
from tests.benchmarks.conftest import Recorder

pytestmark = pytest.mark.benchmark

PER_CELL = 200
SYMBOLS = string.punctuation
"""pwgen -sy's symbols."""


def _generators(rng: random.Random) -> dict[str, Callable[[], str]]:
    return {
        "base64": lambda: base64.b64encode(rng.randbytes(rng.choice([16, 24, 32]))).decode(),
        "hex": lambda: rng.randbytes(rng.choice([16, 20, 32])).hex(),
        "urlsafe": lambda: base64.urlsafe_b64encode(rng.randbytes(32)).decode().rstrip("="),
        "alnum": lambda: "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(20)),
        "pwgen -sy": lambda: "".join(rng.choice(string.ascii_letters + string.digits + SYMBOLS) for _ in range(16)),
    }


def _path(*steps: Any) -> Callable[[Any], Any]:
    def walk(doc: Any) -> Any:
        for step in steps:
            doc = doc[step]
        return doc
    return walk


def _yaml(*steps: Any) -> Callable[[str], Any]:
    return lambda text: _path(*steps)(yaml.safe_load(text))


def _env(text: str) -> Any:
    return dotenv.dotenv_values(stream=io.StringIO(text), interpolate=False)["DB_PASSWORD"]


def _ini(text: str) -> Any:
    return _section(text, "db", "password")


def _section(text: str, section: str, key: str) -> Any:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser[section][key]


def _xml(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


Layout = tuple[str, Callable[[str], str | None], Callable[[str], Any] | None, Callable[[str], str]]
"""A file name, the text holding a value (None: the layout cannot hold it), the reader of the
text (None: no reader here), what the reader reads given the value."""
_SAME: Callable[[str], str] = str


def _no(chars: str, text: Callable[[str], str]) -> Callable[[str], str | None]:
    return lambda v: None if any(c in v for c in chars) else text(v)


LAYOUTS: dict[str, Layout] = {
    ".env": ("app.env", lambda v: f"DB_PASSWORD={v}\n", _env, _SAME),
    ".env quoted": ("app.env", _no("'\\", lambda v: f"DB_PASSWORD='{v}'\n"), _env, _SAME),
    "YAML": ("values.yaml", lambda v: f"db:\n  password: {v}\n", _yaml("db", "password"), _SAME),
    "YAML quoted": ("values.yaml", _no("'", lambda v: f"db:\n  password: '{v}'\n"), _yaml("db", "password"), _SAME),
    "JSON": ("config.json", lambda v: json.dumps({"db": {"password": v}}) + "\n",
             lambda t: json.loads(t)["db"]["password"], _SAME),
    "TOML": ("config.toml", _no('"\\', lambda v: f'[db]\npassword = "{v}"\n'),
             lambda t: tomllib.loads(t)["db"]["password"], _SAME),
    "properties": ("app.properties", _no("\\", lambda v: f"db.password={v}\n"), None, _SAME),
    "XML": ("app.config", lambda v: f"<config>\n  <password>{_xml(v)}</password>\n</config>\n", None, _SAME),
    "Kubernetes env": ("deploy.yaml", _no("'", lambda v: f"env:\n  - name: DB_PASSWORD\n    value: '{v}'\n"),
                       _yaml("env", 0, "value"), _SAME),
    "compose environment": ("docker-compose.yml",
                            lambda v: f"services:\n  app:\n    environment:\n      - DB_PASSWORD={v}\n",
                            _yaml("services", "app", "environment", 0), lambda v: f"DB_PASSWORD={v}"),
    "systemd Environment=": ("app.service", _no(' "\\%', lambda v: f"[Service]\nEnvironment=DB_PASSWORD={v}\n"),
                             None, _SAME),
    "shell export": ("deploy.sh", _no("'", lambda v: f"export DB_PASSWORD='{v}'\n"), None, _SAME),
    "Python": ("settings.py", lambda v: f"DB_PASSWORD = {v!r}\n", None, _SAME),
    "PHP define": ("config.php", _no("'\\", lambda v: f"<?php\ndefine('DB_PASSWORD', '{v}');\n"), None, _SAME),
    "Terraform tfvars": ("prod.tfvars", lambda v: None if any(s in v for s in ('"', "\\", "${", "%{")) else
                         f'db_password = "{v}"\n', None, _SAME),
    "Nix": ("configuration.nix", lambda v: None if any(s in v for s in ('"', "\\", "${")) else
            f'  services.app.password = "{v}";\n', None, _SAME),
    "INI": ("app.ini", lambda v: f"[db]\npassword = {v}\n", _ini, _SAME),
    "YAML api_key": ("values.yaml", _no("'", lambda v: f"service:\n  api_key: '{v}'\n"), _yaml("service", "api_key"),
                     _SAME),
    "ConfigMap app.env": ("configmap.yaml", lambda v: f"kind: ConfigMap\ndata:\n  app.env: |\n    DB_PASSWORD={v}\n",
                          lambda t: _env(_yaml("data", "app.env")(t)), _SAME),
    "ConfigMap .properties": ("configmap.yaml", lambda v: "kind: ConfigMap\ndata:\n  application.properties: |\n"
                              f"    spring.datasource.password={v}\n",
                              _yaml("data", "application.properties"), lambda v: f"spring.datasource.password={v}\n"),
    "MySQL .my.cnf": (".my.cnf", lambda v: f"[client]\nuser=app\npassword={v}\n",
                      lambda t: _ini(t.replace("[client]", "[db]")), _SAME),
    "AWS credentials": ("credentials", lambda v: f"[default]\nregion = eu-west-1\naws_secret_access_key = {v}\n",
                        lambda t: _section(t, "default", "aws_secret_access_key"), _SAME),
    ".env CLIENT_SECRET": ("app.env", lambda v: f"CLIENT_SECRET={v}\n",
                           lambda t: dotenv.dotenv_values(stream=io.StringIO(t), interpolate=False)["CLIENT_SECRET"],
                           _SAME),
}
PLACEHOLDERS = ["${DB_PASSWORD}", "changeme", "/run/secrets/db_password", "<your-password>", "vault:secret/db#password",
                "{{ db_password }}", "ENC[AES256_GCM,data:abc,iv:def,tag:ghi,type:str]", "xxxxxxxxxxxx"]


def _written(rng: random.Random) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str]]]:
    """(layout, generator, file, value) of each secret written, and (layout, file) of each
    placeholder: files in memory, by relative path."""
    secrets_, clean = [], []
    generators = _generators(rng)
    for layout, (_, text, read, wanted) in LAYOUTS.items():
        for generator, make in generators.items():
            made = 0
            while made < PER_CELL:
                value = make()
                body = text(value)
                if body is None:
                    continue
                if read is not None and not _reads(read, body, wanted(value)):
                    continue  # not a value written so
                secrets_.append((layout, generator, body, value))
                made += 1
        for placeholder in PLACEHOLDERS:
            body = text(placeholder)
            if body is not None:
                clean.append((layout, body))
    return secrets_, clean


def _reads(read: Callable[[str], Any], body: str, wanted: str) -> bool:
    """Whether the reader reads `wanted` from `body` (False where it refuses the text)."""
    try:
        return bool(read(body) == wanted)
    except Exception:  # any reader's refusal: the text holds no value so
        return False


def _auditor(folder: Path) -> dict[str, set[str]]:
    """{file: fingerprints of auditor's findings}."""
    out = folder.parent / "auditor.json"
    env = {**os.environ, "AUDITOR_LIMIT_SECRET_FINDINGS": "100000"}  # one finding a file, 19,000 files
    subprocess.run([sys.executable, "-m", "auditor", "secrets", "scan", ".", "--format", "json", "-o", str(out)],
                   cwd=folder, check=False, capture_output=True, timeout=3600, env=env)
    found: dict[str, set[str]] = {}
    for f in json.loads(out.read_text())["findings"]:
        if f.get("category") != "example":
            found.setdefault(f["file"], set()).add(f["fingerprint"])
    return found


def _kingfisher(folder: Path) -> set[str]:
    """The files Kingfisher reports a finding in."""
    exe = shutil.which("kingfisher", path=str(Path(sys.executable).parent))
    assert exe, "kingfisher-bin is not installed"
    out = folder.parent / "kingfisher.json"
    subprocess.run([exe, "scan", "--no-validate", "--no-update-check", "--git-history", "none", "--rule", "all",
                    "--confidence", "low", "--format", "json", "--output", str(out), "."],
                   cwd=folder, check=False, capture_output=True, timeout=3600)
    return {str(f["finding"]["path"]).removeprefix("./") for f in json.loads(out.read_text())["findings"]}


def _trufflehog3(folder: Path) -> set[str]:
    """The files trufflehog3 reports a finding in."""
    out = folder.parent / "trufflehog3.json"
    subprocess.run([str(Trufflehog3Engine().install()), "--zero", "--no-history", "--format", "JSON", "--output",
                    str(out), "."], cwd=folder, check=False, capture_output=True, timeout=3600)
    return {str(i["path"]).removeprefix("./") for i in json.loads(out.read_text() or "[]")}


def test_generated_secrets_against_kingfisher(tmp_path: Path, bench_record: Recorder) -> None:
    secrets_, clean = _written(random.Random(2026))
    folder = tmp_path / "files"
    where: list[tuple[str, str, str, str]] = []  # layout, generator, file, value
    for i, (layout, generator, body, value) in enumerate(secrets_):
        name = LAYOUTS[layout][0]
        rel = f"s{i:05d}/{name}"
        (folder / rel).parent.mkdir(parents=True)
        (folder / rel).write_text(body)
        where.append((layout, generator, rel, value))
    clean_files = []
    for i, (layout, body) in enumerate(clean):
        rel = f"c{i:05d}/{LAYOUTS[layout][0]}"
        (folder / rel).parent.mkdir(parents=True)
        (folder / rel).write_text(body)
        clean_files.append((layout, rel))
    ours, kingfisher, trufflehog3 = _auditor(folder), _kingfisher(folder), _trufflehog3(folder)
    rows: dict[str, list[int]] = {}  # layout: [auditor found, exactly, Kingfisher, trufflehog3, tried]
    by_generator: dict[str, list[int]] = {}
    for layout, generator, rel, value in where:
        rule = "generic-secret" if layout in ("YAML api_key", ".env CLIENT_SECRET", "AWS credentials") else "password"
        fingerprints = ours.get(rel, set())
        for row in (rows.setdefault(layout, [0] * 5), by_generator.setdefault(generator, [0] * 5)):
            row[0] += bool(fingerprints)
            row[1] += secret_fingerprint(rule, value.encode()) in fingerprints
            row[2] += rel in kingfisher
            row[3] += rel in trufflehog3
            row[4] += 1
    flagged = [sum(rel in found for _, rel in clean_files) for found in (ours, kingfisher, trufflehog3)]
    print(f"\n{len(where)} generated secrets in {len(LAYOUTS)} layouts x {len(by_generator)} generators "
          f"({PER_CELL} each), and {len(clean_files)} placeholders; found (auditor: also the value exactly)")
    print(f"{'':24} {'auditor':>9} {'exactly':>9} {'Kingfisher':>11} {'trufflehog3':>12}")
    total = [sum(r[i] for r in rows.values()) for i in range(5)]
    for name, row in [*rows.items(), *by_generator.items(), ("all", total)]:
        print(f"{name:24} {_share(row, 0):>9} {_share(row, 1):>9} {_share(row, 2):>11} {_share(row, 3):>12}")
    print(f"placeholders flagged: auditor {flagged[0]}/{len(clean_files)}, Kingfisher {flagged[1]}, "
          f"trufflehog3 {flagged[2]}")
    assert total[4] == len(where) > 0 and total[1] <= total[0]
    pw = by_generator["pwgen -sy"]
    bench_record("generated-secrets", f"recall on {len(where)} random secrets (openssl rand -base64/-hex, urlsafe, "
                 f"letters and digits, pwgen -sy) in {len(LAYOUTS)} layouts, each read whole by its reader where "
                 "one is here (PyYAML, dotenv, configparser, json, tomllib), against Kingfisher (--rule all "
                 "--confidence low) and trufflehog3 on the same files",
                 f"auditor {_share(total, 0)} ({_share(total, 1)} the value exactly), Kingfisher {_share(total, 2)}, "
                 f"trufflehog3 {_share(total, 3)}; pwgen -sy alone: auditor {_share(pw, 0)}, Kingfisher "
                 f"{_share(pw, 2)}, trufflehog3 {_share(pw, 3)}; placeholders flagged: auditor "
                 f"{flagged[0]}/{len(clean_files)}, Kingfisher {flagged[1]}, trufflehog3 {flagged[2]}")


def _share(row: list[int], i: int) -> str:
    return f"{row[i] / row[-1]:.1%}"
