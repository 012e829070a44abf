"""The cases issue 15 measured, end to end through `auditor` as a user runs it: a new leak is a new
finding that no earlier waiver covers and that drift and regression events report; a verdict never
improves by adding input; nothing judged is INCOMPLETE, never READY; a live credential blocks
staging too; `secrets scan` and SEC-003 judge key files alike. And what a metamorphic probe of
the demo found (one file of the node changed at a time, its findings compared): a finding keeps
its id when lines are added above it or a copy of its object is added after it, and a sops file
that sops would refuse hides no plaintext value."""

from __future__ import annotations

import json
import random
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from auditor._history.diff import diff_results
from auditor._models import Severity
from auditor._resultfile import read_result
from auditor._schedule.notify import regression_event
from tests import metamorphic
from tests.auditor._secrets.test_run import _commit, git
from tests.certs import FILES_PACK
from tests.conftest import run_cli
from tests.secrets_corpus import nkey_seed, private_key_pem


def inventory(folder: Path, sources: str, *, environment: str = "production", policies: str = "cim-production",
              policy_paths: str = "") -> None:
    (folder / "auditor.yaml").write_text(
        f"version: 1\n{policy_paths}targets:\n  - name: n\n    environment: {environment}\n"
        f"    policies: [{policies}]\n    sources:\n{sources}"
    )


def scan(folder: Path, *args: str) -> tuple[int, dict[str, Any]]:
    out = folder / "result.json"
    run = run_cli("scan", "--target", "n", "--format", "json", "-o", str(out), *args, cwd=folder)
    assert run.code in (0, 1, 4), run.err
    doc: dict[str, Any] = json.loads(out.read_text())
    return run.code, doc


def failing(doc: dict[str, Any], rule: str) -> dict[str, str]:
    return {f["resource"]: f["id"] for f in doc["findings"] if f["rule_id"] == rule and f["status"] == "fail"}


WAIVER = """id: n-waivers
title: Accepted exceptions
waivers:
  - {what}
    reason: the deploy notes are being rewritten (CHG-1)
    approver: Security Lead
    expires: "2099-01-01"
"""


def test_a_new_leak_is_a_new_failure_no_earlier_waiver_covers(tmp_path: Path) -> None:
    rng = random.Random(15)
    (tmp_path / "home/ops").mkdir(parents=True)
    (tmp_path / "home/ops/deploy-notes.txt").write_text(f"export NKEY_SEED={nkey_seed(rng)}\n")
    (tmp_path / "policies").mkdir()
    inventory(tmp_path, "      - {collector: secrets, paths: [home]}\n",
              policies="cim-production, n-waivers", policy_paths="policy_paths: [policies]\n")
    # a waiver by id, as `auditor scan` printed it
    (tmp_path / "policies/waivers.yaml").write_text(WAIVER.format(what="findings: [SEC-001:0000000000000000]"))
    code, first = scan(tmp_path)
    (resource, seed_id), = failing(first, "SEC-001").items()
    assert resource.startswith("home/ops/deploy-notes.txt:1:") and code == 1
    (tmp_path / "policies/waivers.yaml").write_text(WAIVER.format(what=f"findings: [{seed_id}]"))
    code, waived = scan(tmp_path)
    assert failing(waived, "SEC-001") == {}
    before = read_result(tmp_path / "result.json").result

    (tmp_path / "home/ops2").mkdir()
    (tmp_path / "home/ops2/notes.txt").write_text(f"seed: {nkey_seed(rng)}\n")
    code, planted = scan(tmp_path)
    new = failing(planted, "SEC-001")
    assert list(new) == [next(iter(new))] and next(iter(new)).startswith("home/ops2/notes.txt:1:")
    assert code == 1 and "NOT READY" in planted["verdict"]["headline"]
    assert any(f["id"] == seed_id and f["status"] == "waived" for f in planted["findings"])

    # drift: the new instance is a new failure (it was listed only as changed evidence of `home`)
    diff = run_cli("diff", "--target", "n", "--format", "json", cwd=tmp_path)
    assert diff.code == 0, diff.err
    doc = json.loads(diff.out)
    assert {c["id"] for c in doc["new_failures"] if c["rule_id"] == "SEC-001"} == set(new.values())
    # ... and a regression event, whatever the threshold: a parsed nkey seed is a live credential
    after = read_result(tmp_path / "result.json").result
    event = regression_event(diff_results(before, after), Severity.CRITICAL, scan_id=None)
    sent = {(f["rule_id"], f["id"]) for f in event["new_failures"]}
    assert ("SEC-001", next(iter(new.values()))) in sent and all(f["always_blocks"] for f in event["new_failures"]
                                                                  if f["rule_id"] == "SEC-001")

    # a pattern waiver states how many instances it covers: one more fails and it covers none
    (tmp_path / "policies/waivers.yaml").write_text(
        WAIVER.format(what='rule: SEC-001\n    resource: "home/*"\n    instances: 1'))
    code, exceeded = scan(tmp_path)
    assert len(failing(exceeded, "SEC-001")) == 2 and len(exceeded["exceeded_waivers"]) == 1
    (tmp_path / "policies/waivers.yaml").write_text(
        WAIVER.format(what='rule: SEC-001\n    resource: "home/*"\n    instances: 2'))
    code, covered = scan(tmp_path)
    assert failing(covered, "SEC-001") == {} and covered["exceeded_waivers"] == []


