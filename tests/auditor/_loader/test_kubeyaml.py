"""The Kubernetes reading of YAML (auditor/_loader/kubeyaml.py) against `kubectl` itself.

`kubectl label --local -f FILE -o json` reads manifests as the API server does (sigs.k8s.io/yaml:
go-yaml v2, then JSON) and prints what it read, with no cluster. Each plain scalar of a pool of
edges (every word go-yaml v2 or PyYAML takes for a boolean or null, numbers in every base and
form, base-60 and timestamp look-alikes, values JSON cannot hold) as a value and as a key, and
generated manifests (nested mappings and lists, quoted and block scalars, anchors, merge keys)
must read alike: the same JSON values (numbers compared as the float64 kubectl holds them), or
both refused.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from auditor._loader.yamlfile import load_yaml_documents
from auditor.errors import ConfigError

KUBECTL = shutil.which("kubectl", path="/usr/bin:/bin:/usr/local/bin")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl (Debian kubernetes-client) is not installed")

SCALARS = [
    "y", "Y", "n", "N", "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "true", "True",
    "TRUE", "false", "False", "FALSE", "yES", "nO", "oN", "t", "f", "~", "null", "Null", "NULL", "nULL", "",
    "1e3", "1.0e3", "1.0e+3", "1E3", "1e-7", ".5", "+.5", "-.5", "1.", "+1", "-0", "0", "00", "0777", "08", "09.5",
    "0o17", "0O17", "0x1F", "0X1f", "-0x1F", "0b101", "-0b101", "0B11", "1_000", "1__0", "0x_1F", "1_", "3.14_15",
    "1:20", "190:20:30", "-1:30", "12:30.5", "2001-12-14", "2001-12-14T21:59:43.10Z", "2001-12-14 21:59:43.10",
    "2001-13-45", ".inf", "-.Inf", "+.INF", ".NaN", "=", "<<", "0.1", "1e", "1e999", "-1e999", "0x", "0b", "0o",
    "123456789012345678901234567890", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
    "-9223372036854775809", "18446744073709551615", "18446744073709551616", "0xFFFFFFFFFFFFFFFF",
    "0x1FFFFFFFFFFFFFFFF", "~x", "-", "+", ".", "..", "1.2.3", "0.0.0.0", "127.0.0.1:8080", "::1", "v1", "1Gi",
    "500m", "*", "@x", "`x",
]


def kubectl_reads(folder: Path, documents: list[str]) -> list[Any] | None:
    """The JSON kubectl reads from the documents (one stream), each without the label it adds;
    None if kubectl refuses the stream."""
    assert KUBECTL is not None
    path = folder / "manifest.yaml"
    path.write_text("\n---\n".join(documents) + "\n")
    proc = subprocess.run([KUBECTL, "label", "--local", "-f", str(path), "oracle=1", "-o", "json"], capture_output=True,
                          text=True, timeout=60, check=False,
                          env={"KUBECONFIG": "/dev/null", "HOME": str(folder), "PATH": "/usr/bin:/bin"})
    if proc.returncode != 0:
        return None
    decoder, out, at = json.JSONDecoder(), [], 0
    text = proc.stdout
    while text[at:].strip():
        value, end = decoder.raw_decode(text, len(text) - len(text[at:].lstrip()))
        value["metadata"].pop("labels", None)
        out.append(value)
        at = end
    return out


def auditor_reads(documents: list[str]) -> list[Any] | None:
    out = []
    for item in load_yaml_documents("manifest.yaml", text="\n---\n".join(documents) + "\n", kubernetes=True):
        if isinstance(item, ConfigError):
            return None
        out.append(item.value)
    return out


def same(a: Any, b: Any) -> bool:
    """Equal as JSON values, numbers as the float64 kubectl holds them, booleans apart from numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def manifest(name: str, body: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n{body}"


def compare(folder: Path, documents: list[str]) -> list[str]:
    """The documents' disagreements: those auditor reads in one stream, the others each alone
    (and all of them each alone if kubectl refuses the stream)."""
    refused = [doc for doc in documents if auditor_reads([doc]) is None]
    read = [doc for doc in documents if doc not in refused]
    theirs, ours = kubectl_reads(folder, read), auditor_reads(read)
    if theirs is None or ours is None:
        return [problem for doc in documents for problem in alone(folder, doc)]
    return [f"{doc!r}: kubectl {t}, auditor {o}" for doc, t, o in zip(read, theirs, ours, strict=True)
            if not same(t, o)] + [problem for doc in refused for problem in alone(folder, doc)]


def alone(folder: Path, document: str) -> list[str]:
    theirs, ours = kubectl_reads(folder, [document]), auditor_reads([document])
    if theirs is not None and ours is not None:
        return [] if same(theirs, ours) else [f"{document!r}: kubectl {theirs}, auditor {ours}"]
    return [] if theirs is None and ours is None else [
        f"{document!r}: kubectl {'refuses' if theirs is None else theirs}, auditor {'refuses' if ours is None else ours}"]


def test_plain_scalars_read_as_kubectl_reads_them(tmp_path: Path) -> None:
    """Each scalar as a value and as a key."""
    values = {text: manifest(f"v{i}", f"x:\n  v: {text}\n  list: [{text or '~'}]\n") for i, text in enumerate(SCALARS)}
    keys = [manifest(f"k{i}", f"x:\n  {text or '~'}: key\n") for i, text in enumerate(SCALARS)]
    problems = compare(tmp_path, list(values.values())) + compare(tmp_path, keys)
    assert not problems, "\n".join(problems)
    refused = [text for text, doc in values.items() if auditor_reads([doc]) is None]
    assert {".inf", ".NaN"} <= set(refused) and "y" not in refused  # the pool holds both kinds


def generated(rng: random.Random, depth: int = 0) -> str:
    """A YAML value (flow style) built of the pool's scalars, quoted ones, lists and mappings."""
    roll = rng.randrange(10)
    if depth < 3 and roll < 2:
        return "[" + ", ".join(generated(rng, depth + 1) for _ in range(rng.randrange(4))) + "]"
    if depth < 3 and roll < 4:
        keys = rng.sample([f"k{i}" for i in range(8)] + ["y", "1", "on"], rng.randrange(4))
        return "{" + ", ".join(f"{key}: {generated(rng, depth + 1)}" for key in keys) + "}"
    text = rng.choice(SCALARS)
    if roll == 4:
        return json.dumps(text)  # double-quoted: a string whatever it says
    if roll == 5:
        return "'" + text.replace("'", "''") + "'"
    return text if text not in ("", "-", "*", "@x", "`x", "=", "<<") or roll == 6 else "~"


def test_generated_manifests_read_as_kubectl_reads_them(tmp_path: Path) -> None:
    rng = random.Random(1920)
    documents = []
    for n in range(240):
        fields = [f"  f{i}: {generated(rng)}" for i in range(rng.randint(1, 5))]
        if rng.randrange(4) == 0:
            fields += ["  base: &base {a: y, b: 1e3}", "  merged:", "    <<: *base", f"    c: {generated(rng)}"]
        if rng.randrange(4) == 0:
            fields += ["  block: |", f"    {rng.choice(SCALARS)}", "  folded: >-", f"    {rng.choice(SCALARS)} y"]
        documents.append(manifest(f"g{n}", "x:\n" + "\n".join(fields) + "\n"))
    problems = compare(tmp_path, documents)
    assert not problems, f"{len(problems)} of {len(documents)} differ:\n" + "\n".join(problems[:10])


def test_explicit_tags_read_as_kubectl_reads_them(tmp_path: Path) -> None:
    """A value with a core tag: `!!bool y` is true to go-yaml v2, `!!bool maybe` refused by both."""
    tagged = ["!!bool y", "!!bool N", "!!bool yes", "!!bool 'true'", "!!bool maybe", "!!str y", "!!str 1e3",
              "!!int 1e3", "!!int '0x10'", "!!int y", "!!float 1", "!!float '1.5'", "!!null ''", "!!map {a: y}",
              "!!seq [y, 1e3]"]
    problems = compare(tmp_path, [manifest(f"t{i}", f"x:\n  v: {text}\n") for i, text in enumerate(tagged)])
    assert not problems, "\n".join(problems)
    assert auditor_reads([manifest("b", "x: !!bool y\n")]) == [{"apiVersion": "v1", "kind": "ConfigMap",
                                                                "metadata": {"name": "b"}, "x": True}]
