"""A metamorphic probe of the verdict: "a verdict never improves by adding input".

The demo node is copied, one file or one inventory line is changed in a way that removes no
problem (CRLF line ends, a byte order mark, lines added above or below, the file appended to
itself, keys spelled otherwise (as nats-server and `sshd -T` read them alike), manifests wrapped in
a List or with anchors, a Deployment as another kind of workload, a keyring added to a GnuPG home, a log rotated and compressed, a file zipped, kept in a 7z archive or packed twice, a
file saved as UTF-16 or with garbage appended, ignore comments (`auditor:ignore`, `nosecret`) on
every line of a file with secrets, a
certificate in DER, a broken, unreadable or over-limit file added or put in place of one, a file
moved into the node's /nix/store with a link to it in its place as NixOS links /etc, the inventory
reaching files twice, /etc kept by etckeeper and read with its history),
the copy is scanned, and the result is compared with the demo's own scan:

- a case LOSES a rule when a rule the demo fails passes, or nothing of it fails or is undecided
  (error, not evaluated) any more: the law broken;
- a case MOVES an id when a failing finding's id is neither failing nor undecided any more
  (waivers, drift and events key on ids). Some cases move ids by right: a /etc/passwd that
  cannot be read leaves no account to name.

    .venv/bin/python -m tests.metamorphic                      # every case, this tree
    .venv/bin/python -m tests.metamorphic --auditor 'CMD ...'  # another build, e.g. an older checkout
    .venv/bin/python -m tests.metamorphic --only dup,fifo      # the cases whose names hold one of these

Exit 1 when a case loses a rule. Each defect this probe found is a test of its own in
tests/auditor/test_verdicts.py; this module is the probe, rerun by hand (about 7 minutes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from tests.packing import seven_zipped, tarred, zipped

NODE = "cim-prod-001"
UNDECIDED = ("error", "not-evaluated")
"""Statuses that keep a rule from passing (never READY)."""


@dataclass(frozen=True)
class Case:
    """One change to a copy of the demo (`change` gets the copy's folder: the node is under NODE)."""

    name: str
    change: Callable[[Path], None]


def _edit(rel: str, how: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        path = folder / NODE / rel
        path.write_bytes(how(path.read_bytes()))
    return change


def _put(rel: str, what: str | bytes) -> Callable[[Path], None]:
    """Put a FIFO, a folder, a symbolic link to itself or bytes at `rel` (replacing what is there)."""
    def change(folder: Path) -> None:
        path = folder / NODE / rel
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if what == "fifo":
            os.mkfifo(path)
        elif what == "folder":
            path.mkdir()
        elif what == "loop":
            path.symlink_to(path.name)
        else:
            assert isinstance(what, bytes)
            path.write_bytes(what)
    return change


def _in_store(folder: Path, name: str) -> Path:
    """`name`'s place in the copied node's /nix/store (its folder made)."""
    store = folder / NODE / "nix" / "store"
    store.mkdir(parents=True, exist_ok=True)
    return store / f"0123456789abcdfghijklmnpqrsvwxyz-{name}"


def linked(rel: str, absolute: bool) -> Callable[[Path], None]:
    """The file at `rel` moved into the node's /nix/store and a symbolic link to it put in its
    place, as NixOS links /etc: `absolute`, the link says `/nix/store/...` (the node's root
    being `/`), else the relative way there."""
    def change(folder: Path) -> None:
        root = folder / NODE
        path = root / rel
        kept = _in_store(folder, path.name)
        path.rename(kept)
        path.symlink_to(f"/{kept.relative_to(root)}" if absolute else os.path.relpath(kept, path.parent))
    return change


def _renamed(rel: str, how: str) -> Callable[[Path], None]:
    """The file at `rel`, in a folder a source walks, under another name of the same kind."""
    def change(folder: Path) -> None:
        path = folder / NODE / rel
        stem, suffix = path.stem, path.suffix
        name = {"upper-case suffix": stem + suffix.upper(), "a space in its name": stem + " copy" + suffix,
                "a name that is not UTF-8": stem + "-\udcff" + suffix, "a leading dash": "-" + path.name,
                "a hidden name": "." + path.name}[how]
        path.rename(path.with_name(name))
    return change


def _saved_as(rel: str, suffix: str) -> Callable[[Path], None]:
    """The certificate file at `rel` saved in a container, under its name with `suffix` for its own:
    .p7b (PEM PKCS#7), .p7c (DER PKCS#7), .p12 (PKCS#12 with no password)."""
    how = {".p7b": "pkcs7 pem", ".p7c": "pkcs7 der", ".p12": "pkcs12"}[suffix]

    def change(folder: Path) -> None:
        path = folder / NODE / rel
        path.with_suffix(suffix).write_bytes(_contained(how)(path.read_bytes()))
        path.unlink()
    return change


def _rotated(rel: str, how: str) -> Callable[[Path], None]:
    """The file at `rel` rotated as logrotate compresses it (`compresscmd`: gzip, xz, bzip2 or zstd):
    `NAME.1.gz` in its place; or kept in a zip archive of its folder (`NAME.zip`, deflated) or a
    7z archive (`NAME.7z`, 7-Zip's defaults);
    or packed twice: rotated, then kept in a zip (stored, as zip keeps compressed files) or a
    `.tar.gz` backup, or zipped into a zip; or rotated after 18 MiB of other lines (its
    compressed file over 8 MiB)."""
    import bz2
    import lzma
    import zipfile

    def change(folder: Path) -> None:
        path = folder / NODE / rel
        data = path.read_bytes()
        rotated = f"{path.name}.1.gz"
        if how == "zip":
            path.with_name(path.name + ".zip").write_bytes(zipped({path.name: data}, zipfile.ZIP_DEFLATED))
        elif how == "7z":
            path.with_name(path.name + ".7z").write_bytes(seven_zipped({path.name: data}))
        elif how == "gz in a zip":
            path.with_name(path.name + ".zip").write_bytes(zipped({rotated: gzip.compress(data)}, zipfile.ZIP_STORED))
        elif how == "gz in a .tar.gz":
            path.with_name(path.name + ".tar.gz").write_bytes(
                gzip.compress(tarred({rotated: gzip.compress(data)}, tarfile.PAX_FORMAT)))
        elif how == "zip in a zip":
            inner = zipped({path.name: data}, zipfile.ZIP_DEFLATED)
            path.with_name(path.name + ".zip").write_bytes(zipped({path.name + ".zip": inner}, zipfile.ZIP_DEFLATED))
        elif how == "gz over 8 MiB":
            lines = b"".join(b"%d %s\n" % (i, os.urandom(24).hex().encode()) for i in range(360_000))
            path.with_name(rotated).write_bytes(gzip.compress(lines + data))
        else:
            import zstandard

            pack: dict[str, Callable[[bytes], bytes]] = {"gz": gzip.compress, "xz": lzma.compress, "bz2": bz2.compress,
                                                         "zst": zstandard.compress}
            path.with_name(f"{path.name}.1.{how}").write_bytes(pack[how](data))
        path.unlink()
    return change


def _in_kubernetes(rel: str, how: str) -> Callable[[Path], None]:
    """The env file at `rel` kept in the node's k8s/ folder instead: gzipped in a ConfigMap's
    binaryData, or as the values of a Helm release Secret (base64 of Helm's base64 of the gzipped
    release, as `kubectl get secret -o yaml` prints it); or that Secret among a cluster's others,
    over 8 MiB, in a backup beside the deploy key (`kubectl get secrets -A -o yaml`)."""
    import base64

    def change(folder: Path) -> None:
        path = folder / NODE / rel
        data = path.read_bytes()
        if how == "configmap":
            doc = (b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: agent-env\nbinaryData:\n  agent.env.gz: "
                   + base64.b64encode(gzip.compress(data)) + b"\n")
        else:
            env = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line and not line.startswith("#"))
            release = json.dumps({"name": "cim-agent", "config": {"agent": {"env": env}}, "version": 1}).encode()
            doc = (b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: sh.helm.release.v1.cim-agent.v1\n"
                   b"type: helm.sh/release.v1\ndata:\n  release: "
                   + base64.b64encode(base64.b64encode(gzip.compress(release))) + b"\n")
        if how == "helm release in a backup over 8 MiB":  # `kubectl get secrets -A -o yaml` of a cluster
            noise = b"".join(b"- apiVersion: v1\n  kind: Secret\n  data:\n    k%d: %s\n"
                             % (i, hashlib.sha256(b"%d" % i).hexdigest().encode()) for i in range(120_000))
            doc = (b"apiVersion: v1\nkind: List\nitems:\n" + noise + b"- " + doc.replace(b"\n", b"\n  ").rstrip()
                   + b"\n" + noise)
            (folder / NODE / "home/cim/backup/cluster-secrets.yaml").write_bytes(doc)
        else:
            (folder / NODE / "k8s" / f"{path.name}-{how}.yaml").write_bytes(doc)
        path.unlink()
    return change


def in_cloud_init(rel: str) -> Callable[[Path], None]:
    """The file at `rel` kept, gzipped and base64-encoded, in a cloud-init `write_files` entry
    (`encoding: gz+b64`) beside where it was: the base64 wrapped at 76 characters (as `base64`
    and Python's encodebytes wrap it) in an indented YAML block."""
    import base64

    def change(folder: Path) -> None:
        path = folder / NODE / rel
        block = b"".join(b"      " + line + b"\n" for line in base64.encodebytes(gzip.compress(path.read_bytes())).splitlines())
        path.with_name("user-data.yaml").write_bytes(
            b"#cloud-config\nwrite_files:\n  - path: /" + rel.encode() + b"\n    encoding: gz+b64\n"
            b"    permissions: '0600'\n    content: |\n" + block)
        path.unlink()
    return change


def in_linked_folder(rel: str) -> Callable[[Path], None]:
    """The file at `rel` moved into a folder of the node's /nix/store, and an absolute link to
    that folder put beside where it was (a folder within a walked folder, held as a link)."""
    def change(folder: Path) -> None:
        path = folder / NODE / rel
        store = _in_store(folder, path.stem)
        store.mkdir()
        path.rename(store / path.name)
        (path.parent / "more").symlink_to(f"/{store.relative_to(folder / NODE)}")
    return change


def _root_linked(folder: Path) -> None:
    """The inventory's `root` a symbolic link to the node's tree (a mount point's alias)."""
    (folder / "node-link").symlink_to(NODE)
    _inventory(f"root: {NODE}", "root: node-link")(folder)


def ignore_marked(data: bytes) -> bytes:
    """Each line of `data` with an ignore comment above it (`auditor:ignore-next-line`) and on it
    after a blank (`nosecret`), as a developer silences a secrets scanner: the node's files are
    the audited party's, and their comments must not silence the audit."""
    return b"".join(b"# auditor:ignore-next-line\n" + line.rstrip(b"\n") + b" # nosecret\n"
                    for line in data.splitlines(keepends=True))


MARKED = ("etc/cim/agent.env", "home/cim/.bash_history", "var/log/cim/agent.log")
"""Files whose secrets the demo fails, where a comment line and a trailing comment change no
value their readers take (a trailing comment is part of a systemd EnvironmentFile value, but the
secret before it is unchanged)."""


def _inline_users(folder: Path) -> None:
    """nats.conf's `include users.conf` replaced by what users.conf holds (as nats-server reads it)."""
    conf = folder / NODE / "etc/nats/nats.conf"
    users = folder / NODE / "etc/nats/users.conf"
    text = conf.read_bytes()
    if b"include users.conf" not in text:
        raise SystemExit("tests.metamorphic: the demo's nats.conf no longer includes users.conf")
    conf.write_bytes(text.replace(b"include users.conf", users.read_bytes()))
    users.unlink()


def etckeeper(whole: bool) -> Callable[[Path], None]:
    """The node's /etc kept by etckeeper (a git repository of it, everything committed), and the
    secrets source reading its history (`git: true`): of all of /etc (`whole`), or of the
    folders of it the demo names."""
    def change(folder: Path) -> None:
        etc = folder / NODE / "etc"
        env = {**os.environ, "GIT_AUTHOR_NAME": "etckeeper", "GIT_AUTHOR_EMAIL": "root@cim-prod-001",
               "GIT_COMMITTER_NAME": "etckeeper", "GIT_COMMITTER_EMAIL": "root@cim-prod-001"}
        for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "saving uncommitted changes in /etc"]):
            subprocess.run(["git", "-C", str(etc), *args], check=True, capture_output=True, env=env, timeout=60)
        paths = SECRETS_PATHS.replace("[etc/nats, etc/nixos, etc/cim,", "[etc,") if whole else SECRETS_PATHS
        _inventory(SECRETS_PATHS, paths + "\n        git: true")(folder)
    return change


