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
    (root / "etc/linked").symlink_to("/nix/store")  # a folder held as a link: walked where it leads
    with node_root(root):
        assert folder_files(root / "etc/linked", {".pem"}) == ([root / "etc/linked/abc-a.pem"], [])
        assert read_bounded(root / "etc/linked/abc-a.pem") == b"pem\n"
    assert "a link to nothing" in skipped[0].reason
    try:  # outside the node's scan: this machine's /nix/store
        read_bounded(certs / "a.pem")
    except Unreadable as exc:
        assert exc.why == "missing"
    else:  # pragma: no cover - only where this machine has that very file
        raise AssertionError("read a file of this machine's /nix/store")


def test_a_link_in_a_nodes_tree_never_reads_this_machines_file(tmp_path: Path) -> None:
    """A link in a node's tree (copied or mounted here) to an absolute path that leads nowhere
    in that tree but names a file of this machine: the node has no such file, so nothing is read
    (the scan must not report this machine's file as the node's)."""
    here = tmp_path / "this-machine.pem"
    here.write_bytes(b"this machine's\n")
    root = tmp_path / "node"
    (root / "etc").mkdir(parents=True)
    (root / "etc/a.pem").symlink_to(here)  # absolute: under the node's / it is not there
    assert read_bounded(root / "etc/a.pem") == b"this machine's\n"  # as this machine follows it
    with node_root(root):
        try:
            read_bounded(root / "etc/a.pem")
        except Unreadable as exc:
            assert exc.why == "missing"
        else:
            raise AssertionError("read this machine's file for the node's")
        assert folder_files(root / "etc", {".pem"})[1][0].kind == "a link to nothing"


def test_folders_held_as_links_are_walked_once(tmp_path: Path) -> None:
    """Within a walked folder, a folder held as a link (absolute in a node's tree, which this
    machine cannot follow, or relative, which os.walk does not follow) is walked where it leads,
    its files named through the link; a link back up the tree is not walked again. Was: both
    left out without a word."""
    root = tmp_path / "node"
    (root / "etc/k8s").mkdir(parents=True)
    (root / "nix/store/abc-more").mkdir(parents=True)
    (root / "nix/store/abc-more/a.yaml").write_text("a: 1\n")
    (root / "etc/shared").mkdir()
    (root / "etc/shared/b.yaml").write_text("b: 1\n")
    (root / "etc/k8s/more").symlink_to("/nix/store/abc-more")
    (root / "etc/k8s/shared").symlink_to("../shared")
    (root / "etc/k8s/up").symlink_to("/etc/k8s")  # the walked folder itself: no cycle
    with node_root(root):
        files, skipped = folder_files(root / "etc/k8s", {".yaml"})
    assert files == [root / "etc/k8s/more/a.yaml", root / "etc/k8s/shared/b.yaml"] and skipped == []
