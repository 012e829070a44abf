"""Packed content the leak scan reads (auditor._secrets.unpack): archives inside archives, and
compressed files of any size."""

from __future__ import annotations

import base64
import bz2
import gzip
import io
import lzma
import os
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._secrets import scanner as scanner_module
from auditor._secrets.scanner import Scanner
from tests.packing import gzipped as _gz
from tests.packing import seven_zipped
from tests.packing import tarred as _tar
from tests.packing import zipped as _zip

TOKEN = b"GITHUB_TOKEN=ghp_iK2ZWeqhFWCEPyYngFb51yBMWXaSCrUZoL8g\n"
KEY = b"AWS_ACCESS_KEY_ID=AKIAQWERTYUIOPASDFGH\n"


def _found(tmp_path: Path, name: str, data: bytes) -> tuple[list[tuple[str, int, str | None]], str]:
    path = tmp_path / name
    path.write_bytes(data)
    result = Scanner().scan_file(path, name)
    assert result.error == ""
    return sorted(((x.rule, x.line, x.details.get("member")) for x in result.leaks), key=str), result.unfinished


NESTED = {
    "a rotated log in a zip": ("logs.zip", _zip({"agent.log.1.gz": _gz(b"start\n" + TOKEN)}), "agent.log.1.gz"),
    "a rotated log stored in a zip": ("logs.zip", _zip({"agent.log.1.gz": _gz(b"start\n" + TOKEN)}, zipfile.ZIP_STORED),
                                      "agent.log.1.gz"),
    "a zip in a zip": ("outer.zip", _zip({"inner.zip": _zip({"etc/agent.env": b"start\n" + TOKEN})}),
                       "inner.zip!etc/agent.env"),
    "a rotated log in a tar": ("logs.tar", _tar({"var/log/agent.log.1.gz": _gz(b"start\n" + TOKEN)}),
                               "var/log/agent.log.1.gz"),
    "a rotated log in a .tar.gz": ("backup.tar.gz", _gz(_tar({"var/log/agent.log.1.bz2": bz2.compress(b"start\n" + TOKEN)})),
                                   "var/log/agent.log.1.bz2"),
    "a zip in a .tar.bz2, under a long name": (
        "backup.tar.bz2", bz2.compress(_tar({"a/" + "x" * 120 + "/conf.zip": _zip({"agent.env": b"start\n" + TOKEN})})),
        "a/" + "x" * 120 + "/conf.zip!agent.env"),
    "a zip in a pax tar": ("backup.tar", _tar({"conf.zip": _zip({"agent.env": b"start\n" + TOKEN})}, tarfile.PAX_FORMAT),
                           "conf.zip!agent.env"),
    "a gzip of a zip": ("conf.zip.gz", _gz(_zip({"agent.env": b"start\n" + TOKEN})), "agent.env"),
}


@pytest.mark.parametrize("case", list(NESTED))
def test_packed_content_inside_packed_content_is_read(tmp_path: Path, case: str) -> None:
    """A rotated log kept in a zip or a backup tar, a zip inside a zip or a .tar.gz: the scan
    read one level only, so the secret inside went unreported (trufflehog and Kingfisher unpack
    archives inside archives). Now each level is unpacked, the members named from the outside
    in (`!` between levels), lines counted in the innermost content."""
    name, data, member = NESTED[case]
    found, unfinished = _found(tmp_path, name, data)
    assert found == [("github-token", 2, member)] and unfinished == ""
    blob = Scanner().scan_blob(data, name, commit="c" * 40)
    assert [(x.rule, x.line, x.details.get("member")) for x in blob.leaks] == [("github-token", 2, member)]
    assert [x.location for x in blob.leaks] == [f"cccccccccccc:{name}!{member}:2:14"]  # where to look, member and all


def test_a_tar_member_that_is_not_packed_is_read_once(tmp_path: Path) -> None:
    """A tar's plain members lie in it as they are: read with the tar, not again as members."""
    found, _ = _found(tmp_path, "etc.tar", _tar({"etc/agent.env": TOKEN, "etc/key.gz": _gz(KEY)}))
    assert found == [("aws-access-key", 1, "etc/key.gz"), ("github-token", 1, None)]


