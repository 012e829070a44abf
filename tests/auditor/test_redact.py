"""Scrubbing secret-looking values out of report text."""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from auditor._models import Finding, RedactedResult, ScanResult, Severity, Status, Waiver
from auditor._redact import (
    _CANDIDATE_PATTERNS,
    _CLEAN,
    _SECRET_PATTERNS,
    _SHARED_TEXTS,
    _candidate_re,
    _has_candidate,
    _plain_finding_id,
    fingerprint,
    legacy_fingerprint,
    redact_result,
    scrub,
    scrub_tree,
)


@pytest.mark.parametrize(
    "secret",
    [
        "SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU",
        "hvs.CAESIJlJq0kq7hLxUeyNoFe4Hq0ZtWz9",
        "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ",
        "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----",
    ],
)
def test_secrets_are_redacted(secret: str) -> None:
    out = scrub(f"found {secret} in the file")
    assert secret not in out and "…(hmac:" in out


@pytest.mark.parametrize("text", ["no secret: CN=nats, token missing", "password: required", "CERT-004 etc/a.pem"])
def test_prose_is_left_alone(text: str) -> None:
    assert scrub(text) == text


def test_key_value_keeps_the_key_and_tree_scrubs_every_string() -> None:
    assert scrub("password=hunter2hunter2").startswith("password=")
    tree = scrub_tree({"a": ["token: s3cr3t-v4lue"], "b": 1})
    assert "s3cr3t-v4lue" not in str(tree) and tree["b"] == 1


@given(st.text(max_size=200))
def test_scrub_is_idempotent(text: str) -> None:
    once = scrub(text)
    assert scrub(once) == once
    if once != text:
        assert "…(hmac:" in once


@pytest.mark.parametrize("index", range(len(_SECRET_PATTERNS)))
@given(data=st.data())
def test_every_secret_match_contains_a_candidate(index: int, data: st.DataObject) -> None:
    """scrub skips text with no candidate part: that is only sound if every match of every
    secret pattern contains one (a pattern added without its candidate fails here)."""
    pattern = re.compile(_SECRET_PATTERNS[index], re.DOTALL)
    text = data.draw(st.from_regex(pattern, fullmatch=True))
    assert _candidate_re().search(text), f"pattern {index} matched {text!r} with no candidate"


@given(st.text(max_size=80) | st.from_regex("|".join(f"(?:{p})" for p in _CANDIDATE_PATTERNS)))
def test_the_fast_candidate_check_agrees_with_the_patterns(text: str) -> None:
    assert _has_candidate(text) == bool(_candidate_re().search(text))
    padded = f"x {text} y"
    assert _has_candidate(padded) == bool(_candidate_re().search(padded))
    long = f"{'CN=Node Z, ' * 5}{text} y"  # long text: an upper-case run is sought another way
    assert _has_candidate(long) == bool(_candidate_re().search(long))


_NEAR_PARTS = (
    "-----BEGIN ", "-----BEGIN", "----BEGIN ", "eyJ", "ey", "AGE-SECRET", "AGE-SECRE", "hvs.", "hvb.", "hvr.", "hvx.",
    "hv", "s.", "s", ".", "AKIA", "ASIA", "AKI", "SIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "ghx_", "gh", "xoxa-",
    "xoxb-", "xoxp-", "xoxr-", "xoxs-", "xoxz-", "xox", "passw", "pass", "passwd", "passphrase", "secret", "secre",
    "token", "toke", "api", "ap", "private", "privat", "A", "Z", "2", "7", "1", "8", "U", "u", "a", "_", "-", ":", " ",
    "\n", "ABCDEFGHIJ", "KLMNOPQRST", "2345672345", "A" * 19, "A" * 20, "a" * 24, "A1" * 12, "Ab3" * 8, "\x00", "\x7f",
)
"""The candidate parts, pieces of them and near misses: text made of these (in any case) meets
every branch of _has_candidate, and the edges of each part."""


