"""The demo's sign-off report looked at as a signer does: the PDF (pages counted and read by
poppler) and the HTML in headless Chromium at 1400 px. Page one decides; the passes are
summarized; the appendix comes only with --appendix; paths wrap only at separators.

With AUDITOR_SCREENSHOTS=DIR the pictures of page one (HTML and PDF) are written there
(docs/images/ holds the ones docs/reports.md shows).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor._models import Problem, Severity
from tests.auditor._render.reports import DemoScan, demo_scan
from tests.browser import FIRST_SCREEN, first_screen
from tests.conftest import run_cli
from tests.pdf import pdf_page_png, pdf_pages, pdf_text

pytestmark = pytest.mark.slow

MAX_PAGES = 12
SEPARATORS = "/.:#,=@_-+ "


def whole_or_split_at_separators(value: str) -> re.Pattern[str]:
    """`value` as a PDF's text may hold it: line breaks (whitespace) only after a separator."""
    out = []
    for i, c in enumerate(value):
        out.append(r"\s+" if c == " " else re.escape(c))
        if i + 1 < len(value) and c in SEPARATORS and value[i + 1] != " ":
            out.append(r"\s*")
    return re.compile("".join(out))


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> DemoScan:
    return demo_scan(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def blocking(scan: DemoScan) -> list[Problem]:
    found = [p for p in scan.result.problems if p.blocks(scan.result.fail_on)]
    assert len(found) > 20  # the demo plants many: page one must hold them all
    return found


@pytest.fixture(scope="module")
def pdf(scan: DemoScan, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pdf") / "report.pdf"
    run = run_cli("report", str(scan.result_path), "--format", "pdf", "-o", str(out))
    assert run.code == 0, run.err
    return out


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    wanted = os.environ.get("AUDITOR_SCREENSHOTS")
    yield Path(wanted) if wanted else tmp_path_factory.mktemp("shots")


def test_demo_pdf_page_one_decides(pdf: Path, scan: DemoScan, blocking: list[Problem], shots: Path) -> None:
    pages = pdf_pages(pdf)
    assert pages <= MAX_PAGES
    one = pdf_text(pdf, 1, 1, raw=True)
    assert "NOT READY" in one and "cim-prod-001" in one and "production" in one
    assert ", ".join(scan.result.policies) in " ".join(one.split())
    assert f"Blocking problems ({len(blocking)};" in one
    for problem in blocking:
        assert whole_or_split_at_separators(problem.primary.resource).search(one), problem.primary.resource
        assert whole_or_split_at_separators(problem.owner).search(one), problem.owner
        assert problem.due in one
        for hit in problem.findings:
            assert whole_or_split_at_separators(hit.rule_id).search(one), hit.rule_id
    assert "Could not be evaluated" in one
    assert "1. Security checklist" in pdf_text(pdf, 2, 2, raw=True).splitlines()[:4]  # the checklist follows
    picture = pdf_page_png(pdf, 1, shots / "report-pdf-page1.png", dpi=90)
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_paths_and_ids_wrap_only_at_separators(pdf: Path, scan: DemoScan) -> None:
    text = pdf_text(pdf, raw=True)
    assert "cim-productio\n" not in text  # the break the issue measured
    for problem in scan.result.problems:
        assert whole_or_split_at_separators(problem.primary.resource).search(text), problem.primary.resource
        for hit in problem.findings:
            assert whole_or_split_at_separators(hit.id).search(text), hit.id


def test_passes_are_one_row_per_rule_and_the_signoff_ends_the_summary(pdf: Path, scan: DemoScan) -> None:
    text = pdf_text(pdf, raw=True)
    passes: dict[str, int] = {}
    for f in scan.result.findings:
        if f.status.value == "pass":
            passes[f.rule_id] = passes.get(f.rule_id, 0) + 1
    section = text[text.index("4. Passes") : text.index("5. Waivers")].splitlines()
    for rule, count in passes.items():
        rows = [line for line in section if line.startswith(f"{rule} ")]
        assert len(rows) == 1 and rows[0].endswith(f" {count}"), (rule, rows)
    assert "Appendix" not in text
    last = pdf_text(pdf, pdf_pages(pdf), pdf_pages(pdf))
    for role in ("Infrastructure Lead", "Security Lead", "Operations Lead", "Development Lead"):
        assert role in last
    assert "End of the sign-off report." in last


def test_appendix_only_when_asked_and_after_the_signoff(scan: DemoScan, pdf: Path, tmp_path: Path) -> None:
    out = tmp_path / "appendix.pdf"
    run = run_cli("report", str(scan.result_path), "--format", "pdf", "--appendix", "-o", str(out))
    assert run.code == 0, run.err
    pages = pdf_pages(out)
    assert pages > pdf_pages(pdf)
    signoff = next(n for n in range(1, pages + 1) if "8. Sign-off" in pdf_text(out, n, n))
    appendix = next(n for n in range(1, pages + 1) if "Appendix: every finding" in pdf_text(out, n, n))
    assert signoff < appendix
    assert "End of the sign-off report; the appendix follows." in pdf_text(out, signoff, signoff)


def test_html_first_screen_holds_the_verdict_and_the_blocking_problems(
    scan: DemoScan, blocking: list[Problem], shots: Path, tmp_path: Path
) -> None:
    html = tmp_path / "report.html"
    run = run_cli("report", str(scan.result_path), "--format", "html", "-o", str(html))
    assert run.code == 0, run.err
    picture = shots / "report-html-first-screen.png"
    screen = first_screen(html, picture)
    assert screen.log.errors() == []
    lines = screen.text.splitlines()
    assert "NOT READY" in lines
    assert any(line.startswith("Not ready for production under cim-production") for line in lines)
    assert any(line.startswith(f"Blocking problems ({len(blocking)};") for line in lines)
    seen = [p for p in blocking if p.primary.resource in lines]
    # the rows shown are the first ones, in order, every critical one among them, and most of the table
    assert seen == blocking[: len(seen)]
    assert all(p in seen for p in blocking if p.severity is Severity.CRITICAL)
    assert len(seen) * 3 >= len(blocking) * 2, f"{len(seen)} of {len(blocking)} blocking problems on the first screen"
    for problem in seen:
        assert problem.owner in lines and problem.due in lines
    png = picture.read_bytes()
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == FIRST_SCREEN


def test_json_carries_owner_and_due_per_problem(scan: DemoScan) -> None:
    doc = json.loads(scan.result_path.read_text())
    evaluated = dt.date.fromisoformat(doc["evaluated_at"][:10])
    days = {"critical": 1, "high": 7, "medium": 30, "low": 90}  # policies/cim-production.yaml
    assert doc["problems"]
    for problem in doc["problems"]:
        assert problem["owner"]
        assert dt.date.fromisoformat(problem["due"]) == evaluated + dt.timedelta(days=days[problem["severity"]])
    by_id = {f["id"]: f for f in doc["findings"]}
    owners = {by_id[p["findings"][0]]["area"]: p["owner"] for p in doc["problems"]}
    assert owners["certificates"] == "pki-operations" and owners["secrets"] == "security-engineering"
    assert owners["host"] == "cim-001-site-operations"  # the demo target's own ownership wins over the pack's
    assert all("owner" not in f for f in doc["findings"] if f["status"] == "pass")
