"""GnuPG secret keys as gpg-agent keeps them (private-keys-v1.d), made by the real gpg and held to
gpg-agent's own account of them (KEYINFO: protected or in the clear) and to gpg's algorithms."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._secrets import structure
from auditor._secrets.scanner import Scanner
from tests.gpg import gpg_run, protect_tool, stop_agent
from tests.packing import gzipped, tarred, zipped

pytestmark = pytest.mark.slow
ALGORITHMS = {"1": "rsa", "17": "dsa", "16": "elgamal", "22": "ed25519", "18": "x25519"}
"""gpg's algorithm numbers (colon listings) as the scan names their key types."""


@pytest.fixture(scope="module")
def home() -> tuple[Path, dict[str, tuple[str, bool]]]:
    """A home made by the real gpg: an RSA key in the clear with DSA and Elgamal subkeys, an
    Ed25519 key with a passphrase and a Curve25519 subkey; {keygrip: (key type, protected)} as
    gpg lists the types and gpg-agent says whether each is protected."""
    folder = Path(tempfile.mkdtemp(prefix="g"))  # short: gpg-agent's socket path
    home = folder / "h"
    home.mkdir(mode=0o700)
    try:
        gpg_run(home, "--quick-gen-key", "Clear <clear@example.com>", "rsa2048", "sign", "1y")
        clear = next(line.split(":")[9] for line in gpg_run(home, "--with-colons", "--list-keys", "clear@example.com").splitlines()
                     if line.startswith("fpr:"))
        gpg_run(home, "--quick-add-key", clear, "dsa2048", "sign", "1y")
        gpg_run(home, "--quick-add-key", clear, "elg2048", "encr", "1y")
        gpg_run(home, "--quick-gen-key", "Locked <locked@example.com>", "ed25519", "sign", "1y", passphrase="pass phrase")
        locked = next(line.split(":")[9] for line in gpg_run(home, "--with-colons", "--list-keys", "locked@example.com").splitlines()
                      if line.startswith("fpr:"))
        gpg_run(home, "--quick-add-key", locked, "cv25519", "encr", "1y", passphrase="pass phrase")
        listing = gpg_run(home, "--with-colons", "--with-keygrip", "--list-secret-keys").splitlines()
        types = {line.split(":")[9]: ALGORITHMS[listing[at - 2 if listing[at - 1].startswith("fpr:") else at - 1].split(":")[3]]
                 for at, line in enumerate(listing) if line.startswith("grp:")}
        info = subprocess.run(["gpg-connect-agent", "KEYINFO --list", "/bye"], capture_output=True, text=True, check=True,
                              timeout=60, env={**os.environ, "GNUPGHOME": str(home)}).stdout
        protected = {f[2]: f[7] == "P" for f in (line.split() for line in info.splitlines()) if f[:2] == ["S", "KEYINFO"]}
    finally:
        stop_agent(home)
    kept = Path(tempfile.mkdtemp()) / "gnupg"
    shutil.copytree(home, kept, ignore=shutil.ignore_patterns("S.*"))
    shutil.rmtree(folder, ignore_errors=True)
    assert sorted(protected.values()) == [False, False, False, True, True] and set(protected) == set(types)
    return kept, {grip: (types[grip], protected[grip]) for grip in types}


def scan(path: Path, name: str) -> list[tuple[str, str, bool, bool, str]]:
    result = Scanner().scan_file(path, name)
    assert result.error == "" and result.unfinished == ""
    return [(x.rule, x.details["key_type"], x.encrypted is True, x.key_file, x.fingerprint) for x in result.leaks]


def test_each_key_file_is_a_key_of_its_type_protected_as_gpg_agent_says(home: tuple[Path, dict[str, tuple[str, bool]]]) -> None:
    """gpg-agent's key files were read as text with no secret in them: an RSA key in the clear,
    copied anywhere, was no finding. Each is a private key now: its type as gpg lists it,
    encrypted where gpg-agent reports it protected; in its own file it is a key file."""
    folder, keys = home
    for grip, (key_type, protected) in keys.items():
        ((rule, kind, encrypted, key_file, _),) = scan(folder / "private-keys-v1.d" / f"{grip}.key", f"{grip}.key")
        assert (rule, kind, encrypted, key_file) == ("gnupg-key", key_type, protected, True), grip


