"""README.md's and docs/' sample outputs are what the demo prints now (tests/samples.py)."""

from __future__ import annotations

import re

import pytest

from tests.samples import ROOT, SAMPLES, Sample, current, generate, masked, replace


@pytest.fixture(scope="module")
def blocks() -> dict[str, str]:
    return generate()


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
def test_sample_is_what_the_demo_prints(sample: Sample, blocks: dict[str, str]) -> None:
    text = (ROOT / sample.file).read_text(encoding="utf-8")
    shown = current(text, sample.name)
    assert shown is not None, f"{sample.file} has no markers for sample {sample.name}"
    assert masked(shown) == masked(blocks[sample.name]), (
        f"{sample.file}: sample '{sample.name}' drifted; run .venv/bin/python -m tests.samples"
    )


def test_only_day_to_day_values_are_masked(blocks: dict[str, str]) -> None:
    block = blocks["scan"]
    assert "Verdict: " in block and block.startswith("```text\n$ auditor scan --target cim-prod-001\n")
    day_later = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "2031-01-02T03:04:05Z", block)
    assert masked(day_later) == masked(block)
    # wrapped elsewhere (a serial number a digit shorter): the same words; other words differ
    wrapped = "(serial 0a1b) was revoked\n      on 2026-12-01T19:35:43Z at etc/backup-client-\n      cert.pem\n"
    shorter = "(serial a1b) was revoked on\n      2026-12-01T19:35:43Z at etc/backup-client-cert.pem\n"
    assert masked(wrapped) == masked(shorter.replace("a1b", "0a1b"))
    assert masked(wrapped) != masked(wrapped.replace("revoked", "kept"))
    verdict = next(line for line in block.splitlines() if line.startswith("Verdict"))
    assert re.search(r"\d", verdict), verdict
    miscounted = block.replace(verdict, re.sub(r"\d+", lambda m: str(int(m.group()) + 1), verdict, count=1))
    assert miscounted != block
    assert masked(miscounted) != masked(block)
    text = "a\n<!-- sample scan: generated; do not edit -->\nold\n<!-- /sample -->\nb\n"
    assert replace(text, "scan", "new\n") == "a\n<!-- sample scan: generated; do not edit -->\nnew\n<!-- /sample -->\nb\n"