def test_nesting_past_the_archive_depth_is_said_not_scanned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Packing nested deeper than the archive-depth limit is not unpacked (a zip quine holds
    itself for ever): the file is reported as not scanned whole, never as clean, and the
    secrets rules are not decided."""
    data = b"start\n" + TOKEN
    for _ in range(7):
        data = _gz(data)
    found, unfinished = _found(tmp_path, "deep.gz", data)
    assert found == [] and "archive-depth limit of 5" in unfinished
    monkeypatch.setenv("AUDITOR_LIMIT_ARCHIVE_DEPTH", "7")
    found, unfinished = _found(tmp_path, "deep.gz", data)
    assert found == [("github-token", 2, None)] and unfinished == ""


def test_a_nested_bomb_is_bounded_by_one_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every level's content counts against one gunzip-bytes limit: members inside members
    cannot each use it up."""
    monkeypatch.setenv("AUDITOR_LIMIT_GUNZIP_BYTES", "64KiB")
    zeros = b"\0" * (40 << 10)
    data = _zip({"a.zip": _zip({"x": KEY + zeros}), "b.gz": _gz(zeros + b"\n" + TOKEN)})
    found, unfinished = _found(tmp_path, "bomb.zip", data)
    assert found == [("aws-access-key", 1, "a.zip!x")]
    assert "gunzip-bytes limit of 64 KiB" in unfinished
    monkeypatch.setenv("AUDITOR_LIMIT_GUNZIP_BYTES", "1MiB")
    assert _found(tmp_path, "bomb.zip", data) == (
        [("aws-access-key", 1, "a.zip!x"), ("github-token", 2, "b.gz")], "")


@pytest.mark.parametrize("pack", ["gzip", "xz", "bzip2", "zip"])
def test_a_packed_file_over_a_window_is_read_as_its_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            pack: str) -> None:
    """A compressed file or zip over 8 MiB (a week of rotated logs) was streamed as its bytes
    and never unpacked, while the same secret in a smaller one was found: a bigger input gave
    fewer failures. It is unpacked from the file now, whatever its size."""
    monkeypatch.setattr(scanner_module, "WINDOW", 4096)
    monkeypatch.setattr(scanner_module, "OVERLAP", 1024)
    text = os.urandom(6000).hex().encode() + b"\n" + TOKEN  # compresses to more than a window
    packers: dict[str, Callable[[bytes], bytes]] = {"gzip": _gz, "xz": lzma.compress, "bzip2": bz2.compress,
                                                    "zip": lambda d: _zip({"agent.log": d})}
    data = packers[pack](text)
    assert len(data) > 4096
    found, unfinished = _found(tmp_path, "big", data)
    assert found == [("github-token", 2, "agent.log" if pack == "zip" else None)] and unfinished == ""
    blob = Scanner().scan_blob(data, "big", commit="c" * 40)
    assert [(x.rule, x.line) for x in blob.leaks] == [("github-token", 2)]


