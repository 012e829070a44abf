"""Agentless collection over SSH against a real OpenSSH sshd on a loopback port."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from auditor._host.system import CommandUnavailable, HostFileError, HostFiles
from auditor._inventory.model import SshSpec
from auditor._remote.ssh import SshTransport, remote_command
from auditor._remote.sshhost import RemoteFiles, SshRunner
from auditor.errors import CollectionError, ConfigError
from tests.auditor._collectors.test_nats import _BasicAuthGate
from tests.auditor._remote.signing import NodePki
from tests.certs import CertFactory, write
from tests.conftest import run_cli
from tests.servers import Sshd, http_server, ssh_keygen, sshd_server

AUDITOR = str(Path(sys.executable).parent / "auditor")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    with sshd_server(tmp_path_factory.mktemp("sshd")) as server:
        yield server


def _spec(server: Sshd, **changes: object) -> SshSpec:
    values: dict[str, object] = {"host": "127.0.0.1", "port": server.port, "user": server.user,
                                 "identity_file": server.identity, "known_hosts": server.known_hosts}
    values.update(changes)
    return SshSpec(**values)  # type: ignore[arg-type]


def test_commands_run_there_with_every_argument_kept_literal(sshd: Sshd, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    hostile = f"a b; touch {canary} $(touch {canary}) `touch {canary}` '\"*"
    with SshTransport(_spec(sshd)) as ssh:
        runner = SshRunner(ssh)
        echoed = runner.run(["printf", "%s", hostile])
        assert (echoed.returncode, echoed.stdout) == (0, hostile)
        assert runner.run(["sh", "-c", "echo $LC_ALL"]).stdout.strip() == "C"
        assert (runner.which("sh") or "").startswith("/")
        assert runner.which("sshd") == shutil.which("sshd", path="/usr/sbin:/usr/bin")  # sbin is searched too
        assert runner.which("no-such-program-anywhere") is None
        with pytest.raises(CommandUnavailable, match="not installed"):
            runner.run(["no-such-program-anywhere"])
        failed = runner.run(["sh", "-c", "echo oops >&2; exit 7"])
        assert (failed.returncode, failed.stderr.strip(), failed.ok) == (7, "oops", False)
        big = ssh.run_bytes(["head", "-c", "300000", "/dev/zero"], limit=100_000)
        assert (big[0], len(big[1]), big[3]) == (0, 100_000, True)
    assert not canary.exists()
    assert remote_command(["a b"], {"X": "1"}) == "env LC_ALL=C X=1 'a b'"


def test_the_host_key_is_always_verified(sshd: Sshd, tmp_path: Path) -> None:
    impostor = ssh_keygen(tmp_path / "impostor")
    public = impostor.with_suffix(".pub").read_text().split()
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"[127.0.0.1]:{sshd.port} {public[0]} {public[1]}\n")
    with pytest.raises(CollectionError, match="host key is not the one in"), SshTransport(_spec(sshd, known_hosts=wrong)):
        pass
    with pytest.raises(ConfigError, match="host keys are always verified"):
        SshTransport(_spec(sshd, known_hosts=tmp_path / "absent"))
    stranger = ssh_keygen(tmp_path / "stranger")
    with pytest.raises(CollectionError, match="login refused"), SshTransport(_spec(sshd, identity_file=stranger)):
        pass


@pytest.fixture(scope="module")
def remote_tree(tmp_path_factory: pytest.TempPathFactory, certs: CertFactory) -> Path:
    """The evidence of the 'remote' machine: a few certificates, one of them self-signed."""
    root = tmp_path_factory.mktemp("remote-root")
    pki = NodePki.make(certs, root / "pki")
    for i in range(3):
        leaf = certs.issue(f"svc{i}.far.example.com", issuer=pki.inter, dns=(f"svc{i}.far.example.com",))
        write(root / "certs" / f"svc{i}.pem", leaf.pem() + pki.inter.pem())
    write(root / "certs" / "rogue.pem", certs.issue("rogue.far.example.com", dns=("rogue.far.example.com",)).pem())
    (root / "etc" / "ssh").mkdir(parents=True)  # and a recorded host: read over SFTP, under the root
    (root / "etc" / "os-release").write_text('ID=nixos\nNAME=NixOS\nVERSION_ID="23.11"\n')
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnats:x:990:990::/var/lib/nats:/sbin/nologin\n")
    (root / "etc" / "ssh" / "sshd_config").write_text("PasswordAuthentication yes\nPermitRootLogin yes\n")
    return root


def _inventory(folder: Path, root: Path, ssh: dict[str, object] | None) -> Path:
    target: dict[str, object] = {
        "name": "far-node", "environment": "production", "policies": ["cim-production"], "root": str(root),
        "names": ["far.example.com"], "trust_anchors": ["pki/root.pem"],
        "sources": [{"collector": "host", "name": "node-host", "parts": ["os", "sshd", "accounts"]},
                    {"collector": "certificates", "name": "certs", "paths": ["certs"]}],
    }
    if ssh is not None:
        target["ssh"] = ssh
    path = folder / ("remote.yaml" if ssh else "local.yaml")
    path.write_text(yaml.safe_dump({"version": 1, "targets": [target]}))
    return path


def test_scan_collects_over_ssh_and_agrees_with_a_local_scan(sshd: Sshd, remote_tree: Path, tmp_path: Path) -> None:
    remote = _inventory(tmp_path, remote_tree, {
        "destination": sshd.destination, "identity_file": str(sshd.identity),
        "known_hosts": str(sshd.known_hosts), "auditor": AUDITOR,
    })
    over_ssh = run_cli("scan", "--target", "far-node", "--inventory", str(remote), "--format", "json", "--no-store")
    local = run_cli("scan", "--target", "far-node", "--inventory", str(_inventory(tmp_path, remote_tree, None)),
                    "--format", "json", "--no-store")
    assert over_ssh.code == local.code == 1, over_ssh.err  # the self-signed certificate fails CERT-001
    far, near = json.loads(over_ssh.out), json.loads(local.out)
    assert [(f["rule_id"], f["resource"], f["status"]) for f in far["findings"]] == [
        (f["rule_id"], f["resource"], f["status"]) for f in near["findings"]]
    assert any(f["rule_id"] == "CERT-001" and f["status"] == "fail" and "rogue.pem" in f["resource"]
               for f in far["findings"])  # from the remote auditor
    assert any(f["rule_id"] == "HOST-001" and f["status"] == "fail" for f in far["findings"])  # from SFTP
    assert "Accepted publickey" in (sshd.folder / "sshd.log").read_text()


def test_a_missing_remote_auditor_or_a_bad_destination_is_a_clear_error(sshd: Sshd, remote_tree: Path,
                                                                        tmp_path: Path) -> None:
    missing = _inventory(tmp_path, remote_tree, {
        "destination": sshd.destination, "identity_file": str(sshd.identity),
        "known_hosts": str(sshd.known_hosts), "auditor": "/nonexistent/auditor",
    })
    run = run_cli("scan", "--target", "far-node", "--inventory", str(missing), "--no-store")
    # the certificates' source fails (exit 3, INCOMPLETE); the host is read all the same, without auditor there
    assert run.code == 3 and "'/nonexistent/auditor' is not installed there" in run.out, run.out + run.err
    assert "Traceback" not in run.err and "HOST-001" in run.out
    bad = tmp_path / "bad.yaml"
    bad.write_text(missing.read_text().replace(sshd.destination, "root@127.0.0.1:99999"))
    run = run_cli("scan", "--target", "far-node", "--inventory", str(bad), "--no-store")
    assert run.code == 2 and "99999" in run.err, run.err
    relative = tmp_path / "relative.yaml"
    relative.write_text(missing.read_text().replace(str(remote_tree), "some/where"))
    run = run_cli("scan", "--target", "far-node", "--inventory", str(relative), "--no-store")
    assert run.code == 2 and "absolute path" in run.err, run.err


def _outcome(files: HostFiles, path: str, limit: int = 4096) -> tuple[object, ...]:
    try:
        return ("text", files.read_text(path, limit))
    except HostFileError as exc:
        return ("error", exc.missing, exc.reason if "link" in exc.reason or "regular" in exc.reason else "")


def test_remote_files_read_as_host_files_do(sshd: Sshd, tmp_path: Path) -> None:
    """HostFiles (this machine) is the oracle: SFTP reads give the same answers, links resolved
    inside a root, a FIFO refused without blocking, every read bounded."""
    tree = tmp_path / "tree"
    (tree / "etc" / "static").mkdir(parents=True)
    (tree / "etc" / "dir").mkdir()
    (tree / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (tree / "etc" / "static" / "sshd_config").write_text("PasswordAuthentication no\n")
    (tree / "etc" / "ssh").mkdir()
    (tree / "etc" / "ssh" / "sshd_config").symlink_to("/etc/static/sshd_config")  # absolute: inside the root
    (tree / "etc" / "rel").symlink_to("../etc/passwd")
    (tree / "etc" / "escape").symlink_to("/../../../../../etc/hostname")  # .. stops at the root
    (tree / "etc" / "loop").symlink_to("/etc/loop")
    (tree / "etc" / "dangling").symlink_to("/nowhere")
    os.mkfifo(tree / "etc" / "fifo")
    for name in ("a.conf", "b.conf", ".hidden.conf", "c.txt"):
        (tree / "etc" / "dir" / name).write_text(name)
    (tree / "etc" / "big").write_bytes(b"x" * 5000)
    paths = ["/etc/passwd", "/etc/ssh/sshd_config", "/etc/rel", "/etc/escape", "/etc/loop", "/etc/dangling",
             "/etc/fifo", "/etc/dir", "/etc/missing", "/etc/passwd/x", "/etc/big", "relative"]
    with SshTransport(_spec(sshd)) as ssh:
        for root, chosen in ((tree, paths), (Path("/"), ["/etc/passwd", "/etc/os-release", "/etc/nope", "/etc"])):
            local, remote = HostFiles(root), RemoteFiles(ssh, root)
            for path in chosen:
                assert _outcome(remote, path) == _outcome(local, path), path
                assert (remote.exists(path), remote.is_dir(path)) == (local.exists(path), local.is_dir(path)), path
        local, remote = HostFiles(tree), RemoteFiles(ssh, tree)
        assert remote.listdir("/etc/dir") == local.listdir("/etc/dir") == [".hidden.conf", "a.conf", "b.conf", "c.txt"]
        assert remote.listdir("/etc") == local.listdir("/etc") and remote.listdir("/etc/missing") == []
        assert remote.glob("/etc/dir/*.conf") == local.glob("/etc/dir/*.conf") == ["/etc/dir/a.conf", "/etc/dir/b.conf"]
        assert remote.read_text("/etc/ssh/sshd_config") == "PasswordAuthentication no\n"
        assert _outcome(remote, "/etc/big", 100) == _outcome(local, "/etc/big", 100) == ("error", False, "")
        assert RemoteFiles(ssh, Path("/")).read_text("/proc/net/tcp").startswith("  sl  local_address")
    assert "Starting session: subsystem 'sftp'" in (sshd.folder / "sshd.log").read_text()


STABLE_KINDS = ("host.os", "host.sshd", "host.account", "host.authorized-key", "host.mac", "host.volume",
                "host.fail2ban", "host.firewall", "host.unit", "host.nixos")
"""What does not change between two collections a second apart (listening sockets may: the
machine is shared)."""


def test_host_evidence_over_ssh_is_this_machines(sshd: Sshd, tmp_path: Path) -> None:
    """The host collector through the SSH seam (files over SFTP, commands over SSH, no auditor
    there) gives the evidence the local collector gives of the same machine."""
    source = {"collector": "host", "name": "node-host"}
    targets = [
        {"name": "here", "environment": "production", "policies": ["cim-production"], "root": "/", "sources": [source]},
        {"name": "there", "environment": "production", "policies": ["cim-production"], "sources": [source],
         "ssh": {"destination": sshd.destination, "identity_file": str(sshd.identity),
                 "known_hosts": str(sshd.known_hosts), "auditor": "/nonexistent/auditor"}},
    ]
    inventory = tmp_path / "auditor.yaml"
    inventory.write_text(yaml.safe_dump({"version": 1, "targets": targets}))
    log_before = (sshd.folder / "sshd.log").read_text().count("Starting session: command")
    records = {}
    for name in ("here", "there"):
        out = tmp_path / f"{name}.json"
        run = run_cli("collect", "--target", name, "--inventory", str(inventory), "--output", str(out))
        assert run.code == 0, run.err
        records[name] = json.loads(out.read_text())["records"]

    def stable(found: list[dict[str, object]]) -> list[dict[str, object]]:
        return [{k: v for k, v in r.items() if k not in ("collected_at", "id")} for r in found if r["kind"] in STABLE_KINDS]

    assert stable(records["there"]) == stable(records["here"])
    kinds = {r["kind"] for r in records["there"]}
    assert {"host.os", "host.sshd", "host.account"} <= kinds
    assert not any("error" in r for r in records["there"]), [r for r in records["there"] if "error" in r]
    sshd_record = next(r for r in records["there"] if r["kind"] == "host.sshd")
    assert sshd_record["data"]["source"] == ("sshd -T" if os.geteuid() == 0 else "sshd_config")  # ran there (root reads host keys)
    assert any(r["kind"] == "host.listener" and r["data"]["port"] == sshd.port for r in records["there"])
    log = (sshd.folder / "sshd.log").read_text()
    assert log.count("Starting session: command") > log_before and "Starting session: subsystem 'sftp'" in log


def _ssh_settings(server: Sshd, auditor: str = AUDITOR) -> dict[str, object]:
    return {"destination": server.destination, "identity_file": str(server.identity),
            "known_hosts": str(server.known_hosts), "auditor": auditor}


@pytest.fixture
def gate() -> Iterator[str]:
    """A basic-auth gate in front of a NATS monitoring endpoint (tests.auditor._collectors.test_nats): its URL."""
    _BasicAuthGate.seen = []
    with http_server(_BasicAuthGate) as port:
        yield f"127.0.0.1:{port}"


PLANTED = "planted-pw-2112"


def test_url_user_info_reaches_the_remote_collector_and_is_never_shown(sshd: Sshd, gate: str, tmp_path: Path) -> None:
    """The inventory's `http://user:pw@...`: the remote auditor authenticates with it (it travels
    inside the SSH channel, on stdin), and neither the output, the bundle nor an error shows it,
    not even a remote auditor that fails quoting what it was sent."""
    source = {"collector": "nats-monitoring", "name": "mon", "url": f"http://mon-user:{PLANTED}@{gate}",
              "endpoints": ["varz"]}
    echoing = tmp_path / "echoing-auditor"
    echoing.write_text("#!/bin/sh\ncat >&2\nexit 1\n")  # a broken remote auditor: prints its stdin, fails
    echoing.chmod(0o755)
    targets = [{"name": name, "environment": "test", "policies": ["cim-production"], "sources": [source],
                "ssh": _ssh_settings(sshd, auditor)} for name, auditor in (("far", AUDITOR), ("broken", str(echoing)))]
    inventory = tmp_path / "auditor.yaml"
    inventory.write_text(yaml.safe_dump({"version": 1, "targets": targets}))
    out = tmp_path / "bundle.json"
    run = run_cli("collect", "--target", "far", "--inventory", str(inventory), "--output", str(out))
    assert run.code == 0, run.err
    (record,) = json.loads(out.read_text())["records"]
    assert record["data"]["response"]["server_id"] == "NXYZ"  # the gate let the remote collector in
    assert record["resource"] == f"http://{gate}/varz"
    broken = run_cli("scan", "--target", "broken", "--inventory", str(inventory), "--no-store")
    assert broken.code == 3 and "auditor collect exited 1" in broken.out, broken.out + broken.err
    assert "mon-user@" not in broken.out and "http://" in broken.out  # the quoted definition, without user-info
    for text in (run.out, run.err, out.read_text(), broken.out, broken.err, (sshd.folder / "sshd.log").read_text()):
        assert PLANTED not in text and "mon-user" not in text


def test_without_sftp_the_host_sources_fail_and_the_others_are_read(
        tmp_path_factory: pytest.TempPathFactory, remote_tree: Path, tmp_path: Path) -> None:
    with sshd_server(tmp_path_factory.mktemp("sshd-no-sftp"), sftp=False) as server:
        with SshTransport(_spec(server)) as ssh, pytest.raises(CollectionError, match="no SFTP subsystem"):
            RemoteFiles(ssh, Path("/"))
        inventory = _inventory(tmp_path, remote_tree, _ssh_settings(server))
        run = run_cli("scan", "--target", "far-node", "--inventory", str(inventory), "--format", "json", "--no-store")
    assert run.code == 3, run.err  # INCOMPLETE: the host could not be read
    found = json.loads(run.out)
    assert any(f["rule_id"] == "CERT-001" and f["status"] == "fail" for f in found["findings"])  # the remote auditor's
    assert not any(f["rule_id"] == "HOST-001" and f["status"] in ("pass", "fail") for f in found["findings"])
    assert "no SFTP subsystem" in run.out


def test_a_one_shot_scan_collects_the_cycles_each_ssh_request_leaves(sshd: Sshd, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`scan` of one target runs with the collector off (auditor._gcpause.one_shot), but every
    command and SFTP request over SSH leaves reference cycles (asyncssh's channel and readers, a
    failed request's traceback: tens of objects, kilobytes, each), and a host is read account by
    account: the collector is on while the target is collected over SSH, and off again after."""
    import gc

    from auditor._inventory.load import load_inventory
    from auditor._remote import ssh as ssh_module
    from auditor._scan import collect

    source = {"collector": "host", "name": "node-host"}
    targets = [{"name": "there", "environment": "production", "policies": ["cim-production"], "sources": [source],
                "ssh": _ssh_settings(sshd, "/nonexistent/auditor")}]
    inventory = tmp_path / "auditor.yaml"
    inventory.write_text(yaml.safe_dump({"version": 1, "targets": targets}))
    target = load_inventory(inventory).target("there")
    seen: list[bool] = []
    call = ssh_module.SshTransport.call

    def watched(self: SshTransport, *args: object, **kwargs: object) -> object:
        seen.append(gc.isenabled())
        return call(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ssh_module.SshTransport, "call", watched)
    was = gc.isenabled()
    gc.disable()
    try:
        bundle = collect(target)
        assert not gc.isenabled()  # off again, as the one-shot scan had it
    finally:
        if was:
            gc.enable()
    assert bundle.records and len(seen) > 10
    assert all(seen)
