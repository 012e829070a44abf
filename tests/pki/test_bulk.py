"""tests/pki/bulk.py, the benchmarks' way of filling a CA's records, held to the CA's own log:
what it writes verifies as the CA's own entries do, and each entry's status is what its events
make it (the benchmarks compute what they expect from the entries they hand it)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from pki.ca import CA, KeyOpener
from tests.pki.bulk import bulk_records


def test_bulk_records_log_what_the_entries_say(make_ca: Callable[..., tuple[CA, KeyOpener]], tmp_path: Path) -> None:
    ca, opener = make_ca()
    issued = ca.issue("template", "nats-client", opener, tmp_path / "t")
    template = issued.entry
    entries = [
        dataclasses.replace(template, serial="7" + "0" * 29, node="valid-node"),
        dataclasses.replace(template, serial="7" + "1" * 29, node="revoked-node", status="revoked",
                            revocation_reason="keyCompromise", revoked_at="2026-11-30T00:00:00Z"),
        dataclasses.replace(template, serial="7" + "2" * 29, node="revoked-plainly", status="revoked"),
    ]
    before = ca.verify_log().entries
    bulk_records(ca, entries, issued.certificate)
    listed = {e.serial: e for e in ca.list()}
    for entry in entries:
        assert listed[entry.serial].status == entry.status, entry.node
    revoked = listed["7" + "1" * 29]
    assert (revoked.revocation_reason, revoked.revoked_at) == ("keyCompromise", "2026-11-30T00:00:00Z")
    assert listed["7" + "2" * 29].revocation_reason == "unspecified"
    report = ca.verify_log()
    assert report.ok, report.problems
    assert report.entries == before + 2 * len(entries) + 2  # an intent and an issue each, and the two revocations


def test_bulk_records_refuse_a_status_they_cannot_log(make_ca: Callable[..., tuple[CA, KeyOpener]],
                                                       tmp_path: Path) -> None:
    ca, opener = make_ca()
    issued = ca.issue("template", "nats-client", opener, tmp_path / "t")
    superseded = dataclasses.replace(issued.entry, serial="7" + "3" * 29, node="n", status="superseded")
    with pytest.raises(ValueError, match="superseded"):
        bulk_records(ca, [superseded], issued.certificate)
