"""Reading and writing files: only regular files are read, never more than a limit; writes are
atomic (a crash or an error never leaves a half-written file behind)."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from pathlib import Path

from auditor.errors import ConfigError, LocatedError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (see auditor._cli._replay)

if TYPE_CHECKING:
    from pki.fsutil import ReadError


def atomic_write(path: Path, data: bytes | Iterable[bytes], *, mode: int = 0o644) -> None:
    """Write `data` to `path` via a temporary file in the same folder, then rename.

    The file is created with `mode` (use 0o600 for keys and secrets) before any byte is
    written, so a secret is never readable by others, even for a moment. (One implementation
    serves both packages: pki's, since pki cannot import auditor.)
    """
    from pki.fsutil import WriteError
    from pki.fsutil import atomic_write as write

    try:
        write(Path(path), data, mode=mode)
    except WriteError as exc:
        raise ConfigError(exc.reason, file=exc.path) from None


def read_user_bytes(
    path: Path | str, *, limit: str = "file-bytes", what: str = "file", cls: type[LocatedError] = ConfigError,
    follow_symlinks: bool = True,
) -> bytes:
    """The bytes of a file the user named (or a scanned file), or a located error saying why not.

    The one way auditor opens a file to read it: only a regular file is opened (a FIFO, socket
    or device is refused without blocking) and at most the limit `limit` of
    :mod:`auditor._limits` is read; a larger file is refused (naming the limit and how to raise
    it), never truncated.
    """
    from auditor import _limits as limits
    from pki.fsutil import ReadError, read_regular

    try:
        return read_regular(on_node(Path(path)) if follow_symlinks else Path(path), limits.get(limit),
                            follow_symlinks=follow_symlinks)
    except ReadError as exc:
        raise cls(read_error_text(exc, limit, what), file=path_text(path)) from None


def read_error_text(exc: ReadError, limit: str = "file-bytes", what: str = "file") -> str:
    """Why a file could not be read, in words; a file too large names the limit and how to raise it."""
    if exc.why == "folder":
        return f"is a folder, not a {what}"
    if exc.why == "too-large":
        from auditor import _limits as limits

        size = "larger" if exc.size is None else limits.size_text(exc.size)
        return limits.exceeded(limit, f"the {what} is {size}")
    return exc.reason


def read_user_file(
    path: Path | str, *, limit: str = "file-bytes", what: str = "file", cls: type[LocatedError] = ConfigError
) -> str:
    """The UTF-8 text of a file the user named, or a located error saying why not (see
    :func:`read_user_bytes`)."""
    raw = read_user_bytes(path, limit=limit, what=what, cls=cls)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise cls(
            f"not UTF-8 text (byte {exc.start} is {raw[exc.start]:#04x}); is this a {what}?",
            file=path_text(path),
        ) from None


def path_text(path: Path | str) -> str:
    """A path as text that can be shown and stored: bytes of a file name that are not UTF-8
    (kept by Python as surrogate escapes) become `\\xNN`, so that JSON, SQLite and terminals
    can hold the name."""
    text = str(path)
    if text.isascii():
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that no file name decoded to
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


MAX_LINKS = 40
"""Symbolic links followed to reach one file, at most (as Linux's own limit)."""


class RootedPathError(Exception):
    """A path under a root that cannot be resolved; `missing` when a part of it does not exist."""

    def __init__(self, reason: str, *, missing: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.missing = missing


def in_root(root: Path, path: str, *, lstat_mode: Callable[[Path], int] | None = None,
            readlink: Callable[[Path], str] | None = None, strict: bool = True) -> Path:
    """Where the file the machine whose `/` is `root` calls `path` (absolute) really is: its
    symbolic links followed as that machine follows them, an absolute link from `root` and `..`
    never above it (a node's tree mounted or copied here, where NixOS links /etc into
    /nix/store). RootedPathError when a part is missing, unreadable or links too deep; with
    `strict` False, where under `root` the node would look instead (a path that does not
    exist there, or the part that could not be read), never a path leading out of `root`.
    `lstat_mode` and `readlink` read another machine's files (auditor._remote.sshhost)."""
    lstat = lstat_mode or (lambda p: os.lstat(p).st_mode)
    link_of = readlink or os.readlink
    if not path.startswith("/"):
        raise RootedPathError("not an absolute path")
    todo = [p for p in path.split("/") if p not in ("", ".")]
    todo.reverse()
    done: list[str] = []
    links = 0

    def failed(reason: str, *, missing: bool = False) -> Path:
        """RootedPathError; not `strict`: the path under `root` the node would look at (`..`
        left out, so it stays under `root`), which reading then finds missing or unreadable."""
        if strict:
            raise RootedPathError(reason, missing=missing)
        return root.joinpath(*done, part, *[p for p in reversed(todo) if p != ".."])

    while todo:
        part = todo.pop()
        if part == "..":
            if done:
                done.pop()
            continue
        real = root.joinpath(*done, part)
        try:
            mode = lstat(real)
        except FileNotFoundError:
            return failed("does not exist", missing=True)
        except NotADirectoryError:
            return failed("does not exist (a parent is not a folder)", missing=True)
        except OSError as exc:
            return failed(exc.strerror or str(exc))
        if stat.S_ISLNK(mode):
            links += 1
            if links > MAX_LINKS:
                return failed("too many levels of symbolic links")
            try:
                target = link_of(real)
            except OSError as exc:
                return failed(exc.strerror or str(exc))
            if target.startswith("/"):
                done = []
            todo.extend(reversed([p for p in target.split("/") if p not in ("", ".")]))
            continue
        done.append(part)
    return root.joinpath(*done)


def under_root(root: Path, path: Path | str) -> str | None:
    """`path` (a path here) as the machine whose `/` is `root` names it, or None if it is not
    under `root`."""
    rel = os.path.relpath(path, root)
    if rel == ".":
        return "/"
    if rel == ".." or rel.startswith("../"):
        return None
    return "/" + rel


_ROOT: ContextVar[Path | None] = ContextVar("node_root", default=None)
"""The root of the node whose files the running collector reads (None: `/`, this machine's)."""


@contextlib.contextmanager
def node_root(root: Path) -> Iterator[None]:
    """Read files as the node whose `/` is `root` reads them, meanwhile."""
    real = Path(os.path.abspath(root))
    token = _ROOT.set(None if str(real) == "/" else real)
    try:
        yield
    finally:
        _ROOT.reset(token)


def on_node(path: Path, root: Path | None = None) -> Path:
    """Where the node's file `path` really is (links followed from the node's `/`: `root`,
    else the running collector's); `path` itself when it is not under the root. A link that
    leads nowhere in the node's tree gives where the node would look (it does not exist:
    reading it says so), never this machine's file of that name."""
    top = _ROOT.get() if root is None else Path(os.path.abspath(root))
    if top is None or str(top) == "/":
        return path
    named = under_root(top, path)
    if named is None:
        return path
    return in_root(top, named, strict=False)
