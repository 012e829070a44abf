"""Writing files atomically: a crash or an error never leaves a half-written file behind."""

from __future__ import annotations

from pathlib import Path

from auditor.errors import ConfigError, LocatedError


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
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


def read_user_file(
    path: Path, *, max_bytes: int, what: str = "file", cls: type[LocatedError] = ConfigError
) -> str:
    """The UTF-8 text of a file the user named, or a located error saying why not.

    Files over `max_bytes` are refused rather than truncated.
    """
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise cls(f"{what} is {size} bytes, larger than the {max_bytes}-byte limit", file=path)
        raw = path.read_bytes()
    except FileNotFoundError:
        raise cls("file not found", file=path) from None
    except IsADirectoryError:
        raise cls(f"is a folder, not a {what}", file=path) from None
    except PermissionError:
        raise cls("permission denied", file=path) from None
    except OSError as exc:
        raise cls(f"cannot read: {exc.strerror or exc}", file=path) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise cls(
            f"not UTF-8 text (byte {exc.start} is {raw[exc.start]:#04x}); is this a {what}?",
            file=path,
        ) from None
