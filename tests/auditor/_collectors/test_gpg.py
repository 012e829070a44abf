"""The gpg collector against keyrings made by the real gpg (Debian gnupg) in temporary homes."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditor._collectors import run_collector
from auditor._collectors.gpg import key_facts
from auditor._collectors.interface import CollectContext
from auditor._demo.gnupg import KeySpec, SubkeySpec, make_keyring
from auditor._inventory.model import SourceSpec, Target
from auditor.evidence.kinds import data_errors
from auditor.evidence.record import Evidence, Failure, Record
from tests.collecting import failure_of

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
pytestmark = pytest.mark.slow


def collect(root: Path, **options: Any) -> list[Record]:
    source = SourceSpec("gpg", "keys", True, options)
    target = Target(name="t", environment="test", policies=("p",), sources=(source,), root=root)
    records = list(run_collector(CollectContext(target, source, NOW)))
    for r in records:
        if isinstance(r, Evidence):
            assert data_errors(r.kind, r.plain) == [], r.resource
    return records


@pytest.fixture(scope="module")
def keyring(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("node")
    fprs = make_keyring(
        root / "gnupg",
        [
            KeySpec(
                "Ops <ops@example.com>", "ed25519", "cert", "2y", age_days=100, offline_primary=True,
                subkeys=[SubkeySpec("cv25519", "encr", "1y", 100), SubkeySpec("ed25519", "sign", "1y", 10)],
            ),
            KeySpec("Legacy <legacy@example.com>", "rsa2048", "sign,cert", "never", age_days=800),
        ],
        NOW,
    )
    return root, fprs


def by_uid(records: list[Record]) -> dict[str, dict[str, Any]]:
    out = {}
    for r in records:
        assert isinstance(r, Evidence), r
        assert isinstance(r, Evidence)
        out[r.plain["user_ids"][0]] = dict(r.plain)
    return out


def test_keyring_facts(keyring: tuple[Path, dict[str, str]]) -> None:
    root, fprs = keyring
    keys = by_uid(collect(root, homes=["gnupg"]))
    assert set(keys) == {"Ops <ops@example.com>", "Legacy <legacy@example.com>"}
    ops = keys["Ops <ops@example.com>"]
    assert ops["fingerprint"] == fprs["Ops <ops@example.com>"]
    assert (ops["algorithm"], ops["curve"], ops["capabilities"]) == ("eddsa", "ed25519", ["certify"])
    assert set(ops["usable_capabilities"]) == {"certify", "sign", "encrypt"}
    created = dt.datetime.fromisoformat(ops["created"])
    assert abs((NOW - created) - dt.timedelta(days=100)) < dt.timedelta(minutes=5)
    expires = dt.datetime.fromisoformat(ops["expires"])
    assert 720 < (expires - created).days < 740
    assert ops["secret_present"] is False  # the primary's secret was moved offline
    subs = ops["subkeys"]
    assert [(s["algorithm"], s["curve"], s["capabilities"]) for s in subs] == [
        ("ecdh", "cv25519", ["encrypt"]), ("eddsa", "ed25519", ["sign"])
    ]
    assert all(s["secret_present"] is True for s in subs)
    assert ops["validity"] == "ultimate"
    legacy = keys["Legacy <legacy@example.com>"]
    assert (legacy["algorithm"], legacy["size"], legacy["expires"]) == ("rsa", 2048, None)
    assert set(legacy["capabilities"]) == {"certify", "sign"}
    assert legacy["secret_present"] is True


def test_the_audited_home_is_not_written(keyring: tuple[Path, dict[str, str]]) -> None:
    root, _ = keyring
    before = {p: p.stat().st_mtime_ns for p in (root / "gnupg").rglob("*")}
    collect(root, homes=["gnupg"])
    after = {p: p.stat().st_mtime_ns for p in (root / "gnupg").rglob("*")}
    assert after == before


def test_exported_key_file(keyring: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, fprs = keyring
    exported = subprocess.run(
        ["gpg", "--batch", "--armor", "--export", fprs["Ops <ops@example.com>"]],
        env={**os.environ, "GNUPGHOME": str(root / "gnupg")}, capture_output=True, check=True, timeout=60,
    ).stdout
    (tmp_path / "ops.asc").write_bytes(exported)
    keys = by_uid(collect(tmp_path, keyfiles=["ops.asc"]))
    ops = keys["Ops <ops@example.com>"]
    assert ops["fingerprint"] == fprs["Ops <ops@example.com>"]
    assert ops["secret_present"] is False and len(ops["subkeys"]) == 2


def test_unreadable_sources_are_error_records(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "piped").mkdir()
    os.mkfifo(tmp_path / "piped/pubring.kbx")
    (tmp_path / "junk.asc").write_text("not a key\n")
    records = collect(tmp_path, homes=["missing", "empty", "piped"], keyfiles=["junk.asc", "nope.asc"])
    errors = {r.resource: failure_of(r).error for r in records}
    assert errors["missing"] == "no such GnuPG home folder"
    assert "no public keyring" in (errors["empty"] or "")
    assert errors["piped"] == "pubring.kbx is not a regular file: not read"  # was: "no public keyring"
    assert errors["junk.asc"] and ("no OpenPGP key" in errors["junk.asc"] or "gpg failed" in errors["junk.asc"])
    assert errors["nope.asc"] == "no such key file"


def test_missing_gpg_program(keyring: tuple[Path, dict[str, str]]) -> None:
    root, _ = keyring
    (rec,) = collect(root, homes=["gnupg"], gpg_binary="/nonexistent/gpg")
    assert isinstance(rec, Failure) and "cannot run gpg" in rec.error


def test_key_facts_of_a_sparse_listing() -> None:
    facts = key_facts({"fingerprint": "AB", "algo": "99", "cap": "", "trust": "?"}, set(), "x")
    assert facts.algorithm == "algo-99"
    assert facts.created is None and facts.expires is None
    assert facts.validity == "unknown" and facts.secret_present is None


listing_values = st.one_of(st.text(max_size=12), st.integers(-(2**70), 2**70).map(str),
                           st.integers(), st.none(), st.booleans(), st.lists(st.text(max_size=4), max_size=2))


@given(st.dictionaries(st.sampled_from(["fingerprint", "algo", "cap", "trust", "date", "expires", "length", "curve", "keygrip", "keyid", "uids"]), listing_values),
       st.dictionaries(st.text(max_size=8), st.dictionaries(st.sampled_from(["date", "expires", "length", "cap", "algo"]), listing_values), max_size=3))
def test_key_facts_of_any_listing_is_facts_or_a_value_error(raw: dict[str, Any], subs: dict[str, dict[str, Any]]) -> None:
    try:
        facts = key_facts({**raw, "subkey_info": subs}, set(), "x")
    except (ValueError, TypeError):
        return  # the collector turns these into an error record
    assert data_errors("gpg.key", msgspec.to_builtins(facts)) == []
