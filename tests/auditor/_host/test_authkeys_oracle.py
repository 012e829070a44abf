"""authorized_keys lines against the real sshd (Debian openssh-server on loopback): auditor
reads a line as a usable key, with `from=` patterns admitting the client's address, exactly
when sshd lets that key log in from there.

Generated lines vary what sshd decides by: the options (known and unknown ones, their case and
quoting, `from=` with addresses, CIDR blocks, wildcards, negations and bad entries,
`expiry-time`, a second `from`), the key type written against the key, the separators, the
base64 text and the comment. Each line is the whole authorized_keys file for one login with its
key from a loopback address (127.0.0.2 to 127.0.0.9: the client binds its source address).
The login runs `true`; sshd's refusal is ssh's exit code 255.

AUDITOR_AUTHKEYS_EXAMPLES sets the number of lines (default 60); AUDITOR_AUTHKEYS_SEED the seed.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import random
import subprocess
from pathlib import Path

import pytest

from auditor._host import sshmatch
from auditor._host.authkeys import parse_line
from tests.agreement import Agreement
from tests.servers import Sshd, ssh_keygen, sshd_server, tool

EXAMPLES = int(os.environ.get("AUDITOR_AUTHKEYS_EXAMPLES", "60"))
SEED = int(os.environ.get("AUDITOR_AUTHKEYS_SEED", "1"))


def fingerprint(public_line: str) -> str:
    import hashlib

    blob = base64.b64decode(public_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def from_pattern(rng: random.Random, source: int) -> str:
    other = rng.choice([n for n in range(2, 10) if n != source])
    items = [f"127.0.0.{source}", f"127.0.0.{other}", "127.0.0.0/24", "127.0.0.0/30", "127.0.0.8/29",
             "127.0.0.1/8", "127.0.0.0/33", "127.0.0.*", "127.0.0.?", "127.0.0.1?", "*", "127.*", "localhost",
             "10.0.0.0/8", f"!127.0.0.{source}", f"!127.0.0.{other}", "!127.0.0.0/24", "", "::1",
             f"127.0.0.{source}/32", "127.0.0.[1-9]", "127.0.0.0/255.0.0.0", "*.*.*.*", "127.000.000.00" + str(source),
             f"127.0.0.{source} ", "LOCALHOST", f"0177.0.0.{source}", f"127.{source}", "127.0.0.0/129",
             f"!127.{source}"]
    return ",".join(rng.choice(items) for _ in range(rng.choice([1, 1, 2, 3])))


def option(rng: random.Random, source: int) -> str:
    kind = rng.choice(["from", "from", "from", "restrict", "no-pty", "command", "expiry-past", "expiry-future",
                       "expiry-bad", "unknown", "FROM", "environment", "permitopen", "permitopen-service",
                       "permitlisten-bare", "permitopen-zero", "tunnel", "principals",
                       "no-touch-required", "touch-required", "no-verify-required", "from-unquoted",
                       "from-open-quote", "from-escaped"])
    pattern = from_pattern(rng, source)
    return {
        "from": f'from="{pattern}"', "FROM": f'FROM="{pattern}"', "restrict": "restrict", "no-pty": "no-pty",
        "command": 'command="true"', "expiry-past": 'expiry-time="20200101"',
        "expiry-future": 'expiry-time="29990101"', "expiry-bad": 'expiry-time="tomorrow"', "unknown": "no-such-option",
        "environment": 'environment="A=b"', "permitopen": 'permitopen="localhost:22"', "tunnel": 'tunnel="1"',
        "permitopen-service": 'permitopen="localhost:ssh"', "permitlisten-bare": 'permitlisten="ssh"',
        "permitopen-zero": 'permitopen="localhost:0"',
        "principals": 'principals="alice"', "no-touch-required": "no-touch-required",
        "touch-required": "touch-required", "no-verify-required": "No-Verify-Required",
        "from-unquoted": f"from={pattern}", "from-open-quote": f'from="{pattern}',
        "from-escaped": 'from="127.0.0.\\"2"',
    }[kind]


def make_line(rng: random.Random, public: str, other_type: str, source: int) -> str:
    keytype, blob = public.split()[:2]
    options = [option(rng, source) for _ in range(rng.choice([0, 1, 1, 2]))]
    label = rng.choices(["own", "other", "unknown"], [10, 1, 1])[0]
    written_type = {"own": keytype, "other": other_type, "unknown": "ssh-foo"}[label]
    text = rng.choices(["as-is", "corrupt", "padded-twice", "cut"], [12, 1, 1, 1])[0]
    if text == "corrupt":
        at = rng.randrange(len(blob))
        blob = blob[:at] + "!" + blob[at + 1:]
    elif text == "padded-twice":
        blob += "=="
    elif text == "cut":
        blob = blob[:-8]
    gap = rng.choice([" ", "\t", "  "])
    comment = rng.choice(["", " alice@laptop", " two words", "\t#tab"])
    lead = rng.choice(["", "", " ", "\t"])
    end = rng.choice(["", "", "\r"])
    head = (",".join(options) + rng.choice([" ", "\t"])) if options else ""
    return f"{lead}{head}{written_type}{gap}{blob}{comment}{end}"


def logs_in(server: Sshd, identity: Path, source: int) -> bool:
    proc = subprocess.run(
        [tool("ssh", "Debian openssh-client"), "-F", "none", "-i", str(identity), "-o", "IdentitiesOnly=yes",
         "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={server.known_hosts}", "-o", "StrictHostKeyChecking=yes",
         "-o", "ConnectTimeout=10", "-b", f"127.0.0.{source}", "-p", str(server.port), f"{server.user}@127.0.0.1",
         "true"], capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode not in (0, 1, 255):  # pragma: no cover - the harness, not the oracle
        raise AssertionError(proc.stderr)
    return proc.returncode != 255


def predicted(line: str, source: int, key_fingerprint: str, now: dt.datetime) -> tuple[bool, str]:
    """auditor's reading: a usable key (no problem) that is this one, not expired, and from=
    admitting the address."""
    key = parse_line("u", "authorized_keys", 1, line)
    if key is None:
        return False, "no key"
    if key.problem is not None:
        return False, key.problem
    if key.fingerprint != key_fingerprint:
        return False, "another key"
    if key.expires_at is not None and dt.datetime.fromisoformat(key.expires_at) < now:
        return False, f"expired at {key.expires_at}"
    if key.from_text is not None and not sshmatch.admits(key.from_text, f"127.0.0.{source}"):
        return False, f"from= does not admit 127.0.0.{source}"
    return True, ""


@pytest.mark.slow
def test_authorized_keys_agree_with_sshd(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    keys = []
    for n, kind in enumerate(["ed25519", "ed25519", "ecdsa"]):
        private = ssh_keygen(tmp_path / f"key-{n}", kind)
        keys.append((private, private.with_suffix(".pub").read_text().strip()))
    agreement = Agreement()
    now = dt.datetime.now(dt.UTC)
    with sshd_server(tmp_path / "sshd", sftp=False) as server:
        authorized = server.folder / "authorized_keys"
        for i in range(EXAMPLES):
            private, public = rng.choice(keys)
            other_type = next(p.split()[0] for _, p in keys if p.split()[0] != public.split()[0])
            source = rng.randrange(2, 10)
            line = make_line(rng, public, other_type, source)
            authorized.write_text(line + "\n")
            ours, why = predicted(line, source, fingerprint(public), now)
            theirs = logs_in(server, private, source)
            agreement.add(ours, theirs, f"line {i} {line!r} from 127.0.0.{source} ({why or 'admitted'})")
    agreement.check(f"{EXAMPLES} authorized_keys lines (seed {SEED}), admitted")
