"""PuTTY's private key files (.ppk): keys Windows administrators keep beside their sessions and
copy into backups. The scan found none (nor does Kingfisher). Each is held to puttygen: every
key it makes (formats 2 and 3, with and without a passphrase) is a finding of its key type,
and a file it refuses to load (a byte of the key changed, its MAC changed) is none."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor._secrets import putty
from auditor._secrets.scanner import Scanner
from tests.servers import tool

PASSPHRASE = "Zq8vR2mX9kLp4TbWp1"
KEYS = [  # (file, puttygen's arguments, passphrase)
    ("ed25519.ppk", ["-t", "ed25519"], ""),
    ("rsa.ppk", ["-t", "rsa", "-b", "2048"], PASSPHRASE),
    ("ecdsa-v2.ppk", ["-t", "ecdsa", "-b", "256", "--ppk-param", "version=2"], ""),
    ("rsa-v2.ppk", ["-t", "rsa", "-b", "1024", "--ppk-param", "version=2"], PASSPHRASE),
    ("ed448.ppk", ["-t", "ed448"], ""),
]


def _puttygen(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([tool("puttygen", "Debian putty-tools"), *map(str, args)], capture_output=True, timeout=120,
                          check=False)


def _loads(path: Path, passphrase: str = "") -> bool:
    """Whether puttygen loads the key file's private key (it checks the MAC first; the public key
    alone it reads without)."""
    secret = path.with_name(path.name + ".pass")
    secret.write_text(passphrase + "\n")
    return _puttygen(path, "--old-passphrase", secret, "-O", "private-openssh", "-o",
                     path.with_suffix(".key")).returncode == 0


def _made(folder: Path) -> list[Path]:
    paths = []
    for name, args, passphrase in KEYS:
        secret = folder / f"{name}.new"
        secret.write_text(passphrase + "\n")
        path = folder / name
        made = _puttygen(*args, "-C", "cim-ops", "--new-passphrase", secret, "-o", path)
        assert made.returncode == 0, made.stderr
        paths.append(path)
    return paths


def test_every_key_puttygen_makes_is_a_finding_of_its_type(tmp_path: Path) -> None:
    paths = _made(tmp_path)
    for path, (_, _, passphrase) in zip(paths, KEYS, strict=True):
        assert _loads(path, passphrase)
        algorithm = path.read_text().partition(": ")[2].splitlines()[0]
        path.chmod(0o644)
        leaks = Scanner().scan_file(path, path.name).leaks
        assert [(x.rule, x.category, x.details["key_type"], x.encrypted, x.protected) for x in leaks] == [
            ("putty-key", "private-key", algorithm, bool(passphrase), bool(passphrase))], path.name
        path.chmod(0o600)
        assert [x.protected for x in Scanner().scan_file(path, path.name).leaks] == [True]
    # one key in format 2 and 3 (under another comment), and saved with CRLF, is one secret
    v2 = tmp_path / "ed25519-v2.ppk"
    assert _puttygen(paths[0], "-C", "moved", "-O", "private", "--ppk-param", "version=2", "-o", v2).returncode == 0
    crlf = tmp_path / "ed25519-crlf.ppk"
    crlf.write_bytes(paths[0].read_bytes().replace(b"\n", b"\r\n"))
    assert _loads(v2) and _loads(crlf)
    fingerprints = {x.fingerprint for p in (paths[0], v2, crlf) for x in Scanner().scan_file(p, p.name).leaks}
    assert len(fingerprints) == 1


def _changed(text: bytes, at: int) -> bytes:
    """`text` with its byte `at` (a base64 or hex digit) replaced by another of its kind."""
    old = text[at:at + 1]
    new = b"A" if old != b"A" else b"B"
    return text[:at] + new + text[at + 1:]


def test_a_key_file_puttygen_refuses_is_no_finding(tmp_path: Path) -> None:
    key = _made(tmp_path)[0]
    text = key.read_bytes()
    private = text.index(b"Private-Lines: ")
    mac = text.index(b"Private-MAC: ") + len(b"Private-MAC: ")
    for n, at in enumerate((text.index(b"\n", private) + 5, mac + 3)):
        bad = tmp_path / f"bad-{n}.ppk"
        bad.write_bytes(_changed(text, at))
        assert not _loads(bad)
        assert list(Scanner().scan_file(bad, bad.name).leaks) == []


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return _made(tmp_path_factory.mktemp("keys"))


# pieces that make or break a line of a key file as PuTTY reads it
_PIECES = [b"", b"A", b"a", b"\n", b"\r", b"\r\n", b"\n\n", b": ", b":", b" ", b"9", b"=", b"==", b"+", b"\0", b"-"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(_PIECES), st.booleans(), st.booleans()), max_size=4),
       st.integers(0, len(KEYS) - 1))
def test_a_damaged_key_file_is_a_finding_where_puttygen_loads_it(
        made: list[Path], edits: list[tuple[int, bytes, bool, bool]], which: int) -> None:
    """Bytes removed, added, replaced or changed in case anywhere in a key file: the parser
    never fails; an unencrypted key is a finding exactly where puttygen loads the file (a MAC
    in upper case, a blank after it, a `:` without its blank: refused by both), and an
    encrypted one wherever puttygen loads it with its passphrase (without the passphrase its
    MAC cannot be checked: its structure alone is)."""
    text = made[which].read_bytes()
    for at, piece, replace, upper in edits:
        at %= len(text) + 1
        if upper:
            text = text[:at] + text[at:at + 1].swapcase() + text[at + 1:]
        else:
            text = text[:at] + piece + text[at + replace:]
    found = putty.putty_key(text, 0)
    damaged = made[which].with_name("damaged.ppk")
    damaged.write_bytes(text)
    passphrase = KEYS[which][2]
    if not passphrase:
        assert (found is not None) == _loads(damaged)
    elif _loads(damaged, passphrase):
        assert found is not None and found[1]["encrypted"]


def test_what_puttygen_reads_of_a_key_file_is_what_the_scan_reads(made: list[Path]) -> None:
    """Each way of writing a key file's lines that puttygen's reader takes or refuses, read alike:
    line ends of CR, LF, CRLF, LFCR or LFLF and none at the end; a value read to its first NUL;
    a line count with a sign or blanks before it (strtoul); not a MAC in upper case or with a
    blank after it, a `:` without its blank, headers out of order."""
    text = made[0].read_bytes()
    mac = text.rpartition(b"Private-MAC: ")[2].strip()
    changes = {
        "as made": text, "crlf": text.replace(b"\n", b"\r\n"), "cr": text.replace(b"\n", b"\r"),
        "lfcr": text.replace(b"\n", b"\n\r"), "lflf": text.replace(b"\n", b"\n\n"), "no last line end": text.rstrip(),
        "mac in upper case": text.replace(mac, mac.upper()), "a blank after the mac": text.replace(mac, mac + b" "),
        "a NUL after the mac": text.replace(mac, mac + b"\0z"), "a NUL in the comment": text.replace(b"cim-ops", b"cim\0x"),
        "no blank after a colon": text.replace(b"Comment: ", b"Comment:"),
        "two blanks after a colon": text.replace(b"Encryption: ", b"Encryption:  "),
        "a signed count": text.replace(b"Private-Lines: ", b"Private-Lines: +"),
        "blanks before a count": text.replace(b"Private-Lines: ", b"Private-Lines: \t "),
        "headers out of order": text.replace(b"Encryption: none\nComment: cim-ops\n", b"Comment: cim-ops\nEncryption: none\n"),
        "an unknown algorithm": text.replace(b"ssh-ed25519\n", b"ssh-ed25520\n", 1),
    }
    seen = set()
    for name, changed in changes.items():
        path = made[0].with_name("changed.ppk")
        path.write_bytes(changed)
        loads = _loads(path)
        seen.add(loads)
        assert (putty.putty_key(changed, 0) is not None) == loads, name
        assert bool(Scanner().scan_file(path, path.name).leaks) == loads, name
    assert seen == {True, False}
