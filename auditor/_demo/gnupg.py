"""Makes real GnuPG keyrings with the gpg program: the demo node's, and the tests'.

Keys are created at chosen moments in the past (`--faked-system-time`), so their ages and
expiries stay what the demo means them to be whenever it is materialised. The keyring is
generated in a short temporary home (gpg-agent's socket path must stay short), the agent is
stopped, and the keyring is copied to its destination.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from auditor.errors import AuditorError

GPG_TIMEOUT = 60


class GnupgError(AuditorError):
    """gpg could not make the demo keyring."""


@dataclass(frozen=True)
class SubkeySpec:
    algorithm: str  # as gpg --quick-add-key takes it: ed25519, cv25519, rsa3072, ...
    usage: str  # sign, encr, auth
    expire: str = "1y"  # gpg's forms: 1y, 90d, never
    age_days: float = 0


@dataclass(frozen=True)
class KeySpec:
    uid: str
    algorithm: str = "ed25519"
    usage: str = "cert"
    expire: str = "2y"
    age_days: float = 0
    """The key is created this many days before `now`."""
    subkeys: Sequence[SubkeySpec] = field(default=())
    offline_primary: bool = False
    """Remove the primary key's secret, as `gpg --export-secret-subkeys` moves leave it."""
    public_only: bool = False
    """Remove every secret of the key: a colleague's key imported into the keyring."""


def _run(home: Path, args: list[str], *, at: dt.datetime | None = None) -> str:
    cmd = ["gpg", "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""]
    if at is not None:
        cmd += ["--faked-system-time", f"{int(at.timestamp())}!"]
    try:
        proc = subprocess.run(
            [*cmd, *args], capture_output=True, text=True, timeout=GPG_TIMEOUT, check=False,
            env={**os.environ, "GNUPGHOME": str(home)},
        )
    except FileNotFoundError:
        raise GnupgError("gpg is not installed (Debian package gnupg)") from None
    except subprocess.TimeoutExpired:
        raise GnupgError(f"gpg {args[0]} did not finish within {GPG_TIMEOUT} s") from None
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        raise GnupgError(f"gpg {args[0]} failed: {last[0]}")
    return proc.stdout


def _fingerprint_and_grips(home: Path, uid: str) -> tuple[str, list[str]]:
    """The primary fingerprint and the keygrips (primary first) of the key with this uid."""
    out = _run(home, ["--with-colons", "--with-keygrip", "--list-keys", "=" + uid])
    fields = [line.split(":") for line in out.splitlines()]
    fpr = next(f[9] for f in fields if f[0] == "fpr")
    return fpr, [f[9] for f in fields if f[0] == "grp"]


def make_keyring(dest: Path, keys: Sequence[KeySpec], now: dt.datetime) -> dict[str, str]:
    """Create `keys` and write the keyring (pubring.kbx, trustdb.gpg, private-keys-v1.d) to
    `dest`; returns each uid's primary fingerprint."""
    home = Path(tempfile.mkdtemp(prefix="agpg-"))
    fingerprints: dict[str, str] = {}
    try:
        for key in keys:
            born = now - dt.timedelta(days=key.age_days)
            _run(home, ["--quick-gen-key", key.uid, key.algorithm, key.usage, key.expire], at=born)
            fpr, _ = _fingerprint_and_grips(home, key.uid)
            fingerprints[key.uid] = fpr
            for sub in key.subkeys:
                at = now - dt.timedelta(days=sub.age_days)
                _run(home, ["--quick-add-key", fpr, sub.algorithm, sub.usage, sub.expire], at=at)
            grips = _fingerprint_and_grips(home, key.uid)[1]
            for grip in grips if key.public_only else grips[:1] if key.offline_primary else []:
                (home / "private-keys-v1.d" / f"{grip}.key").unlink()
        dest.mkdir(parents=True, exist_ok=True, mode=0o700)
        for name in ("pubring.kbx", "trustdb.gpg"):
            shutil.copy2(home / name, dest / name)
        shutil.copytree(home / "private-keys-v1.d", dest / "private-keys-v1.d", dirs_exist_ok=True)
    finally:
        subprocess.run(
            ["gpgconf", "--kill", "gpg-agent"], env={**os.environ, "GNUPGHOME": str(home)},
            capture_output=True, timeout=GPG_TIMEOUT, check=False,
        )
        shutil.rmtree(home, ignore_errors=True)
    return fingerprints


DEMO_HOME = "var/lib/cim/gnupg"
DEMO_KEYS = (
    KeySpec(
        "CIM Release Signing <release@cim.example.com>", "ed25519", "cert", "3y", age_days=300,
        offline_primary=True,
        subkeys=(SubkeySpec("ed25519", "sign", "1y", 30), SubkeySpec("cv25519", "encr", "1y", 30)),
    ),
    KeySpec(
        "cim-prod-001 backup <backup@cim-prod-001.cim.example.com>", "ed25519", "cert", "2y", age_days=100,
        offline_primary=True, subkeys=(SubkeySpec("cv25519", "encr", "1y", 100),),
    ),
    # planted: an imported deploy key created without an expiry date (KEY-003)
    KeySpec(
        "Legacy Deploy <deploy-legacy@cim.example.com>", "ed25519", "sign,cert", "never", age_days=300,
        public_only=True,
    ),
)


def build_demo_keyring(node: Path, now: dt.datetime) -> None:
    """The demo node's GnuPG keyring: two keys with offline primaries, one without expiry."""
    make_keyring(node / DEMO_HOME, DEMO_KEYS, now)