def test_a_leak_in_history_keeps_its_id_as_its_file_is_edited(tmp_path: Path) -> None:
    """A secret a file keeps through its later versions is one finding of the history, at the
    commit that added it: each edit of the file used to make a new blob and so a new finding (a
    new id: file, commit, fingerprint) that no waiver covered and that drift reported as new."""
    rng = random.Random(23)
    etc = tmp_path / "etc"
    etc.mkdir()
    git(etc, "init", "-q", "-b", "main")
    (etc / "deploy.env").write_text(f"LOG=info\nexport NKEY_SEED={nkey_seed(rng)}\n")
    _commit(etc, "deploy settings")
    (tmp_path / "policies").mkdir()
    inventory(tmp_path, "      - collector: secrets\n        paths: [etc]\n        git: true\n",
              policies="cim-production, n-waivers", policy_paths="policy_paths: [policies]\n")
    (tmp_path / "policies/waivers.yaml").write_text(WAIVER.format(what="findings: [SEC-001:0000000000000000]"))
    _, first = scan(tmp_path)
    ids = failing(first, "SEC-001")
    assert len(ids) == 2  # the working tree's file and the commit that added it
    (tmp_path / "policies/waivers.yaml").write_text(WAIVER.format(what=f"findings: [{', '.join(ids.values())}]"))
    _, waived = scan(tmp_path)
    assert failing(waived, "SEC-001") == {}
    for level in ("debug", "warn"):  # edits of another line: new versions of the file, the seed in each
        text = (etc / "deploy.env").read_text().splitlines(keepends=True)
        (etc / "deploy.env").write_text(f"LOG={level}\n" + "".join(text[1:]))
        _commit(etc, f"log level {level}")
    code, edited = scan(tmp_path)
    assert failing(edited, "SEC-001") == {} and code != 1
    assert sorted(f["id"] for f in edited["findings"] if f["rule_id"] == "SEC-001" and f["status"] == "waived") \
        == sorted(ids.values())
    diff = run_cli("diff", "--target", "n", "--format", "json", cwd=tmp_path)
    assert diff.code == 0, diff.err
    assert [c for c in json.loads(diff.out)["new_failures"] if c["rule_id"] == "SEC-001"] == []


def test_a_live_credential_blocks_staging(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "home/aws.txt").write_text(
        "aws_access_key_id = AKIAQ2KX3TJ5VNLPM7RD\naws_secret_access_key = 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\n")
    inventory(tmp_path, "      - {collector: secrets, paths: [home]}\n", environment="staging", policies="cim-staging")
    run = run_cli("scan", "--target", "n", cwd=tmp_path)
    assert run.code == 1, run.out  # cim-staging fails on critical only; a live credential blocks anyway
    assert "Verdict: NOT READY for staging" in run.out and "production" not in run.out
    assert "live credential" in run.out
    md = run_cli("scan", "--target", "n", "--format", "md", cwd=tmp_path)
    assert "Not ready for staging under cim-staging" in md.out and "yes (live credential)" in md.out


@pytest.mark.parametrize("text", ["", "null\n", "---\n"], ids=["empty", "null", "no-document"])
def test_nothing_to_judge_is_incomplete_never_ready(tmp_path: Path, text: str) -> None:
    (tmp_path / "m.yaml").write_text(text)
    run = run_cli("scan", "--path", "m.yaml", "--policy", "pss-restricted", cwd=tmp_path)
    assert run.code == 4, run.out  # was: READY, exit 0
    assert "Verdict: INCOMPLETE" in run.out and "no kubernetes.manifest" in run.out