@st.composite
def _near_candidates(draw: st.DrawFn) -> str:
    """ASCII text of candidate parts and near misses, some in swapped case, often padded to about
    _SHORT characters (where the search for an upper-case run changes its way)."""
    from auditor._redact import _SHORT

    piece = st.sampled_from(_NEAR_PARTS) | st.text(st.characters(max_codepoint=127), max_size=3)
    parts = draw(st.lists(st.tuples(piece, st.booleans()), max_size=10))
    text = "".join(p.swapcase() if swapped else p for p, swapped in parts)
    pad = draw(st.sampled_from([0, _SHORT - len(text) - 1, _SHORT - len(text), _SHORT - len(text) + 1, 2 * _SHORT]))
    if pad > 0:
        filler = draw(st.sampled_from(".UaA 7")) * pad
        text = filler + text if draw(st.booleans()) else text + filler
    return text


@settings(max_examples=1500)
@given(_near_candidates())
def test_the_fast_candidate_check_agrees_with_the_patterns_near_every_part(text: str) -> None:
    """_has_candidate is _candidate_re's search exactly (scrub skips text it says holds none),
    on text made to sit on the edges of each candidate part, in any case, short and long."""
    assert _has_candidate(text) == bool(_candidate_re().search(text)), text


def test_every_spelt_out_part_of_the_candidate_check_is_searched() -> None:
    """_has_candidate spells its words and literal parts out: each of those it names finds a
    candidate, in short text and in long, and each other part of _CASED starts as it says."""
    from auditor._redact import _CASED, _CASED_LITERALS, _CASED_STARTS, _SHORT, _WORDS

    for part in (*_WORDS, *(w.upper() for w in _WORDS), *_CASED_LITERALS, "hvs.x", "s." + "a" * 24, "ghp_",
                 "xoxb-", "A2" * 10):
        for text in (f"- {part} -", f"{'.' * _SHORT} {part} -"):
            assert _has_candidate(text) and _candidate_re().search(text), text
    for alternative in _CASED.pattern.split("|"):
        assert alternative in _CASED_LITERALS or alternative.replace("\\", "").startswith(_CASED_STARTS), alternative


@pytest.mark.parametrize("index", range(len(_CANDIDATE_PATTERNS)))
@given(data=st.data())
def test_no_candidate_matches_a_colon_or_sixteen_hex_digits_alone(index: int, data: st.DataObject) -> None:
    """What lets redaction skip scrubbing a finding id (`RULE-ID:` and 16 hex digits) whose rule id
    holds no candidate (_plain_finding_id): a candidate part of the id would have to lie in its
    rule id. A pattern added that could match a colon, or lie in the digits, fails here."""
    pattern = re.compile(_CANDIDATE_PATTERNS[index], re.DOTALL)
    text = data.draw(st.from_regex(pattern, fullmatch=True))
    assert ":" not in text
    assert len(text) > 16 or text.strip("0123456789abcdef"), f"pattern {index} matched hex digits {text!r}"


@given(rule_id=st.from_regex(r"[A-Za-z0-9_.-]{1,24}", fullmatch=True) | st.sampled_from(
           ["API-001", "TOKEN-2", "SECRETS-009", "AKIA-1", "PSS-RESTR-006", "K8S-001"]),
       digits=st.from_regex(r"[0-9a-f]{16}", fullmatch=True) | st.sampled_from(["2" * 16, "a" * 16, "7" * 16]))
def test_a_finding_id_taken_as_plain_is_what_scrubbing_gives(rule_id: str, digits: str) -> None:
    fid = f"{rule_id}:{digits}"
    if _plain_finding_id(fid, rule_id):
        assert scrub(fid) == fid and not _has_candidate(fid)
    else:
        assert _has_candidate(rule_id)
    assert not _plain_finding_id(f"{rule_id}:{digits}0", rule_id)
    assert not _plain_finding_id(f"{rule_id}:{digits[:-1]}G", rule_id)
    assert not _plain_finding_id(f"X{rule_id}:{digits}", rule_id)
    assert not _plain_finding_id(f"{rule_id}:{digits}", f"{rule_id}X")


def test_a_finding_of_a_rule_whose_id_looks_secret_is_still_scrubbed() -> None:
    secret_rule = "TOKEN-" + "A" * 20  # a candidate part (an upper-case run), and a secret's key: value
    finding = msgspec.structs.replace(_finding_with("plain words"), waiver=None, rule_id=secret_rule,
                                    id=f"{secret_rule}:{'0' * 16}")
    assert not _plain_finding_id(finding.id, secret_rule)
    result = ScanResult(target={"name": "n"}, policies=(), evaluated_at="2026-01-01T00:00:00Z",
                        tool={}, bundle_digest="", findings=(finding,))
    assert redact_result(result).findings[0].id == scrub(finding.id)


