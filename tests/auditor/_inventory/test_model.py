"""auditor._inventory.model: how an inventory's paths are resolved against a target's root."""

from __future__ import annotations

from pathlib import Path

from auditor._inventory.model import resolve_path


def test_a_step_back_is_taken_back_with_the_name_before_it_unless_that_name_is_a_link(tmp_path: Path) -> None:
    """`etc/nats/../nats/certs` is `etc/nats/certs` (findings name the files it holds as those of
    `etc/nats/certs`: the same ids); after a link, `..` leaves the link's target, so the path
    stays as spelled; a `..` above the root stays (a CA folder beside the node's tree)."""
    (tmp_path / "etc/nats/certs").mkdir(parents=True)
    (tmp_path / "store/pkg/nats").mkdir(parents=True)
    (tmp_path / "etc/linked").symlink_to(tmp_path / "store/pkg/nats")
    assert resolve_path(tmp_path, "etc/nats/../nats/certs") == tmp_path / "etc/nats/certs"
    assert resolve_path(tmp_path, "etc/../etc/nats/./certs/") == tmp_path / "etc/nats/certs"
    assert resolve_path(tmp_path, "k8s/../missing/..") == tmp_path
    assert resolve_path(tmp_path, "etc/linked/../nats") == tmp_path / "etc/linked/../nats"  # store/pkg/nats, not etc/nats
    assert resolve_path(tmp_path, "../pki-ca") == tmp_path / "../pki-ca"
    assert resolve_path(tmp_path, "etc/../../pki-ca/x/../certs") == tmp_path / "../pki-ca/certs"
    assert resolve_path(tmp_path, "/etc/nats/../ssh") == Path("/etc/nats/../ssh")  # absolute: as given
