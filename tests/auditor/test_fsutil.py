"""auditor._fsutil: a node's paths resolved as the node resolves them (in_root, on_node)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from auditor._fsutil import RootedPathError, in_root, node_root, on_node, under_root


@pytest.fixture
def node(tmp_path: Path) -> Path:
    """A node's tree: /etc/x.conf an absolute link into /nix/store, /etc/y.conf a relative one,
    /etc/up a link climbing above the root, /etc/loop a link to itself, /etc/gone a link to nothing."""
    root = tmp_path / "node"
    (root / "nix/store").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "nix/store/abc-x.conf").write_text("x\n")
    (root / "etc/x.conf").symlink_to("/nix/store/abc-x.conf")
    (root / "etc/y.conf").symlink_to("../nix/store/abc-x.conf")
    (root / "etc/up").symlink_to("../../../../../nix/store/abc-x.conf")
    (root / "etc/loop").symlink_to("loop")
    (root / "etc/gone").symlink_to("/nowhere")
    return root


def test_links_are_followed_from_the_nodes_root(node: Path) -> None:
    real = node / "nix/store/abc-x.conf"
    assert in_root(node, "/etc/x.conf") == real  # absolute: from the node's /, not this machine's
    assert in_root(node, "/etc/y.conf") == real
    assert in_root(node, "/etc/up") == real  # `..` never climbs above the root
    assert in_root(node, "/etc/../etc/./x.conf") == real
    assert in_root(node, "/etc") == node / "etc"
    with pytest.raises(RootedPathError, match="too many levels"):
        in_root(node, "/etc/loop")
    with pytest.raises(RootedPathError) as missing:
        in_root(node, "/etc/gone")
    assert missing.value.missing
    with pytest.raises(RootedPathError, match="not an absolute path"):
        in_root(node, "etc/x.conf")


def test_on_node_resolves_only_under_a_nodes_root(node: Path, tmp_path: Path) -> None:
    link = node / "etc/x.conf"
    real = node / "nix/store/abc-x.conf"
    assert on_node(link) == link  # no node: this machine's files, as the OS follows them
    assert on_node(link, node) == real
    assert on_node(tmp_path / "elsewhere", node) == tmp_path / "elsewhere"  # not under the root
    assert on_node(node / "etc/gone", node) == node / "nowhere"  # not this machine's /nowhere
    assert on_node(node / "etc/gone/deeper/x", node) == node / "nowhere/deeper/x"
    assert not (node / "nowhere").exists()
    assert in_root(node, "/etc/loop", strict=False) == node / "etc/loop"
    with node_root(node):
        assert on_node(link) == real
        with node_root(Path("/")):
            assert on_node(link) == link
        assert on_node(link) == real
    assert on_node(link) == link
    assert under_root(node, link) == "/etc/x.conf" and under_root(node, node) == "/"
    assert under_root(node, node.parent) is None and under_root(node, Path(os.sep, "etc")) is None
