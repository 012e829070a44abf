"""7z and RAR archives in the leak scan, read through bsdtar (libarchive), made by the real 7-Zip."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor._secrets import scanner as scanner_module
from auditor._secrets.scanner import Scanner
from tests.auditor._secrets.test_unpack import KEY, TOKEN
from tests.auditor._secrets.test_unpack import _found as found
from tests.packing import gzipped, seven_zipped, tarred, zipped
from tests.servers import tool


def listed_by_7zip(data: bytes, tmp_path: Path) -> set[str]:
    """The files a 7z archive holds, as 7-Zip lists them (`7zz l -slt`)."""
    (tmp_path / "listed.7z").write_bytes(data)
    out = subprocess.run([tool("7zz", "Debian 7zip"), "l", "-slt", "-ba", str(tmp_path / "listed.7z")], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    entries = [dict(line.split(" = ", 1) for line in block.splitlines() if " = " in line) for block in out.split("\n\n")]
    return {e["Path"] for e in entries if e.get("Path") and not e.get("Attributes", "").startswith("D")}


@pytest.mark.parametrize("options", [(), ("-ms=off",), ("-m0=PPMd",), ("-m0=BZip2",), ("-mx=0",)],
                         ids=["solid LZMA2", "not solid", "PPMd", "BZip2", "stored"])
def test_secrets_in_a_7z_archive_are_read(tmp_path: Path, options: tuple[str, ...]) -> None:
    """agent.env kept in a 7z archive (7-Zip's own, in its compression methods): the scan read
    the archive's bytes alone and found nothing, as if clean. Each member is read now, named as
    7-Zip lists it."""
    members = {"etc/cim/agent.env": b"start\n" + TOKEN, "home/cim/notes.txt": b"a\nb\n" + KEY, "empty": b""}
    data = seven_zipped(members, *options)
    assert listed_by_7zip(data, tmp_path) == set(members)
    assert found(tmp_path, "backup.7z", data) == (
        [("aws-access-key", 3, "home/cim/notes.txt"), ("github-token", 2, "etc/cim/agent.env")], "")
    blob = Scanner().scan_blob(data, "backup.7z", commit="c" * 40)
    assert [(x.rule, x.details.get("member")) for x in blob.leaks] == [("github-token", "etc/cim/agent.env"),
                                                                         ("aws-access-key", "home/cim/notes.txt")]


def test_packing_around_and_inside_a_7z_archive_is_read(tmp_path: Path) -> None:
    """A 7z inside a .tar.gz and a zip, a rotated log inside a 7z: every level is unpacked."""
    inner = seven_zipped({"agent.env": b"start\n" + TOKEN, "agent.log.1.gz": gzipped(b"x\n" + KEY)})
    assert found(tmp_path, "backup.tar.gz", gzipped(tarred({"conf.7z": inner}))) == (
        [("aws-access-key", 2, "conf.7z!agent.log.1.gz"), ("github-token", 2, "conf.7z!agent.env")], "")
    assert found(tmp_path, "backup.zip", zipped({"conf.7z": inner})) == (
        [("aws-access-key", 2, "conf.7z!agent.log.1.gz"), ("github-token", 2, "conf.7z!agent.env")], "")


def test_a_7z_archive_over_a_window_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 7z file over 8 MiB (streamed in windows, then unpacked from the file), with a member
    over 8 MiB (streamed as its content) that holds the secret after its first window."""
    monkeypatch.setattr(scanner_module, "WINDOW", 4096)
    monkeypatch.setattr(scanner_module, "OVERLAP", 1024)
    big = os.urandom(6000).hex().encode() + b"\n" + TOKEN
    data = seven_zipped({"a.log": big, "b.bin": os.urandom(6000)}, "-ms=off")
    assert len(data) > 4096
    assert found(tmp_path, "big.7z", data) == ([("github-token", 2, "a.log")], "")


@pytest.mark.parametrize(("options", "said"), [
    (("-pSecret",), "The file content is encrypted"),
    (("-pSecret", "-mhe=on"), "The archive header is encrypted"),
], ids=["members encrypted", "names encrypted too"])
def test_an_encrypted_7z_archive_is_not_scanned_whole(tmp_path: Path, options: tuple[str, ...], said: str) -> None:
    """libarchive decrypts no 7z, and stops at the first encrypted member: what follows it is
    never read, so the file is noted as not scanned whole (its SEC rules undecided), with
    bsdtar's reason."""
    data = seven_zipped({"agent.env": b"start\n" + TOKEN}, *options)
    leaks, unfinished = found(tmp_path, "secret.7z", data)
    assert leaks == [] and "7z archive that bsdtar could not read whole" in unfinished and said in unfinished


@pytest.mark.parametrize("damage", ["cut", "header only", "rar"])
def test_a_damaged_archive_is_not_scanned_whole(tmp_path: Path, damage: str) -> None:
    """A 7z cut short, or a 7z or RAR signature over anything else: never judged clean in silence."""
    data = seven_zipped({"a.log": os.urandom(3000).hex().encode() + TOKEN})
    broken = {"cut": data[:len(data) // 2], "header only": data[:32], "rar": b"Rar!\x1a\x07\x00" + os.urandom(200)}[damage]
    leaks, unfinished = found(tmp_path, "x.7z", broken)
    assert leaks == [] and "archive that bsdtar could not read whole" in unfinished


def test_without_bsdtar_an_archive_is_not_scanned_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = seven_zipped({"agent.env": TOKEN})
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    leaks, unfinished = found(tmp_path, "backup.7z", data)
    assert [member for _, _, member in leaks if member] == []  # its bytes alone (7-Zip stores so small a member)
    assert "bsdtar (Debian libarchive-tools), which is not installed" in unfinished


def test_a_7z_bomb_is_bounded_by_the_gunzip_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """64 MiB of zeros in a 7z of a few KiB: read up to the gunzip-bytes limit, bsdtar stopped."""
    monkeypatch.setenv("AUDITOR_LIMIT_GUNZIP_BYTES", "1MiB")
    data = seven_zipped({"a.env": KEY, "zeros": bytes(64 << 20), "z.env": TOKEN})
    assert len(data) < 64 << 10
    leaks, unfinished = found(tmp_path, "bomb.7z", data)
    assert ("aws-access-key", 1, "a.env") in leaks and "gunzip-bytes limit of 1 MiB" in unfinished
    assert not [p for p in Path("/proc").glob("[0-9]*") if _is_child_bsdtar(p)]


def _is_child_bsdtar(proc: Path) -> bool:
    """A bsdtar this process started, still running."""
    try:
        stat = (proc / "stat").read_text()
    except OSError:
        return False
    return "(bsdtar)" in stat and stat.rsplit(")", 1)[1].split()[1] == str(os.getpid())


def test_bsdtar_reads_what_7zip_lists(tmp_path: Path) -> None:
    """The oracle: every file 7-Zip lists in an archive of odd names is a member the scan reads."""
    names = ["a b/c d.env", "ünï/cödé.env", "x" * 150 + "/long.env", "-dash.env", "dot/.hidden.env"]
    data = seven_zipped(dict.fromkeys(names, b"x\n" + TOKEN))
    assert listed_by_7zip(data, tmp_path) == set(names)
    leaks, unfinished = found(tmp_path, "odd.7z", data)
    assert {member for _, _, member in leaks} == set(names) and unfinished == ""
    assert shutil.which("bsdtar")


@functools.cache
def sample() -> bytes:
    """A 7z of a secret and a rotated log (made once, when a test first asks)."""
    return seven_zipped({"etc/agent.env": b"start\n" + TOKEN, "log.gz": gzipped(b"x\n" + KEY)})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 10_000), st.binary(min_size=1, max_size=8), st.sampled_from(["flip", "cut", "signature"]))
def test_any_damage_to_an_archive_is_read_without_error(tmp_path: Path, at: int, junk: bytes, how: str) -> None:
    """Fuzz: a real 7z damaged anywhere (bytes overwritten, cut), or a 7z or RAR signature over
    anything: scanned without an exception; a secret the scan reads is one it holds, and when
    its member is not found the file is noted as not scanned whole or the damage hit it."""
    data = sample()
    where = at % len(data)
    damaged = {"flip": data[:where] + junk + data[where + len(junk):], "cut": data[:where],
               "signature": (b"Rar!\x1a\x07\x01\x00" if at % 2 else data[:32]) + junk * (at % 300)}[how]
    leaks, unfinished = found(tmp_path, "d.7z", damaged)
    assert {rule for rule, _, _ in leaks} <= {"github-token", "aws-access-key", "generic-secret"}  # a cut token: generic
    if how == "flip" and where >= len(data) - 200 and ("github-token", 2, "etc/agent.env") not in leaks:
        assert unfinished  # the member list (at the end) damaged: never clean in silence
