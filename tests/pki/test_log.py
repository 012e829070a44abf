"""The issuance log finds edited, removed, reordered and cut-off entries."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pki import log
from pki.ca import CA, KeyOpener
from pki.errors import LogError

MakeCA = Callable[..., tuple[CA, KeyOpener]]


@pytest.fixture
def logged(make_ca: MakeCA, tmp_path: Path) -> CA:
    ca, opener = make_ca()
    for i in range(3):
        ca.issue(f"node-{i}", "nats-client", opener, tmp_path / f"n{i}")
    assert ca.verify_log().ok
    return ca


def lines(ca: CA) -> list[str]:
    return (ca.folder / "log.jsonl").read_text().splitlines(keepends=True)


def rewrite(ca: CA, new: list[str]) -> None:
    (ca.folder / "log.jsonl").write_text("".join(new))


def test_entries_chain_and_describe_events(logged: CA) -> None:
    entries = [json.loads(line) for line in lines(logged)]
    assert [e["event"] for e in entries] == ["intent", "init", "intent", "intermediate", *["intent", "issue"] * 3]
    assert [e["seq"] for e in entries] == list(range(1, 11))
    intents, completions = entries[::2], entries[1::2]
    assert all(i["serial"] == c["serial"] and c["details"]["intent"] == i["seq"] for i, c in zip(intents, completions, strict=True))
    assert all(len(i["details"]["tbs_sha256"]) == 64 and i["details"]["lint"]["errors"] == [] for i in intents)
    assert entries[0]["prev"] == log.GENESIS
    assert all(b["prev"] == a["hash"] for a, b in itertools.pairwise(entries))
    assert all(log.entry_hash(e) == e["hash"] for e in entries)


def test_an_edited_entry_is_found(logged: CA) -> None:
    content = lines(logged)
    content[7] = content[7].replace('"node-1"', '"node-X"')
    rewrite(logged, content)
    problems = logged.verify_log().problems
    assert any("line 8 (seq 8): edited" in p for p in problems)


def test_an_edited_entry_with_a_recomputed_hash_still_breaks_the_chain(logged: CA) -> None:
    content = lines(logged)
    entry = json.loads(content[5])
    entry["node"] = "intruder"
    entry["hash"] = log.entry_hash(entry)
    content[5] = json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n"
    rewrite(logged, content)
    assert any("line 7 (seq 7): does not chain" in p for p in logged.verify_log().problems)


def test_a_removed_entry_is_found(logged: CA) -> None:
    content = lines(logged)
    del content[5]
    rewrite(logged, content)
    problems = logged.verify_log().problems
    assert any("seq 7 follows seq 5" in p for p in problems)


def test_reordered_entries_are_found(logged: CA) -> None:
    content = lines(logged)
    content[5], content[7] = content[7], content[5]
    rewrite(logged, content)
    assert any("removed or reordered" in p for p in logged.verify_log().problems)


def test_entries_cut_off_the_end_are_found(logged: CA) -> None:
    rewrite(logged, lines(logged)[:-1])
    problems = logged.verify_log().problems
    assert any("the log has 9 entries but the inventory recorded 10" in p for p in problems)
    assert any("in the inventory but not in the log" in p for p in problems)


def test_garbage_lines_are_reported_not_crashed_on(logged: CA) -> None:
    rewrite(logged, [*lines(logged), "{not json\n"])
    assert any("line 11: not JSON" in p for p in logged.verify_log().problems)


def test_a_missing_log_is_an_error(logged: CA) -> None:
    (logged.folder / "log.jsonl").unlink()
    with pytest.raises(LogError, match="missing"):
        logged.verify_log()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=60), st.builds(
    lambda d: json.dumps(d).encode(),
    st.dictionaries(st.sampled_from(log.FIELDS), st.one_of(st.integers(), st.text(max_size=5), st.none()))))))
def test_verify_never_crashes_on_any_content(tmp_path_factory: pytest.TempPathFactory, content: list[bytes]) -> None:
    path = tmp_path_factory.mktemp("log") / "log.jsonl"
    path.write_bytes(b"\n".join(c.replace(b"\n", b" ") for c in content))
    report = log.verify(path)
    assert report.ok == (report.problems == ())
    try:
        log.last_entry(path)
    except LogError:
        pass
