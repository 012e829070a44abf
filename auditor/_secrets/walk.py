"""The files under a folder as a scan sees them (`iter_files`): names, sizes and kinds, nothing
read. Only the standard library: the report memo walks a tree with it before anything heavier
is imported (`auditor._secrets.memo`)."""

from __future__ import annotations

import contextlib
import fnmatch
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from auditor._fsutil import on_node, path_text
from auditor.errors import ConfigError
from pki.fsutil import special_kind as file_kind


def special_kind(mode: int) -> str:
    """`fifo`, `socket`, `device` or `symlink` for what is not a regular file; empty for one
    (pki.fsutil.special_kind, with both kinds of device as one)."""
    kind = file_kind(mode) or ""
    return "device" if kind.endswith("-device") else kind


def _hooks(folder: str, named: str, display: Callable[[str], str],
           excluded: Callable[[str], bool]) -> Iterator[tuple[str, str, str, int, int]]:
    """The hooks of a `.git` folder, as iter_files yields files: scripts people write (a deploy
    token in `post-receive`), its own files only, never a link followed; git's templates
    (`*.sample`, which git never runs) left out. Nothing when there is no such folder."""
    try:
        with os.scandir(folder) as it:
            entries = sorted((e.name, e) for e in it if not e.name.endswith(".sample"))
    except OSError:  # no hooks folder (or none that can be listed: git runs none from it either)
        return
    for name, entry in entries:
        shown = display(f"{named}/{name}")
        if excluded(shown):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError as exc:
            yield f"{folder}/{name}", shown, f"error:{exc.strerror or exc}", 0, 0
            continue
        kind = special_kind(st.st_mode)
        if kind != "folder":  # a hook is a file: git runs none from a folder in it
            yield f"{folder}/{name}", shown, kind, st.st_size, st.st_mode


def _git_folder(folder: str, named: str, display: Callable[[str], str], excluded: Callable[[str], bool],
                modules: list[tuple[str, str, str]]) -> Iterator[tuple[str, str, str, int, int]]:
    """Of the git directory `folder` (a `.git` folder), as iter_files yields files: its
    `config` (remote URLs with credentials) and its hooks (`_hooks`), and those of each
    submodule's git directory git keeps in it (`modules/<name>`, `modules/<a>/modules/<b>`:
    a submodule's remote URL, as `.gitmodules` or `insteadOf` gave it, and its hooks), each
    of those added to `modules` (folder, display path, git directory) for the history scan
    (`--git`; a submodule not checked out has its history there alone). Never a link
    followed."""
    config, config_named = folder + "/config", named + "/config"
    try:
        cst = os.lstat(config)
    except OSError:
        cst = None
    if cst is not None and not excluded(display(config_named)):
        yield config, display(config_named), special_kind(cst.st_mode), cst.st_size, cst.st_mode
    yield from _hooks(folder + "/hooks", named + "/hooks", display, excluded)
    top = folder + "/modules"
    stack = [(top, named + "/modules")]  # a submodule's name may hold slashes: folders in folders
    while stack:
        at, at_named = stack.pop()
        try:
            with os.scandir(at) as it:
                entries = sorted((e.name, e) for e in it)
        except OSError:  # no submodules (or none git could read either)
            continue
        if at != top and is_bare_repository(entries):
            modules.append((at, display(at_named), at))
            yield from _git_folder(at, at_named, display, excluded, modules)
            continue
        for name, entry in reversed(entries):
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    stack.append((f"{at}/{name}", f"{at_named}/{name}"))


_BARE = frozenset({"HEAD", "config", "objects", "refs"})


def is_bare_repository(entries: Sequence[tuple[str, os.DirEntry[str]]]) -> bool:
    """Whether a folder holding `entries` (name, entry) is a git directory itself (a bare
    repository: `project.git` on a git server), as `git init --bare` makes one: `HEAD` and
    `config` files, `objects` and `refs` folders (git itself asks no `config`; a folder that
    only looks so is read by git, which then says it is none: not scanned whole). Told from the
    entries as listed: no file is looked at again."""
    named = {name: entry for name, entry in entries if name in _BARE}
    return (len(named) == len(_BARE) and named["HEAD"].is_file() and named["config"].is_file()
            and named["objects"].is_dir() and named["refs"].is_dir())


def display_path(path: str, base: Path) -> str:
    """`path` as a scan shows it: relative to `base` when under it, bytes of a name that are not
    UTF-8 as \\xNN."""
    return _shown(path, str(base).rstrip("/") + "/")


def _shown(path: str, prefix: str) -> str:
    """display_path, `prefix` the base and a slash."""
    return path_text(path[len(prefix):] if path.startswith(prefix) else path)


def enclosing_repository(path: Path, root: Path | None) -> tuple[Path, str] | None:
    """The working tree above the folder `path` that holds it (the nearest folder with a `.git`,
    looked for up to `root`, or `/` without one) and where `path` lies in it (`etc/nats/`), as
    real paths; None when there is none."""
    real = os.path.realpath(path)
    stop = os.path.realpath(root) if root is not None else "/"
    folder = os.path.dirname(real)
    while folder == stop or folder.startswith(stop.rstrip("/") + "/"):
        if os.path.lexists(os.path.join(folder, ".git")):
            return Path(folder), os.path.relpath(real, folder) + "/"
        if folder == stop or folder == os.path.dirname(folder):
            break
        folder = os.path.dirname(folder)
    return None