def test_a_large_tar_holding_packed_members_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A .tar.gz whose tar is over 8 MiB: its packed members are unpacked too."""
    monkeypatch.setattr(scanner_module, "WINDOW", 4096)
    monkeypatch.setattr(scanner_module, "OVERLAP", 1024)
    data = _gz(_tar({"a.log": b"line\n" * 4000, "b.log.gz": _gz(b"start\n" + TOKEN), "c.log": b"line\n" * 4000}))
    found, unfinished = _found(tmp_path, "backup.tar.gz", data)
    assert found == [("github-token", 2, "b.log.gz")] and unfinished == ""


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(["tar", "zip-in-tar", "gz-in-zip", "tar-in-gz", "gz-in-base64"]),
       st.integers(0, 2000))
def test_any_damage_to_nested_packing_is_read_without_error(tail: bytes, shape: str, cut: int) -> None:
    """Fuzz: a nested archive cut anywhere or followed by anything is read without an
    exception, within the limit."""
    inner = b"x\n" + TOKEN + tail
    data = {"tar": lambda: _tar({"a": inner, "b.gz": _gz(inner)}),
            "zip-in-tar": lambda: _tar({"c.zip": _zip({"a": inner})}),
            "gz-in-zip": lambda: _zip({"a.gz": _gz(inner)}, zipfile.ZIP_STORED),
            "tar-in-gz": lambda: _gz(_tar({"b.gz": _gz(inner)})),
            "gz-in-base64": lambda: b"data: " + base64.b64encode(_gz(inner)) + b"\n"}[shape]()
    damaged = data[:cut] + tail if cut < len(data) else data + tail
    result = Scanner().scan_blob(damaged, "x", commit="c" * 40)
    assert result.error == ""


def _shapes() -> dict[str, bytes]:
    """Each way a node may hold a log packed, as a file of its own."""
    import zstandard

    body = b"start\n" + TOKEN
    big = b"".join(b"%d %s\n" % (i, os.urandom(24).hex().encode()) for i in range(360_000)) + body
    return {
        "agent.log.1.gz": _gz(body), "agent.log.1.xz": lzma.compress(body), "agent.log.1.bz2": bz2.compress(body),
        "agent.log.1.zst": zstandard.compress(NOISE + body), "conf.zip": _zip({"agent.env": body}),
        "logs.zip": _zip({"agent.log.1.gz": _gz(body)}, zipfile.ZIP_STORED), "outer.zip": _zip({"inner.zip": _zip({"a.env": body})}),
        "backup.tar.gz": _gz(_tar({"var/log/agent.log.1.gz": _gz(body)})), "conf.tar": _tar({"c.zip": _zip({"a.env": body})}),
        "conf.zip.gz": _gz(_zip({"agent.env": body})), "big.log.1.gz": _gz(big),
        "conf.7z": seven_zipped({"agent.env": b"line\n" * 3000 + body}),  # compressed: the token is not in its bytes
    }


NOISE = os.urandom(1500).hex().encode() + b"\n"


def test_every_packing_kingfisher_reads_is_read(tmp_path: Path) -> None:
    """The outside reader: wherever Kingfisher (PyPI kingfisher-bin) finds the token in a packed
    file, so must the scan (was: packing inside packing and a compressed file over 8 MiB hid
    it); and the scan finds it in every shape (Kingfisher reads no zstd, no zip in a gzip, no 7z)."""
    import json
    import shutil
    import subprocess
    import sys

    exe = shutil.which("kingfisher", path=str(Path(sys.executable).parent))
    assert exe, "kingfisher-bin is not installed"
    shapes = _shapes()
    for name, data in shapes.items():
        (tmp_path / name).write_bytes(data)
    out = tmp_path.parent / f"{tmp_path.name}-kingfisher.json"
    subprocess.run([exe, "scan", "--no-dedup", "--no-validate", "--no-update-check", "--git-history", "none", "--format", "json",
                    "--output", str(out), str(tmp_path)], capture_output=True, check=False, timeout=300)
    text = out.read_text()
    try:
        reports = json.loads(text)
    except json.JSONDecodeError:
        reports = [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]
    reports = reports if isinstance(reports, list) else [reports]
    theirs = {Path(f["finding"]["path"].split("!")[0]).name for r in reports for f in r.get("findings", [])
              if "github" in f["rule"]["id"]}
    ours = {name for name in shapes if any(x.rule == "github-token" for x in Scanner().scan_file(tmp_path / name, name).leaks)}
    assert theirs and theirs <= ours == set(shapes)  # Kingfisher 2.14 reads no .zst, no zip in a gzip, no 7z


@pytest.mark.parametrize("variable", ["AUDITOR_LIMIT_GUNZIP_BYTES", "AUDITOR_LIMIT_ARCHIVE_DEPTH",
                                      "AUDITOR_LIMIT_SECRET_FINDINGS"])
def test_the_history_cache_is_keyed_on_how_much_packed_content_is_read(monkeypatch: pytest.MonkeyPatch,
                                                                         variable: str) -> None:
    """A blob scanned under a lower limit was noted as not scanned whole (or held fewer
    findings): a cache made so would answer for it after the limit was raised."""
    from auditor._secrets.history import ruleset_key

    monkeypatch.delenv(variable, raising=False)
    before = ruleset_key(Scanner())
    monkeypatch.setenv(variable, "3")
    assert ruleset_key(Scanner()) != before


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["plain", "gz", "zip", "empty"]), st.integers(1, 300), st.booleans()),
                max_size=6),
       st.sampled_from([tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT]), st.integers(1, 2000),
       st.binary(max_size=600))
def test_a_tar_watched_going_by_sees_what_its_walk_finds(shapes: list[tuple[str, int, bool]], fmt: int, piece: int,
                                                         tail: bytes) -> None:
    """A large tar is read a second time only when the watch over its first reading saw a
    packed member: whatever the members, names and pieces, the watch and the walk agree."""
    from auditor._secrets.unpack import Budget, TarWatch, kind_of, members

    made: dict[str, Callable[[int], bytes]] = {
        "plain": lambda n: b"x" * n, "gz": lambda n: _gz(b"y" * n), "zip": lambda n: _zip({"a": b"z" * n}),
        "empty": lambda n: b""}
    data = _tar({f"{'d' * (120 if long else 1)}/{i}": made[kind](size)
                 for i, (kind, size, long) in enumerate(shapes)}, fmt) + tail
    walked = any(kind_of(m.reader(None).read(512)) is not None
                 for m in members("tar", data, None, Budget(1 << 20, 5)))
    watch = TarWatch()
    for at in range(0, len(data), piece):
        watch.feed(data[at:at + piece])
    assert watch.packed == walked == any(kind in ("gz", "zip") for kind, _, _ in shapes)


def test_a_large_tar_of_plain_members_is_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A .tar.gz over 8 MiB holding nothing packed: its content is inflated once."""
    from auditor._secrets import unpack

    monkeypatch.setattr(scanner_module, "WINDOW", 4096)
    monkeypatch.setattr(scanner_module, "OVERLAP", 1024)
    made: list[str] = []
    real = unpack.Inflate.__init__

    def counted(self: unpack.Inflate, source: Callable[[int], bytes], compression: str) -> None:
        made.append(compression)
        real(self, source, compression)

    monkeypatch.setattr(unpack.Inflate, "__init__", counted)
    data = _gz(_tar({"a.log": b"line\n" * 4000, "b.log": TOKEN}))
    found, unfinished = _found(tmp_path, "backup.tar.gz", data)
    assert found == [("github-token", 4001, None)] and unfinished == "" and made == ["gzip"]
    made.clear()
    data = _gz(_tar({"a.log": b"line\n" * 4000, "b.log.gz": _gz(TOKEN)}))
    found, _ = _found(tmp_path, "backup.tar.gz", data)
    assert found == [("github-token", 1, "b.log.gz")] and made == ["gzip", "gzip", "gzip"]  # again, then the member