def test_text_without_a_candidate_is_returned_as_it_is() -> None:
    text = "spec.template.spec.containers[0].securityContext.runAsNonRoot is not true"
    assert not _candidate_re().search(text)
    assert scrub(text) is text


def _finding_with(value: str) -> Finding:
    """A finding whose every string is `value` prefixed with the name of its field."""

    def v(name: str) -> str:
        return f"{name}: {value}"

    return Finding(
        rule_id=v("rule_id"), title=v("title"), area=v("area"), severity=Severity.HIGH,
        status=Status.FAIL, resource=v("resource"), message=v("message"), evidence=(v("evidence"),),
        pointer=v("pointer"), remediation=v("remediation"), references={v("ref"): (v("references"),)},
        owner=v("owner"), due=v("due"),
        waiver=Waiver(rule=v("rule"), resource=v("wresource"), reason=v("reason"), approver=v("approver"),
                      expires="2030-01-01", policy=v("policy")),
        id=v("id"), correlation=v("correlation"),
    )


def test_a_redacted_result_has_no_secret_in_any_finding_field() -> None:
    secret = "hvs.CAESIJlJq0kq7hLxUeyNoFe4Hq0ZtWz9"
    result = ScanResult(target={"name": "n"}, policies=(), evaluated_at="2026-01-01T00:00:00Z",
                        tool={}, bundle_digest="", findings=(_finding_with(secret),))
    clean = redact_result(result)
    assert isinstance(clean, RedactedResult)
    assert secret in json.dumps(result.to_dict())
    assert secret not in json.dumps(clean.to_dict())
    # every field was scrubbed in its own place (a field added without scrubbing fails here)
    got = clean.findings[0]
    for f in msgspec.structs.fields(Finding):
        value = getattr(got, f.name)
        assert secret not in repr(value), f.name
        if isinstance(value, str):
            assert value.startswith(f"{f.name}: "), (f.name, value)
    assert got.evidence[0].startswith("evidence: ") and got.waiver is not None
    assert got.waiver.reason.startswith("reason: ")
    [(ref, values)] = got.references.items()
    assert ref.startswith("ref: ") and values[0].startswith("references: ")


def test_redacting_a_clean_result_keeps_its_findings() -> None:
    finding = msgspec.structs.replace(_finding_with("plain words"), waiver=None)
    result = ScanResult(target={"name": "n"}, policies=(), evaluated_at="2026-01-01T00:00:00Z",
                        tool={}, bundle_digest="", findings=(finding,))
    assert redact_result(result).findings[0] is finding


_STRING_FIELDS = [f.name for f in msgspec.structs.fields(Finding) if f.type is str]


@pytest.mark.parametrize("field", [*_STRING_FIELDS, "evidence", "references", "reference key"])
def test_one_secret_in_one_field_of_one_finding_among_clean_ones_is_scrubbed(field: str) -> None:
    """Redaction proves a result's strings clean as a whole (each distinct one once, those proven
    kept between results): a secret in any one field of one finding still sends that finding
    through scrubbing, and no text holding it is ever kept as proven clean."""
    secret = "hvs.CAESIJlJq0kq7hLxUeyNoFe4Hq0ZtWz9"
    clean = [msgspec.structs.replace(_finding_with(f"plain {n}"), waiver=None) for n in range(3)]
    redact_result(_result_of(*clean))  # their strings proven clean and kept
    dirty = _planted(clean[1], field, secret)
    got = redact_result(_result_of(clean[0], dirty, clean[2])).findings
    assert secret in repr(dirty) and secret not in repr(got)
    assert got[0] is clean[0] and got[2] is clean[2]
    assert not any(secret in text for text in _CLEAN)
    again = redact_result(_result_of(dirty)).findings[0]  # and so again, in a result of its own
    assert again == got[1] and secret not in repr(again)