def test_a_key_in_the_clear_copied_out_of_its_file_is_a_leak(home: tuple[Path, dict[str, tuple[str, bool]]],
                                                              tmp_path: Path) -> None:
    """The same key files in a backup of the home (a .tar.gz, a zip) or pasted into a note: the
    keys in the clear are leaks (SEC-003's `protected` false), the protected ones encrypted keys."""
    folder, keys = home
    files = {f"gnupg/private-keys-v1.d/{grip}.key": (folder / "private-keys-v1.d" / f"{grip}.key").read_bytes() for grip in keys}
    fingerprints = {grip: scan(folder / "private-keys-v1.d" / f"{grip}.key", "k")[0][4] for grip in keys}
    want = sorted((fingerprints[grip], protected, protected) for grip, (_, protected) in keys.items())
    for name, data in (("home.tar.gz", gzipped(tarred(files))), ("home.zip", zipped(files))):
        (tmp_path / name).write_bytes(data)
        leaks = Scanner().scan_file(tmp_path / name, name).leaks
        assert sorted((x.fingerprint, x.encrypted, x.protected) for x in leaks) == want, name
    note = tmp_path / "notes.txt"
    clear = next(grip for grip, (_, protected) in keys.items() if not protected)
    note.write_bytes(b"the deploy key, in case:\n" + files[f"gnupg/private-keys-v1.d/{clear}.key"] + b"\nbye\n")
    note.chmod(0o600)
    (leak,) = Scanner().scan_file(note, "notes.txt").leaks
    assert (leak.line, leak.key_file, leak.protected) == (3, False, False)


def test_the_canonical_form_is_the_same_key(home: tuple[Path, dict[str, tuple[str, bool]]], tmp_path: Path) -> None:
    """Older gpg-agents keep keys as canonical S-expressions (binary): GnuPG's own
    gpg-protect-tool writes the same key so, and it is found with the same fingerprint."""
    folder, keys = home
    for grip in keys:
        text = (folder / "private-keys-v1.d" / f"{grip}.key").read_bytes()
        (tmp_path / "advanced").write_bytes(text.split(b"Key: ", 1)[1].split(b"\n", 1)[0] + b"\n" +
                                             b"\n".join(line for line in text.split(b"\n", 2)[2].split(b"\n") if line.startswith(b" ")))
        canonical = protect_tool("--canonical", str(tmp_path / "advanced"))
        assert canonical.startswith((b"(11:private-key(", b"(21:protected-private-key(")), canonical[:30]
        (tmp_path / "canonical.key").write_bytes(canonical)
        ours = scan(tmp_path / "canonical.key", "canonical.key")
        assert [x[:4] for x in ours] == [x[:4] for x in scan(folder / "private-keys-v1.d" / f"{grip}.key", "k")]
        assert ours[0][4] == scan(folder / "private-keys-v1.d" / f"{grip}.key", "k")[0][4]


def test_a_smartcard_stub_holds_no_secret(tmp_path: Path) -> None:
    """A key moved to a card leaves `(shadowed-private-key ...)`: nothing secret in it."""
    stub = protect_tool("--shadow", "-", data=b"(public-key (ecc (curve Ed25519)(flags eddsa)(q #40" + b"11" * 32 + b"#)))")
    (tmp_path / "stub.key").write_bytes(b"Created: 20261206T000000\nKey: " + stub + b"\n")
    assert stub.startswith(b"(20:shadowed-private-key") and scan(tmp_path / "stub.key", "stub.key") == []


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([b"(private-key (rsa (n #00C1#)(d #", b"(11:private-key(3:ecc(1:d", b"Key: (protected-private-key (ecc ",
                        b"(private-key (ecc (curve Ed25519)(d #" + b"AB" * 32 + b"#)))"]),
       st.binary(max_size=200), st.integers(0, 300))
def test_any_bytes_after_a_key_opening_are_read_without_error(head: bytes, tail: bytes, cut: int) -> None:
    """Fuzz: the S-expression reader takes any bytes (cut, nested, unbalanced, huge lengths)."""
    data = (head + tail)[: len(head) + cut]
    parsed = structure.gnupg_key(data, data.find(b"("))
    assert parsed is None or (parsed[2] <= len(data) and parsed[1]["format"] == "gnupg")
    Scanner().scan_bytes(data, "k")
    deep = b"(private-key " + b"(" * 5000 + b")" * 5000
    assert structure.sexp(deep, 0) is None  # nested past its depth: refused, no recursion


@settings(max_examples=150, deadline=None)
@given(st.binary(min_size=1, max_size=40) | st.text(alphabet="ab\"'\\\t\n\r\x08\x0b\x0c \xb5\xe9z", min_size=1, max_size=24).map(
    lambda t: t.encode("latin-1")))
def test_an_atom_in_advanced_form_is_read_as_gnupg_writes_it(atom: bytes) -> None:
    """gpg-agent writes a key in advanced form (libgcrypt's printer): an atom as hex, as a token,
    or as a quoted string with escapes (`\\"`, `\\t`, `\\xNN`) and raw bytes over 0xA0, as it
    judges each. A key whose salt or IV happened to print quoted had another fingerprint than
    its canonical form (CI saw it once). Held to GnuPG's own printer: `gpg-protect-tool --armor`
    of the canonical S-expression, read back to the same bytes."""
    canonical = b"(11:private-key(3:ecc(5:curve7:Ed25519)(1:d%d:%s)))" % (len(atom), atom)
    advanced = protect_tool("--armor", "-", data=canonical)
    parsed = structure.sexp(advanced, advanced.index(b"("))
    assert parsed is not None, advanced
    assert parsed[0][1][2] == [b"d", atom], advanced
