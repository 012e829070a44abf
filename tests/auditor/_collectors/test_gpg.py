"""The gpg collector against keyrings made by the real gpg (Debian gnupg) in temporary homes."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditor._collectors import run_collector
from auditor._collectors.gpg import is_stub, key_facts
from auditor._collectors.interface import CollectContext
from auditor._demo.gnupg import KeySpec, SubkeySpec, make_keyring
from auditor._inventory.model import SourceSpec, Target
from auditor.evidence.kinds import data_errors
from auditor.evidence.record import Evidence, Failure, Record
from tests.collecting import failure_of
from tests.gpg import copy_keys, gpg_run, protect_tool, scratch_copy, stop_agent

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
    facts = key_facts({"fingerprint": "AB", "algo": "99", "cap": "", "trust": "?"}, {}, "x")
    assert facts.algorithm == "algo-99"
    assert facts.created is None and facts.expires is None
    assert facts.validity == "unknown" and facts.secret_present is None


listing_values = st.one_of(st.text(max_size=12), st.integers(-(2**70), 2**70).map(str),
                           st.integers(), st.none(), st.booleans(), st.lists(st.text(max_size=4), max_size=2))


@given(st.dictionaries(st.sampled_from(["fingerprint", "algo", "cap", "trust", "date", "expires", "length", "curve", "keygrip", "keyid", "uids"]), listing_values),
       st.dictionaries(st.text(max_size=8), st.dictionaries(st.sampled_from(["date", "expires", "length", "cap", "algo"]), listing_values), max_size=3))
def test_key_facts_of_any_listing_is_facts_or_a_value_error(raw: dict[str, Any], subs: dict[str, dict[str, Any]]) -> None:
    try:
        facts = key_facts({**raw, "subkey_info": subs}, {}, "x")
    except (ValueError, TypeError):
        return  # the collector turns these into an error record
    assert data_errors("gpg.key", msgspec.to_builtins(facts)) == []


def run_gpg(home: Path, *args: str) -> str:
    """The real gpg in `home` (no agent started): its stdout."""
    return gpg_run(home, *args, autostart=False)


def listed_by_gpg(home: Path) -> set[str]:
    """The fingerprints of the primary keys gpg itself lists in (a copy of) `home`."""
    with scratch_copy(home) as copy:
        lines = run_gpg(copy, "--with-colons", "--list-keys").splitlines()
    return {line.split(":")[9] for at, line in enumerate(lines) if line.startswith("fpr:") and lines[at - 1].startswith("pub:")}


def keyring_of(home: Path, name: str, *fingerprints: str, legacy: bool = True) -> None:
    """A keyring `name` in `home` holding the public keys `fingerprints` of its pubring.kbx,
    made by the real gpg (see tests.gpg.copy_keys)."""
    assert sorted(copy_keys(home / "pubring.kbx", home / name, *fingerprints, legacy=legacy)) == sorted(fingerprints)


def evidence_of(records: list[Record]) -> list[tuple[str, str, str]]:
    """(resource, fingerprint, location) of each key record; every record is one."""
    out = []
    for r in records:
        assert isinstance(r, Evidence), r
        out.append((r.resource, r.plain["fingerprint"], r.plain["location"]))
    return sorted(out)


@pytest.mark.parametrize("legacy", [False, True], ids=["a keybox", "an OpenPGP keyring"])
def test_a_key_in_the_keyring_gpg_does_not_pick_is_still_judged(keyring: tuple[Path, dict[str, str]], tmp_path: Path,
                                                                legacy: bool) -> None:
    """A home holding pubring.gpg beside pubring.kbx: gpg lists one of them (checked here: a
    pubring.gpg that is a keybox, pubring.kbx beside an OpenPGP keyring), and so did the
    collector: the weak key left in pubring.kbx vanished from the evidence when a keybox
    pubring.gpg was added, a bigger input with fewer failures. Each is read on its own now."""
    root, fprs = keyring
    ops, legacy_key = fprs["Ops <ops@example.com>"], fprs["Legacy <legacy@example.com>"]
    home = tmp_path / "gnupg"
    shutil.copytree(root / "gnupg", home, ignore=shutil.ignore_patterns("S.*"))
    keyring_of(home, "pubring.gpg", ops, legacy=legacy)
    assert listed_by_gpg(home) == ({ops, legacy_key} if legacy else {ops})  # the node's gpg: one keyring
    assert evidence_of(collect(tmp_path, homes=["gnupg"])) == [
        ("gnupg#Legacy <legacy@example.com>", legacy_key, "gnupg/pubring.kbx"),
        ("gnupg#Ops <ops@example.com>", ops, "gnupg/pubring.gpg"),
        ("gnupg#Ops <ops@example.com>", ops, "gnupg/pubring.kbx"),  # the same key twice: one name, one finding
    ]


def test_the_keyrings_gpg_conf_adds_are_read(keyring: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """`keyring` and `primary-keyring` lines of the home's gpg.conf: each key the node's gpg
    lists (the real gpg in a copy of the home) is evidence; names gpg would look for outside
    the node's tree, or that are no file, are errors naming the line."""
    root, fprs = keyring
    ops, legacy = fprs["Ops <ops@example.com>"], fprs["Legacy <legacy@example.com>"]
    home = tmp_path / "gnupg"
    shutil.copytree(root / "gnupg", home, ignore=shutil.ignore_patterns("S.*"))
    keyring_of(home, "legacy.gpg", legacy)
    run_gpg(home, "--yes", "--delete-keys", legacy)  # in legacy.gpg alone now
    (home / "gpg.conf").write_text("# keyring commented.gpg\nkeyring legacy.gpg\n")
    assert listed_by_gpg(home) == {ops, legacy}
    assert evidence_of(collect(tmp_path, homes=["gnupg"])) == [
        ("gnupg#Legacy <legacy@example.com>", legacy, "gnupg/legacy.gpg"),
        ("gnupg#Ops <ops@example.com>", ops, "gnupg/pubring.kbx"),
    ]
    (tmp_path / "keys").mkdir()
    (home / "legacy.gpg").rename(tmp_path / "keys/legacy.gpg")  # named from the node's /
    (home / "gpg.conf").write_text('primary-keyring "/keys/legacy.gpg"\nkeyring ~/.gnupg/x.gpg\n'
                                   "keyring sub/x.gpg\n  keyring missing.gpg  \nkeyring legacy.gpg\n")
    records = collect(tmp_path, homes=["gnupg"])
    assert evidence_of([r for r in records if isinstance(r, Evidence)]) == [
        ("gnupg#Legacy <legacy@example.com>", legacy, "keys/legacy.gpg"),
        ("gnupg#Ops <ops@example.com>", ops, "gnupg/pubring.kbx"),
    ]
    assert sorted(failure_of(r).error for r in records if not isinstance(r, Evidence)) == [
        "gnupg/gpg.conf, line 2: keyring '~/.gnupg/x.gpg' is under the node's $HOME: not read",
        "gnupg/gpg.conf, line 3: keyring 'sub/x.gpg' is relative to gpg's working folder: not read",
        "gnupg/gpg.conf, line 4: keyring 'missing.gpg' is not a regular file: not read",
        "gnupg/gpg.conf, line 5: keyring 'legacy.gpg' is not a regular file: not read",
    ]