def _inventory(old: str, new: str) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        path = folder / "auditor.yaml"
        text = path.read_text()
        if old not in text:
            raise SystemExit(f"tests.metamorphic: the demo inventory no longer holds {old!r}")
        path.write_text(text.replace(old, new))
    return change


def _upper_keys(data: bytes) -> bytes:
    """nats.conf keys upper-cased (nats-server reads keys case-insensitively)."""
    return re.sub(rb"^(\s*)(?!include\b)([a-z_]+)(?=\s*[:={ ])", lambda m: m.group(1) + m.group(2).upper(), data, flags=re.M)


def _documents(data: bytes) -> list[Any]:
    return [d for d in yaml.safe_load_all(data) if d]


def _pem_blocks(data: bytes) -> list[bytes]:
    return [m.group(0) + b"\n" for m in re.finditer(rb"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", data, re.S)]


def _demo_cert(name: str) -> bytes:
    """A file of the demo node's etc/nats/certs (read when a case is applied: the demo exists)."""
    from auditor._demo import demo_root

    return (demo_root() / NODE / "etc/nats/certs" / name).read_bytes()


def _der(data: bytes) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    return x509.load_pem_x509_certificates(data)[0].public_bytes(Encoding.DER)


GNUPG_HOME = "var/lib/cim/gnupg"
KEYRINGS = {"a keybox pubring.gpg beside pubring.kbx": "release@cim.example.com",
            "the legacy key moved into a keyring gpg.conf adds": "deploy-legacy@cim.example.com",
            "a new key for the legacy key's user id": "Legacy Deploy <deploy-legacy@cim.example.com>"}