def test_a_zip_of_too_many_members_is_said_not_unpacked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """zipfile holds an object for every member of an archive it opens: a large zip of millions
    of members would take gigabytes. One whose member list is over ZIP_LISTING is not opened,
    and the file is reported as not scanned whole (the secrets rules are not decided)."""
    from auditor._secrets import unpack

    monkeypatch.setattr(scanner_module, "WINDOW", 4096)
    monkeypatch.setattr(scanner_module, "OVERLAP", 1024)
    data = _zip({f"m{i}.log.gz": _gz(os.urandom(64)) for i in range(400)} | {"z.env": os.urandom(3000).hex().encode() + TOKEN})
    assert len(data) > 4096
    found, unfinished = _found(tmp_path, "many.zip", data)
    assert [r for r, _, _ in found] == ["github-token"] and unfinished == ""
    monkeypatch.setattr(unpack, "ZIP_LISTING", 10_000)
    found, unfinished = _found(tmp_path, "many.zip", data)
    assert found == [] and "member list is" in unfinished and "not unpacked" in unfinished


@pytest.mark.parametrize("zip64", [False, True])
def test_the_member_list_size_is_read_as_zipfile_reads_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          zip64: bool) -> None:
    """From the end record, or the zip64 one (written past 65,535 members: here past 5)."""
    from auditor._secrets.unpack import _central_directory_size

    if zip64:
        monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 5)
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(30):
            archive.writestr(f"dir/member-{i}.txt", b"x" * i)
    assert (b"PK\x06\x06" in path.read_bytes()) == zip64
    with zipfile.ZipFile(path) as archive:
        listed = sum(46 + len(i.filename.encode()) + len(i.extra) + len(i.comment) for i in archive.infolist())
    with path.open("rb") as fh:
        assert _central_directory_size(fh) == listed and fh.tell() == 0


def test_a_tar_header_claiming_a_huge_name_costs_no_memory() -> None:
    """A GNU long-name member whose header claims gigabytes: read up to a bound, the rest
    skipped in pieces (was: held whole in memory)."""
    import tracemalloc

    from auditor._secrets.unpack import Budget, members

    header = bytearray(512)
    header[:13] = b"././@LongLink"
    header[100:108], header[124:136], header[156:157] = b"0000644\0", b"%011o\0" % (64 << 20), b"L"
    header[257:265] = b"ustar  \0"
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    data = bytes(header) + b"n" * (64 << 20) + _tar({"a.gz": _gz(TOKEN)})
    tracemalloc.start()
    got = [m.name[:3] for m in members("tar", None, lambda: io.BytesIO(data), Budget(1 << 30, 5))]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert got == ["nnn"] and peak < 4 << 20