def test_an_empty_bundle_is_incomplete(tmp_path: Path) -> None:
    inventory(tmp_path, "      - {collector: certificates, paths: [nothing-here], required: false}\n")
    bundle = tmp_path / "bundle.json"
    assert run_cli("collect", "--target", "n", "-o", str(bundle), cwd=tmp_path).code == 0
    records = json.loads(bundle.read_text())["records"]
    assert [r.get("error") for r in records] == ["no such file or folder"]  # no evidence at all
    run = run_cli("evaluate", str(bundle), "--format", "json", cwd=tmp_path)
    assert run.code == 4, run.err
    verdict = json.loads(run.out)["verdict"]
    assert verdict["readiness"] == "incomplete" and verdict["problems"] == 0


def test_a_larger_input_never_improves_the_verdict(tmp_path: Path) -> None:
    """A certificate with 10,000 SANs exhausts CERT-008's evaluation budget: an error on that
    record (INCOMPLETE), where it made the rule `error` and the scan READY."""
    from tests.certs import CertFactory, write

    factory = CertFactory()
    root, inter = factory.chain()
    good = factory.issue("n.example.com", issuer=inter, dns=("n.example.com",), eku=("server",), days=60)
    write(tmp_path / "certs/node.pem", good.pem() + inter.pem())
    write(tmp_path / "root.pem", root.pem())
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies/files.yaml").write_text(FILES_PACK)
    (tmp_path / "auditor.yaml").write_text(
        "version: 1\npolicy_paths: [policies]\ntargets:\n  - name: n\n    environment: production\n"
        "    policies: [cert-files]\n    names: [n.example.com]\n    trust_anchors: [root.pem]\n"
        "    sources:\n      - {collector: certificates, paths: [certs]}\n")
    code, small = scan(tmp_path)
    assert code == 0 and small["verdict"]["readiness"] == "ready", small["verdict"]
    sans = tuple(f"h{i}.example.com" for i in range(10_000))
    big = factory.issue("big.example.com", issuer=inter, dns=sans, eku=("server",), days=60)
    write(tmp_path / "certs/big.pem", big.pem() + inter.pem())
    code, large = scan(tmp_path)
    assert code != 0 and large["verdict"]["readiness"] != "ready", large["verdict"]
    assert sum(f["status"] == "fail" for f in large["findings"]) >= sum(f["status"] == "fail" for f in small["findings"])
    judged = {(f["rule_id"], f["status"]) for f in large["findings"] if "big.pem" in f["resource"]}
    assert ("CERT-008", "pass") not in judged


def test_secrets_scan_and_sec_003_judge_key_files_alike(tmp_path: Path) -> None:
    rng = random.Random(3)
    keys = tmp_path / "keys"
    keys.mkdir()
    for name, mode in (("private.pem", 0o600), ("shared.pem", 0o644)):
        (keys / name).write_text(private_key_pem(rng))
        (keys / name).chmod(mode)
    scanned = run_cli("secrets", "scan", str(keys), "--format", "json", cwd=tmp_path)
    assert scanned.code == 1, scanned.err  # the 0644 key
    protected = {Path(f["file"]).name: f["protected"] for f in json.loads(scanned.out)["findings"]}
    assert protected == {"private.pem": True, "shared.pem": False}
    alone = run_cli("secrets", "scan", str(keys / "private.pem"), cwd=tmp_path)
    assert alone.code == 0 and "[protected key file]" in alone.out, alone.out  # was: `private-key [high]`, exit 1
    inventory(tmp_path, "      - {collector: secrets, paths: [keys]}\n")
    _, doc = scan(tmp_path)
    sec003 = {f["resource"].split(":")[0]: f["status"] for f in doc["findings"] if f["rule_id"] == "SEC-003"}
    assert sec003.get("keys/shared.pem") == "fail" and sec003.get("keys/private.pem", "pass") == "pass"


