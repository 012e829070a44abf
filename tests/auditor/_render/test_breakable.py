"""Paths and ids in the HTML report may wrap only after a separator: `breakable` adds <wbr> there
and nowhere else, and escapes everything else."""

from __future__ import annotations

import html

from hypothesis import given
from hypothesis import strategies as st

from auditor._render.html import breakable


def test_break_opportunities_after_separators_only() -> None:
    out = str(breakable("k8s/nats-exporter.yaml#0 Deployment/cim-production"))
    assert out == "k8s/<wbr>nats-<wbr>exporter.<wbr>yaml#<wbr>0 Deployment/<wbr>cim-<wbr>production"
    assert "productio<wbr>n" not in out


@given(st.text(max_size=200))
def test_the_text_is_kept_and_escaped(value: str) -> None:
    out = str(breakable(value))
    assert html.unescape(out.replace("<wbr>", "")) == value
    assert "<" not in out.replace("<wbr>", "")
    for i in (j for j in range(len(out)) if out.startswith("<wbr>", j)):
        assert html.unescape(out[:i].replace("<wbr>", ""))[-1] in "/.:#,=@_-"
