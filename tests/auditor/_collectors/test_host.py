"""The host collector: this machine's own host (root /), the demo's recorded tree, and sources
that cannot be read."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._demo import demo_root
from auditor._inventory.load import load_inventory
from auditor._models import Status
from auditor._scan import scan_target
from auditor.evidence.record import Evidence, Failure
from tests.collecting import collect_source, failure_of

INVENTORY = """
version: 1
targets:
  - name: this-machine
    environment: test
    policies: [cim-production]
    root: /
    sources:
      - collector: host
        name: this-host
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="the active firewall ruleset (nft list ruleset) is readable by root only")
def test_scan_of_this_machine_has_no_error_findings(tmp_path: Path) -> None:
    """The live host as it is here: whatever fails, nothing is an error (what exists is read)."""
    (tmp_path / "auditor.yaml").write_text(INVENTORY)
    target = load_inventory(tmp_path / "auditor.yaml").target("this-machine")
    bundle, result = scan_target(target)
    host = [f for f in result.findings if f.rule_id.startswith("HOST-")]
    assert result.collection_errors == ()
    errors = [(f.rule_id, f.resource, f.message) for f in host if f.status is Status.ERROR]
    assert errors == []
    evaluated = {f.rule_id for f in host if f.status in (Status.PASS, Status.FAIL)}
    assert {"HOST-015", "HOST-016", "HOST-019", "HOST-021", "HOST-027", "HOST-028"} <= evaluated
    kinds = {r.kind for r in bundle.records}
    assert {"host.os", "host.sshd", "host.firewall", "host.mac", "host.account", "host.fail2ban"} <= kinds


def test_demo_tree_with_recorded_commands() -> None:
    root = demo_root() / "cim-prod-001"
    records = collect_source("host", root, {"recorded_commands": "var/lib/auditor/recorded/host-commands.json"})
    assert [r for r in records if isinstance(r, Failure)] == []
    by = {(r.kind, r.resource): r.plain for r in records if isinstance(r, Evidence)}
    sshd = by[("host.sshd", "etc/ssh/sshd_config")]
    assert sshd["source"] == "sshd_config" and sshd["valid"]
    assert sshd["config_files"] == ["/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d/50-maintenance-vpn.conf"]
    assert "ssh-rsa" in sshd["algorithms"]["user_keys"]
    fw = by[("host.firewall", "firewall")]
    assert fw["default_verdict"] == {"ipv4": "drop", "ipv6": "drop"}
    verdicts = {res: data["firewall"] for (kind, res), data in by.items() if kind == "host.listener"}
    assert verdicts == {"tcp/0.0.0.0:22": "accept", "tcp/0.0.0.0:4222": "accept", "tcp/0.0.0.0:6222": "drop",
                        "tcp/0.0.0.0:8222": "accept", "tcp/0.0.0.0:9100": "accept", "tcp/127.0.0.1:8080": "drop",
                        "tcp/[::]:22": "accept"}
    units = {res: data["exposure"] for (kind, res), data in by.items() if kind == "host.unit"}
    assert units == {"cim-agent.service": 9.0, "nats.service": 1.4}
    drift = {res.split(" ", 1)[1]: data["in_sync"] for (kind, res), data in by.items() if kind == "host.nixos-drift"}
    assert [k for k, ok in drift.items() if not ok] == ["networking.firewall.allowedTCPPorts"]
    assert len(drift) >= 8


@pytest.mark.parametrize("made", ["fifo", "folder"])
def test_a_socket_table_that_exists_and_cannot_be_read_leaves_the_listeners_undecided(
        tmp_path: Path, made: str) -> None:
    """The demo with /proc/net/tcp made unreadable: the IPv6 listener is still read, and beside
    it an error (was: the IPv4 listeners failing HOST-017 were simply absent, and the declared
    firewall ports compared with the IPv6 ones alone were in sync): no listener's failure and no
    port drift hides behind a table left unread."""
    import shutil

    root = tmp_path / "node"
    shutil.copytree(demo_root() / "cim-prod-001", root, symlinks=True)
    table = root / "proc/net/tcp"
    table.unlink()
    os.mkfifo(table) if made == "fifo" else table.mkdir()
    records = collect_source("host", root, {"recorded_commands": "var/lib/auditor/recorded/host-commands.json"})
    errors = {(r.kind, r.resource): r.error for r in records if isinstance(r, Failure)}
    why = "is not a regular file" if made == "fifo" else "is a folder"
    assert errors == {
        ("host.listener", "/proc/net"): f"cannot read the listening sockets: /proc/net/tcp: {why}",
        ("host.nixos-drift", "etc/nixos/configuration.nix networking.firewall.allowedTCPPorts"):
            "not compared: the listening sockets could not all be read (see /proc/net)",
    }
    listeners = {r.resource for r in records if isinstance(r, Evidence) and r.kind == "host.listener"}
    assert listeners == {"tcp/[::]:22"}
    table.unlink() if made == "fifo" else table.rmdir()  # a kernel without the table: nothing is said of it
    records = collect_source("host", root, {"recorded_commands": "var/lib/auditor/recorded/host-commands.json"})
    assert [r for r in records if isinstance(r, Failure)] == []
    shutil.rmtree(root / "proc/net")  # no table at all: nothing of what listens is known
    records = collect_source("host", root, {"recorded_commands": "var/lib/auditor/recorded/host-commands.json"})
    errors = {(r.kind, r.resource): r.error for r in records if isinstance(r, Failure)}
    assert set(errors) == {("host.listener", "/proc/net"),
                           ("host.nixos-drift", "etc/nixos/configuration.nix networking.firewall.allowedTCPPorts")}