def test_a_leak_keeps_its_id_when_lines_are_added_above_it(tmp_path: Path) -> None:
    """A leaked secret is one problem in its file wherever its line moves: the same id (so its
    waiver still holds and a diff shows nothing fixed), the new line in its resource."""
    (tmp_path / "home").mkdir()
    notes = tmp_path / "home/deploy-notes.txt"
    notes.write_text(f"export NKEY_SEED={nkey_seed(random.Random(7))}\n")
    inventory(tmp_path, "      - {collector: secrets, paths: [home]}\n")
    _, before = scan(tmp_path)
    assert list(failing(before, "SEC-001")) == ["home/deploy-notes.txt:1:18"]
    first = read_result(tmp_path / "result.json").result
    notes.write_text("# rotated on Monday\n# see CHG-2\n" + notes.read_text())
    _, after = scan(tmp_path)
    assert list(failing(after, "SEC-001")) == ["home/deploy-notes.txt:3:18"]
    assert list(failing(after, "SEC-001").values()) == list(failing(before, "SEC-001").values())  # was: another id
    diff = diff_results(first, read_result(tmp_path / "result.json").result)
    assert (diff.new_failures, diff.fixed) == ((), ())


DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: exporter, namespace: prod}
spec:
  selector: {matchLabels: {app: exporter}}
  template:
    metadata: {labels: {app: exporter}}
    spec:
      containers:
        - name: exporter
          image: registry.example.com/exporter:1.0
          securityContext: {privileged: true}
"""


def test_a_copy_of_an_object_added_after_it_leaves_its_findings_ids(tmp_path: Path) -> None:
    """The same object twice (a manifest appended to itself): the first keeps its findings' ids,
    the copy's are new ones (was: both renamed, so every finding there looked fixed and new)."""
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s/exporter.yaml").write_text(DEPLOYMENT)
    inventory(tmp_path, "      - {collector: kubernetes, paths: [k8s]}\n", policies="pss-restricted")
    _, before = scan(tmp_path)
    first = {f["id"] for f in before["findings"] if f["status"] == "fail"}
    assert first
    (tmp_path / "k8s/exporter.yaml").write_text(DEPLOYMENT + "---\n" + DEPLOYMENT)
    _, after = scan(tmp_path)
    failed = {f["id"]: f["resource"] for f in after["findings"] if f["status"] == "fail"}
    assert first <= set(failed)  # was: none of them
    assert all(failed[i].startswith("k8s/exporter.yaml#0 ") for i in first)
    assert len(failed) == 2 * len(first)


def test_a_sops_file_sops_would_refuse_hides_no_plaintext_value(tmp_path: Path) -> None:
    """The demo's sops file, whose JWT is left in plaintext (SEC-012), with a duplicate key added
    (sops refuses it): its values were not checked, so the secrets rules are not decided (was:
    SEC-012 passed, the plaintext value unseen) and the scan is not READY."""
    text = (resources.files("auditor._demo") / "node/cim-prod-001/secrets/secrets.yaml").read_text()
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets/app.yaml").write_text(text)
    inventory(tmp_path, "      - {collector: secrets, paths: [secrets]}\n")
    _, whole = scan(tmp_path)
    assert list(failing(whole, "SEC-012")) == ["secrets/app.yaml:3:9"]
    (tmp_path / "secrets/app.yaml").write_text("nats:\n    cluster: cim\n" + text)
    code, broken = scan(tmp_path)
    sec012 = {f["status"]: f["message"] for f in broken["findings"] if f["rule_id"] == "SEC-012"}
    assert "error" in sec012 and "pass" not in sec012, sec012
    assert "secrets/app.yaml: holds a sops MAC but could not be parsed (line 3: duplicate key 'nats'" in sec012["error"]
    assert code != 0 and broken["verdict"]["readiness"] != "ready"
    alone = run_cli("secrets", "scan", "secrets", cwd=tmp_path)
    assert alone.code == 3 and "could not be parsed" in alone.err, (alone.code, alone.err)


AT = metamorphic.now()
"""The moment every scan of the demo here is made as of (the fixture's and the tests' alike)."""


def _demo_scan(folder: Path) -> dict[str, Any]:
    doc = metamorphic.scan([sys.executable, "-m", "auditor"], folder, AT)
    assert doc["verdict"]["readiness"] != "ready", doc["verdict"]
    return doc


@pytest.fixture(scope="module")
def demo_failures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo's failing findings: {id: rule}."""
    doc = _demo_scan(metamorphic.copy_demo(tmp_path_factory.mktemp("demo") / "demo"))
    return {f["id"]: f["rule_id"] for f in doc["findings"] if f["status"] == "fail"}


