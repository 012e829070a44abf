"""Reading evidence files for collectors: only regular files, never more than a limit.

A FIFO, socket or device (named, or lying in a scanned folder) is never opened, so it cannot
block a scan; a file past the `file-bytes` limit (:mod:`auditor._limits`) is not read. Both
become :class:`Unreadable`, which the collector turns into an error record naming the file
and the reason.

A node's files are read as the node reads them: while a collector runs (auditor._fsutil.node_root, set by
auditor._collectors.run_collector), a symbolic link under the target's root is followed as the
node follows it, an absolute link from the node's `/` (auditor._fsutil.in_root), not from this
machine's: a node's tree mounted or copied here links /etc into /nix/store on NixOS.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from auditor import _limits as limits
from auditor._fsutil import on_node, read_error_text
from pki.fsutil import ReadError, read_regular, special_kind


class Unreadable(Exception):
    """A file that was not read: the message says why (missing, a FIFO, too large, ...).
    `why` is one word (see pki.fsutil.ReadError)."""

    def __init__(self, message: str, why: str = "error") -> None:
        super().__init__(message)
        self.why = why


def read_bounded(path: Path, limit: str = "file-bytes", *, follow_symlinks: bool = True) -> bytes:
    """The bytes of the regular file `path`, at most the limit `limit`; Unreadable otherwise."""
    try:
        return read_regular(on_node(path) if follow_symlinks else path, limits.get(limit),
                            follow_symlinks=follow_symlinks)
    except ReadError as exc:
        raise Unreadable(read_error_text(exc, limit), exc.why) from None


def read_stream(read: Callable[[int], bytes], limit: str = "file-bytes", what: str = "input") -> bytes:
    """At most the limit `limit` of bytes from `read` (e.g. stdin); Unreadable past it."""
    most = limits.get(limit)
    data = read(most + 1)
    if len(data) > most:
        raise Unreadable(limits.exceeded(limit, f"the {what} is larger"), "too-large")
    return data


@dataclass(frozen=True)
class Skipped:
    """A file in a scanned folder that was not opened, and why (a FIFO, socket, device)."""

    path: Path
    kind: str

    @property
    def reason(self) -> str:
        return f"not a regular file ({self.kind}): not opened"


def folder_files(
    folder: Path,
    wanted: Callable[[Path], bool] | Collection[str],
    *,
    exclude: Sequence[str] = (),
    hidden: bool = True,
    hidden_folders: bool | None = None,
) -> tuple[list[Path], list[Skipped]]:
    """The files under `folder` (sorted) that `wanted` accepts (a predicate, or a collection of
    lower-case suffixes), and the wanted names that are not regular files (never opened).

    Symbolic links are followed as the node follows them (auditor._fsutil.node_root), to files
    and into folders, each folder walked once (a link back up the tree is not walked again: no
    cycles); a link to nothing is listed as not a regular file; `hidden` False skips names
    starting with a dot (`hidden_folders`, if given, says so for folders alone); `exclude` globs
    match the relative path or the name.
    """
    accept = wanted if callable(wanted) else (lambda p, s=frozenset(wanted): p.suffix.lower() in s)
    files: list[Path] = []
    skipped: list[Skipped] = []
    walked: set[tuple[int, int]] = set()

    def excluded(path: Path) -> bool:
        rel = str(path.relative_to(folder))
        return any(fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(path.name, pat) for pat in exclude)

    def walk(named: Path) -> None:
        """Walk the folder named `named` where it really is (a folder held as a link: where it
        leads), naming what is in it through `named`; not again if walked already."""
        real = on_node(named)
        try:
            st = os.stat(real)
        except OSError:
            return
        if (st.st_dev, st.st_ino) in walked:
            return
        walked.add((st.st_dev, st.st_ino))
        for top, dirs, names in os.walk(real):
            base = named / Path(top).relative_to(real)
            if not (hidden if hidden_folders is None else hidden_folders):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
            if not hidden:
                names = [n for n in names if not n.startswith(".")]
            linked = sorted(d for d in dirs if os.path.islink(os.path.join(top, d)))
            dirs[:] = sorted(d for d in dirs if d not in linked)  # os.walk follows no link: walked below
            for name in sorted(names):
                path = base / name
                wanted_here = accept(path)
                if not wanted_here and not os.path.islink(os.path.join(top, name)):
                    continue  # a link may be a folder to walk, whatever its name
                try:
                    kind = special_kind(os.stat(on_node(path)).st_mode)
                except FileNotFoundError:
                    if not os.path.islink(path):
                        continue  # gone meanwhile
                    kind = "a link to nothing"  # not where the node's links lead either
                except OSError:
                    kind = None  # reading it says why
                if kind == "folder":  # a link this machine cannot follow, the node can
                    linked.append(name)
                    continue
                if not wanted_here or excluded(path):
                    continue
                if kind is None:
                    files.append(path)
                else:
                    skipped.append(Skipped(path, kind))
            for name in sorted(linked):
                if not excluded(base / name):
                    walk(base / name)

    walk(folder)
    return sorted(files), skipped
