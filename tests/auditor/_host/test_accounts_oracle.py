"""/etc/passwd, /etc/group and /etc/shadow against glibc: auditor reads the entries that
getpwent, getgrent and getspent give (Python's pwd, grp and spwd modules, which call them), in a
private mount namespace where each generated file is bind-mounted over /etc's.

Generated lines vary what glibc's nss_files decides by: missing and extra fields, numbers with
white space, signs, underscores, hex, 32-bit overflow, empty ones; leading white space, comment
and blank lines, carriage returns, NUL bytes, a last line without a newline, NIS `+`/`-` lines,
duplicate names, group member lists with blanks and empty members, shadow lines of the old
three-number form and with a trailing flag.

Needs `unshare -m` (root, or a user namespace): where the sandbox refuses it the test says so
and is skipped. AUDITOR_ACCOUNTS_EXAMPLES sets the number of file sets (default 150).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from auditor._host import nssfiles
from tests.agreement import Agreement

EXAMPLES = int(os.environ.get("AUDITOR_ACCOUNTS_EXAMPLES", "150"))
SEED = int(os.environ.get("AUDITOR_ACCOUNTS_SEED", "1"))

NAMES = ["root", "toor", "nats", "svc", "+nis", "-nis", "", " lead", "\tlead", "u\x0bv", "#c", "  #c"]
NUMBERS = ["0", "00", "-0", " 0", "\t+0", "1000", "4294967295", "4294967296", "-1", "1_000", "0x1", "", "0 ",
           "65534", "+", "99999999999999999999"]
SHADOW_NUMBERS = ["", "19000", "0", "-1", "abc", " 5", "99999", "7", "4294967296"]

READ = """
import json, pwd, grp, spwd, subprocess, sys
out = []
for case in sys.argv[1:]:
    for name in ("passwd", "group", "shadow"):
        subprocess.run(["mount", "--bind", f"{case}/{name}", f"/etc/{name}"], check=True)
    try:
        out.append({
            "passwd": [list(p) for p in pwd.getpwall() if p.pw_passwd is not None],
            "group": [[g.gr_name, g.gr_gid, g.gr_mem] for g in grp.getgrall() if g.gr_passwd is not None],
            "shadow": [[s.sp_namp, s.sp_pwdp] for s in spwd.getspall() if s.sp_pwdp is not None],
        })
    finally:
        for name in ("passwd", "group", "shadow"):
            subprocess.run(["umount", f"/etc/{name}"], check=True)
json.dump(out, sys.stdout)
"""
"""Run in the namespace: each case's entries as glibc gives them (NIS lines alone left out)."""


def ending(rng: random.Random) -> str:
    return rng.choices(["\n", "\r\n", "\0junk\n"], [12, 1, 1])[0]


def cut(rng: random.Random, fields: list[str]) -> str:
    if rng.random() < 0.2:
        fields = fields[:rng.randrange(1, len(fields) + 1)]
    elif rng.random() < 0.1:
        fields = [*fields, "extra"]
    return ":".join(fields)


def passwd_line(rng: random.Random) -> str:
    fields = [rng.choice(NAMES), rng.choice(["x", "", "*"]), rng.choices(NUMBERS, [6] + [1] * 15)[0],
              rng.choices(NUMBERS, [6] + [1] * 15)[0], rng.choice(["", "Name", "a,b"]),
              rng.choice(["/root", "", "/home/u"]), rng.choice(["/bin/sh", "", "/usr/sbin/nologin", "/bin/sh:x"])]
    return cut(rng, fields)


def group_line(rng: random.Random) -> str:
    fields = [rng.choice(NAMES), rng.choice(["x", ""]), rng.choices(NUMBERS, [6] + [1] * 15)[0],
              rng.choice(["", "root,nats", " root, nats ,svc", "root,,nats,", "root:nats", "root\r", " "])]
    return cut(rng, fields)


def shadow_line(rng: random.Random) -> str:
    fields = [rng.choice(NAMES), rng.choice(["", "!", "*", "!$6$x", "$6$abc", "!!"]),
              *(rng.choices(SHADOW_NUMBERS, [4, 4] + [1] * 7)[0] for _ in range(7))]
    if rng.random() < 0.3:
        fields = fields[:rng.choice([2, 3, 4, 5, 6, 8])]
    return ":".join(fields)


def text(rng: random.Random, make: object) -> str:
    assert callable(make)
    rows = [rng.choice(["", "# a comment", "   ", "+", "-nis"]) if rng.random() < 0.1 else make(rng)
            for _ in range(rng.randrange(1, 7))]
    body = "".join(row + ending(rng) for row in rows)
    if rng.random() < 0.2:  # the last line without its newline
        body = body.rstrip("\n") if body.endswith("\n") else body
    return body


def ours(case: dict[str, str]) -> dict[str, list[object]]:
    return {
        "passwd": [[e.name, e.password, e.uid, e.gid, e.gecos, e.home, e.shell]
                   for e in nssfiles.passwd_entries(case["passwd"])],
        "group": [[g.name, g.gid, list(g.members)] for g in nssfiles.group_entries(case["group"])],
        "shadow": [[s.name, s.password] for s in nssfiles.shadow_entries(case["shadow"])],
    }


def theirs(folder: Path, cases: list[dict[str, str]]) -> list[dict[str, list[list[Any]]]]:
    dirs = []
    for i, case in enumerate(cases):
        d = folder / f"case-{i}"
        d.mkdir()
        for name, body in case.items():
            (d / name).write_bytes(body.encode("utf-8", "surrogateescape"))
        dirs.append(str(d))
    proc = subprocess.run([shutil.which("unshare") or "unshare", "-m", "--propagation", "private",
                           sys.executable, "-W", "ignore", "-c", READ, *dirs],
                          capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip()[-500:])
    found: list[dict[str, list[list[Any]]]] = json.loads(proc.stdout)
    for entry in found:  # (uid_t) -1 comes back as -1
        for row in entry["passwd"]:
            row[2], row[3] = int(row[2]) & 0xFFFFFFFF, int(row[3]) & 0xFFFFFFFF
        for row in entry["group"]:
            row[1] = int(row[1]) & 0xFFFFFFFF
    return found


def namespaces_work(folder: Path) -> str | None:
    """Why this sandbox cannot give a private mount namespace, or None."""
    probe = folder / "probe"
    probe.write_text("")
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "mount", "--bind", str(probe), str(probe)],
                          capture_output=True, text=True, timeout=60, check=False)
    return None if proc.returncode == 0 else (proc.stderr.strip() or f"exit {proc.returncode}")


def test_accounts_agree_with_glibc(tmp_path: Path) -> None:
    if shutil.which("unshare") is None or (why := namespaces_work(tmp_path)) is not None:
        pytest.skip(f"this sandbox gives no private mount namespace (unshare -m): {why or 'no unshare'}")
    rng = random.Random(SEED)
    cases = [{"passwd": text(rng, passwd_line), "group": text(rng, group_line), "shadow": text(rng, shadow_line)}
             for _ in range(EXAMPLES)]
    agreement = Agreement()
    for i, (case, glibc) in enumerate(zip(cases, theirs(tmp_path, cases), strict=True)):
        mine = ours(case)
        for name in ("passwd", "group", "shadow"):
            same = mine[name] == glibc[name]
            agreement.add(bool(mine[name]) if same else not glibc[name], bool(glibc[name]),
                          f"case {i} /etc/{name} {case[name]!r}: auditor {mine[name]}, glibc {glibc[name]}")
    agreement.check(f"{EXAMPLES} sets of passwd, group and shadow (seed {SEED}), entries read")