"""Keyrings and keys added to the demo's GnuPG home (each with the user id of the demo's key
it copies, moves or succeeds)."""


def gpg_keyring(how: str) -> Callable[[Path], None]:
    """The demo's GnuPG home with a keyring or a key more, made by the real gpg: a pubring.gpg
    holding a copy of the release key, as `gpg --keyring pubring.gpg --import` makes one (a
    keybox, which gpg then lists alone); the legacy deploy key moved out of pubring.kbx into an
    OpenPGP keyring that the home's gpg.conf adds (`keyring legacy.gpg`); or a new key with the
    legacy key's user id, as a rotation under way leaves both (its secret kept elsewhere)."""
    from tests.gpg import copy_keys, stop_agent

    def change(folder: Path) -> None:
        home = folder / NODE / GNUPG_HOME
        kbx = home / "pubring.kbx"
        if how.startswith("a keybox"):
            assert copy_keys(kbx, home / "pubring.gpg", KEYRINGS[how], legacy=False), how
            return
        scratch = Path(tempfile.mkdtemp(prefix="g"))  # short: gpg's socket paths
        try:
            def gpg(*args: str) -> str:
                return subprocess.run(["gpg", "--homedir", str(scratch), "--batch", "--no-tty", "--no-default-keyring",
                                       "--keyring", str(kbx), *args], capture_output=True, text=True, timeout=120,
                                      check=True).stdout

            if how.startswith("a new key"):
                gpg("--passphrase", "", "--pinentry-mode", "loopback", "--yes", "--quick-gen-key", KEYRINGS[how],
                    "ed25519", "sign", "1y")
                assert gpg("--with-colons", "--list-keys", KEYRINGS[how]).count("\npub:") == 2, how
            else:
                (fpr,) = copy_keys(kbx, home / "legacy.gpg", KEYRINGS[how])
                gpg("--yes", "--delete-keys", fpr)
                (home / "gpg.conf").write_text("keyring legacy.gpg\n")
        finally:
            stop_agent(scratch)
            shutil.rmtree(scratch, ignore_errors=True)
        kbx.with_name(kbx.name + "~").unlink(missing_ok=True)
    return change


def _pkcs12(data: bytes) -> bytes:
    """A private key (PEM or OpenSSH) as a PKCS#12 file with no password, as Java keystores and
    Windows export them."""
    from cryptography.hazmat.primitives.serialization import (
        NoEncryption,
        load_pem_private_key,
        load_ssh_private_key,
        pkcs12,
    )

    key = load_ssh_private_key(data, None) if b"OPENSSH" in data[:64] else load_pem_private_key(data, None)
    return pkcs12.serialize_key_and_certificates(b"key", key, None, None, NoEncryption())  # type: ignore[arg-type]