def _planted(plain: Finding, field: str, secret: str) -> Finding:
    """`plain` with `secret` in one field: a string field, a record id, a reference or its key,
    or the rule id part of a finding id (`id rule part`)."""
    if field == "evidence":
        return msgspec.structs.replace(plain, evidence=(*plain.evidence, f"ev {secret}"))
    if field == "references":
        return msgspec.structs.replace(plain, references={"nist": ("SC-1", f"x {secret}")})
    if field == "reference key":
        return msgspec.structs.replace(plain, references={f"k {secret}": ("SC-1",)})
    if field == "id rule part":
        return msgspec.structs.replace(plain, id=f"{secret}{plain.id[-17:]}")
    changes: dict[str, Any] = {field: f"{getattr(plain, field)} {secret}"}
    return msgspec.structs.replace(plain, **changes)


def test_strings_proven_clean_are_kept_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from auditor import _redact

    monkeypatch.setattr(_redact, "_CLEAN_KEPT", 30)
    _CLEAN.clear()
    findings = [msgspec.structs.replace(_finding_with(f"plain {n}"), waiver=None) for n in range(2)]
    assert redact_result(_result_of(*findings)).findings == tuple(findings)
    assert findings[0].resource in _CLEAN and "ev-0123456789abcdef" not in _CLEAN
    redact_result(_result_of(*[msgspec.structs.replace(f, resource=f"other {n}") for n, f in enumerate(findings)]))
    assert len(_CLEAN) <= 30 and "other 0" in _CLEAN


def test_fingerprints_are_hmacs_under_the_installation_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14: an unsalted 48-bit SHA-256 prefix let a 6-character password be recovered."""
    import hashlib
    import hmac

    from auditor._redact import KEY_ENV, fingerprint, key_id

    key = tmp_path / "fleet.key"
    key.write_text("ab" * 32 + "\n")
    key.chmod(0o600)
    monkeypatch.setenv(KEY_ENV, str(key))
    expected = hmac.new(bytes.fromhex("ab" * 32), b"pa55wd", hashlib.sha256).hexdigest()[:32]
    assert fingerprint("pa55wd") == "hmac:" + expected  # 128 bits
    assert hashlib.sha256(b"pa55wd").hexdigest()[:12] not in fingerprint("pa55wd")
    first_id = key_id()
    other = tmp_path / "other.key"
    other.write_text("cd" * 32 + "\n")
    other.chmod(0o600)
    monkeypatch.setenv(KEY_ENV, str(other))
    assert fingerprint("pa55wd") != "hmac:" + expected and key_id() != first_id


def test_a_fingerprinter_is_fingerprint_under_the_key_in_force_when_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scanner makes one per file (its key looked up once, not twice a secret)."""
    from auditor._redact import KEY_ENV, fingerprint, fingerprinter, redact

    keys = []
    for name, hexed in (("a.key", "ab"), ("b.key", "cd")):
        key = tmp_path / name
        key.write_text(hexed * 32 + "\n")
        key.chmod(0o600)
        keys.append(key)
    monkeypatch.setenv(KEY_ENV, str(keys[0]))
    made = fingerprinter()
    values = [b"pa55wd", b"", "pässwort".encode(), bytes(range(256))]
    assert [made(v) for v in values] == [fingerprint(v) for v in values]
    assert [redact(v, fingerprint_of=made) for v in values] == [redact(v) for v in values]
    monkeypatch.setenv(KEY_ENV, str(keys[1]))
    assert made(b"pa55wd") != fingerprint(b"pa55wd") == fingerprinter()(b"pa55wd")


def test_a_missing_key_is_created_private_and_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from auditor._redact import KEY_ENV, fingerprint

    path = tmp_path / "conf" / "auditor" / "fingerprint.key"
    monkeypatch.setenv(KEY_ENV, str(path))
    once = fingerprint("x")
    assert path.stat().st_mode & 0o777 == 0o600 and len(path.read_text().strip()) == 64
    assert fingerprint("x") == once and list(path.parent.iterdir()) == [path]


