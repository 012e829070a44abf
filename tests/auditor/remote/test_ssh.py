"""Agentless collection over SSH against a real OpenSSH sshd on a loopback port."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from auditor.errors import CollectionError, ConfigError
from auditor.inventory.model import SshSpec
from auditor.remote.ssh import SshTransport, remote_command
from tests.auditor.remote.signing import NodePki
from tests.certs import CertFactory, write
from tests.conftest import run_cli
from tests.servers import Sshd, ssh_keygen, sshd_server

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
        echoed = ssh.run(["printf", "%s", hostile])
        assert (echoed.returncode, echoed.stdout) == (0, hostile)
        assert ssh.run(["sh", "-c", "echo $LC_ALL"]).stdout.strip() == "C"
        assert (ssh.which("sh") or "").startswith("/")
        assert ssh.which("no-such-program-anywhere") is None
        failed = ssh.run(["sh", "-c", "echo oops >&2; exit 7"])
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
    return root


def _inventory(folder: Path, root: Path, ssh: dict[str, object] | None) -> Path:
    target: dict[str, object] = {
        "name": "far-node", "environment": "production", "policies": ["cim-production"], "root": str(root),
        "names": ["far.example.com"], "trust_anchors": ["pki/root.pem"],
        "sources": [{"collector": "certificates", "name": "certs", "paths": ["certs"]}],
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
               for f in far["findings"])
    assert "Accepted publickey" in (sshd.folder / "sshd.log").read_text()


def test_a_missing_remote_auditor_or_a_bad_destination_is_a_clear_error(sshd: Sshd, remote_tree: Path,
                                                                        tmp_path: Path) -> None:
    missing = _inventory(tmp_path, remote_tree, {
        "destination": sshd.destination, "identity_file": str(sshd.identity),
        "known_hosts": str(sshd.known_hosts), "auditor": "/nonexistent/auditor",
    })
    run = run_cli("scan", "--target", "far-node", "--inventory", str(missing), "--no-store")
    assert run.code == 3 and "'/nonexistent/auditor' is not installed there" in run.err, run.err
    assert "Traceback" not in run.err
    bad = tmp_path / "bad.yaml"
    bad.write_text(missing.read_text().replace(sshd.destination, "root@127.0.0.1:99999"))
    run = run_cli("scan", "--target", "far-node", "--inventory", str(bad), "--no-store")
    assert run.code == 2 and "99999" in run.err, run.err
    relative = tmp_path / "relative.yaml"
    relative.write_text(missing.read_text().replace(str(remote_tree), "some/where"))
    run = run_cli("scan", "--target", "far-node", "--inventory", str(relative), "--no-store")
    assert run.code == 2 and "absolute path" in run.err, run.err
