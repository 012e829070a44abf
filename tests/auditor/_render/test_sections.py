"""The report's view of a result: checklist item status, waivers, chart geometry, sign-off rows."""

from __future__ import annotations

import pytest

from auditor._models import Checklist, ChecklistItem, Status
from auditor._render.interface import RenderOptions
from auditor._render.sections import build_view, chart, item_status
from auditor._signoff.model import SignoffCheck
from tests.auditor._render.test_formats import sample_result


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ((), "manual"),
        ((Status.PASS, Status.PASS), "pass"),
        ((Status.PASS, Status.WAIVED), "waived"),
        ((Status.PASS, Status.NOT_EVALUATED), "incomplete"),
        ((Status.WAIVED, Status.ERROR), "incomplete"),
        ((Status.ERROR, Status.FAIL, Status.PASS), "fail"),
    ],
)
def test_item_status(statuses: tuple[Status, ...], expected: str) -> None:
    assert item_status(sample_result(*statuses).findings) == expected


def test_checklist_rows_and_signoff_rows() -> None:
    checklist = Checklist("c", "C", "seeds", (
        ChecklistItem("cim.nats.tls-deployed", "NATS", "TLS deployed"),
        ChecklistItem("cim.crypto.token-backup", "Crypto", "Backups documented", automatable=False),
    ))
    result = sample_result(Status.PASS, Status.FAIL).changed(checklist=checklist)
    signed = SignoffCheck("security", "approve", fingerprint="A" * 40)
    odd = SignoffCheck("cfo", "approve", problems=("'cfo' is not a sign-off role",))
    view = build_view(result, RenderOptions(signoffs=(signed, odd)))
    rows = {row.item.id: row for _, rows in view.checklist for row in rows}
    assert rows["cim.nats.tls-deployed"].status == "fail"
    assert [g.rule_id for g in rows["cim.nats.tls-deployed"].by_rule()] == ["NATS-001", "NATS-002"]
    assert rows["cim.crypto.token-backup"].status == "manual"
    assert view.checklist_counts["fail"] == 1 and view.checklist_counts["manual"] == 1
    assert [(s.role, s.check) for s in view.signoffs][1] == ("security", signed)
    assert view.signoffs[0].check is None
    assert view.extra_signoffs == (odd,)


def test_chart_scales_bars_to_the_largest() -> None:
    c = chart("x", {"a": {"pass": 3, "fail": 1}, "b": {"pass": 2}, "empty": {"pass": 0}})
    assert [b.label for b in c.bars] == ["a", "b"]
    a, b = c.bars
    assert a.segments[0].status == "fail" and a.segments[1].status == "pass"
    full = sum(s.width for s in a.segments)
    assert sum(s.width for s in b.segments) == pytest.approx(full / 2, rel=0.01)
