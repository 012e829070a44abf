"""The real OpenSSH server as the oracle: `sshd -T [-C spec] -f FILE` on a configuration.

Debian's openssh-server (the bootstrap's test packages). As root, sshd insists on its
privilege-separation folder /run/sshd, which a sandbox may lack: it then runs in a private
mount namespace with a fresh /run (`unshare -m`), so the machine is left as it was.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from auditor._host.sshd import Connection, parse_sshd_t

SSHD = shutil.which("sshd", path="/usr/sbin:/usr/bin:/sbin") or ""


@functools.cache
def host_key() -> str:
    folder = Path(tempfile.mkdtemp(prefix="auditor-sshd-oracle-"))
    key = folder / "host_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, capture_output=True)
    return str(key)


@functools.cache
def usable() -> str | None:
    """None when the oracle can run here, else why not."""
    if not SSHD:
        return "sshd (Debian openssh-server) is not installed"
    try:
        Path(tempfile.gettempdir(), "auditor-sshd-probe").write_text("Port 22\n")
        ok, out = run(Path(tempfile.gettempdir(), "auditor-sshd-probe"), None)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"sshd -T cannot run: {exc}"
    return None if ok else f"sshd -T cannot run here: {out}"


def run(config: Path, conn: Connection | None) -> tuple[bool, str]:
    """(True, stdout) when sshd accepts the configuration, (False, stderr) when it refuses it."""
    argv = [SSHD, "-T", "-f", str(config), "-h", host_key()]
    if conn is not None:
        argv += ["-C", conn.spec()]
    if os.geteuid() == 0 and not Path("/run/sshd").is_dir():
        argv = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                'mount -t tmpfs tmpfs /run && mkdir -m 755 /run/sshd && exec "$@"', "sh", *argv]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"})
    return (proc.returncode == 0, proc.stdout if proc.returncode == 0 else proc.stderr)


def effective(config: Path, conn: Connection | None) -> dict[str, str | list[str]] | None:
    ok, out = run(config, conn)
    return parse_sshd_t(out) if ok else None