def test_a_key_readable_by_others_or_not_a_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from auditor._redact import KEY_ENV, fingerprint
    from auditor.errors import ConfigError

    loose = tmp_path / "loose.key"
    loose.write_text("ab" * 32 + "\n")
    loose.chmod(0o644)
    monkeypatch.setenv(KEY_ENV, str(loose))
    with pytest.raises(ConfigError, match="readable by others"):
        fingerprint("x")
    fifo = tmp_path / "fifo.key"
    os.mkfifo(fifo, 0o600)
    monkeypatch.setenv(KEY_ENV, str(fifo))
    with pytest.raises(ConfigError, match="not a regular file"):
        fingerprint("x")
    short = tmp_path / "short.key"
    short.write_text("abcd\n")
    short.chmod(0o600)
    monkeypatch.setenv(KEY_ENV, str(short))
    with pytest.raises(ConfigError, match="not a fingerprint key"):
        fingerprint("x")


@pytest.mark.parametrize(("value", "shown"), [
    ("pa55wd", ""), ("fifteen-chars!!", ""), ("sixteen-chars!!!", "sixt"),
    ("SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU", "SUAM"),
])
def test_previews_show_at_most_four_characters_and_none_under_sixteen(value: str, shown: str) -> None:
    from auditor._redact import redact

    out = redact(value)
    assert out.startswith(shown + "…(hmac:") and re.fullmatch(r".{0,4}…\(hmac:[0-9a-f]{32}\)", out)
    assert redact(value, prefix=2).startswith(shown[:2] + "…(")


def test_a_redacted_result_is_made_by_redact_result_only() -> None:
    """Neither calling the class nor dataclasses.replace (which could swap raw findings into
    a redacted result) makes one: only redact_result does."""
    secret = "hvs.CAESIJlJq0kq7hLxUeyNoFe4Hq0ZtWz9"
    raw = ScanResult(target={"name": "n"}, policies=(), evaluated_at="2026-01-01T00:00:00Z",
                     tool={}, bundle_digest="", findings=(_finding_with(secret),))
    fields = {f.name: getattr(raw, f.name) for f in dataclasses.fields(ScanResult)}
    with pytest.raises(TypeError, match="redact_result"):
        RedactedResult(**fields)
    clean = redact_result(raw)
    with pytest.raises(TypeError, match="redact_result"):
        dataclasses.replace(clean, findings=raw.findings)
    assert clean.summary.by_status == raw.summary.by_status and clean.summary.total == 1


def test_a_pass_message_that_is_its_title_is_redacted_with_it() -> None:
    secret = "hvs.CAESIJlJq0kq7hLxUeyNoFe4Hq0ZtWz9"
    title = f"token {secret} is fine"
    finding = Finding(rule_id="R-1", title=title, area="a", severity=Severity.LOW, status=Status.PASS,
                      resource="r", message=title, evidence=("ev-0123456789abcdef", "not an id: token=hunter2xyz9"))
    result = ScanResult(target={"name": "n"}, policies=(), evaluated_at="2026-01-01T00:00:00Z",
                        tool={}, bundle_digest="", findings=(finding,))
    (clean,) = redact_result(result).findings
    assert secret not in clean.title and secret not in clean.message and clean.message == clean.title
    assert clean.evidence[0] == "ev-0123456789abcdef" and "hunter2xyz9" not in clean.evidence[1]


def _result_of(*findings: Finding) -> ScanResult:
    return ScanResult(target={"name": "n"}, policies=(), evaluated_at="2026-01-01T00:00:00Z",
                      tool={}, bundle_digest="", findings=findings)


@pytest.mark.parametrize("references", [
    {"nist": ("SC-17",)},
    {"nist": ("token=hvs.CAESIJlJq0kq7hLxUeyNoFe4Hq0ZtWz9",)},
    {"nist": ["token=hvs.CAESIJlJq0kq7hLxUeyNoFe4Hq0ZtWz9"]},  # a list: not kept between results
])
@pytest.mark.parametrize("title", ["Plain words", "secret: hvs.CAESIJlJq0kq7hLxUeyNoFe4Hq0ZtWz9"])
def test_rule_texts_kept_between_results_give_what_scrubbing_gives(references: dict[str, Any], title: str) -> None:
    """A rule's texts and references are scrubbed once per process (by value): a second result
    with the same rule (its references another dict of the same value) gets what scrubbing each
    text gives, and the rule's own references when nothing in them changed."""
    def finding(refs: dict[str, Any]) -> Finding:
        return Finding(rule_id="R-7", title=title, area="a", severity=Severity.LOW, status=Status.PASS,
                       resource="r", message=title, references=refs)

    _SHARED_TEXTS.clear()
    first = dict(references)
    second = {k: (list(v) if isinstance(v, list) else tuple(v)) for k, v in references.items()}
    got = [redact_result(_result_of(finding(refs))).findings[0] for refs in (first, second)]
    expected = {scrub(k): tuple(scrub(x) for x in v) for k, v in references.items()}
    for refs, clean in zip((first, second), got, strict=True):
        assert clean.title == scrub(title) and clean.message == clean.title
        assert {k: tuple(v) for k, v in clean.references.items()} == expected
        unchanged = expected == {k: tuple(v) for k, v in references.items()}
        assert (clean.references is refs) is unchanged
        assert "CAESIJ" not in repr(clean)


