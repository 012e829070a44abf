"""auditor._collectors._files: a folder's files as the node holds them."""

from __future__ import annotations

from pathlib import Path

from auditor._collectors._files import Unreadable, folder_files, read_bounded
from auditor._fsutil import node_root


def test_a_nodes_links_are_read_where_the_node_reads_them(tmp_path: Path) -> None:
    """A certificate folder holding an absolute link into the node's /nix/store and a link to
    nothing: the first is read from the node's store (was: a link to nothing on this machine,
    left out without a word), the second is listed as not read (was: left out)."""
    root = tmp_path / "node"
    certs = root / "etc/certs"
    certs.mkdir(parents=True)
    (root / "nix/store").mkdir(parents=True)
    (root / "nix/store/abc-a.pem").write_bytes(b"pem\n")
    (certs / "a.pem").symlink_to("/nix/store/abc-a.pem")
    (certs / "b.pem").symlink_to("/nix/store/missing.pem")
    with node_root(root):
        files, skipped = folder_files(certs, {".pem"})
        assert files == [certs / "a.pem"]
        assert read_bounded(certs / "a.pem") == b"pem\n"
    assert [(s.path, s.kind) for s in skipped] == [(certs / "b.pem", "a link to nothing")]
    assert "a link to nothing" in skipped[0].reason
    try:  # outside the node's scan: this machine's /nix/store
        read_bounded(certs / "a.pem")
    except Unreadable as exc:
        assert exc.why == "missing"
    else:  # pragma: no cover - only where this machine has that very file
        raise AssertionError("read a file of this machine's /nix/store")