def test_a_zip_that_holds_itself_ends_at_any_depth_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """However high archive-depth is set, nesting ends within Python's stack: packing 1,000
    levels deep is read to the ceiling and said not scanned whole (was: Python's recursion
    limit ended it, taken for a damaged archive, and the file passed as clean)."""
    monkeypatch.setenv("AUDITOR_LIMIT_ARCHIVE_DEPTH", "100000")
    data = TOKEN
    for _ in range(1000):
        data = _zip({"z": data})
    found, unfinished = _found(tmp_path, "deep.zip", data)
    assert found == [] and "archive-depth limit" in unfinished


def _helm_release(values: bytes, template: str = "x" * 4000) -> bytes:
    """A Helm 3 release Secret as `kubectl get secret sh.helm.release.v1.cim.v1 -o yaml` prints
    it: `data.release` is base64 (Kubernetes) of base64 (Helm) of the gzipped release JSON."""
    import base64
    import json

    release = json.dumps({"name": "cim", "chart": {"templates": [{"data": template}]},
                          "config": json.loads(values), "version": 1}).encode()
    helm = base64.b64encode(gzip.compress(release))
    return (b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: sh.helm.release.v1.cim.v1\n"
            b"type: helm.sh/release.v1\ndata:\n  release: " + base64.b64encode(helm) + b"\n")


def test_secrets_in_base64_encoded_gzip_are_read(tmp_path: Path) -> None:
    """A Helm release Secret holds the chart's values (passwords, tokens) gzipped and base64
    encoded twice; a ConfigMap's binaryData or a `_GZ_B64` value holds a gzipped file encoded
    once. Their secrets went unseen (Kingfisher 2.14 reports the Secret only as a generic
    `kubernetes-secret-yaml`). Each is unpacked, its findings placed where the encoded run
    starts, with the fingerprint the same secret gets in plain text."""
    import base64

    plain = Scanner().scan_bytes(TOKEN, "a.env")
    values = b'{"agent": {"githubToken": "' + TOKEN.split(b"=")[1].strip() + b'"}}'
    found, unfinished = _found(tmp_path, "release.yaml", _helm_release(values))
    assert found == [("github-token", 7, None)] and unfinished == ""
    leaks = Scanner().scan_file(tmp_path / "release.yaml", "release.yaml").leaks
    assert [(x.column, x.details["encoding"]) for x in leaks] == [(12, "gzip+base64")]
    (tmp_path / "token.env").write_bytes(TOKEN)
    assert leaks[0].fingerprint == Scanner().scan_file(tmp_path / "token.env", "token.env").leaks[0].fingerprint
    assert plain  # the token is one the detectors know
    config = b"binaryData:\n  agent.env.gz: " + base64.b64encode(gzip.compress(b"x=1\n" + TOKEN)) + b"\n"
    assert _found(tmp_path, "cm.yaml", config) == ([("github-token", 2, None)], "")
    zipped = _zip({"k8s/release.yaml": _helm_release(values)})
    assert _found(tmp_path, "backup.zip", zipped) == ([("github-token", 7, "k8s/release.yaml")], "")
    assert _found(tmp_path, "no.yaml", b"value: H4sIAAAAnotgzipatall\nother: SDRzSUFBQUFBQUFB\n") == ([], "")