def _contained(how: str) -> Callable[[bytes], bytes]:
    """A PEM certificate file's certificates in a container: a PKCS#7 chain, PEM (`openssl
    crl2pkcs7 -nocrl`, a .p7b) or DER (a .p7c, as Windows exports a chain), or a PKCS#12 file with
    no password holding no key (a Java trust store)."""
    def change(data: bytes) -> bytes:
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import (
            Encoding,
            NoEncryption,
            pkcs7,
            pkcs12,
        )

        certs = x509.load_pem_x509_certificates(data)
        if how == "pkcs12":
            return pkcs12.serialize_java_truststore([pkcs12.PKCS12Certificate(c, None) for c in certs], NoEncryption())
        return pkcs7.serialize_certificates(certs, Encoding.PEM if how == "pkcs7 pem" else Encoding.DER)
    return change


def _workload_as(kind: str) -> Callable[[bytes], bytes]:
    """The manifest's Deployment as another kind of workload that runs the same pod template."""
    def change(data: bytes) -> bytes:
        docs = _documents(data)
        for at, doc in enumerate(docs):
            if doc.get("kind") != "Deployment":
                continue
            spec, meta = doc["spec"], doc["metadata"]
            if kind == "Pod":
                template = spec["template"]
                docs[at] = {"apiVersion": "v1", "kind": "Pod",
                            "metadata": {**template.get("metadata", {}), "name": meta["name"],
                                         "namespace": meta.get("namespace")},
                            "spec": template["spec"]}
                continue
            doc["kind"] = kind
            doc["apiVersion"] = "batch/v1" if kind == "Job" else "apps/v1"
            spec.pop("strategy", None)
            if kind in ("DaemonSet", "Job"):
                spec.pop("replicas", None)
            if kind == "Job":
                spec.pop("selector", None)
                spec["template"]["spec"]["restartPolicy"] = "OnFailure"
            if kind == "StatefulSet":
                spec["serviceName"] = meta["name"]
        return yaml.safe_dump_all(docs, sort_keys=False).encode()
    return change


def _cronjob_as_job(data: bytes) -> bytes:
    docs = _documents(data)
    for doc in docs:
        if doc.get("kind") == "CronJob":
            doc["kind"], doc["spec"] = "Job", doc["spec"]["jobTemplate"]["spec"]
    return yaml.safe_dump_all(docs, sort_keys=False).encode()


def _shared(data: bytes) -> bytes:
    """The manifest with every repeated mapping or list written once, as a YAML anchor, and
    aliases to it elsewhere (what a hand-written manifest with `&defaults`/`*defaults` holds)."""
    seen: dict[str, Any] = {}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            node = {k: walk(v) for k, v in node.items()}
        elif isinstance(node, list):
            node = [walk(v) for v in node]
        else:
            return node
        return seen.setdefault(json.dumps(node, sort_keys=True, default=str), node)

    return yaml.safe_dump_all([walk(d) for d in _documents(data)], sort_keys=False).encode()


def _merged(data: bytes) -> bytes:
    """Each securityContext opened by a YAML merge key (`<<: &ctxN {}`: an anchored empty
    mapping merged in, its own keys after it)."""
    text = data.decode()
    out, anchors = [], 0
    for line in text.splitlines(keepends=True):
        m = re.match(r"^(\s*)securityContext:\s*$", line)
        if m is None:
            out.append(line)
            continue
        anchors += 1
        out.append(f"{m.group(1)}securityContext:\n{m.group(1)}  <<: &ctx{anchors} {{}}\n")
    return "".join(out).encode()


def _quoted_scalars(data: bytes) -> bytes:
    """Every scalar written double-quoted (those that are not strings with their tag: `!!int "1000"`)."""
    return yaml.safe_dump_all(_documents(data), default_style='"', sort_keys=False).encode()