@pytest.mark.parametrize("unreadable", [
    "etc/ssh/sshd_config",  # was: sshd counted as not installed, HOST-010 not applicable
    "etc/ssh/sshd_config.d/50-maintenance-vpn.conf",  # was: HOST-003 passed on the main file alone
    "proc/net/tcp",  # was: HOST-017 judged the IPv6 listeners alone, HOST-030 found the ports in sync
    "k8s/nats-exporter.yaml",  # was: 16 K8S and PSS rules passed on the other manifests' workloads
    "k8s/jetstream-backup.yaml",  # was: K8S-009 passed
])
def test_a_file_made_unreadable_turns_no_failure_into_a_pass(tmp_path: Path, demo_failures: dict[str, str],
                                                            unreadable: str) -> None:
    """One file of the demo node replaced by a FIFO (never opened): what it said is unknown, so
    every rule the demo fails still fails or is not decided (an error), none of its failures
    passes, and the scan is not READY."""
    import os

    folder = metamorphic.copy_demo(tmp_path / "demo")
    path = folder / "cim-prod-001" / unreadable
    path.unlink()
    os.mkfifo(path)
    doc = _demo_scan(folder)
    status = {f["id"]: f["status"] for f in doc["findings"]}
    assert [i for i in demo_failures if status.get(i) == "pass"] == []
    judged = {f["rule_id"] for f in doc["findings"] if f["status"] in ("fail", "error")}
    assert set(demo_failures.values()) - judged == set()
    assert doc["verdict"]["readiness"] != "ready"


@pytest.mark.parametrize(("how", "old", "new"), metamorphic.INVENTORIES, ids=[i[0] for i in metamorphic.INVENTORIES])
def test_a_file_reached_twice_is_each_problem_once_with_its_ids(tmp_path: Path, demo_failures: dict[str, str],
                                                               how: str, old: str, new: str) -> None:
    """The demo's inventory reaching files twice (a path listed twice, a folder and one inside
    it, two sources over one folder), through another path (`.` for the secrets scan) or by
    another spelling (`./k8s/`, `etc/nats/../nats/certs`): the same failures with the same ids,
    each once (was: a copy of each with another id, or new ids for every leak, since a leak's id
    held the path it was scanned under; with `..`, new ids for the files under it)."""
    folder = metamorphic.copy_demo(tmp_path / "demo")
    inventory = folder / "auditor.yaml"
    assert old in inventory.read_text()
    inventory.write_text(inventory.read_text().replace(old, new))
    doc = _demo_scan(folder)
    failed = [f for f in doc["findings"] if f["status"] == "fail"]
    assert sorted(f["id"] for f in failed) == sorted(demo_failures)
    if how == "two kubernetes sources":  # one finding, both sources' records its evidence
        exporter = next(f for f in failed if f["rule_id"] == "K8S-007")
        assert len(exporter["evidence"]["records"]) == 2


@pytest.mark.parametrize(("linked", "absolute"), [
    ("etc/cim/agent.env", True),  # was: SEC-005, SEC-006, SEC-011 passed (the link not followed)
    ("home/cim/backup/deploy_ed25519", False),  # was: SEC-003 passed
    ("secrets/secrets.yaml", True),  # was: SEC-012 passed
    ("var/log/cim/agent.log", False),  # was: SEC-008, SEC-010 passed
    ("secrets/legacy.env", False),  # was: SOPS-006 passed (its rule matched where the link led)
    ("k8s/nats-exporter.yaml", True),  # was: 16 K8S and PSS rules passed (a link to nothing here, skipped)
    ("etc/nats/certs/monitor-legacy.pem", True),  # was: CERT-001, 004, 005, 007, 022 passed
    ("etc/nats/nats.conf", True),  # was: an error (no such file): NATS-003 and NATS-006 undecided
    (".sops.yaml", True),  # was: SOPS-006 not applicable (no config found)
    ("k8s", True),  # a folder: was an error (not a file), every K8S and PSS failure undecided
    ("etc/nats/certs", True),  # was: PKI-003, PKI-006 passed
    ("secrets", False),  # was: SEC-012 passed (the secrets scan took the folder for a link to skip)
    ("home/cim", True),  # was: SEC-001, SEC-003 passed
])
def test_what_the_node_holds_as_a_link_is_judged_as_what_it_links_to(tmp_path: Path, demo_failures: dict[str, str],
                                                                linked: str, absolute: bool) -> None:
    """One file or folder of the demo node moved into its /nix/store and a symbolic link put in
    its place (NixOS links /etc so), the link absolute (from the node's `/`, not this machine's)
    or relative: the node reads the same bytes there, so the scan finds the same failures with
    the same ids."""
    folder = metamorphic.copy_demo(tmp_path / "demo")
    metamorphic.linked(linked, absolute)(folder)
    assert (folder / "cim-prod-001" / linked).is_symlink()
    doc = _demo_scan(folder)
    assert sorted(f["id"] for f in doc["findings"] if f["status"] == "fail") == sorted(demo_failures)


