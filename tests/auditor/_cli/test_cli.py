"""The command line as a user meets it: exit codes, outputs and error messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auditor._loader.schema import schema_errors
from tests.certs import FILES_PACK
from tests.conftest import Run, run_cli


def assert_clean_error(run: Run, *fragments: str) -> None:
    code, err = run.code, run.err
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("auditor: error: "), err
    for fragment in fragments:
        assert fragment in err


def test_demo_scan_text() -> None:
    run = run_cli("scan", "--target", "cim-prod-001")
    assert run.code == 1, run.err
    assert "Verdict: NOT READY" in run.out
    assert "CERT-004" in run.out and "fix:" in run.out
    import re

    # the demo leads with problems and gives both counts, in the verdict and at the end
    verdict = re.search(r"^Verdict: NOT READY for production — (\d+) problems \((\d+) rule hits\) at or above high", run.out, re.M)
    total = re.search(r"^(\d+) problems \((\d+) rule hits\); \d+ findings:", run.out, re.M)
    assert verdict and total, run.out[-600:]
    assert int(verdict[1]) < int(verdict[2]) and int(total[1]) < int(total[2])
    assert f"Problems ({total[1]}, {total[2]} rule hits)" in run.out
    assert "\x1b[" not in run.out  # no colour when not a terminal


def test_demo_scan_json_validates(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    run = run_cli("scan", "--target", "cim-prod-001", "--format", "json", "-o", str(out))
    assert run.code == 1 and run.out == ""
    doc = json.loads(out.read_text())
    assert schema_errors(doc, "findings") == []
    assert doc["target"]["name"] == "cim-prod-001"
    assert doc["summary"]["total"] == len(doc["findings"])
    for f in doc["findings"]:
        assert f["evidence"]["records"] or f["status"] == "not-evaluated"


def test_fail_on_threshold_changes_exit_code(tmp_path: Path) -> None:
    import datetime as dt

    from tests.certs import NOW, CertFactory, write

    factory = CertFactory()
    root, inter = factory.chain()
    # only a medium-severity problem: expires within the 30-day warning window
    leaf = factory.issue("n.example.com", issuer=inter, dns=("n.example.com",), eku=("server",),
                         start=NOW - dt.timedelta(days=80), days=90)
    write(tmp_path / "certs/node.pem", leaf.pem() + inter.pem())
    write(tmp_path / "root.pem", root.pem())
    (tmp_path / "auditor.yaml").write_text(
        "version: 1\ntargets:\n  - name: n\n    environment: production\n    policies: [cim-production]\n"
        "    names: [n.example.com]\n    trust_anchors: [root.pem]\n"
        "    sources:\n      - {collector: certificates, paths: [certs]}\n"
    )
    # cim-production also requires endpoint, NATS, host... evidence: certificate files alone cannot
    # make it READY, whatever the threshold
    scan = run_cli("scan", "--target", "n", cwd=tmp_path)
    assert scan.code == 4 and "Verdict: INCOMPLETE" in scan.out, scan.out
    assert "no host.account" in scan.out
    assert run_cli("scan", "--target", "n", "--fail-on", "medium", cwd=tmp_path).code == 1
    # a pack whose rules all judge certificate files: the threshold alone decides
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies/files.yaml").write_text(FILES_PACK)
    (tmp_path / "auditor.yaml").write_text(
        (tmp_path / "auditor.yaml").read_text().replace("version: 1\n", "version: 1\npolicy_paths: [policies]\n")
        .replace("policies: [cim-production]", "policies: [cert-files]")
    )
    assert run_cli("scan", "--target", "n", cwd=tmp_path).code == 0  # default threshold: high
    assert run_cli("scan", "--target", "n", "--fail-on", "medium", cwd=tmp_path).code == 1
    assert run_cli("scan", "--target", "n", "--fail-on", "critical", cwd=tmp_path).code == 0


def test_collect_then_evaluate_equals_scan(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.json"
    run = run_cli("collect", "--target", "cim-prod-001", "-o", str(bundle))
    assert run.code == 0, run.err
    assert "digest sha256:" in run.err
    at = json.loads(bundle.read_text())["created_at"]
    evaluated = run_cli("evaluate", str(bundle), "--format", "json", "--at", at)
    assert evaluated.code == 1, evaluated.err
    scan = run_cli("scan", "--target", "cim-prod-001", "--format", "json", "--at", at)
    a, b = json.loads(evaluated.out), json.loads(scan.out)
    def outcomes(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
        return [(f["rule_id"], f["resource"], f["status"]) for f in doc["findings"]]

    assert outcomes(a) == outcomes(b)
    assert a["bundle_digest"] == json.loads(bundle.read_text())["digest"]["value"]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_summary_of_many_bundles_holds_counts_not_findings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], jobs: str) -> None:
    """`evaluate` of many bundles, in text: each run is held for the summary by its counts, not
    by its result (a line's worth a bundle, however many bundles), and the table shows those
    counts; in JSON too, each run's part of the document (its result with it) spooled to a
    temporary file as it ends."""
    from auditor._cli import _fleet as cli_fleet
    from auditor._cli import main
    from auditor._demo import DEMO_TARGET, demo_inventory
    from auditor._scan import collect

    bundle = tmp_path / "bundle.json"
    collected = collect(demo_inventory().target(DEMO_TARGET))
    collected.write(bundle)
    held: list[Any] = []
    table = cli_fleet.summary_table

    def seen(fleet: Any, **kwargs: Any) -> str:
        held.extend(fleet.runs)
        return table(fleet, **kwargs)

    monkeypatch.setattr(cli_fleet, "summary_table", seen)
    words = ["evaluate", "--demo", str(bundle), str(bundle), "--no-store", "--at", collected.created_at, "--jobs", jobs]
    assert main(words) == 1
    out = capsys.readouterr().out
    assert len(held) == 2 and all(r.result is None and r.counts is not None for r in held)
    fails = held[0].counts.by_status["fail"]
    rows = [line.split() for line in out.splitlines() if line.startswith(str(bundle))]
    assert fails > 0 and [row[1:5] for row in rows] == [["NOT", "READY", "1", str(fails)]] * 2, out
    from auditor._fleet import SpooledRuns

    held.clear()
    document = SpooledRuns.document

    def written(spool: SpooledRuns, fleet: Any) -> Any:
        held.extend(fleet.runs)
        return document(spool, fleet)

    monkeypatch.setattr(SpooledRuns, "document", written)
    assert main([*words, "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert len(held) == 2 and all(r.result is None and r.counts is not None for r in held)  # spooled, not held
    assert [r["summary"]["by_status"]["fail"] for r in doc["targets"]] == [fails, fails]
    assert all(r["result"]["findings"] for r in doc["targets"])
    assert doc["targets"][0]["result"] == doc["targets"][1]["result"]


def test_evaluate_many_bundles_with_jobs(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.json"
    assert run_cli("collect", "--target", "cim-prod-001", "-o", str(bundle)).code == 0
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    at = json.loads(bundle.read_text())["created_at"]
    db = tmp_path / "history.sqlite"
    run = run_cli("evaluate", "--demo", str(bundle), str(broken), str(bundle), "--jobs", "2", "--format", "json",
                  "--at", at, "--db", str(db))
    assert run.code == 2, run.err  # the worst of the bundles': one could not be read
    doc = json.loads(run.out)
    assert [r["target"] for r in doc["targets"]] == [str(bundle), str(broken), str(bundle)]
    first, bad, again = doc["targets"]
    alone = run_cli("evaluate", "--demo", str(bundle), "--format", "json", "--at", at, "--no-store")
    assert first["exit_code"] == again["exit_code"] == alone.code == 1
    assert first["result"]["findings"] == again["result"]["findings"] == json.loads(alone.out)["findings"]
    assert bad["exit_code"] == 2 and "broken.json" in bad["error"] and "result" not in bad
    assert {first["scan_id"], again["scan_id"]} == {1, 2} and bad["scan_id"] is None
    text = run_cli("evaluate", "--demo", str(bundle), str(bundle), "--no-store", "--at", at)
    assert text.code == 1 and "NOT READY" in text.out and "2 bundles; exit code 1" in text.out
    assert_clean_error(run_cli("evaluate", "--demo", str(bundle), "--jobs", "0", "--no-store"), "--jobs")
    assert_clean_error(run_cli("evaluate", "--demo", str(bundle), str(bundle), "--format", "html", "--no-store"),
                       "--format")


def test_evaluate_and_verify_judge_a_bundle_by_the_inventory_entry_of_its_target(tmp_path: Path) -> None:
    """A bundle whose target says `staging` and a weaker pack (its digest made anew, as anyone
    holding it can) is judged by the inventory's entry (production, cim-production), saying so
    on stderr, alone or with others; `verify --bundle` judges it the same way, so the result
    follows from it."""
    from auditor.evidence.bundle import Bundle, read_bundle

    collected = tmp_path / "collected.json"
    assert run_cli("collect", "--demo", "--target", "cim-prod-001", "-o", str(collected)).code == 0
    bundle = read_bundle(collected)
    weak = tmp_path / "weak.json"
    Bundle.create({**bundle.target, "environment": "staging", "policies": ["pss-baseline"]}, bundle.created_at,
                  bundle.records).write(weak)
    at = bundle.created_at
    honest = run_cli("evaluate", "--demo", str(collected), "--at", at, "--no-store")
    run = run_cli("evaluate", "--demo", str(weak), "--at", at, "--no-store")
    assert run.code == honest.code == 1
    assert run.out == honest.out and "NOT READY for production" in run.out
    assert (f"auditor: note: {weak}: judged by the inventory's entry for target 'cim-prod-001' ("
            in run.err) and "which differs in environment, policies\n" in run.err
    assert "judged by" not in honest.err
    many = run_cli("evaluate", "--demo", str(weak), str(collected), "--jobs", "2", "--format", "json", "--at", at,
                   "--no-store")
    weak_run, honest_run = json.loads(many.out)["targets"]
    assert weak_run["result"]["findings"] == honest_run["result"]["findings"]
    assert weak_run["result"]["target"]["environment"] == "production"
    assert many.err.count("judged by the inventory's entry") == 1 and str(weak) in many.err

    result = tmp_path / "result.json"
    assert run_cli("evaluate", "--demo", str(weak), "--at", at, "--no-store", "--format", "json",
                   "-o", str(result)).code == 1
    verified = run_cli("verify", "--demo", str(result), "--bundle", str(weak))
    assert "the findings follow from the evidence" in verified.out, verified.out
    assert "note: " + str(weak) + ": judged by the inventory's entry" in verified.out


def test_evaluate_names_old_evidence_and_max_age_refuses_it(tmp_path: Path) -> None:
    """A bundle judged ten days after its evidence was collected: the verdict is given, with a
    note on stderr saying how old the evidence is; --max-age 7d refuses it in one line (exit 2,
    nothing on stdout), alone or among others; --max-age 11d judges it."""
    import datetime as dt

    bundle = tmp_path / "bundle.json"
    assert run_cli("collect", "--demo", "--target", "cim-prod-001", "-o", str(bundle)).code == 0
    created = dt.datetime.fromisoformat(json.loads(bundle.read_text())["created_at"].replace("Z", "+00:00"))
    later = (created + dt.timedelta(days=10)).isoformat().replace("+00:00", "Z")
    fresh = run_cli("evaluate", "--demo", str(bundle), "--no-store")
    assert fresh.code == 1 and "note:" not in fresh.err
    run = run_cli("evaluate", "--demo", str(bundle), "--at", later, "--no-store")
    assert run.code == 1 and "NOT READY" in run.out
    assert f"auditor: note: {bundle}: evidence collected " in run.err and f", 10 days before the time judged ({later})" in run.err
    refused = run_cli("evaluate", "--demo", str(bundle), "--at", later, "--max-age", "7d", "--no-store")
    assert_clean_error(refused, str(bundle), "10 days before the time judged", "older than --max-age (7 days)")
    assert refused.out == ""
    many = run_cli("evaluate", "--demo", str(bundle), str(bundle), "--at", later, "--max-age", "7d", "--no-store",
                   "--format", "json")
    assert many.code == 2 and all("older than --max-age" in t["error"] for t in json.loads(many.out)["targets"])
    assert run_cli("evaluate", "--demo", str(bundle), "--at", later, "--max-age", "11d", "--no-store").code == 1
    assert_clean_error(run_cli("evaluate", "--demo", str(bundle), "--max-age", "soon", "--no-store"), "--max-age 'soon'")


def test_evaluate_refuses_to_overwrite_its_input(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.json"
    assert run_cli("collect", "--target", "cim-prod-001", "-o", str(bundle)).code == 0
    before = bundle.read_bytes()
    run = run_cli("evaluate", "--demo", str(bundle), "-o", str(bundle))
    assert_clean_error(run, "refusing to overwrite")
    assert bundle.read_bytes() == before


def test_targets_and_rules_commands() -> None:
    run = run_cli("targets", "list")
    assert run.code == 0 and "cim-prod-001" in run.out and "embedded demo" in run.out
    shown = json.loads(run_cli("targets", "show", "cim-prod-001", "--format", "json").out)
    assert shown["policies"][0] == "cim-production" and shown["sources"]
    rules = json.loads(run_cli("rules", "list", "--format", "json").out)
    assert {"id", "area", "severity", "title"} <= set(rules[0])
    assert [r["id"] for r in rules] == sorted(r["id"] for r in rules)
    show = run_cli("rules", "show", rules[0]["id"])
    assert show.code == 0 and "remediation" in show.out
    assert run_cli("rules", "validate").code == 0
    packs = json.loads(run_cli("policies", "list", "--format", "json").out)
    assert {"cim-production", "cim-staging"} <= {p["id"] for p in packs}
    assert "inventory" in run_cli("schema").out.split()
    assert json.loads(run_cli("schema", "findings").out)["$id"] == "urn:auditor:schemas:findings"


def test_local_auditor_yaml_is_found(tmp_path: Path, certs: object) -> None:
    from tests.certs import CertFactory, write

    factory = certs if isinstance(certs, CertFactory) else CertFactory()
    root, _ = factory.chain()
    inter = factory.issue("Test Intermediate CA", issuer=root, ca=True, pathlen=0, key="ec384", days=1000, permitted_dns=("example.com",))
    leaf = factory.issue("node.example.com", issuer=inter, dns=("node.example.com",), eku=("server",), days=60)
    write(tmp_path / "certs/node.pem", leaf.pem() + inter.pem())
    write(tmp_path / "anchors/root.pem", root.pem())
    (tmp_path / "auditor.yaml").write_text(
        "version: 1\ntargets:\n  - name: node-1\n    environment: staging\n    policies: [cim-staging]\n"
        "    names: [node.example.com]\n    trust_anchors: [anchors/root.pem]\n"
        "    sources:\n      - {collector: certificates, paths: [certs]}\n"
    )
    run = run_cli("scan", "--target", "node-1", "--format", "json", cwd=tmp_path)
    assert run.code == 4, run.out + run.err  # certificate files only: INCOMPLETE, never READY
    doc = json.loads(run.out)
    assert doc["verdict"]["readiness"] == "incomplete" and "host.sshd" in doc["verdict"]["missing_evidence"]
    # the node has certificate files only: rules on other evidence are not evaluated, never passed
    from auditor._policy.catalog import Catalog

    kinds = {r.id: r.kind for r in Catalog.load().rules.values()}
    on_files = [f["status"] for f in doc["findings"] if kinds[f["rule_id"]] == "x509.certificate"]
    assert on_files and set(on_files) == {"pass"}
    assert {f["status"] for f in doc["findings"] if kinds[f["rule_id"]] != "x509.certificate"} <= {"not-evaluated"}


def test_missing_required_source_exits_3(tmp_path: Path) -> None:
    (tmp_path / "auditor.yaml").write_text(
        "version: 1\ntargets:\n  - name: n\n    environment: test\n    policies: [cim-production]\n"
        "    sources:\n      - {collector: certificates, paths: [nothing-here]}\n"
    )
    run = run_cli("scan", "--target", "n", cwd=tmp_path)
    assert run.code == 3, run.out
    assert "Collection errors" in run.out and "nothing-here" in run.out
    optional = (tmp_path / "auditor.yaml").read_text().replace("paths: [nothing-here]", "paths: [nothing-here], required: false")
    (tmp_path / "auditor.yaml").write_text(optional)
    # optional and absent: not exit 3, but nothing was judged: INCOMPLETE, not READY
    run = run_cli("scan", "--target", "n", cwd=tmp_path)
    assert run.code == 4 and "[optional]" in run.out and "Verdict: INCOMPLETE" in run.out, run.out


@pytest.mark.parametrize(
    ("files", "args", "fragments"),
    [
        ({}, ["scan", "--demo", "--target", "nope"], ["unknown target 'nope'"]),
        ({"inv.yaml": "version: 1\ntargets: [\n"}, ["scan", "--target", "x", "--inventory", "inv.yaml"], ["inv.yaml:", "invalid YAML"]),
        ({"inv.yaml": "version: 2\ntargets: []\n"}, ["targets", "list", "--inventory", "inv.yaml"], ["inv.yaml:1", "version"]),
        (
            {"inv.yaml": "version: 1\ntargets:\n  - name: a\n    environment: e\n    policies: [p]\n    sources:\n      - collector: certificatez\n"},
            ["targets", "list", "--inventory", "inv.yaml"],
            ["inv.yaml:7", "unknown collector 'certificatez'"],
        ),
        (
            {"inv.yaml": "version: 1\ntargets:\n  - name: a\n    environment: e\n    policies: [p]\n    sources:\n      - collector: certificates\n        pathz: [x]\n"},
            ["targets", "list", "--inventory", "inv.yaml"],
            ["inv.yaml:", "pathz"],
        ),
        ({}, ["scan", "--demo", "--target", "cim-prod-001", "--policy", "nope"], ["unknown policy pack 'nope'"]),
        ({}, ["scan", "--demo", "--target", "cim-prod-001", "--at", "yesterday"], ["--at", "not a date"]),
        ({"b.json": "{\"format\": \"auditor-evidence-bundle\"}"}, ["evaluate", "b.json"], ["b.json", "required"]),
        ({"b.json": "\x00\x01 random"}, ["evaluate", "b.json"], ["b.json", "invalid JSON"]),
        ({}, ["evaluate", "missing.json"], ["missing.json", "not found"]),
        ({}, ["rules", "show", "NOPE-001"], ["unknown rule"]),
        ({}, ["schema", "nope"], ["unknown schema"]),
        ({}, ["inventory-missing-dir"], ["invalid choice: 'inventory-missing-dir'", "see 'auditor --help'"]),
        ({}, ["scan", "--target"], ["--target/-t: expected one argument", "see 'auditor scan --help'"]),
    ],
)
def test_bad_input_gets_one_clean_line(tmp_path: Path, files: dict[str, str], args: list[str], fragments: list[str]) -> None:
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    assert_clean_error(run_cli(*args, cwd=tmp_path), *fragments)


def test_rules_validate_reports_every_error(tmp_path: Path) -> None:
    good = Path(__file__).resolve().parents[3] / "rules/certificates/CERT-004.yaml"
    (tmp_path / "MY-001.yaml").write_text(good.read_text().replace("CERT-004", "MY-001").replace("params.min_ec_bits", "params.nope"))
    (tmp_path / "MY-002.yaml").write_text(good.read_text().replace("CERT-004", "MY-002").replace("severity: high", "severity: huge"))
    (tmp_path / "MY-003.yaml").write_text(good.read_text().replace("CERT-004", "MY-003"))
    run = run_cli("rules", "validate", str(tmp_path))
    assert run.code == 2
    assert "MY-001.yaml" in run.err and "params.nope" in run.err
    assert "MY-002.yaml" in run.err and "huge" in run.err
    assert "2 errors" in run.err and "Traceback" not in run.err
    (tmp_path / "MY-001.yaml").unlink()
    (tmp_path / "MY-002.yaml").unlink()
    assert run_cli("rules", "validate", str(tmp_path)).code == 0


def test_help_is_there_for_every_command() -> None:
    for args in (["--help"], ["scan", "--help"], ["evaluate", "--help"], ["collect", "--help"], ["rules", "validate", "--help"]):
        run = run_cli(*args)
        assert run.code == 0 and "usage: auditor" in run.out
    assert run_cli("--version").out.startswith("auditor ")


def test_each_command_line_builds_only_its_command() -> None:
    """`auditor secrets ...` imports only auditor._cli.secrets (start-up, issue 23): the table
    of commands names every command the modules register, each with its own module."""
    import argparse
    import subprocess
    import sys

    from auditor._cli import COMMANDS, build_parser, command_modules

    registered = {}
    for module in command_modules():
        sub = argparse.ArgumentParser().add_subparsers()
        module.register(sub)
        registered.update({name: module.__name__.rpartition(".")[2] for name in sub.choices})
    assert registered == COMMANDS
    full = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert list(full.choices) == list(registered)  # `--help` lists them as before
    code = ("import sys\nfrom auditor._cli import build_parser\nbuild_parser('secrets')\n"
            "print(sorted(m for m in sys.modules if m.startswith('auditor._cli.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['auditor._cli.secrets']"  # the output helpers only when writing
