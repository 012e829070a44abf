"""The files under a folder as a scan sees them (`iter_files`): names, sizes and kinds, nothing
read. Only the standard library: the report memo walks a tree with it before anything heavier
is imported (`auditor._secrets.memo`)."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from auditor._fsutil import RootedPathError, in_root, path_text, under_root
from auditor.errors import ConfigError
from pki.fsutil import special_kind as file_kind


def special_kind(mode: int) -> str:
    """`fifo`, `socket`, `device` or `symlink` for what is not a regular file; empty for one
    (pki.fsutil.special_kind, with both kinds of device as one)."""
    kind = file_kind(mode) or ""
    return "device" if kind.endswith("-device") else kind


def iter_files(top: Path, base: Path, exclude: Sequence[str] = (), *,
               root: Path | None = None) -> Iterator[tuple[str, str, str, int, int]]:
    """(path, display path, skip reason, size, mode) for every entry under `top` (or `top`
    itself); size and mode as `os.lstat` tells them (0 for an entry that could not be read).

    Nothing is skipped for its name or content, except what `exclude` names. A repository's
    `.git` folder is git's own store, read by the history scan (`--git`); of it only `config`
    (remote URLs with credentials) is read here. The reason is `symlink`, `fifo`, `socket` or
    `device` for entries that are never opened, else empty. Display paths are relative to
    `base` for paths under it. (Plain strings: pathlib costs more than reading a small file.)

    Symbolic links are not followed, except with `root` (a node's `/`, its tree scanned here):
    a link under it to a regular file is followed as the node follows it (auditor._fsutil.in_root:
    NixOS links /etc into /nix/store), the path yielded being the file's, its display path the
    link's, so what the node reads through a link is scanned wherever it lies (links to
    folders, and links to nothing, are still `symlink`)."""
    prefix = str(base).rstrip("/") + "/"

    def display(p: str) -> str:  # bytes of a name that are not UTF-8 shown as \xNN
        return path_text(p[len(prefix):] if p.startswith(prefix) else p)

    def excluded(shown: str) -> bool:
        return any(fnmatch.fnmatchcase(shown, pat) for pat in exclude)

    def followed(path: str, shown: str, kind: str, size: int, mode: int) -> tuple[str, str, str, int, int]:
        """The entry, or where a link to a regular file leads within `root`."""
        if kind != "symlink" or root is None:
            return path, shown, kind, size, mode
        on_node = under_root(root, path)
        try:
            real = str(in_root(root, on_node)) if on_node is not None else None
            rst = os.lstat(real) if real is not None else None
        except (RootedPathError, OSError):
            return path, shown, kind, size, mode  # a link to nothing: nothing to read
        if real is None or rst is None or special_kind(rst.st_mode):
            return path, shown, kind, size, mode
        return real, shown, "", rst.st_size, rst.st_mode

    start = str(top)
    try:
        st = os.lstat(start)
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=top) from None
    kind = special_kind(st.st_mode)
    if kind != "folder":
        shown = display(start)
        if not excluded(shown):
            yield followed(start, shown, kind, st.st_size, st.st_mode)
        return
    stack = [start]
    while stack:
        folder = stack.pop()
        join = "" if folder == "." else folder.rstrip("/") + "/"
        try:
            with os.scandir(folder) as it:
                entries = sorted((e.name, e) for e in it)
        except OSError as exc:
            yield folder, display(folder), f"error:{exc.strerror or exc}", 0, 0
            continue
        subfolders = []
        for name, entry in entries:
            path = join + name
            shown = display(path)
            if exclude and excluded(shown):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    if name == ".git":
                        config = path + "/config"
                        cst = os.lstat(config) if os.path.lexists(config) else None
                        if cst is not None and not excluded(display(config)):
                            yield config, display(config), special_kind(cst.st_mode), cst.st_size, cst.st_mode
                        continue
                    subfolders.append(path)
                    continue
                est = entry.stat(follow_symlinks=False)
            except OSError as exc:
                yield path, shown, f"error:{exc.strerror or exc}", 0, 0
                continue
            yield followed(path, shown, special_kind(est.st_mode), est.st_size, est.st_mode)
        stack.extend(reversed(subfolders))


__all__ = ["iter_files", "special_kind"]