@pytest.mark.parametrize("wrap", [["base64"], ["openssl", "base64"]], ids=["coreutils base64", "openssl base64"])
def test_gzip_in_base64_wrapped_over_lines_is_read(tmp_path: Path, wrap: list[str]) -> None:
    """gzip data encoded by `base64` (coreutils: lines of 76) or `openssl base64` (64): as a file of
    its own, and as the content of a cloud-init `write_files` entry (`encoding: gz+b64`, the lines
    indented in a YAML block, which YAML joins and cloud-init decodes). Was: only the first line
    was decoded, to no gzip, and the token went unseen."""
    import hashlib
    import subprocess

    import yaml

    lines = b"".join(b"NOTE_%d=%s\n" % (i, hashlib.sha256(b"%d" % i).hexdigest().encode()) for i in range(8))
    packed = gzip.compress(lines + TOKEN)  # over 3 lines of base64 however it is wrapped
    wrapped = subprocess.run(wrap, input=packed, capture_output=True, check=True, timeout=60).stdout
    assert wrapped.count(b"\n") > 3
    assert _found(tmp_path, "agent.env.gz.b64", wrapped) == ([("github-token", 1, None)], "")
    block = b"".join(b"      " + line + b"\n" for line in wrapped.splitlines())
    doc = (b"#cloud-config\nwrite_files:\n  - path: /etc/cim/agent.env\n    encoding: gz+b64\n"
           b"    permissions: '0600'\n    content: |\n" + block + b"runcmd:\n  - [systemctl, restart, cim-agent]\n")
    content = yaml.safe_load(doc)["write_files"][0]["content"]
    assert gzip.decompress(base64.b64decode(content)).endswith(TOKEN)  # what cloud-init writes
    assert _found(tmp_path, "user-data", doc) == ([("github-token", 7, None)], "")
    two = doc.replace(b"runcmd:", b"  - path: /etc/cim/other.env\n    encoding: gz+b64\n    content: |\n" + block + b"runcmd:")
    assert _found(tmp_path, "user-data", two) == ([("github-token", 7, None)], "")  # one secret, its first place
    assert [x.line for x in Scanner().scan_file(tmp_path / "user-data", "user-data").leaks] == [7]


@pytest.mark.parametrize("where", ["in the middle", "across the first window's end", "at the end"])
def test_gzip_in_base64_in_a_file_over_8_mib_is_read(tmp_path: Path, where: str) -> None:
    """A Helm release Secret in `kubectl get secrets -A -o yaml` of a cluster, a file over 8 MiB:
    its chart values' token is found as in the Secret's own small file (was: a file streamed in
    windows never unpacked gzip spelt in base64, so the bigger file had fewer findings), placed
    on its line. A run starting near a window's end is read again whole; in a git blob over 8 MiB
    (read once) it is noted, not unpacked, so the blob is not taken as clean."""
    import hashlib

    from auditor._secrets.scanner import OVERLAP, SPELT_IN_BLOB, SPELT_IN_MEMBER, WINDOW

    values = b'{"agent": {"githubToken": "' + TOKEN.split(b"=")[1].strip() + b'"}}'
    template = "".join(hashlib.sha256(b"%d" % i).hexdigest() for i in range(4000))  # a run of about 300 KB
    release = _helm_release(values, template).replace(b"\n", b"\n  ").rstrip() + b"\n"
    assert len(release) > 2 * OVERLAP
    noise = b"".join(b"- kind: Secret\n  data:\n    k%d: %s\n" % (i, hashlib.sha256(b"%d" % i).hexdigest().encode())
                     for i in range(140_000))  # about 11 MiB
    cut = {"in the middle": len(noise) // 3, "across the first window's end": WINDOW - OVERLAP - 300,
           "at the end": len(noise)}[where]
    cut = noise.rfind(b"- kind", 0, cut)
    data = b"apiVersion: v1\nkind: List\nitems:\n" + noise[:cut] + b"- " + release + noise[cut:]
    assert len(data) > WINDOW
    line = data[:data.index(b"release: ") ].count(b"\n") + 1
    found, unfinished = _found(tmp_path, "secrets.yaml", data)
    assert found == [("github-token", line, None)] and unfinished == ""
    blob = Scanner().scan_stream(io.BytesIO(data[WINDOW:]), data[:WINDOW], len(data), "secrets.yaml", commit="c" * 40)
    assert blob.leaks == () and SPELT_IN_BLOB in blob.unfinished
    if where == "in the middle":  # an archive member is read once too: noted, so the archive is not clean
        found, unfinished = _found(tmp_path, "backup.zip", _zip({"secrets.yaml": data}))
        assert found == [] and SPELT_IN_MEMBER in unfinished


def test_a_gzip_bomb_in_base64_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Encoded gzip counts against the file's gunzip-bytes limit like any packed content."""
    import base64

    monkeypatch.setenv("AUDITOR_LIMIT_GUNZIP_BYTES", "64KiB")
    bomb = base64.b64encode(gzip.compress(b"\0" * (1 << 20) + b"\n" + TOKEN))
    found, unfinished = _found(tmp_path, "bomb.yaml", b"data: " + bomb + b"\n")
    assert found == [] and "gunzip-bytes limit of 64 KiB" in unfinished