def test_a_sops_file_renamed_out_of_its_creation_rule_still_shows_its_recipients(tmp_path: Path) -> None:
    """secrets/legacy.env renamed legacy.ENV: no creation rule matches it any more (sops matches
    path_regex case-sensitively), so no rule names any of its recipients and the departed admin's
    PGP key is still one of them. Was: SOPS-006 (high) did not apply to a file no rule covers,
    only SOPS-011 (medium) failed, and the problems at or above high went from 37 to 36."""
    folder = metamorphic.copy_demo(tmp_path / "demo")
    base = _demo_scan(metamorphic.copy_demo(tmp_path / "base"))
    legacy = folder / "cim-prod-001" / "secrets" / "legacy.env"
    legacy.rename(legacy.with_name("legacy.ENV"))
    doc = _demo_scan(folder)
    status = {(f["rule_id"], f["resource"]): f for f in doc["findings"]}
    renamed = status[("SOPS-006", "secrets/legacy.ENV")]
    assert renamed["status"] == "fail" and "no creation rule names" in renamed["message"]
    assert "pgp 1AAFC9A1DF3CB0B4B34BCB40D41F1DF4C41F8EEB" in renamed["message"]
    assert status[("SOPS-011", "secrets/legacy.ENV")]["status"] == "fail"
    assert doc["verdict"]["headline"] == base["verdict"]["headline"]


@pytest.mark.parametrize("moved", [
    "k8s/nats-exporter.yaml",  # was: 16 K8S and PSS rules passed (os.walk follows no link)
    "secrets/legacy.env",  # was: SOPS-006, SOPS-009, SOPS-010 passed
    "etc/nats/certs/monitor-legacy.pem",  # was: CERT-001, 004, 005, 007, 022 passed
])
def test_a_file_in_a_folder_held_as_a_link_is_judged(tmp_path: Path, demo_failures: dict[str, str], moved: str) -> None:
    """A file of a walked folder moved into a folder of the node's /nix/store, with an absolute
    link to that folder beside where it was: it is found through the link, so every rule the
    demo fails still fails (the findings' ids move with the file's path, by right)."""
    folder = metamorphic.copy_demo(tmp_path / "demo")
    metamorphic.in_linked_folder(moved)(folder)
    doc = _demo_scan(folder)
    assert set(demo_failures.values()) - {f["rule_id"] for f in doc["findings"] if f["status"] == "fail"} == set()


@pytest.mark.parametrize(("rel", "lost"), [
    ("etc/ssh/sshd_config", "HOST-003, HOST-010"),  # sshd -T refuses it too: HOST-011 fails
    ("k8s/nats-exporter.yaml", "16 K8S and PSS rules"),  # kubectl refuses it too
    ("k8s/jetstream-backup.yaml", "K8S-009"),
])
def test_a_file_saved_as_utf_16_turns_no_failure_into_a_pass(tmp_path: Path, demo_failures: dict[str, str],
                                                             rel: str, lost: str) -> None:
    """A file of the demo saved as UTF-16 (an editor's or PowerShell's choice): neither sshd nor
    kubectl reads it, and neither does auditor, so every rule it decided is undecided (an
    error), never a pass on what was read elsewhere. `lost`: what passed before."""
    folder = metamorphic.copy_demo(tmp_path / "demo")
    path = folder / "cim-prod-001" / rel
    path.write_bytes(metamorphic.TEXT_CHANGES["in UTF-16"](path.read_bytes()))
    doc = _demo_scan(folder)
    status = {f["id"]: f["status"] for f in doc["findings"]}
    assert [i for i in demo_failures if status.get(i) == "pass"] == []
    judged = {f["rule_id"] for f in doc["findings"] if f["status"] in ("fail", "error")}
    assert set(demo_failures.values()) - judged == set(), lost


