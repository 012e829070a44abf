"""OpenPGP through GnuPG (python-gnupg): detached signatures made with the user's keyring,
checked in a throw-away keyring holding only the public keys recorded with the sign-offs."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.errors import AuditorError, ConfigError

FINGERPRINT = re.compile(r"^(?:[0-9A-F]{40}|[0-9A-F]{64})$")


class GpgError(AuditorError):
    """GnuPG is missing or refused to sign (exit 2)."""


def normalise_fingerprint(text: str, *, what: str = "the signing key") -> str:
    """`0123 4567 ...` or `0x0123...` -> upper-case hex; a full v4 (40) or v5 (64) fingerprint."""
    fpr = "".join(text.split()).upper().removeprefix("0X")
    if not FINGERPRINT.match(fpr):
        raise ConfigError(
            f"{what} must be a full OpenPGP key fingerprint (40 or 64 hex digits, as "
            f"`gpg --list-secret-keys --with-colons` shows), not {text!r:.60}"
        )
    return fpr


def _gpg(home: str | None) -> Any:
    import gnupg

    try:
        return gnupg.GPG(gnupghome=home)
    except (OSError, ValueError, RuntimeError) as exc:
        raise GpgError(
            f"GnuPG is not available ({exc}); install it (Debian: apt-get install gnupg)"
        ) from None


def _status(result: Any) -> str:
    status = getattr(result, "status", None) or ""
    stderr = getattr(result, "stderr", "") or ""
    lines = [ln for ln in stderr.splitlines() if ln.startswith("gpg:")]
    detail = lines[-1].removeprefix("gpg: ") if lines else ""
    return "; ".join(p for p in (status, detail) if p) or "no reason given"


@dataclass(frozen=True)
class SigningKey:
    fingerprint: str
    """The primary key's fingerprint."""
    uid: str


class Keyring:
    """The user's keyring ($GNUPGHOME, else ~/.gnupg), used to sign."""

    def __init__(self, home: str | None = None) -> None:
        self.gpg = _gpg(home)

    def secret_key(self, fingerprint: str) -> SigningKey:
        keys = self.gpg.list_keys(secret=True, keys=[fingerprint])
        for key in keys:
            primary = str(key.get("fingerprint", "")).upper()
            subkeys = [str(s[2] if len(s) > 2 else "").upper() for s in key.get("subkeys", [])]
            if fingerprint in (primary, *subkeys):
                uids = key.get("uids") or [""]
                return SigningKey(primary, str(uids[0]))
        raise GpgError(f"no secret key {fingerprint} in the GnuPG keyring (gpg --list-secret-keys)")

    def sign_detached(self, data: bytes, fingerprint: str) -> str:
        result = self.gpg.sign(data, keyid=fingerprint, detach=True, binary=False)
        text = str(result)
        if not result or "BEGIN PGP SIGNATURE" not in text:
            raise GpgError(f"GnuPG could not sign with key {fingerprint}: {_status(result)}")
        return text

    def export_public(self, fingerprint: str) -> str:
        text = str(self.gpg.export_keys([fingerprint], armor=True, minimal=True))
        if "BEGIN PGP PUBLIC KEY BLOCK" not in text:
            raise GpgError(f"GnuPG could not export the public key {fingerprint}")
        return text


@dataclass(frozen=True)
class SignatureCheck:
    valid: bool
    fingerprint: str
    """The primary fingerprint of the key that made the signature, when known."""
    uid: str
    status: str


class VerifyKeyring:
    """A throw-away keyring holding only the given public keys; closed with its agent."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.gpg = _gpg(str(folder))

    def add_key(self, armored: bytes) -> list[str]:
        result = self.gpg.import_keys(armored)
        return [str(f).upper() for f in (getattr(result, "fingerprints", None) or [])]

    def verify(self, data: bytes, signature: bytes) -> SignatureCheck:
        sig = self.folder / "signature.asc"
        sig.write_bytes(signature)
        try:
            v = self.gpg.verify_data(str(sig), data)
        finally:
            sig.unlink(missing_ok=True)
        primary = str(getattr(v, "pubkey_fingerprint", "") or getattr(v, "fingerprint", "") or "").upper()
        return SignatureCheck(bool(v.valid), primary, str(getattr(v, "username", "") or ""), _status(v))


@contextlib.contextmanager
def verify_keyring() -> Iterator[VerifyKeyring]:
    with tempfile.TemporaryDirectory(prefix="auditor-verify-") as tmp:
        home = Path(tmp)
        home.chmod(0o700)
        try:
            yield VerifyKeyring(home)
        finally:
            gpgconf = shutil.which("gpgconf")
            if gpgconf:  # stop any agent gpg started for this keyring
                subprocess.run(
                    [gpgconf, "--homedir", str(home), "--kill", "all"],
                    capture_output=True, timeout=30, check=False,
                )
