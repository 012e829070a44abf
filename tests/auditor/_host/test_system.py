"""Reading a host's files under a root: links stay inside the root, only regular files are
opened, reads are bounded; the command seam (local, recorded, none)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from auditor._host.system import (
    NO_COMMANDS,
    CommandUnavailable,
    Host,
    HostFileError,
    HostFiles,
    LocalRunner,
    RecordedRunner,
)


def test_links_resolve_inside_the_root(tmp_path: Path) -> None:
    (tmp_path / "etc/static/ssh").mkdir(parents=True)
    (tmp_path / "etc/static/ssh/sshd_config").write_text("Port 22\n")
    (tmp_path / "etc/ssh").mkdir()
    os.symlink("/etc/static/ssh/sshd_config", tmp_path / "etc/ssh/sshd_config")  # absolute: NixOS style
    os.symlink("../../../../../etc/passwd", tmp_path / "etc/escape")  # climbs above the root: stays at it
    files = HostFiles(tmp_path)
    assert files.read_text("/etc/ssh/sshd_config") == "Port 22\n"
    with pytest.raises(HostFileError) as err:
        files.read_text("/etc/escape")
    assert err.value.missing  # /etc/passwd of the tree, not of this machine


def test_only_regular_files_and_bounded(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "big").write_bytes(b"x" * 100)
    (tmp_path / "dir").mkdir()
    os.symlink("loop", tmp_path / "loop")
    files = HostFiles(tmp_path)
    for path, why in (("/fifo", "not a regular file"), ("/dir", "folder"), ("/loop", "symbolic links")):
        with pytest.raises(HostFileError, match=why):
            files.read_bytes(path)
    with pytest.raises(HostFileError, match="limit"):
        files.read_bytes("/big", limit=10)
    assert files.read_bytes("/big", limit=100) == b"x" * 100
    assert files.text_or_none("/nothing") is None


def test_glob_skips_dot_files(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    for name in ("b.conf", "a.conf", ".hidden.conf", "c.txt"):
        (tmp_path / "d" / name).write_text("")
    assert HostFiles(tmp_path).glob("/d/*.conf") == ["/d/a.conf", "/d/b.conf"]


def test_runners(tmp_path: Path) -> None:
    local = LocalRunner()
    res = local.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (res.returncode, res.stdout, res.stderr.strip()) == (3, "out\n", "err")
    assert "exited 3: err" in res.problem()
    with pytest.raises(CommandUnavailable):
        local.run(["no-such-program-here"])
    with pytest.raises(CommandUnavailable):
        NO_COMMANDS.run(["nft"])
    recorded = RecordedRunner.load(json.dumps({"commands": [{"argv": ["/usr/sbin/nft", "-j", "list", "ruleset"],
                                                             "returncode": 0, "stdout": "{}"}]}))
    assert recorded.which("nft") == "/usr/sbin/nft" and recorded.which("sshd") is None
    assert recorded.run(["nft", "-j", "list", "ruleset"]).stdout == "{}"
    with pytest.raises(CommandUnavailable):
        recorded.run(["nft", "list", "ruleset"])
    assert Host.at(Path("/")).live and not Host.at(tmp_path).live
