"""Issue 18, measured on pki: a FIFO as the CA's lock, a deeply nested log line and a loose
umask gave internal errors, hangs or world-writable folders."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pki import log
from pki.errors import CAError, LogError

MakeCA = Callable[..., Any]
DEEP = b"[" * 200_000 + b"]" * 200_000 + b"\n"


def test_a_fifo_as_the_lock_is_refused_without_blocking(make_ca: MakeCA) -> None:
    ca, _ = make_ca()
    lock = ca.folder / ".lock"
    lock.unlink(missing_ok=True)
    os.mkfifo(lock)
    with pytest.raises(CAError, match=r"not a regular file \(fifo\)"):
        with ca.lock(timeout=1):
            pass


def test_a_deeply_nested_log_line_is_damage_not_a_crash(make_ca: MakeCA) -> None:
    ca, _ = make_ca()
    path = ca.folder / "log.jsonl"
    with path.open("ab") as fh:
        fh.write(DEEP)
    report = ca.verify_log()
    assert not report.ok and any("not JSON" in p or "nested" in p for p in report.problems), report.problems
    with pytest.raises(LogError, match="damaged"):
        log.last_entry(path)


def test_an_overlong_log_line_is_reported_not_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"seq": 1' + b" " * (log.MAX_LINE + 10) + b"}\n")
    rows = list(log.read(path))
    assert rows == [(1, None, f"longer than {log.MAX_LINE} bytes")]


def test_folders_issue_creates_are_private_whatever_the_umask(make_ca: MakeCA, tmp_path: Path) -> None:
    ca, opener = make_ca()
    old = os.umask(0)
    try:
        ca.issue("cim-001", "nats-client", opener, tmp_path / "out")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "out" / "key.pem").stat().st_mode) == 0o600


def test_a_deeply_nested_acme_request_is_a_malformed_problem() -> None:
    """Found by the fuzz harness: a request body (or its protected header, or an account
    binding) nested 200,000 deep was a RecursionError, an internal server error."""
    import base64

    from pki.acme.problems import AcmeProblem
    from pki.acme.signed import parse

    with pytest.raises(AcmeProblem, match="not JSON"):
        parse(DEEP)
    header = base64.urlsafe_b64encode(DEEP).rstrip(b"=").decode()
    body = b'{"protected": "' + header.encode() + b'", "payload": "", "signature": "AA"}'
    with pytest.raises(AcmeProblem, match="protected header is not JSON"):
        parse(body)


def test_pki_yaml_is_bounded_in_nesting_and_alias_expansion(make_ca: MakeCA) -> None:
    """Profiles and the ACME policy were read with a bare yaml.safe_load: deep nesting was a
    RecursionError and an alias bomb expanded without bound."""
    from pki.acme.policy import PolicyError
    from pki.acme.policy import parse as parse_policy
    from pki.errors import ProfileError
    from pki.profiles import parse_profile

    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(6))
    for text, why in (("- " * 50_000 + "x", "not valid YAML"), (bomb, "alias bomb"), ("a: &a [*a]\n", "")):
        with pytest.raises(ProfileError, match=f"p.yaml.*{why}"):
            parse_profile(text, "p.yaml")
        with pytest.raises(PolicyError, match=f"policy.yaml.*{why}"):
            parse_policy(text, "policy.yaml")



def test_pki_log_verify_and_issue_on_a_deeply_nested_log_line(make_ca: MakeCA, pki_env: dict[str, str],
                                                              tmp_path: Path) -> None:
    """Measured: `pki log verify` and `pki issue` with a deeply nested log line exited 70."""
    from tests.conftest import run_cli

    ca, _ = make_ca()
    with (ca.folder / "log.jsonl").open("ab") as fh:
        fh.write(DEEP)
    verify = run_cli("pki", "log", "verify", "--dir", str(ca.folder))
    assert verify.code == 1 and "not JSON" in verify.out and "internal error" not in verify.err, verify.err
    issue = run_cli("pki", "issue", "--dir", str(ca.folder), "--node", "n1", "--profile", "nats-client",
                    "--out", str(tmp_path / "out"), "--passphrase-env", "PKI_PASS", env=pki_env)
    assert issue.code == 2 and "does not verify" in issue.err and "internal error" not in issue.err, issue.err
    assert len(issue.err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