def iter_files(top: Path, base: Path, exclude: Sequence[str] = (), *, root: Path | None = None,
               repositories: list[tuple[str, str, str]] | None = None) -> Iterator[tuple[str, str, str, int, int]]:
    """(path, display path, skip reason, size, mode) for every entry under `top` (or `top`
    itself); size and mode as `os.lstat` tells them (0 for an entry that could not be read).

    Nothing is skipped for its name or content, except what `exclude` names. A repository's
    `.git` folder is git's own store, read by the history scan (`--git`); of it only `config`
    (remote URLs with credentials) and the `hooks` folder (scripts people write) are read here,
    and those of the submodules' git directories in it (`_git_folder`).
    The reason is `symlink`, `fifo`, `socket` or `device` for entries that are never opened,
    else empty. Display paths are relative to `base` for paths under it. (Plain strings:
    pathlib costs more than reading a small file.)

    `top` itself, when a symbolic link, is followed (as `grep -r` and `find -H` follow a link
    named on the command line). Links in folders are not followed, except with `root` (a node's
    `/`, its tree scanned here; this machine's `/` for `auditor secrets scan --follow-links`): a
    link under it is followed as the node follows it (auditor._fsutil.in_root: NixOS links /etc
    into /nix/store), so what the node reads through a link is scanned wherever it lies: the path
    yielded is the file's, its display path the one through the link, and a folder a link leads
    to is walked unless it is walked already (no cycles). Links to nothing stay `symlink`.

    `repositories`, when given, gets (folder, display path, git directory) of each git repository
    met: a folder holding a `.git` folder, a bare repository (`is_bare_repository`, its own git
    directory; walked as any folder), and a folder whose `.git` is a file (`gitdir: ...`, a
    submodule's or a worktree's: its git directory '', as the file says it, git reads it), and
    after them the submodules' git directories kept in `.git` folders (`.git/modules/<name>`:
    a submodule not checked out has its history there alone; one checked out is read from its
    working tree, met first), for the history scan (`--git`) to read each."""
    prefix = str(base).rstrip("/") + "/"

    def display(p: str) -> str:  # display_path, the prefix made once
        return _shown(p, prefix)

    def excluded(shown: str) -> bool:
        return any(fnmatch.fnmatchcase(shown, pat) for pat in exclude)

    def resolved(path: str, named: bool = False) -> tuple[str, os.stat_result] | None:
        """Where the link `path` leads within `root` (auditor._fsutil.on_node; this machine's
        links for `/`, or without a root when `named` on the command line) and its lstat; None
        without a root (unless `named`) or for a link to nothing."""
        if root is None and not named:
            return None
        real = os.path.realpath(path) if root is None or str(root) == "/" else str(on_node(Path(path), root))
        try:
            return real, os.lstat(real)
        except OSError:
            return None

    start = str(top)
    try:
        st = os.lstat(start)
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=top) from None
    real_start, kind = start, special_kind(st.st_mode)
    if kind == "symlink" and (found := resolved(start, named=True)) is not None:
        real_start, st = found
        kind = special_kind(st.st_mode)
    if kind != "folder":
        shown = display(start)
        if not excluded(shown):
            yield real_start, shown, kind, st.st_size, st.st_mode
        return
    modules: list[tuple[str, str, str]] = []  # submodules' git directories in `.git` folders (`_git_folder`)
    walked = {(st.st_dev, st.st_ino)}  # folders walked or to be: a link to one is not walked again
    stack = [(real_start, start)]  # (where a folder is, the path it is named by)
    while stack:
        folder, named = stack.pop()
        join = "" if folder == "." else folder.rstrip("/") + "/"
        named_join = "" if named == "." else named.rstrip("/") + "/"
        try:
            with os.scandir(folder) as it:
                entries = sorted((e.name, e) for e in it)
        except OSError as exc:
            yield folder, display(named), f"error:{exc.strerror or exc}", 0, 0
            continue
        if repositories is not None and is_bare_repository(entries):
            repositories.append((folder, display(named), folder))
        subfolders = []
        for name, entry in entries:
            path, as_named = join + name, named_join + name
            shown = display(as_named)
            if exclude and excluded(shown):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    if name == ".git":
                        if repositories is not None:
                            repositories.append((folder, display(named), path))
                        yield from _git_folder(path, as_named, display, excluded, modules)
                        continue
                    if root is not None:
                        dst = entry.stat(follow_symlinks=False)
                        walked.add((dst.st_dev, dst.st_ino))
                    subfolders.append((path, as_named))
                    continue
                est = entry.stat(follow_symlinks=False)
                if name == ".git" and repositories is not None and stat.S_ISREG(est.st_mode):
                    repositories.append((folder, display(named), ""))  # `gitdir: ...`: a submodule, a worktree
            except OSError as exc:
                yield path, shown, f"error:{exc.strerror or exc}", 0, 0
                continue
            kind = special_kind(est.st_mode)
            if kind == "symlink" and (found := resolved(path)) is not None:
                real, rst = found
                kind = special_kind(rst.st_mode)
                if kind != "folder":
                    yield real, shown, kind, rst.st_size, rst.st_mode
                elif (rst.st_dev, rst.st_ino) not in walked:
                    walked.add((rst.st_dev, rst.st_ino))
                    subfolders.append((real, as_named))
                else:  # a folder walked already, perhaps one holding this link
                    yield path, shown, "symlink", est.st_size, est.st_mode
                continue
            yield path, shown, kind, est.st_size, est.st_mode
        stack.extend(reversed(subfolders))
    if repositories is not None:  # after the working trees: a checked-out submodule is read, and shown, from its own
        repositories.extend(modules)


__all__ = ["display_path", "enclosing_repository", "is_bare_repository", "iter_files", "special_kind"]