_ID_RULES = st.sampled_from(["CERT-001", "K8S-SEC-004", "R", "TOKEN-1", "é-1", ""])


@st.composite
def _ids_of(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A rule id and ids near its plain finding ids: some plain, some with one character changed,
    cut or added (another rule's prefix, upper-case or non-ASCII digits, a colon elsewhere)."""
    from auditor._models import finding_id

    rule_id = draw(_ID_RULES)
    ids = [finding_id(rule_id, (draw(st.text(max_size=4)),)) for _ in range(draw(st.integers(1, 5)))]
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(ids) - 1))
        text = ids[at]
        where = draw(st.integers(0, len(text)))
        change = draw(st.sampled_from(["A", "F", "g", ":", "-", "٣", "0", "", "CERT-001:"]))
        cut = draw(st.integers(0, 1))
        ids[at] = text[:where] + change + text[where + cut:]
    return rule_id, ids


@given(_ids_of())
def test_ids_proven_plain_together_are_each_plain(case: tuple[str, list[str]]) -> None:
    """_plain_ids proves a rule's ids at once exactly when each is a plain finding id."""
    from auditor._redact import _plain_finding_id, _plain_ids

    rule_id, ids = case
    assert _plain_ids(rule_id, ids) == all(_plain_finding_id(fid, rule_id) for fid in ids)


@st.composite
def _ids_of_rules(draw: st.DrawFn) -> list[str]:
    """A result's ids: those of a few rules (_ids_of), one after another."""
    return [fid for _ in range(draw(st.integers(1, 4))) for fid in draw(_ids_of())[1]]


@given(_ids_of_rules())
def test_a_results_ids_proven_plain_at_once_are_each_plain(ids: list[str]) -> None:
    """_all_plain_ids proves a whole result's ids at once exactly when each is a plain finding id
    of the rule id it starts with (one without a candidate part): then scrubbing leaves each as it is."""
    from auditor._redact import _all_plain_ids

    each = all(_plain_finding_id(fid, fid[:-17]) for fid in ids)
    assert _all_plain_ids(ids) == each
    if each:
        assert all(scrub(fid) == fid and not _has_candidate(fid) for fid in ids)


@pytest.mark.parametrize("fid", [
    "TOKEN-1:0123456789abcdef", "hvs.CAESIJlJq0kq7hLxUeyNoFe4Hq0ZtWz9:0123456789abcdef",
    "R-1:0123456789abcdeF", "R-1:0123456789abcde:", "R-1-0123456789abcdef", "R-1:0123456789abcde",
    "R-1:0123456789abcdef0", "R-1:٠123456789abcdef", "0123456789abcdef",
])
def test_one_id_not_plain_among_plain_ones_is_not_proven(fid: str) -> None:
    from auditor._redact import _all_plain_ids

    plain = [f"CERT-00{n}:{n:016x}" for n in range(5)]
    assert _all_plain_ids(plain)
    assert not _all_plain_ids([*plain[:2], fid, *plain[2:]])


@settings(max_examples=300)
@given(st.lists(_near_candidates() | st.text(max_size=30) | st.from_regex(r"ev-[0-9a-f]{16}", fullmatch=True),
                min_size=1, max_size=8))
def test_strings_proven_clean_together_are_each_without_a_candidate(texts: list[str]) -> None:
    """_none_has_candidate proves a set of strings at once exactly when each is ASCII with no
    candidate part: then scrubbing leaves each as it is."""
    from auditor._redact import _none_has_candidate

    each = all(t.isascii() and not _has_candidate(t) for t in texts)
    assert _none_has_candidate(set(texts)) == each
    if each:
        assert all(scrub(t) == t for t in texts)