@pytest.mark.parametrize(("rel", "how", "lost"), [
    ("var/log/cim/agent.log", "xz", "SEC-008, SEC-010"),
    ("home/cim/.bash_history", "bz2", "SEC-001"),
    ("etc/cim/agent.env", "zip", "SEC-005, SEC-006, SEC-011"),
    ("home/cim/backup/deploy_ed25519", "zip", "SEC-003"),
    ("var/log/cim/agent.log", "zst", "SEC-008, SEC-010"),  # zstd was not read
    ("var/log/cim/agent.log", "gz in a .tar.gz", "SEC-008, SEC-010"),  # one level only was unpacked
    ("home/cim/.bash_history", "zip in a zip", "SEC-001"),
    ("var/log/cim/agent.log", "gz over 8 MiB", "SEC-008, SEC-010"),  # a file over 8 MiB was not unpacked
    ("etc/cim/agent.env", "7z", "SEC-005, SEC-006, SEC-011"),  # 7z was not read
    ("home/cim/backup/deploy_ed25519", "7z", "SEC-003"),
])
def test_a_file_compressed_or_zipped_keeps_its_leaks(tmp_path: Path, demo_failures: dict[str, str], rel: str, how: str,
                                                     lost: str) -> None:
    """A log rotated with xz, bzip2 or zstd (logrotate's compresscmd), a file kept in a zip or 7z
    archive beside where it was, packed twice (a rotated log in a `.tar.gz` backup, a zip in a zip) or
    rotated into a compressed file over 8 MiB: its secrets are still found, so every rule the demo fails still fails
    (the ids move with the file's name, by right). `lost`: what passed before (only gzip was
    read as its content)."""
    folder = metamorphic.copy_demo(tmp_path / "demo")
    metamorphic._rotated(rel, how)(folder)
    doc = _demo_scan(folder)
    assert set(demo_failures.values()) - {f["rule_id"] for f in doc["findings"] if f["status"] == "fail"} == set(), lost


@pytest.mark.parametrize("how", ["configmap", "helm release", "helm release in a backup over 8 MiB"])
def test_an_env_file_kept_gzipped_in_kubernetes_keeps_its_leaks(tmp_path: Path, demo_failures: dict[str, str],
                                                                how: str) -> None:
    """agent.env kept gzipped in a ConfigMap's binaryData, or as the values of a Helm release
    Secret, alone or in a backup of a cluster's Secrets over 8 MiB: SEC-005, SEC-006 and SEC-011
    passed (base64 of gzip was never unpacked; later, not in a file streamed in windows)."""
    folder = metamorphic.copy_demo(tmp_path / "demo")
    metamorphic._in_kubernetes("etc/cim/agent.env", how)(folder)
    doc = _demo_scan(folder)
    assert set(demo_failures.values()) - {f["rule_id"] for f in doc["findings"] if f["status"] == "fail"} == set()


def test_an_env_file_kept_in_cloud_init_keeps_its_leaks(tmp_path: Path, demo_failures: dict[str, str]) -> None:
    """agent.env kept gzipped in a cloud-init user-data file (`encoding: gz+b64`, the base64
    wrapped over lines): SEC-005, SEC-006 and SEC-011 passed (only the first line was decoded)."""
    folder = metamorphic.copy_demo(tmp_path / "demo")
    metamorphic.in_cloud_init("etc/cim/agent.env")(folder)
    doc = _demo_scan(folder)
    assert set(demo_failures.values()) - {f["rule_id"] for f in doc["findings"] if f["status"] == "fail"} == set()


@pytest.mark.parametrize("rel", metamorphic.MARKED)
def test_ignore_comments_in_the_nodes_files_silence_no_finding(tmp_path: Path, demo_failures: dict[str, str],
                                                              rel: str) -> None:
    """Each line of a file of the node marked with ignore comments (`auditor:ignore-next-line`
    above it, `nosecret` on it): the audited party's files cannot silence its audit. Every
    failure of the demo still fails, with its id. Before, the marked secrets were dropped:
    SEC-005, SEC-006 and SEC-011 passed with agent.env marked (two live credentials among them),
    SEC-001 with .bash_history, SEC-008 and SEC-010 with agent.log."""
    folder = metamorphic.copy_demo(tmp_path / "demo")
    metamorphic._edit(rel, metamorphic.ignore_marked)(folder)
    doc = _demo_scan(folder)
    status = {f["id"]: f["status"] for f in doc["findings"]}
    assert {i: rule for i, rule in demo_failures.items() if status.get(i) != "fail"} == {}


