"""fail2ban's jails against fail2ban itself: `fail2ban-client -c DIR -d` (Debian fail2ban 1.0.2)
reads a configuration and dumps the jails it would start (`add`), the enabled ones it skips
(`config-error`) or refuses the whole of it (exit 255). auditor must read the same: a jail
enabled with a filter it can load exactly where fail2ban adds it, its maxretry alike, and a
refusal where fail2ban refuses.

Each case is Debian's own /etc/fail2ban (jail.conf, paths-*.conf, filter.d, action.d) with
generated jail.local, jail.d/nats.conf and jail.d/nats.local and sometimes a nats-auth filter:
`enabled` in every spelling, inline comments (`;` is one, `#` is not), filters with options
and `%(__name__)s`, `%(name)s` references to DEFAULT (or to nothing), int options fail2ban
cannot read, sections given twice in one file, [DEFAULT] overrides, actions that action.d holds
or not (one per line, with options).

AUDITOR_FAIL2BAN_EXAMPLES sets the number of cases (default 60); AUDITOR_FAIL2BAN_SEED the seed.
"""

from __future__ import annotations

import ast
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from auditor._host.fail2ban import Fail2ban, read_fail2ban
from auditor._host.system import NO_COMMANDS, HostFiles
from tests.agreement import Agreement

EXAMPLES = int(os.environ.get("AUDITOR_FAIL2BAN_EXAMPLES", "60"))
SEED = int(os.environ.get("AUDITOR_FAIL2BAN_SEED", "1"))
CLIENT = shutil.which("fail2ban-client", path="/usr/bin:/bin")
SHIPPED = Path("/etc/fail2ban")
pytestmark = pytest.mark.skipif(CLIENT is None or not (SHIPPED / "jail.conf").is_file(),
                                reason="fail2ban (Debian fail2ban) is not installed")

ENABLED = ["true", "True", "yes", "1", "on", "false", "no", "0", "off", "maybe", "", " true", "true # c", "true ; c",
           "TRUE", "Yes"]
FILTERS = ["nats-auth", "nats-auth[mode=aggressive]", "%(__name__)s", "sshd", "nats-auth # c", "missing-filter",
           " nats-auth", "%(my_filter)s", "nats-auth.local", "nats-auth [mode=normal]"]
RETRY = ["3", "03", " 3", "3 # c", "%(my_retry)s", "x", "7", "3 ; c"]
SECTIONS = ["nats", "nats", "NATS", "nats-leaf", "sshd", "DEFAULT"]
ACTIONS = ["%(action_)s", "%(action_mw)s", "nope", 'iptables-multiport[port="4222"]', "nope\n    iptables-multiport",
           "nftables-multiport", "iptables-multiport\n    nope[a=1]", "%(action_)s\n    sendmail-whois"]
FILTER_TEXT = "[Definition]\nfailregex = ^.*Authorization Violation.*<HOST>\n"


OPTIONS = [("enabled", 0.8, ENABLED), ("filter", 0.7, FILTERS), ("maxretry", 0.5, RETRY), ("action", 0.25, ACTIONS)]
"""Each option a section may have: how often, and its values."""
DEFAULTS = [("banaction", 0.2, ["nope", "nftables-multiport", "iptables-multiport"]), ("my_retry", 0.7, ["4", "5"]),
            ("my_filter", 0.7, ["nats-auth", "sshd", "nope"])]
"""And those only [DEFAULT] has (the last two are what %(my_retry)s and %(my_filter)s name)."""


def section(rng: random.Random) -> str:
    name = rng.choice(SECTIONS)
    lines = [f"[{name}]"]
    for key, chance, values in OPTIONS + (DEFAULTS if name == "DEFAULT" else []):
        if rng.random() < chance:
            lines.append(f"{key} = {rng.choice(values)}")
    if name != "DEFAULT":
        lines.append("logpath = /var/log/nats.log")
    return "\n".join(lines) + "\n"


def make(rng: random.Random, root: Path) -> Path:
    base = root / "etc/fail2ban"
    shutil.copytree(SHIPPED, base)
    for name, chance, most in (("jail.local", 0.6, 3), ("jail.d/nats.conf", 0.5, 2), ("jail.d/nats.local", 0.3, 2)):
        if rng.random() < chance:
            (base / name).write_text("".join(section(rng) for _ in range(rng.randrange(1, most + 1))))
    where = rng.random()
    if where < 0.4:
        (base / "filter.d/nats-auth.conf").write_text(FILTER_TEXT)
    elif where < 0.55:
        (base / "filter.d/nats-auth.local").write_text(FILTER_TEXT)
    return base


def fail2ban_reads(base: Path) -> tuple[bool, set[str], set[str], dict[str, int]]:
    """(refused, jails added, jails skipped, maxretry of each added one) from fail2ban-client -d."""
    assert CLIENT is not None
    proc = subprocess.run([CLIENT, "-c", str(base), "-d"], capture_output=True, text=True, timeout=120, check=False)
    added: set[str] = set()
    skipped: set[str] = set()
    retry: dict[str, int] = {}
    for line in proc.stdout.splitlines():
        try:
            command = ast.literal_eval(line)
        except (ValueError, SyntaxError):
            continue
        if command[0] == "add":
            added.add(command[1])
        elif command[0] == "config-error":
            skipped.add(command[1].split("'")[1])
        elif command[0] == "set" and len(command) == 4 and command[2] == "maxretry" and command[3] is not None:
            retry[command[1]] = command[3]
    return proc.returncode != 0, added, skipped, retry


def auditor_reads(f2b: Fail2ban) -> tuple[bool, set[str], set[str], dict[str, int]]:
    working = {j.name: j for j in f2b.jails if j.loads}
    return (f2b.refused is not None, set(working), {j.name for j in f2b.jails if j.enabled and not j.loads},
            {name: j.maxretry for name, j in working.items() if j.maxretry is not None})


def test_jails_agree_with_fail2ban(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    agreement = Agreement()
    for i in range(EXAMPLES):
        root = tmp_path / f"case-{i}"
        base = make(rng, root)
        theirs = fail2ban_reads(base)
        ours = auditor_reads(read_fail2ban(HostFiles(root), NO_COMMANDS))
        if theirs[0] or ours[0]:  # refused: which jails it names does not matter
            same, works = ours[0] == theirs[0], not theirs[0]
        else:
            same, works = ours == theirs, bool(theirs[1])
        written = {p.name: p.read_text() for p in [base / "jail.local", *sorted((base / "jail.d").glob("nats.*"))]
                   if p.exists()}
        agreement.add(works if same else not works, works,
                      f"case {i} {written}: auditor {ours}, fail2ban {theirs}")
    agreement.check(f"{EXAMPLES} fail2ban configurations (seed {SEED}), read with a working jail")