def test_a_unit_with_a_drop_in_that_cannot_be_read_is_not_judged_on_the_rest(tmp_path: Path) -> None:
    """A drop-in may set User=root or NoNewPrivileges=no: unread, the unit is an error (was: the
    unit was judged on its main file alone)."""
    import shutil

    root = tmp_path / "node"
    shutil.copytree(demo_root() / "cim-prod-001", root, symlinks=True)
    (root / "etc/systemd/system/nats.service.d").mkdir()
    os.mkfifo(root / "etc/systemd/system/nats.service.d/override.conf")
    records = collect_source("host", root, {"recorded_commands": "var/lib/auditor/recorded/host-commands.json",
                                            "parts": ["units"]})
    errors = {r.resource: r.error for r in records if isinstance(r, Failure)}
    assert errors == {"etc/systemd/system/nats.service": "cannot read the unit: its drop-in "
                      "/etc/systemd/system/nats.service.d/override.conf: is not a regular file"}
    assert {r.resource for r in records if isinstance(r, Evidence)} == {"cim-agent.service"}


def test_recorded_tree_without_commands(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (tmp_path / "etc/os-release").write_text("ID=nixos\nVERSION_ID=24.05\n")
    records = collect_source("host", tmp_path, {})
    errors = {r.kind: r.error for r in records if isinstance(r, Failure)}
    assert errors["host.firewall"] == "cannot read the active ruleset: neither nft nor iptables-save can run on this host"
    assert "host.listener" in errors and "host.volume" in errors
    sshd = next(r.plain for r in records if isinstance(r, Evidence) and r.kind == "host.sshd")
    assert sshd["installed"] is False


@pytest.mark.parametrize(("content", "why"), [
    (None, "no such recording of commands"),
    ("{", "unreadable recording of commands"),
    ('{"commands": 3}', "no 'commands' list"),
])
def test_bad_recording(tmp_path: Path, content: str | None, why: str) -> None:
    if content is not None:
        (tmp_path / "rec.json").write_text(content)
    (record,) = collect_source("host", tmp_path, {"recorded_commands": "rec.json"})
    assert why in failure_of(record).error


def test_recorded_nix_failure_is_an_error_record(tmp_path: Path) -> None:
    (tmp_path / "etc/nixos").mkdir(parents=True)
    (tmp_path / "etc/nixos/configuration.nix").write_text("{ ... }: { }\n")
    from auditor._host.nixos import command
    from auditor._host.system import recorded_arg

    argv = command()
    key = [argv[0], *(recorded_arg(argv[i - 1], a) for i, a in enumerate(argv) if i)]
    (tmp_path / "rec.json").write_text(json.dumps({"commands": [{"argv": key, "returncode": 1, "stdout": "",
                                                                 "stderr": "error: syntax error, unexpected '}'"}]}))
    records = collect_source("host", tmp_path, {"recorded_commands": "rec.json", "parts": ["nixos"]})
    (record,) = records
    assert record.kind == "host.nixos" and "syntax error" in failure_of(record).error


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["passwordauthentication", "port", "ciphers", "allowusers", "authenticationmethods",
                                           "macs", "usepam", "frobnicate", ""]),
                          st.text(alphabet="abc,-@ 1:", max_size=20)), max_size=10))
def test_any_sshd_t_output_makes_valid_evidence(lines: list[tuple[str, str]]) -> None:
    from auditor._collectors.host import sshd_facts
    from auditor._host.facts import Sshd
    from auditor._host.sshd import parse_sshd_t
    from auditor.evidence.contract import plain
    from auditor.evidence.kinds import data_errors

    data = plain(sshd_facts(Sshd(True, "sshd -T", parse_sshd_t("\n".join(f"{k} {v}" for k, v in lines)), None)))
    assert data_errors("host.sshd", data) == []
    assert data["effective"]["port"] == [v.rstrip() for k, v in lines if k == "port"]


def test_the_evidence_types_hold_every_modelled_setting() -> None:
    """The host.sshd types name exactly the settings auditor._host.sshd computes (and a Match block
    may set), and host.nixos the sections the evaluation returns: a setting added to the model
    must be added to the contract (with its description), not dropped by the collector."""
    from auditor._collectors.host import MATCHABLE
    from auditor._host.nixos import SECTIONS
    from auditor._host.sshd import MODELLED
    from auditor.evidence.kinds import host as ev

    effective, match = ev.SshdSettings.__struct_fields__, ev.SshdMatchSettings.__struct_fields__
    assert sorted(effective) == sorted(MODELLED) and len(effective) == len(MODELLED)
    assert sorted(match) == sorted(MATCHABLE) and len(match) == len(MATCHABLE)
    assert ev.NixosDeclared.__struct_fields__ == SECTIONS


def test_every_host_field_is_described() -> None:
    """The evidence reference is generated from the types: every host field says what it means."""
    from auditor.evidence._schema import fields
    from auditor.evidence.kinds import KINDS

    kinds = [k for k in KINDS if k.startswith("host.")]
    assert len(kinds) == 12 and all(KINDS[k].__doc__ for k in kinds)
    assert [(k, f.path) for k in kinds for f in fields(k) if not f.description] == []