def _fleet_findings(node: str) -> list[Finding]:
    """Findings as evaluation makes them for a node of a fleet: three rules, each with its texts
    and references shared by its findings, plain finding ids, record ids, a node's own resources."""
    from auditor._models import finding_id

    out = []
    for rule in ("CERT-001", "CERT-002", "KEY-001"):
        title, refs = f"{rule} title", {"nist": ("SC-17",)}
        for n in range(4):
            resource = f"{node}/certs/{n}.pem"
            out.append(Finding(rule_id=rule, title=title, area="certificates", severity=Severity.HIGH,
                               status=Status.FAIL, resource=resource, message=f"{resource} expires",
                               evidence=(f"ev-{n:04x}{hash(node) & 0xFFFFFFFFFFFF:012x}",), pointer="/chain",
                               remediation=f"{rule} remediation", references=refs,
                               id=finding_id(rule, (resource,)), correlation=f"x509:{resource}",
                               owner="pki", due="2026-12-01"))
    return out


@pytest.mark.parametrize("field", [*_STRING_FIELDS, "evidence", "references", "reference key", "id rule part"])
def test_one_secret_among_a_fleets_findings_is_scrubbed(field: str) -> None:
    """The same as a fleet's bundles bring them (plain ids, record ids, new resources proven at
    once): a secret in any one field of one finding sends it through scrubbing, and no text
    holding it is kept as proven clean."""
    secret = "hvs.CAESIJlJq0kq7hLxUeyNoFe4Hq0ZtWz9"
    first = _fleet_findings("node-1")
    assert redact_result(_result_of(*first)).findings == tuple(first)  # the rules' texts proven and kept
    clean = _fleet_findings("node-2")
    dirty = _planted(clean[5], field, secret)
    findings = [*clean[:5], dirty, *clean[6:]]
    got = redact_result(_result_of(*findings)).findings
    assert secret in repr(dirty) and secret not in repr(got)
    assert all(g is f for g, f in zip(got, findings, strict=True) if f is not dirty)
    assert not any(secret in text for text in _CLEAN)


def test_a_field_not_a_string_is_looked_at_one_by_one() -> None:
    """A finding read from elsewhere may hold something else than a string where a string is
    expected (None for an owner): the strings proven at once are strings only, the rest is
    redacted finding by finding, as before."""
    findings = _fleet_findings("node-3")
    odd = msgspec.structs.replace(findings[1], owner=None)
    got = redact_result(_result_of(findings[0], odd, *findings[2:])).findings
    assert got[1] is odd and got[0] is findings[0]


@given(st.lists(st.from_regex(r"ev-[0-9a-f]{16}", fullmatch=True) | st.from_regex(r"ev-[0-9a-fA-Z٣:-]{15,17}", fullmatch=True)
                | st.from_regex(r"[a-z-]{3}[0-9a-f]{16}", fullmatch=True), min_size=1, max_size=6))
def test_record_ids_proven_together_are_each_a_record_id(records: list[str]) -> None:
    """_prefixed_hex("ev-", ...) proves a result's record ids at once exactly when each is one
    auditor makes (_RECORD_ID: no secret fits in it)."""
    from auditor._redact import _RECORD_ID, _prefixed_hex

    assert _prefixed_hex("ev-", set(records)) == all(_RECORD_ID.fullmatch(r) for r in records)


@pytest.mark.parametrize("record", ["ev-token=abc1234567", "ev-AKIAIOSFODNN7EXAMPLE"])
def test_a_secret_shaped_as_a_record_id_is_scrubbed(record: str) -> None:
    """A record id as long as one, or not, with a secret in it (`token=` and a value) is scrubbed."""
    findings = _fleet_findings("node-4")
    dirty = msgspec.structs.replace(findings[2], evidence=(findings[2].evidence[0], record))
    got = redact_result(_result_of(*findings[:2], dirty, *findings[3:])).findings
    assert scrub(record) != record and got[2].evidence == (findings[2].evidence[0], scrub(record))
    assert got[0] is findings[0]



_PARSER: Any = importlib.import_module("re._parser")  # CPython's own: what re.compile reads a pattern with
_SRE: Any = importlib.import_module("re._constants")


