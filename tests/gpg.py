"""Real OpenPGP keys for tests: a temporary GNUPGHOME with Ed25519 keys made by GnuPG itself."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

PROTECT_TOOL = "/usr/lib/gnupg/gpg-protect-tool"
"""GnuPG's own tool for gpg-agent's key S-expressions (Debian gpg-agent): shadowing, canonical form."""


def protect_tool(*args: str, data: bytes | None = None) -> bytes:
    """gpg-protect-tool's output for `args` (`-` reads `data`)."""
    return subprocess.run([PROTECT_TOOL, *args], input=data, capture_output=True, check=True, timeout=60).stdout


def gpg_run(home: Path, *args: str, passphrase: str = "", autostart: bool = True) -> str:
    """gpg's output for `args` in `home` (keys made and used with `passphrase`; with `autostart`
    False, no agent is started: listings of public keys)."""
    proc = subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", passphrase,
         *([] if autostart else ["--no-autostart"]), *args],
        capture_output=True, text=True, timeout=120, check=True,
    )
    return proc.stdout


def stop_agent(home: Path) -> None:
    """Stop the gpg-agent (and any other daemon) gpg started in `home`."""
    gpgconf = shutil.which("gpgconf")
    if gpgconf:
        subprocess.run([gpgconf, "--homedir", str(home), "--kill", "all"], capture_output=True, timeout=30, check=False)


def copy_keys(source: Path, target: Path, *which: str, legacy: bool = True) -> list[str]:
    """Import the public keys `which` (fingerprints or user ids) of the keyring file `source`
    into the keyring file `target` with the real gpg, run in a scratch home (neither keyring's
    home is touched): `target` made an OpenPGP keyring (GnuPG 1's format), or with `legacy`
    False a keybox (what `gpg --keyring NAME --import` makes of a new name). The fingerprints
    copied."""
    scratch = Path(tempfile.mkdtemp(prefix="g"))
    try:
        def gpg(*args: str, stdin: bytes = b"") -> bytes:
            return subprocess.run(["gpg", "--homedir", str(scratch), "--batch", "--no-tty", "--no-autostart",
                                   "--no-default-keyring", *args], input=stdin, capture_output=True, timeout=120,
                                  check=False).stdout  # exit status 2 on import: no agent to ask of secrets

        exported = gpg("--keyring", str(source), "--export", *which)
        ring = ["--keyring", f"gnupg-ring:{target}" if legacy else str(target)]
        gpg(*ring, "--import", stdin=exported)
        listed = gpg(*ring, "--with-colons", "--list-keys").decode().splitlines()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    target.with_name(target.name + "~").unlink(missing_ok=True)
    assert (target.read_bytes()[8:12] == b"KBXf") is not legacy  # a keybox's header blob
    return [line.split(":")[9] for at, line in enumerate(listed) if line.startswith("fpr:") and listed[at - 1].startswith("pub:")]


@contextlib.contextmanager
def scratch_copy(home: Path) -> Iterator[Path]:
    """A copy of the GnuPG home `home` under a short path (gpg-agent's socket path is limited to
    about 100 bytes), for gpg to list as it would the home itself; its agent stopped, the copy
    removed after."""
    scratch = Path(tempfile.mkdtemp(prefix="g"))
    try:
        shutil.copytree(home, scratch / "h", symlinks=True, ignore=shutil.ignore_patterns("S.*"))
        yield scratch / "h"
    finally:
        stop_agent(scratch / "h")
        shutil.rmtree(scratch, ignore_errors=True)


def make_key(home: Path, uid: str) -> str:
    """Generate an Ed25519 signing key without a passphrase; return its fingerprint."""
    gpg_run(home, "--quick-gen-key", uid, "ed25519", "sign", "never")
    out = gpg_run(home, "--list-secret-keys", "--with-colons", uid)
    return next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))


@contextlib.contextmanager
def keyring(folder: Path, uids: dict[str, str]) -> Iterator[tuple[Path, dict[str, str]]]:
    """A fresh GNUPGHOME holding one key per name: (home, {name: fingerprint}); agent stopped after."""
    home = folder / "gnupg"
    home.mkdir(mode=0o700)
    try:
        yield home, {name: make_key(home, uid) for name, uid in uids.items()}
    finally:
        stop_agent(home)


LEADS = {
    "infrastructure": "Ines Infra (Infrastructure Lead) <infra@cim.example.com>",
    "security": "R. Okafor (Security Lead) <security@cim.example.com>",
    "operations": "Olu Ops (Operations Lead) <ops@cim.example.com>",
    "development": "Dev Lead (Development Lead) <dev@cim.example.com>",
    "stranger": "Mallory (not a lead) <mallory@example.com>",
}
