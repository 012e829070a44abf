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


def test_a_link_named_on_the_command_line_is_followed_and_this_machines_links_with_its_root(tmp_path: Path) -> None:
    """`auditor secrets scan LINK`: the link named is followed, to a file or into a folder (as
    `grep -r` and `find -H` follow one), the display path the one named; links in folders are
    followed with `/` for a root (`--follow-links`: this machine's links, an absolute one from
    this machine's `/`), a folder walked once. Was: a link named was skipped, so `auditor secrets
    scan /etc/cim/agent.env` on NixOS read nothing and said nothing was found."""
    store = tmp_path / "store"
    (store / "etc").mkdir(parents=True)
    (store / "agent.env").write_text("TOKEN=x\n")
    (store / "etc/inner.conf").write_text("x\n")
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "agent.env").symlink_to(store / "agent.env")  # absolute, as NixOS links /etc
    (etc / "static").symlink_to("../store/etc")
    (etc / "up").symlink_to("..")
    (etc / "gone").symlink_to(store / "none")
    named = [(path, shown, skip) for path, shown, skip, _, _ in iter_files(etc / "agent.env", tmp_path)]
    assert named == [(str(store / "agent.env"), "etc/agent.env", "")]
    into = [(path, shown, skip) for path, shown, skip, _, _ in iter_files(etc / "static", tmp_path)]
    assert into == [(str(store / "etc/inner.conf"), "etc/static/inner.conf", "")]
    assert [skip for _, _, skip, _, _ in iter_files(etc / "gone", tmp_path)] == ["symlink"]
    assert {shown: skip for _, shown, skip, _, _ in iter_files(etc, tmp_path)} == {
        "etc/agent.env": "symlink", "etc/gone": "symlink", "etc/static": "symlink", "etc/up": "symlink"}
    followed = {shown: (path, skip) for path, shown, skip, _, _ in iter_files(etc, tmp_path, root=Path("/"))}
    assert {shown: followed[shown] for shown in ("etc/agent.env", "etc/gone", "etc/static/inner.conf")} == {
        "etc/agent.env": (str(store / "agent.env"), ""),
        "etc/gone": (str(etc / "gone"), "symlink"),
        "etc/static/inner.conf": (str(store / "etc/inner.conf"), ""),
    }
    # the link back up is walked once: what it reaches is read again under its name, its own links not again
    assert followed["etc/up/etc/static"] == (str(etc / "static"), "symlink")  # walked through it already
    assert followed["etc/up/etc/up"] == (str(etc / "up"), "symlink")
    assert len(followed) == 9 and not any(shown.count("/up/") > 1 for shown in followed)


def test_of_a_git_folder_its_config_and_hooks_are_listed_never_a_link_followed(tmp_path: Path) -> None:
    """A hook is a script someone wrote: listed as any file (a FIFO or a link as such, never
    opened or followed, even under a node's root); git's templates and folders in it are not;
    the object store is not either; each repository met is told, with its git directory."""
    import os

    repo = tmp_path / "repo"
    hooks = repo / ".git/hooks"
    (repo / ".git/objects/ab").mkdir(parents=True)
    (repo / ".git/objects/ab/cdef").write_bytes(b"x")
    hooks.mkdir()
    (repo / ".git/config").write_text("[core]\n")
    (hooks / "post-receive").write_text("#!/bin/sh\n")
    (hooks / "pre-commit.sample").write_text("#!/bin/sh\n")
    (hooks / "lib").mkdir()
    (hooks / "lib/inner.sh").write_text("x\n")
    (hooks / "update").symlink_to("/etc/passwd")
    os.mkfifo(hooks / "pipe")
    met: list[tuple[str, str, str]] = []
    seen = {shown: skip for _, shown, skip, _, _ in iter_files(repo, tmp_path, root=tmp_path, repositories=met)}
    assert seen == {"repo/.git/config": "", "repo/.git/hooks/pipe": "fifo", "repo/.git/hooks/post-receive": "",
                    "repo/.git/hooks/update": "symlink"}
    assert met == [(str(repo), "repo", str(repo / ".git"))]
    assert "repo/.git/hooks/post-receive" not in {
        shown for _, shown, _, _, _ in iter_files(repo, tmp_path, exclude=["repo/.git/hooks/*"])}


def test_of_a_submodule_s_git_directory_its_config_and_hooks_are_listed(tmp_path: Path) -> None:
    """git keeps each submodule's git directory in the superproject's `.git/modules/<name>`
    (a name may hold slashes; a submodule's own submodules are in its `modules`): its `config`
    holds the remote URL the submodule was cloned from (credentials in it, as `.gitmodules`
    or an `insteadOf` gave them) and its hooks are scripts people write. Before, the walk read
    only the superproject's own: each is listed now, and told as a repository after the
    working trees; a folder in `modules` that is no git directory is looked into, never a link
    followed."""
    import os

    repo = tmp_path / "repo"
    (repo / ".git/hooks").mkdir(parents=True)
    (repo / ".git/config").write_text("[core]\n")
    (repo / "sub").mkdir()
    (repo / "sub/.git").write_text("gitdir: ../.git/modules/vendor/ui\n")
    ui = repo / ".git/modules/vendor/ui"
    deeper = ui / "modules/icons"
    for gitdir in (ui, deeper):
        for folder in ("objects/ab", "refs/heads", "hooks"):
            (gitdir / folder).mkdir(parents=True)
        (gitdir / "HEAD").write_text("ref: refs/heads/main\n")
        (gitdir / "config").write_text("[remote \"origin\"]\n")
        (gitdir / "hooks/post-merge").write_text("#!/bin/sh\n")
        (gitdir / "hooks/pre-push.sample").write_text("#!/bin/sh\n")
        (gitdir / "objects/ab/cdef").write_bytes(b"x")
    (repo / ".git/modules/elsewhere").symlink_to(ui)
    met: list[tuple[str, str, str]] = []
    seen = {shown for _, shown, _, _, _ in iter_files(repo, tmp_path, root=tmp_path, repositories=met)}
    assert seen == {"repo/.git/config", "repo/sub/.git",
                    "repo/.git/modules/vendor/ui/config", "repo/.git/modules/vendor/ui/hooks/post-merge",
                    "repo/.git/modules/vendor/ui/modules/icons/config",
                    "repo/.git/modules/vendor/ui/modules/icons/hooks/post-merge"}
    assert met == [(str(repo), "repo", str(repo / ".git")), (str(repo / "sub"), "repo/sub", ""),
                   (str(ui), "repo/.git/modules/vendor/ui", str(ui)),
                   (str(deeper), "repo/.git/modules/vendor/ui/modules/icons", str(deeper))]
    assert "repo/.git/modules/vendor/ui/config" not in {
        shown for _, shown, _, _, _ in iter_files(repo, tmp_path, exclude=["repo/.git/modules/*/ui/config"])}
    assert os.path.islink(repo / ".git/modules/elsewhere")