def test_a_private_key_saved_as_pkcs12_is_still_a_leak(tmp_path: Path, demo_failures: dict[str, str]) -> None:
    """The demo's backup deploy key exported as a PKCS#12 file with no password (as Java
    keystores and Windows keep keys): SEC-003 passed, no binary file being read for keys."""
    folder = metamorphic.copy_demo(tmp_path / "demo")
    path = folder / "cim-prod-001" / "home/cim/backup/deploy_ed25519"
    path.write_bytes(metamorphic._pkcs12(path.read_bytes()))
    doc = _demo_scan(folder)
    assert set(demo_failures.values()) - {f["rule_id"] for f in doc["findings"] if f["status"] == "fail"} == set()


@pytest.mark.parametrize("suffix", [".p7b", ".p7c", ".p12", "a PKCS7 block in the .pem"])
def test_a_certificate_saved_in_a_container_keeps_its_failures(tmp_path: Path, demo_failures: dict[str, str],
                                                               suffix: str) -> None:
    """The demo's legacy monitoring certificate saved as a PKCS#7 chain (PEM .p7b, DER .p7c, or a
    PKCS7 block in its own .pem) or a PKCS#12 trust store with no password: CERT-001, 004, 005,
    007 and 022 passed (no such file was read, a PKCS7 block was skipped as no certificate).
    In its own file, the same failures with the same ids."""
    folder = metamorphic.copy_demo(tmp_path / "demo")
    rel = "etc/nats/certs/monitor-legacy.pem"
    if suffix.startswith("."):
        metamorphic._saved_as(rel, suffix)(folder)
    else:
        metamorphic._edit(rel, metamorphic._contained("pkcs7 pem"))(folder)
    doc = _demo_scan(folder)
    failed = {f["id"]: f["rule_id"] for f in doc["findings"] if f["status"] == "fail"}
    assert set(demo_failures.values()) - set(failed.values()) == set()
    if not suffix.startswith("."):
        assert sorted(failed) == sorted(demo_failures)


@pytest.mark.parametrize("how", list(metamorphic.KEYRINGS))
def test_a_keyring_added_to_a_gnupg_home_hides_no_key(tmp_path: Path, demo_failures: dict[str, str], how: str) -> None:
    """A pubring.gpg beside the demo's pubring.kbx (a keybox, which gpg lists alone), or the
    legacy deploy key moved into a keyring gpg.conf adds: KEY-003 passed, the legacy key never
    listed. Each keyring is read; the failures keep their ids. A new key with the legacy key's
    user id (a rotation under way) moved the legacy key's failure to a new id (its name became
    its fingerprint): ids come from the home and the fingerprint now."""
    folder = metamorphic.copy_demo(tmp_path / "demo")
    metamorphic.gpg_keyring(how)(folder)
    doc = _demo_scan(folder)
    failed = {f["id"]: f["rule_id"] for f in doc["findings"] if f["status"] == "fail"}
    assert sorted(failed) == sorted(demo_failures)


def test_a_config_that_cannot_be_read_leaves_its_users_undecided(tmp_path: Path, demo_failures: dict[str, str]) -> None:
    """The nats-config source reads two files; the demo's nats.conf cannot be read (a FIFO in
    its place) and the other holds one harmless user. What the unread file's users may do is
    unknown: every user rule the demo fails is an error for it, never a pass on the other file's
    user alone (was: NATS-006 passed on it; the failure was recorded for nats.config only)."""
    folder = metamorphic.copy_demo(tmp_path / "demo")
    metamorphic._inventory("paths: [etc/nats/nats.conf]", "paths: [etc/nats/nats.conf, etc/nats/other.conf]")(folder)
    (folder / "cim-prod-001/etc/nats/other.conf").write_text(
        "listen: 127.0.0.1:4223\nauthorization {\n  users = [\n    {user: reader, password: $READER_PASS,\n"
        "     permissions: {publish: {deny: \">\"}, subscribe: {allow: [\"metrics.>\"]}}}\n  ]\n}\n"
        "READER_PASS: \"$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.exHh9K\"\n")
    metamorphic._put("etc/nats/nats.conf", "fifo")(folder)
    doc = _demo_scan(folder)
    users = {rule for rule in demo_failures.values() if rule in ("NATS-003", "NATS-006")}
    assert users == {"NATS-003", "NATS-006"}
    judged = {f["rule_id"] for f in doc["findings"] if f["status"] in ("fail", "error")}
    assert users <= judged
    unread = [f for f in doc["findings"] if f["rule_id"] in users and f["resource"] == "etc/nats/nats.conf"]
    assert {f["status"] for f in unread} == {"error"} and len(unread) == 2
