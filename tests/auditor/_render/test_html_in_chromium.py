"""The HTML sign-off report of the demo scan, opened in real headless Chromium (DevTools protocol):
every section filled, sign-offs shown, no console error, nothing fetched from any network."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from auditor._models import Status
from auditor._signoff.record import record_signoff
from tests.auditor._render.reports import DemoScan, demo_scan
from tests.browser import Page, chromium_page
from tests.conftest import run_cli
from tests.gpg import LEADS, keyring

pytestmark = pytest.mark.slow

SECTIONS = ("verdict", "summary", "checklist", "problems", "passes", "waivers", "collection", "metadata", "signoff",
            "findings")

# One script reads everything the assertions need from the rendered DOM.
DOM_FACTS = """
(() => {
  const q = (s) => Array.from(document.querySelectorAll(s));
  const text = (s) => (document.querySelector(s) || {innerText: ''}).innerText.trim();
  return {
    sections: Object.fromEntries(SECTION_IDS.map((id) => [id, text('#' + id).length])),
    badge: text('#verdict .badge'),
    why: text('#verdict .why'),
    bars: q('#summary svg rect').length,
    charts: q('#summary svg').length,
    checklistRows: q('#checklist tr[data-status]').map((r) => [r.id, r.dataset.status]),
    checklistLinks: q('#checklist tr[data-status] a').length,
    findings: q('#findings article.finding').map((a) => [a.id, a.className]),
    remediation: q('#findings article.fail dd').length,
    waiversActive: q('#waivers tr.waiver-active').length,
    waiversExpired: q('#waivers tr.waiver-expired').length,
    metadata: q('#metadata dd').map((d) => d.innerText.trim()),
    signoffs: q('#signoff tr[data-role]').map((r) => [r.dataset.role, r.dataset.signed, r.innerText]),
    scripts: q('script').length,
    external: q('[src], link[href]').map((e) => e.getAttribute('src') || e.getAttribute('href')),
  };
})()
""".replace("SECTION_IDS", json.dumps(list(SECTIONS)))


@pytest.fixture(scope="module")
def signed_report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoScan, Path, dict[str, str]]]:
    folder = tmp_path_factory.mktemp("report")
    scan = demo_scan(folder)
    with keyring(folder, {"security": LEADS["security"], "infrastructure": LEADS["infrastructure"]}) as (home, keys):
        for role, decision in (("security", "approve"), ("infrastructure", "reject")):
            record_signoff(scan.result_path, role=role, key=keys[role], decision=decision,
                           comment=f"{role} comment", gnupghome=str(home))
        allowed = folder / "allowed-signers.yaml"
        allowed.write_text(
            "version: 1\nsigners:\n"
            + "".join(f"  - {{name: {role} lead, fingerprint: '{fpr}', roles: [{role}]}}\n" for role, fpr in keys.items())
        )
        html = folder / "report.html"
        run = run_cli("report", str(scan.result_path), "--format", "html", "-o", str(html), "--appendix",
                      "--allowed-signers", str(allowed), env={"GNUPGHOME": str(home)})
        assert run.code == 0, run.err
        yield scan, html, keys


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    with chromium_page() as p:
        yield p


def test_demo_report_opens_with_every_section_filled(signed_report: tuple[DemoScan, Path, dict[str, str]], page: Page) -> None:
    scan, html, keys = signed_report
    log = page.open(html.as_uri())
    assert log.errors() == []
    assert [u for u in log.requests if not u.startswith(("file:", "data:"))] == []
    facts: dict[str, Any] = page.evaluate(DOM_FACTS)
    result = scan.result

    for section in SECTIONS:
        assert facts["sections"][section] > 40, f"section {section} is empty"
    assert facts["badge"] == "NOT READY"
    v = result.verdict
    assert f"{v.problems} problems ({v.rule_hits} rule hits) at or above high" in facts["why"]
    assert v.rule_hits == len(result.failures()) and v.problems < v.rule_hits
    assert facts["charts"] == 2 and facts["bars"] >= 4
    assert result.checklist is not None
    rows = dict(facts["checklistRows"])
    assert len(rows) == len(result.checklist.items)
    from auditor._render.sections import item_status

    expected = {
        f"item-{item.id}": item_status([f for f in result.findings if item.id in f.references.get("checklist", ())])
        for item in result.checklist.items
    }
    assert rows == expected
    assert {"fail", "pass", "manual"} <= set(rows.values())  # the demo shows each kind of row
    assert rows["item-cim.crypto.token-backup"] == "manual"  # no rule can evidence a procedure
    assert facts["checklistLinks"] > 0
    assert len(facts["findings"]) == len(result.findings)
    failing = sum(1 for f in result.findings if f.status is Status.FAIL)
    assert sum("fail" in cls.split() for _, cls in facts["findings"]) == failing
    assert facts["remediation"] >= failing
    assert facts["waiversActive"] == sum(1 for f in result.findings if f.status is Status.WAIVED)
    assert facts["waiversExpired"] == len(result.expired_waivers) >= 1
    meta = " ".join(facts["metadata"])
    for value in (result.bundle_digest, result.tool["rules_digest"], result.evaluated_at, "cim-prod-001"):
        assert value in meta
    signoffs = {role: (signed, text) for role, signed, text in facts["signoffs"]}
    assert list(signoffs) == ["infrastructure", "security", "operations", "development"]
    assert signoffs["security"][0] == "true" and keys["security"] in signoffs["security"][1]
    assert "APPROVE" in signoffs["security"][1].upper() and "allowed for the role" in signoffs["security"][1]
    assert "REJECT" in signoffs["infrastructure"][1].upper()
    assert signoffs["operations"][0] == "false"
    assert facts["scripts"] == 0 and facts["external"] == []

    shots = os.environ.get("AUDITOR_SCREENSHOTS")
    target = Path(shots) if shots else html.parent
    page.screenshot(target / "report.png")
    assert (target / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_markup_in_findings_stays_text(tmp_path: Path, page: Page) -> None:
    """Evidence and messages are escaped: a hostile message neither runs nor adds elements."""

    from auditor._render import renderer
    from auditor._render.interface import RenderOptions

    scan = demo_scan(tmp_path)
    evil = '<script>console.error("pwned")</script><img src="http://203.0.113.9/x.png" onerror="console.error(1)">'
    findings = tuple(
        msgspec.structs.replace(f, message=evil, resource=f"{f.resource}<b>x</b>") if i == 0 else f
        for i, f in enumerate(scan.result.findings)
    )
    html = tmp_path / "evil.html"
    doc = renderer("html", RenderOptions(appendix=True)).document(scan.result.changed(findings=findings))
    assert isinstance(doc, str)
    html.write_text(doc)
    log = page.open(html.as_uri())
    assert log.errors() == []
    assert log.requests == [html.as_uri()]
    facts = page.evaluate(
        "({scripts: document.querySelectorAll('script, img').length,"
        " text: document.getElementById('f-1').innerText})"
    )
    assert facts["scripts"] == 0
    assert '<script>console.error("pwned")</script>' in facts["text"]
    assert "<b>x</b>" in facts["text"]
