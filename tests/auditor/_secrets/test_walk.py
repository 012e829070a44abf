"""auditor._secrets.walk: what a scan of a node's tree reads through its symbolic links."""

from __future__ import annotations

from pathlib import Path

from auditor._secrets.walk import iter_files


def test_links_to_files_are_followed_within_the_nodes_root(tmp_path: Path) -> None:
    """Under a node's root, a link to a file is read where the node reads it, a link to a folder
    is walked there (the display paths through the link), unless the folder is walked already
    (a link back up: no cycle); links to nothing stay skipped; without a root no link is followed."""
    root = tmp_path / "node"
    (root / "nix/store/abc-etc").mkdir(parents=True)
    (root / "etc/cim").mkdir(parents=True)
    kept = root / "nix/store/abc-agent.env"
    kept.write_text("TOKEN=x\n")
    (root / "etc/cim/agent.env").symlink_to("/nix/store/abc-agent.env")
    (root / "etc/cim/rel.env").symlink_to("../../nix/store/abc-agent.env")
    (root / "etc/cim/static").symlink_to("/nix/store/abc-etc")
    (root / "nix/store/abc-etc/inner.conf").write_text("x\n")
    (root / "etc/cim/up").symlink_to("/etc")
    (root / "etc/cim/gone").symlink_to("/nix/store/none")
    seen = {shown: (path, skip) for path, shown, skip, _, _ in iter_files(root / "etc", root, root=root)}
    assert seen == {
        "etc/cim/agent.env": (str(kept), ""),
        "etc/cim/gone": (str(root / "etc/cim/gone"), "symlink"),
        "etc/cim/rel.env": (str(kept), ""),
        "etc/cim/static/inner.conf": (str(root / "nix/store/abc-etc/inner.conf"), ""),
        "etc/cim/up": (str(root / "etc/cim/up"), "symlink"),
    }
    plain = {shown: skip for _, shown, skip, _, _ in iter_files(root / "etc", root)}
    assert set(plain.values()) == {"symlink"}
    top = list(iter_files(root / "etc/cim/agent.env", root, root=root))
    assert [(path, shown, skip) for path, shown, skip, _, _ in top] == [(str(kept), "etc/cim/agent.env", "")]
    linked = [(path, shown) for path, shown, _, _, _ in iter_files(root / "etc/cim/static", root, root=root)]
    assert linked == [(str(root / "nix/store/abc-etc/inner.conf"), "etc/cim/static/inner.conf")]