def test_a_keyring_over_the_file_limit_is_an_error(keyring: tuple[Path, dict[str, str]], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Keyrings are read within file-bytes (they were copied whole, however large)."""
    root, fprs = keyring
    home = tmp_path / "gnupg"
    shutil.copytree(root / "gnupg", home, ignore=shutil.ignore_patterns("S.*"))
    keyring_of(home, "pubring.gpg", fprs["Ops <ops@example.com>"])
    monkeypatch.setenv("AUDITOR_LIMIT_FILE_BYTES", str((home / "pubring.kbx").stat().st_size - 1))
    records = collect(tmp_path, homes=["gnupg"])
    (error,) = [failure_of(r).error for r in records if not isinstance(r, Evidence)]
    assert error.startswith("gnupg/pubring.kbx: ") and "file-bytes limit" in error
    assert [r.plain["location"] for r in records if isinstance(r, Evidence)] == ["gnupg/pubring.gpg"]
    shutil.copyfile(home / "pubring.kbx", tmp_path / "keys.kbx")  # a key file: handed to gpg whole before
    (record,) = collect(tmp_path, keyfiles=["keys.kbx"])
    assert "file-bytes limit" in failure_of(record).error


def test_a_home_of_keyboxd_says_how_to_read_its_keys(tmp_path: Path) -> None:
    """GnuPG 2.4 with `use-keyboxd` keeps public keys in public-keys.d/pubring.db (not read)."""
    (tmp_path / "gnupg/public-keys.d").mkdir(parents=True)
    (tmp_path / "gnupg/public-keys.d/pubring.db").write_bytes(b"SQLite format 3\0")
    (rec,) = collect(tmp_path, homes=["gnupg"])
    assert "keyboxd" in failure_of(rec).error and "keyfiles" in failure_of(rec).error


def card_stub(key_file: Path) -> None:
    """Replace an ECC key file of gpg-agent by the stub `gpg-protect-tool --shadow` (GnuPG's own)
    makes of its public key, as `keytocard` leaves one: the secret on a card."""
    text = key_file.read_text()
    assert text.startswith("Created:") and "Key: (private-key (ecc" in text, text[:40]
    public = re.sub(r"\(d #[0-9A-F]+#\)", "", text.split("Key: ", 1)[1]).replace("(private-key", "(public-key", 1)
    made = protect_tool("--shadow", "-", data=public.encode())
    assert made.startswith(b"(20:shadowed-private-key"), made[:40]
    key_file.write_bytes(made)


def secrets_by_gpg(home: Path) -> dict[str, str]:
    """{fingerprint: where gpg says its secret is} for each key and subkey gpg lists with
    `--list-secret-keys` in a copy of `home` (colon field 15: '+' here, '#' not here, else the
    serial number of the card that holds it); keys it lists without a secret are left out."""
    with scratch_copy(home) as copy:  # gpg asks its agent (started there) which secrets it has
        lines = gpg_run(copy, "--with-colons", "--list-secret-keys").splitlines()
    out = {}
    for at, line in enumerate(lines):
        fields = line.split(":")
        if fields[0] in ("sec", "ssb"):
            fpr = lines[at + 1].split(":")[9]
            out[fpr] = {"+": "node", "#": "absent"}.get(fields[14], "card")
    return out


def test_a_key_on_a_smartcard_is_no_secret_on_the_node(tmp_path: Path) -> None:
    """A key moved to a YubiKey (`keytocard`) leaves a stub in private-keys-v1.d naming the
    card: its secret was counted as on the node (the file exists), so GPG-002 failed for a
    primary key on a card, the arrangement the rule asks for. Held to gpg's own answer
    (`--list-secret-keys` in a copy of the home: 'sec>' with the card's serial)."""
    home = tmp_path / "gnupg"
    make_keyring(home, [KeySpec("Card <card@example.com>", "ed25519", "cert", "2y",
                                subkeys=[SubkeySpec("ed25519", "sign"), SubkeySpec("cv25519", "encr")])], NOW)
    grips = [line.split(":")[9] for line in run_gpg(home, "--with-colons", "--with-keygrip", "--list-keys").splitlines()
             if line.startswith("grp:")]
    assert len(grips) == 3  # the primary's, then the subkeys' in the order made
    for grip in grips[:2]:  # the primary and the signing subkey to the card; encryption stays
        card_stub(home / "private-keys-v1.d" / f"{grip}.key")
    (record,) = collect(tmp_path, homes=["gnupg"])
    assert isinstance(record, Evidence)
    ours = {k["fingerprint"]: ("card" if k["secret_on_card"] else "node" if k["secret_present"] else "absent")
            for k in [record.plain, *record.plain["subkeys"]]}
    theirs = secrets_by_gpg(home)
    assert ours == theirs and sorted(theirs.values()) == ["card", "card", "node"]
    assert record.plain["secret_present"] is False and record.plain["secret_on_card"] is True


@pytest.mark.parametrize(("head", "stub"), [
    (b"(20:shadowed-private-key(3:ecc", True),
    (b"(shadowed-private-key\n (ecc", True),  # gpg-protect-tool --armor
    (b"Created: 20261206T140112\nKey: (shadowed-private-key (ecc (curve Ed25519)", True),
    (b"Created: 20261206T140112\nToken: D2760001240100000006 OPENPGP.1 -\nkey:(shadowed-private-key(rsa", True),
    (b"Created: 20261206T140112\nKey: (private-key (ecc (curve Ed25519)", False),
    (b"(21:protected-private-key(3:rsa", False),
    (b"Label: (shadowed-private-key\nKey: (private-key (rsa", False),  # another header saying so
    (b"Created: x\n" + b"Label: " + b"x" * 5000 + b"\nKey: (shadowed-private-key (ecc", False),  # past the first bytes
    (b"", False),
])
def test_a_stub_is_told_from_a_secret_by_its_first_bytes(tmp_path: Path, head: bytes, stub: bool) -> None:
    (tmp_path / "k.key").write_bytes(head)
    assert is_stub(tmp_path / "k.key") is stub


def test_a_key_file_that_is_no_regular_file_counts_as_a_secret(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "k.key")
    assert is_stub(tmp_path / "k.key") is False  # never opened: a FIFO would block


def test_a_key_keeps_its_identity_when_its_primary_user_id_changes(keyring: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """Findings were identified by the key's name (its primary user id): a new primary user id
    (`gpg --quick-set-primary-uid`) made every finding of the key a new one. The home and the
    fingerprint identify it now (GpgKey.IDENTITY)."""
    from auditor._engine import record_identity

    root, fprs = keyring
    legacy = fprs["Legacy <legacy@example.com>"]
    home = tmp_path / "gnupg"
    shutil.copytree(root / "gnupg", home, ignore=shutil.ignore_patterns("S.*"))

    def of_legacy() -> Evidence:
        (found,) = [r for r in collect(tmp_path, homes=["gnupg"]) if isinstance(r, Evidence) and r.plain["fingerprint"] == legacy]
        return found

    before = of_legacy()
    try:
        gpg_run(home, "--quick-add-uid", legacy, "Deploy <deploy@example.com>")
        gpg_run(home, "--quick-set-primary-uid", legacy, "Deploy <deploy@example.com>")
    finally:
        stop_agent(home)
    after = of_legacy()
    assert (before.resource, after.resource) == ("gnupg#Legacy <legacy@example.com>", "gnupg#Deploy <deploy@example.com>")
    assert record_identity(before) == record_identity(after) == ("gnupg", legacy)
