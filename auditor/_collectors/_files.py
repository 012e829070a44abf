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
) -> tuple[list[Path], list[Skipped]]:
    """The files under `folder` (sorted) that `wanted` accepts (a predicate, or a collection of
    lower-case suffixes), and the wanted names that are not regular files (never opened).

    Symbolic links are followed to files (as the node follows them: auditor._fsutil.node_root), never into
    folders (no cycles); a link to nothing is listed as not a regular file; `hidden` False skips
    names starting with a dot; `exclude` globs match the relative path or the name.
    """
    accept = wanted if callable(wanted) else (lambda p, s=frozenset(wanted): p.suffix.lower() in s)
    files: list[Path] = []
    skipped: list[Skipped] = []
    real = on_node(folder)  # a folder the node holds as a link: walked where it leads, named as given
    for top, dirs, names in os.walk(real):
        base = folder / Path(top).relative_to(real)
        if not hidden:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            names = [n for n in names if not n.startswith(".")]
        dirs.sort()
        for name in sorted(names):
            path = base / name
            if not accept(path):
                continue
            rel = str(path.relative_to(folder))
            if any(fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(name, pat) for pat in exclude):
                continue
            try:
                kind = special_kind(os.stat(on_node(path)).st_mode)
            except FileNotFoundError:
                if not os.path.islink(path):
                    continue  # gone meanwhile
                kind = "a link to nothing"  # not where the node's links lead either
            except OSError:
                kind = None  # reading it says why
            if kind is None:
                files.append(path)
            elif kind != "folder":
                skipped.append(Skipped(path, kind))
    return sorted(files), skipped