def _operators(node: Any) -> set[Any]:
    """The operators of a parsed regular expression (re._parser), at every depth."""
    found: set[Any] = set()
    if isinstance(node, _PARSER.SubPattern):
        for op, arg in node:
            found |= {op, *_operators(arg)}
    elif isinstance(node, list | tuple):
        for arg in node:
            found |= _operators(arg)
    return found


@pytest.mark.parametrize("index", range(len(_CANDIDATE_PATTERNS)))
def test_no_candidate_pattern_looks_beyond_what_it_matches(index: int) -> None:
    """What lets redaction search strings joined (_none_has_candidate, "\\n" between them) and a
    finding id's rule-id part alone (_all_plain_ids, _plain_finding_id): a candidate part of a
    string is one of any text holding that string, whatever stands beside it. An anchor (^, $,
    \\A, \\Z), a word boundary (\\b, \\B), a lookaround or a conditional group would make it depend
    on its neighbours: a secret at the start of one string could pass as clean once joined."""
    pattern = re.compile(_CANDIDATE_PATTERNS[index], re.DOTALL)
    looks_around = {_SRE.AT, _SRE.ASSERT, _SRE.ASSERT_NOT, _SRE.GROUPREF, _SRE.GROUPREF_EXISTS}
    assert not _operators(_PARSER.parse(pattern.pattern, pattern.flags)) & looks_around, pattern.pattern


@pytest.mark.parametrize("index", range(len(_CANDIDATE_PATTERNS)))
@settings(max_examples=30)
@given(data=st.data())
def test_a_candidate_in_one_string_is_found_in_the_strings_joined(index: int, data: st.DataObject) -> None:
    """A string holding a candidate part (at its start, its end or inside), among others, is never
    proven clean together with them (_none_has_candidate): their joined text holds a candidate,
    by the patterns and by the fast check."""
    from auditor._redact import _none_has_candidate

    neighbours = st.text(alphabet="aZ9 .:-_\n/", max_size=6)
    part = data.draw(st.from_regex(re.compile(_CANDIDATE_PATTERNS[index], re.DOTALL), fullmatch=True))
    text = data.draw(neighbours) + part + data.draw(neighbours)
    assume(_candidate_re().search(text) is not None)  # always, unless a pattern looks beyond its match
    others = data.draw(st.lists(neighbours, min_size=1, max_size=3))
    joined = "\n".join([*others, text, *others])
    assert _candidate_re().search(joined) is not None and _has_candidate(joined)
    assert not _none_has_candidate({*others, text})


@pytest.mark.parametrize("form", ["secret:{}", "secret: {} and more", "token={}", "password = {}"])
@pytest.mark.parametrize("made", [fingerprint, legacy_fingerprint])
def test_a_fingerprint_after_a_secret_name_is_left_as_it_is(form: str, made: Any) -> None:
    """What redacting leaves of a secret is no secret: a correlation key naming a secret by its
    fingerprint (`secret:hmac:…`) is not fingerprinted again."""
    text = form.format(made("Kx8#pLm2QwZ9-a-real-secret"))
    assert scrub(text) == text


@pytest.mark.parametrize("value", [
    "hmac:6184420ed19f78bb9f847997b524b11",  # a digit short
    "hmac:6184420ed19f78bb9f847997b524b111x",  # a character more
    "hmac:6184420ED19F78BB9F847997B524B111",  # not as auditor writes it
    "hmac:6184420ed19f78bb9f847997b524b111hmac:6184420ed19f78bb9f847997b524b111",
])
def test_a_value_only_shaped_like_a_fingerprint_is_still_redacted(value: str) -> None:
    assert scrub(f"secret: {value}") != f"secret: {value}"


def test_a_secrets_failure_keyed_by_its_fingerprint_is_kept_as_it_is() -> None:
    finding = msgspec.structs.replace(_finding_with("plain words"), waiver=None, rule_id="SEC-003", title="t", area="secrets",
                                    correlation="secret:" + fingerprint("Kx8#pLm2QwZ9-a-real-secret"))
    result = ScanResult(target={"name": "n"}, policies=(), evaluated_at="2026-01-01T00:00:00Z",
                        tool={}, bundle_digest="", findings=(finding,))
    assert redact_result(result).findings[0] is finding