TEXT_FILES = (
    "etc/nats/nats.conf", "etc/nats/users.conf", "etc/nats/certs/monitor-legacy.pem", "k8s/cim-agent.yaml",
    "k8s/jetstream-backup.yaml", "k8s/nats-exporter.yaml", "etc/cim/agent.env", "secrets/legacy.env",
    "secrets/secrets.yaml", "secrets/monitoring.json", "home/cim/.bash_history", "var/log/cim/agent.log",
    "etc/nixos/configuration.nix", "etc/ssh/sshd_config", "etc/passwd", "etc/shadow", "etc/login.defs",
    "home/cim/backup/deploy_ed25519", "etc/nats/leaf.creds", "var/lib/cim/pki/root-ca.pem",
    "var/lib/cim/pki/intermediate-ca.pem", "etc/nats/certs/server-cert.pem",
)
TEXT_CHANGES: dict[str, Callable[[bytes], bytes]] = {
    "crlf": lambda b: b.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"),
    "bom": lambda b: b"\xef\xbb\xbf" + b,
    "lines below": lambda b: b + b"\n" + b"# padding comment line\n" * 2000,
    "lines above": lambda b: b"# padding comment line\n" * 50 + b,
    "no final newline": lambda b: b.rstrip(b"\n"),
    "twice": lambda b: b + (b"\n---\n" if b"apiVersion" in b else b"\n") + b,
    "in UTF-16": lambda b: b.decode("utf-8", "surrogateescape").encode("utf-16", "surrogatepass"),
    "broken at the end": lambda b: b + b"\n}}} ]]] : : \"unterminated\n",
}
SPELLINGS: tuple[tuple[str, str, Callable[[bytes], bytes]], ...] = (
    ("etc/nats/nats.conf", "upper-case keys", _upper_keys),
    ("etc/nats/users.conf", "upper-case keys", _upper_keys),
    ("etc/nats/nats.conf", "'=' for ':'", lambda b: re.sub(rb"^(\s*[A-Za-z_]+):(\s)", rb"\1 =\2", b, flags=re.M)),
    ("etc/nats/users.conf", "quoted keys", lambda b: re.sub(rb"^(\s*)([a-z_]+)(\s*[:=])", rb'\1"\2"\3', b, flags=re.M)),
    ("etc/ssh/sshd_config", "lower-case keywords", lambda b: re.sub(rb"^([A-Za-z]+)(\s)", lambda m: m.group(1).lower() + m.group(2), b, flags=re.M)),
    ("k8s/nats-exporter.yaml", "as a List", lambda b: yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": _documents(b)}).encode()),
    ("k8s/cim-agent.yaml", "flow style", lambda b: yaml.safe_dump_all(_documents(b), default_flow_style=True).encode()),
    ("etc/nats/certs/monitor-legacy.pem", "as DER", _der),
    ("home/cim/backup/deploy_ed25519", "as a PKCS#12 file with no password", _pkcs12),
    ("etc/nats/certs/monitor-legacy.pem", "as a PKCS#7 chain (PEM)", _contained("pkcs7 pem")),
    ("etc/nats/nats.conf", "safer values above (the later ones win)",
     lambda b: b"http: 127.0.0.1:8222\nmax_payload: 1MB\nlisten: 127.0.0.1:4222\n" + b),
    ("etc/ssh/sshd_config", "safer values below (the first ones win)",
     lambda b: b.replace(b"Include ", b"PermitRootLogin no\nPubkeyAcceptedAlgorithms ssh-ed25519\nPasswordAuthentication no\n"
                          b"LogLevel INFO\nX11Forwarding no\nInclude ", 1)),
    ("etc/ssh/sshd_config.d/50-maintenance-vpn.conf", "safer global values (the main file's come first)",
     lambda b: b"PermitRootLogin no\nPubkeyAcceptedAlgorithms ssh-ed25519\n" + b),
    *((rel, "re-encoded JSON (compact, keys sorted, ASCII escapes)",
       lambda b: json.dumps(json.loads(b), sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode())
      for rel in ("recorded/nats-monitoring.json", "var/lib/auditor/recorded/vault.json",
                  "var/lib/auditor/recorded/tls-endpoints.json", "var/lib/auditor/recorded/yubikeys.json",
                  "var/lib/auditor/recorded/host-commands.json")),
    ("etc/nats/certs/monitor-legacy.pem", "with text around", lambda b: b"subject=CN = x\nissuer=CN = y\n" + b + b"\ntrailing note\n"),
    ("var/lib/cim/pki/intermediate-ca.pem", "with text around", lambda b: b"Bag Attributes\n    friendlyName: ca\n" + b + b"\n"),
    ("etc/nats/certs/ca.pem", "certificates in reverse order", lambda b: b"".join(reversed(_pem_blocks(b)))),
    ("etc/nats/certs/server-cert.pem", "with its chain after it (a fullchain file)",
     lambda b: b + b"".join(_pem_blocks(_demo_cert("ca.pem")))),
    ("etc/nats/certs/monitor-legacy.pem", "with its key in the same file",
     lambda b: b + _demo_cert("server-key.pem")),
    ("k8s/cim-agent.yaml", "with document end markers", lambda b: b"%YAML 1.2\n---\n" + b.replace(b"\n---\n", b"\n...\n---\n") + b"\n...\n"),
    ("k8s/jetstream-backup.yaml", "as JSON", lambda b: json.dumps({"apiVersion": "v1", "kind": "List", "items": _documents(b)}, default=str).encode()),
    *(("k8s/cim-agent.yaml", f"Deployment as a {kind}", _workload_as(kind))
      for kind in ("DaemonSet", "StatefulSet", "ReplicaSet", "Job", "Pod")),
    ("k8s/jetstream-backup.yaml", "CronJob as a Job", _cronjob_as_job),
    *((rel, how, change) for rel in ("k8s/cim-agent.yaml", "k8s/jetstream-backup.yaml", "k8s/nats-exporter.yaml")
      for how, change in (("with anchors and aliases", _shared), ("with every scalar quoted", _quoted_scalars),
                          ("with merge keys", _merged))),
    ("etc/ssh/sshd_config", "'=' between keyword and value", lambda b: re.sub(rb"^([A-Za-z]+) ", rb"\1=", b, flags=re.M)),
    ("etc/ssh/sshd_config", "tabs for spaces", lambda b: re.sub(rb"^([A-Za-z]+) ", rb"\1\t", b, flags=re.M)),
    ("etc/ssh/sshd_config", "values quoted", lambda b: re.sub(rb"^([A-Za-z]+) (\S+)$", rb'\1 "\2"', b, flags=re.M)),
    ("etc/ssh/sshd_config", "upper-case yes/no", lambda b: re.sub(rb" (yes|no|prohibit-password)$", lambda m: b" " + m.group(1).upper(), b, flags=re.M)),
    ("etc/ssh/sshd_config", "a relative Include", lambda b: b.replace(b"Include /etc/ssh/", b"Include ")),
    ("etc/ssh/sshd_config.d/50-maintenance-vpn.conf", "lower-case Match criteria", lambda b: b.replace(b"Match Address", b"match address")),
    ("etc/ssh/sshd_config.d/50-maintenance-vpn.conf", "upper-case yes", lambda b: b.replace(b"Authentication yes", b"Authentication YES")),
    ("etc/ssh/sshd_config.d/50-maintenance-vpn.conf", "a second address", lambda b: b.replace(b"10.20.0.0/16", b"10.20.0.0/16,192.0.2.0/24")),
    ("etc/nats/nats.conf", "// comments", lambda b: re.sub(rb"^(\s*)#", rb"\1//", b, flags=re.M)),
    ("etc/nats/users.conf", "// comments", lambda b: re.sub(rb"^(\s*)#", rb"\1//", b, flags=re.M)),
    ("etc/nats/nats.conf", "values through variables",
     lambda b: b"MONITOR: 0.0.0.0:8222\nPAYLOAD: 8MB\nCLIENTS: 0.0.0.0:4222\n" + b.replace(b"http: 0.0.0.0:8222", b"http: $MONITOR")
     .replace(b"max_payload: 8MB", b"max_payload: $PAYLOAD").replace(b"listen: 0.0.0.0:4222", b"listen: $CLIENTS")),
    ("etc/nats/nats.conf", "';' after values", lambda b: re.sub(rb"^([a-z_]+: [^{\[\n]+)$", rb"\1;", b, flags=re.M)),
    ("etc/nats/nats.conf", "sizes spelled otherwise", lambda b: b.replace(b"8MB", b"8388608").replace(b"64MB", b"64mb").replace(b"4GB", b"4G")),
    ("etc/cim/agent.env", "with export", lambda b: re.sub(rb"^([A-Z_]+=)", rb"export \1", b, flags=re.M)),
    ("etc/cim/agent.env", "values double-quoted", lambda b: re.sub(rb"^([A-Z_]+)=(.*)$", rb'\1="\2"', b, flags=re.M)),
    ("etc/cim/agent.env", "values single-quoted", lambda b: re.sub(rb"^([A-Z_]+)=(.*)$", rb"\1='\2'", b, flags=re.M)),
    ("etc/cim/agent.env", "spaces around =", lambda b: re.sub(rb"^([A-Z_]+)=", rb"\1 = ", b, flags=re.M)),
)
OVER_FILE_BYTES = b"# c\n" * (9 << 20)  # 36 MiB: over the file-bytes limit
OVER_YAML_BYTES = b"a: 1\n" + b"# c\n" * (5 << 20)  # 20 MiB: over yaml-bytes, under file-bytes
ADDED: tuple[tuple[str, str | bytes], ...] = (
    ("k8s/broken.yaml", b"apiVersion: v1\nkind: Pod\nmetadata: {name: x\n"),
    ("k8s/binary.yaml", bytes(range(256)) * 16),
    ("k8s/huge.yaml", OVER_YAML_BYTES),
    ("k8s/huge.json", OVER_YAML_BYTES),
    ("k8s/over.yaml", OVER_FILE_BYTES),
    ("k8s/pipe.yaml", "fifo"),
    ("k8s/sub.yaml", "folder"),
    ("k8s/loop.yaml", "loop"),
    ("k8s/bomb.yaml", b"a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                      b"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"),
    ("etc/nats/certs/bad.pem", b"-----BEGIN CERTIFICATE-----\nMIIBad==\n-----END CERTIFICATE-----\n"),
    ("etc/nats/certs/pipe.pem", "fifo"),
    ("etc/nats/certs/d.pem", "folder"),
    ("etc/nats/certs/loop.pem", "loop"),
    ("etc/nats/certs/over.pem", OVER_FILE_BYTES),
    ("home/cim/pipe", "fifo"),
    ("home/cim/over.txt", OVER_FILE_BYTES),
    ("etc/nats/trust/bad.creds", b"-----BEGIN NATS USER JWT-----\nnotajwt\n------END NATS USER JWT------\n"),
    ("etc/nats/trust/pipe.creds", "fifo"),
    ("etc/nats/trust/over.jwt", OVER_FILE_BYTES),
    ("etc/nats/nkeys/bad.nk", b"SUXXXX\n"),
    ("secrets/bad.yaml", b"sops:\n  mac: ENC[AES256_GCM,data:xx]\n  version: 3\n  : :\n"),
    ("secrets/pipe.yaml", "fifo"),
    ("secrets/over.yaml", OVER_FILE_BYTES),
    ("secrets/big.yaml", OVER_YAML_BYTES),
    ("k8s/empty.yaml", b""),
    ("k8s/comments.yaml", b"# nothing here\n---\n# nor here\n"),
    ("etc/nats/certs/empty.pem", b""),
    ("etc/nats/trust/empty.creds", b""),
    ("secrets/empty.yaml", b""),
    ("secrets/.sops.yaml", b"creation_rules: []\n"),
    ("etc/ssh/sshd_config.d/00-empty.conf", b""),
    ("etc/ssh/sshd_config.d/01-safer.conf", b"PermitRootLogin no\nPasswordAuthentication no\n"),
)
UNREADABLE = (
    "etc/passwd", "etc/shadow", "etc/group", "etc/login.defs", "etc/ssh/sshd_config",
    "etc/ssh/sshd_config.d/50-maintenance-vpn.conf", "home/cim/.ssh/authorized_keys", "root/.ssh/authorized_keys",
    "proc/net/tcp", "proc/self/mounts", "etc/os-release", "etc/systemd/system/nats.service", "etc/fail2ban/jail.local",
    "etc/nixos/configuration.nix", "var/lib/auditor/recorded/host-commands.json", "recorded/nats-monitoring.json",
    "var/lib/auditor/recorded/tls-endpoints.json", "var/lib/auditor/recorded/yubikeys.json",
    "var/lib/auditor/recorded/vault.json", "etc/auditor/secrets-scan.yaml", ".sops.yaml", "var/lib/sops-nix/key.txt",
    "../pki-ca/log.jsonl", "../pki-ca/ca.json", "../pki-ca/inventory.sqlite", "../pki-ca/certs/root.pem",
    "var/lib/cim/gnupg/pubring.kbx", "var/lib/cim/gnupg/trustdb.gpg", "etc/nats/trust/account.jwt",
    "etc/nats/trust/operator.jwt", "etc/nats/nkeys/cim-sensor.nk", "etc/nats/leaf.creds",
    "etc/nats/certs/server-cert.pem", "etc/nats/certs/server-key.pem", "etc/nats/certs/ca.pem",
    "etc/nats/nats.conf", "etc/nats/users.conf",
)
"""Files a source reads by name: a FIFO or a folder in place of one is a file that cannot be read."""
UNREADABLE_IN_FOLDERS = ("k8s/cim-agent.yaml", "k8s/jetstream-backup.yaml", "k8s/nats-exporter.yaml",
                         "etc/nats/certs/monitor-legacy.pem")
"""Files of folders a source walks, each replaced by a FIFO (a folder there would hold nothing to
read, by right; the secrets scan lists FIFOs as holding nothing at rest, also by right)."""
LINKED = (
    "etc/group", "etc/os-release", "etc/systemd/system/nats.service", "etc/fail2ban/jail.local",
    "home/cim/.ssh/authorized_keys", "root/.ssh/authorized_keys", "etc/ssh/sshd_config.d/50-maintenance-vpn.conf",
    "etc/auditor/secrets-scan.yaml", ".sops.yaml", "etc/nats/trust/account.jwt", "etc/nats/trust/operator.jwt",
    "etc/nats/nkeys/cim-sensor.nk", "etc/nats/certs/server-key.pem", "etc/nats/certs/ca.pem",
    "var/lib/cim/gnupg/pubring.kbx", "var/lib/sops-nix/key.txt",
)
"""Files beside TEXT_FILES that a node may hold as links (NixOS links all of /etc into /nix/store)."""
LINKED_FOLDERS = ("k8s", "etc/nats/certs", "etc/nats/trust", "etc/nats", "secrets", "var/lib/cim/gnupg", "etc/ssh",
                  "home/cim", "var/lib/cim/pki")
"""Folders a node may hold as links (a NixOS /etc/static, a data folder on another volume)."""
RENAMED = ("k8s/nats-exporter.yaml", "etc/nats/certs/monitor-legacy.pem", "secrets/secrets.yaml", "secrets/legacy.env",
           "etc/cim/agent.env", "home/cim/backup/deploy_ed25519", "var/log/cim/agent.log")
"""Files in folders a source walks: renamed, they are still found (their findings' ids move by right)."""
SECRETS_PATHS = "paths: [etc/nats, etc/nixos, etc/cim, k8s, home, var/log, var/lib/sops-nix, secrets]"
KUBERNETES = "      - collector: kubernetes\n        name: node-manifests\n        paths: [k8s]\n"
INVENTORIES: tuple[tuple[str, str, str], ...] = (
    ("certificate folders twice", "paths: [etc/nats/certs, var/lib/cim/pki]",
     "paths: [etc/nats/certs, var/lib/cim/pki, etc/nats/certs, etc/nats]"),
    ("manifests twice", "paths: [k8s]", "paths: [k8s, k8s, k8s/nats-exporter.yaml]"),
    ("secrets folders overlapping", "paths: [etc/nats, etc/nixos,", "paths: [etc/nats, etc, etc/nixos,"),
    ("secrets over the whole node", SECRETS_PATHS, "paths: [.]"),
    ("two kubernetes sources", KUBERNETES, KUBERNETES + KUBERNETES.replace("node-manifests", "more-manifests")),
    ("paths spelled ./ and with a trailing /", "paths: [k8s]", "paths: [./k8s/]"),
    ("certificate folders spelled otherwise", "paths: [etc/nats/certs, var/lib/cim/pki]",
     "paths: [etc/nats/certs/, ./var/lib/cim/pki]"),
    ("secrets folders spelled otherwise", SECRETS_PATHS, SECRETS_PATHS.replace("[etc/nats,", "[./etc/nats/,")),
    ("certificate folders spelled with ..", "paths: [etc/nats/certs, var/lib/cim/pki]",
     "paths: [etc/nats/../nats/certs, var/lib/cim/../cim/pki]"),
    ("manifests spelled with ..", "paths: [k8s]", "paths: [etc/../k8s]"),
    ("secrets folders spelled with ..", SECRETS_PATHS, SECRETS_PATHS.replace("[etc/nats,", "[home/../etc/nats,")),
    ("nats.conf spelled with ..", "paths: [etc/nats/nats.conf]", "paths: [etc/ssh/../nats/nats.conf]"),
)


def cases() -> list[Case]:
    """Every case, named uniquely."""
    out = [Case(f"{rel} {how}", _edit(rel, change)) for rel in TEXT_FILES for how, change in TEXT_CHANGES.items()]
    out += [Case(f"{rel} {how}", _edit(rel, change)) for rel, how, change in SPELLINGS]
    out += [Case(f"added {rel} ({what if isinstance(what, str) else f'{len(what)} bytes'})", _put(rel, what))
            for rel, what in ADDED]
    out += [Case(f"{rel} as a {what}", _put(rel, what)) for rel in UNREADABLE for what in ("fifo", "folder")]
    out += [Case(f"{rel} as a fifo", _put(rel, "fifo")) for rel in UNREADABLE_IN_FOLDERS]
    out += [Case(f"{rel} as {how} link into /nix/store", linked(rel, how == "an absolute"))
            for rel in TEXT_FILES + LINKED + LINKED_FOLDERS for how in ("an absolute", "a relative")]
    out += [Case(f"{rel} renamed with {how}", _renamed(rel, how)) for rel in RENAMED
            for how in ("upper-case suffix", "a space in its name", "a name that is not UTF-8", "a leading dash")]
    out += [Case(f"{rel} rotated and compressed ({how})", _rotated(rel, how))
            for rel in ("var/log/cim/agent.log", "home/cim/.bash_history") for how in ("gz", "xz", "bz2", "zst")]
    out += [Case(f"{rel} kept in a {how} archive", _rotated(rel, how))
            for rel in ("etc/cim/agent.env", "home/cim/.bash_history", "home/cim/backup/deploy_ed25519") for how in ("zip", "7z")]
    out += [Case(f"{rel} kept in Kubernetes ({how})", _in_kubernetes(rel, how))
            for rel in ("etc/cim/agent.env",) for how in ("configmap", "helm release", "helm release in a backup over 8 MiB")]
    out.append(Case("etc/cim/agent.env kept in cloud-init user-data (gz+b64, wrapped)", in_cloud_init("etc/cim/agent.env")))
    out += [Case(f"{rel} packed twice ({how})", _rotated(rel, how))
            for rel in ("var/log/cim/agent.log", "home/cim/.bash_history")
            for how in ("gz in a zip", "gz in a .tar.gz", "zip in a zip", "gz over 8 MiB")]
    out += [Case(f"{rel} saved as {suffix}", _saved_as(rel, suffix))
            for rel in ("etc/nats/certs/monitor-legacy.pem",) for suffix in (".p7b", ".p7c", ".p12")]
    out += [Case(f"{GNUPG_HOME} with {how}", gpg_keyring(how)) for how in KEYRINGS]
    out += [Case(f"{rel} with ignore comments", _edit(rel, ignore_marked)) for rel in MARKED]
    out.append(Case("etc/nats/nats.conf with users.conf inlined", _inline_users))
    out.append(Case("inventory: the root through a link", _root_linked))
    out += [Case(f"inventory: /etc kept by etckeeper, secrets read with its history ({how})", etckeeper(how == "all of /etc"))
            for how in ("all of /etc", "the folders the demo names")]
    out += [Case(f"{rel} in a folder held as a link", in_linked_folder(rel)) for rel in RENAMED]
    out += [Case(f"inventory: {name}", _inventory(old, new)) for name, old, new in INVENTORIES]
    return out


def copy_demo(folder: Path) -> Path:
    """The materialised demo (node and CA) copied into `folder`, with the demo's inventory."""
    from auditor._demo import demo_root

    shutil.copytree(demo_root(), folder, symlinks=True)
    (folder / "auditor.yaml").write_text((resources.files("auditor._demo") / "inventory.yaml").read_text())
    return folder


def scan(auditor: Sequence[str], folder: Path, at: str) -> dict[str, Any]:
    """The findings document of a scan of the copy in `folder`, as of `at`."""
    out = folder / "result.json"
    run = subprocess.run([*auditor, "scan", "--target", NODE, "--inventory", str(folder / "auditor.yaml"),
                          "--format", "json", "-o", str(out), "--no-store", "--at", at],
                         capture_output=True, text=True, cwd=folder, timeout=600, check=False)
    if run.returncode not in (0, 1, 3, 4) or not out.is_file():
        raise RuntimeError(f"exit {run.returncode}: {run.stderr.strip()[-500:]}")
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


@dataclass(frozen=True)
class Outcome:
    name: str
    lost: tuple[str, ...]
    """Rules the demo fails that pass, or of which nothing fails or is undecided."""
    moved: tuple[str, ...]
    """Rules with a failing finding whose id is neither failing nor undecided any more."""


def compare(name: str, base: dict[str, Any], doc: dict[str, Any]) -> Outcome:
    failing = {f["id"]: f["rule_id"] for f in base["findings"] if f["status"] == "fail"}
    status = {f["id"]: f["status"] for f in doc["findings"]}
    passed = {rule for i, rule in failing.items() if status.get(i) == "pass"}
    held = {f["rule_id"] for f in doc["findings"] if f["status"] in ("fail", "waived", *UNDECIDED)}
    lost = passed | (set(failing.values()) - held)
    moved = {rule for i, rule in failing.items() if status.get(i) not in ("fail", "waived", *UNDECIDED)}
    return Outcome(name, tuple(sorted(lost)), tuple(sorted(moved)))


def now() -> str:
    """This moment as `--at` takes it: every scan of one comparison is made as of one moment."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def run(auditor: Sequence[str], chosen: Sequence[Case], *, show: Callable[[str], None] = print) -> list[Outcome]:
    at = now()
    with tempfile.TemporaryDirectory(prefix="auditor-metamorphic-") as tmp:
        base = scan(auditor, copy_demo(Path(tmp) / "demo"), at)
        outcomes = []
        for case in chosen:
            folder = copy_demo(Path(tmp) / "case")
            case.change(folder)
            outcome = compare(case.name, base, scan(auditor, folder, at))
            if outcome.lost:
                show(f"LOSES {', '.join(outcome.lost)}: {case.name}")
            elif outcome.moved:
                show(f"moves ids of {', '.join(outcome.moved)}: {case.name}")
            outcomes.append(outcome)
            shutil.rmtree(folder)
    return outcomes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.metamorphic", description=__doc__.split("\n\n")[0])
    parser.add_argument("--auditor", default=shlex.join([sys.executable, "-m", "auditor"]),
                        help="the auditor command to probe (default: this tree's)")
    parser.add_argument("--only", default="", help="comma-separated: the cases whose names hold one of these")
    args = parser.parse_args(argv)
    wanted = [w for w in args.only.split(",") if w]
    chosen = [c for c in cases() if not wanted or any(w in c.name for w in wanted)]
    outcomes = run(shlex.split(args.auditor), chosen)
    lost = sum(bool(o.lost) for o in outcomes)
    moved = sum(bool(o.moved) for o in outcomes)
    print(f"{len(outcomes)} cases: {lost} lose a rule the demo fails, {moved} move a failing finding's id")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
