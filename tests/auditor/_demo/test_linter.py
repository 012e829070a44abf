"""The demo builder's lint process (auditor._demo.linter): the same lint as in-process, the
CA refusing on its reports as on its own, a failing lint process failing the build."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

import auditor._demo as demo
import pki.lint
from auditor._demo.linter import LintProcess, LintProcessError
from pki.lint import LintReport, lint, linted_by
from pki.policy import Refused
from tests.certs import CertFactory
from tests.pki.conftest import new_ca


@pytest.fixture
def process() -> Iterator[LintProcess]:
    started = LintProcess.start()
    try:
        yield started
    finally:
        started.release()
        started.reap()


def test_the_lint_process_reports_what_lint_reports_here(process: LintProcess) -> None:
    factory = CertFactory()
    root, inter = factory.chain()
    leaf = factory.issue("node-1.example.com", issuer=inter, dns=("node-1.example.com",))
    odd = factory.issue("n", issuer=inter, dns=("n", "a..b.example.com"))
    for cert, issuer in ((root.cert, None), (inter.cert, root.cert), (leaf.cert, inter.cert), (odd.cert, inter.cert),
                         (odd.cert, None)):
        here = lint(cert, issuer)
        with linted_by(process.lint):
            there = lint(cert, issuer)
        assert there == here
    assert not lint(odd.cert).ok and lint(odd.cert).findings  # the comparison covers findings


def test_a_ca_linting_through_the_process_refuses_what_the_linter_rejects(process: LintProcess, tmp_path: Path) -> None:
    ca, opener = new_ca(tmp_path / "ca", permitted_dns=(), permitted_ip=())
    (ca.folder / "profiles").mkdir()
    (ca.folder / "profiles/ec-encipher.yaml").write_text(
        "name: ec-encipher\nkind: leaf\nlifetime_days: 30\nkey_usage: [digitalSignature, keyEncipherment]\n"
        "extended_key_usage: [clientAuth]\n")
    with linted_by(process.lint):
        with pytest.raises(Refused) as info:
            ca.issue("n1", "ec-encipher", opener, tmp_path / "a")
        issued = ca.issue("n2", "nats-client", opener, tmp_path / "b")
    assert info.value.rule == "lint" and "pkix.key_usage_value_prohibited_for_ec" in str(info.value)
    assert not (tmp_path / "a").exists() and issued.entry.serial in ca.records().entries


def test_a_lint_process_that_is_gone_fails_the_lint(process: LintProcess) -> None:
    cert = CertFactory().chain()[0].cert
    os.kill(process.pid, signal.SIGKILL)
    process.reap()
    with linted_by(process.lint), pytest.raises(LintProcessError):
        lint(cert)


def test_a_report_goes_through_plain_data_whole() -> None:
    report = LintReport("pkilint 1", (pki.lint.Finding("error", "pkix.x", "a \"message\"\n", "certificate.tbs"),
                                      pki.lint.Finding("notice", "pkix.y", "", "")))
    assert LintReport.from_dict(report.to_dict()) == report
    for bad in ({}, {"linter": "x"}, {"linter": "x", "findings": [["error", "c", "m"]]},
                {"linter": 1, "findings": []}, {"linter": "x", "findings": [[1, 2, 3, 4]]}):
        with pytest.raises(ValueError):
            LintReport.from_dict(bad)


def test_the_demo_builder_lints_through_the_lint_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every lint of the demo's build (the CA's pre-issuance lints, lint_ahead's) runs in the
    lint process: lint_der, patched before both forks, notes the process it runs in."""
    monkeypatch.setenv("AUDITOR_CACHE_DIR", str(tmp_path / "cache"))
    notes = tmp_path / "notes"
    original = pki.lint.lint_der

    def noting(der: bytes, issuer_der: bytes | None = None) -> LintReport:
        with notes.open("a") as f:
            f.write(f"{os.getpid()}\n")
        return original(der, issuer_der)

    monkeypatch.setattr(pki.lint, "lint_der", noting)
    demo.start_build()
    linting = demo._linting
    assert linting is not None
    root = demo.wait_built()
    assert (root / ".built").is_file()
    pids = notes.read_text().split()
    assert len(pids) >= 10 and set(pids) == {str(linting.pid)}


def test_no_process_to_spare_means_building_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDITOR_CACHE_DIR", str(tmp_path / "cache"))

    def refused() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", refused)
    demo.start_build()
    assert demo._building is None and demo._linting is None
    monkeypatch.undo()
    assert (demo.wait_built() / ".built").is_file()


def test_a_builder_that_cannot_be_forked_stops_the_lint_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDITOR_CACHE_DIR", str(tmp_path / "cache"))
    real_fork = os.fork
    forked: list[int] = []

    def once() -> int:
        if forked:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        pid = real_fork()
        forked.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", once)
    demo.start_build()
    monkeypatch.undo()
    assert forked and demo._building is None and demo._linting is None
    with pytest.raises(ChildProcessError):  # the lint process was reaped
        os.waitpid(forked[0], 0)
