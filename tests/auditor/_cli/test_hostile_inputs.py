"""Issue 18: every measured hostile input is a one-line error with a documented exit code,
in bounded time and memory: never exit 70, never a traceback, never a hang.

Each case below gave an internal error (exit 70), a hang or an empty message before."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Run, run_cli

DEEP = "[" * 200_000 + "]" * 200_000
BIG_INT = '{"a": ' + "9" * 5000 + "}"


def one_line_error(run: Run, code: int, *fragments: str) -> None:
    assert run.code == code, (run.code, run.err)
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("auditor: error: "), run.err
    assert "Traceback" not in run.err and "internal error" not in run.err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.mark.parametrize("command", ["evaluate", "report"])
@pytest.mark.parametrize("text, limit", [(DEEP, "json-depth"), (BIG_INT, "integer-digits")])
def test_deep_or_huge_json_is_refused_naming_the_limit(tmp_path: Path, command: str, text: str, limit: str) -> None:
    doc = tmp_path / "doc.json"
    doc.write_text(text)
    one_line_error(run_cli(command, str(doc)), 2, "doc.json", f"over the {limit} limit", "AUDITOR_LIMIT_")


def test_verify_of_a_deep_document_lists_the_problem(tmp_path: Path) -> None:
    doc = tmp_path / "doc.json"
    doc.write_text(DEEP)
    run = run_cli("verify", str(doc))
    assert run.code == 1 and "over the json-depth limit" in run.out and "Traceback" not in run.err


@pytest.mark.parametrize("args", [
    ("evaluate", "{}"), ("report", "{}"), ("targets", "list", "--inventory", "{}"),
    ("secrets", "scan", "--config", "{}", "."), ("pki", "verify", "--roots", "{}", "{}"),
    ("nats", "permissions", "--config", "{}"),
])
@pytest.mark.parametrize("special", ["/dev/zero", "fifo", "link"])
def test_devices_and_fifos_are_never_opened(tmp_path: Path, args: tuple[str, ...], special: str) -> None:
    if special == "fifo":
        special = str(tmp_path / "fifo")
        os.mkfifo(special)
    elif special == "link":  # a symbolic link to a device
        special = str(tmp_path / "link.json")
        os.symlink("/dev/zero", special)
    run = run_cli(*(a.replace("{}", special) for a in args), cwd=tmp_path)
    one_line_error(run, 2, special, "not a regular file")


def test_rules_validate_refuses_special_files_and_empty_folders(tmp_path: Path) -> None:
    """Measured: `rules validate` on an empty folder said "ok"."""
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "empty").mkdir()
    for name, fragment in (("fifo", "not a regular file or a folder (fifo)"), ("empty", "no rule or policy files")):
        run = run_cli("rules", "validate", str(tmp_path / name))
        first = run.err.splitlines()[0]  # then a count line
        assert run.code == 2 and fragment in first and "ok:" not in run.out, run.err


def test_fifos_in_scanned_folders_are_listed_as_skipped(tmp_path: Path) -> None:
    for name in ("f.pem", "f.yaml", "f.creds", "f.env"):
        os.mkfifo(tmp_path / name)
    (tmp_path / "pod.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers: []\n")
    secrets = run_cli("secrets", "scan", str(tmp_path))
    assert secrets.code == 0, secrets.err
    for name in ("f.pem", "f.yaml", "f.creds", "f.env"):
        assert f"never opened: {tmp_path / name} (fifo)" in secrets.out or f"{name} (fifo)" in secrets.out
    scan = run_cli("scan", "--path", str(tmp_path), "--policy", "pss-restricted", "--no-store", "-v")
    assert scan.code in (0, 1, 3) and "Traceback" not in scan.err, scan.err
    assert "f.yaml" in scan.out and "fifo" in scan.out


def test_secrets_scan_exits_3_naming_a_file_it_could_not_read() -> None:
    run = run_cli("secrets", "scan", "/proc/self/mem")  # a regular file whose read fails (EIO)
    assert run.code == 3 and "/proc/self/mem" in run.err and "not scanned" in run.err


def test_nats_permissions_refuses_includes_outside_the_config_folder(tmp_path: Path) -> None:
    conf = tmp_path / "etc" / "nats" / "nats.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("include ../../../../../../../etc/shadow\n")
    one_line_error(run_cli("nats", "permissions", "--config", str(conf)), 2, "is outside the scanned folder")
    one_line_error(run_cli("nats", "can", "--config", str(conf), "--user", "a", "--publish", "x"), 2, "outside")


@pytest.mark.parametrize("env, make, args, limit", [
    ({"AUDITOR_LIMIT_BUNDLE_BYTES": "1KiB"}, lambda p: p.write_text("[" + "0," * 2000 + "0]"), ("evaluate", "{}"),
     "bundle-bytes"),
    ({"AUDITOR_LIMIT_JSON_VALUES": "100"}, lambda p: p.write_text("[" + "[]," * 500 + "[]]"), ("report", "{}"),
     "json-values"),
    ({"AUDITOR_LIMIT_PEM_CERTIFICATES": "2"},
     lambda p: p.write_text("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n" * 3),
     ("pki", "verify", "--roots", "{}", "{}"), "pem-certificates"),
    ({"AUDITOR_LIMIT_NATS_USERS": "2"},
     lambda p: p.write_text("authorization { users: [" + ", ".join(f"{{user: u{i}, password: p{i}}}" for i in range(3))
                            + "] }\n"), ("nats", "permissions", "--config", "{}"), "nats-users"),
])
def test_past_a_limit_the_error_names_it_and_how_to_raise_it(
    tmp_path: Path, env: dict[str, str], make: Callable[[Path], object], args: tuple[str, ...], limit: str
) -> None:
    """Stand-ins, with the limits lowered, for the measured 120 MB bundle, 10,000-certificate
    PEM bundle and 100,000-user nats.conf."""
    path = tmp_path / "input"
    make(path)
    run = run_cli(*(a.replace("{}", str(path)) for a in args), env=env)
    one_line_error(run, 2, f"over the {limit} limit", "raise it with AUDITOR_LIMIT_")


def test_a_nats_user_name_reaches_the_terminal_escaped(tmp_path: Path) -> None:
    """Measured: escape bytes in NATS user names reached the terminal raw."""
    conf = tmp_path / "nats.conf"
    conf.write_text('authorization { users: [ {user: "u\\x1b[2K\\rFAKE", password: "Xk9mQ2vL7pR4wZab"} ] }\n')
    run = run_cli("nats", "permissions", "--config", str(conf))
    assert run.code == 0, run.err
    assert "u\\x1b[2K\\rFAKE" in run.out and "\x1b" not in run.out + run.err and "\r" not in run.out + run.err


def test_verify_of_a_document_with_a_huge_integer_lists_the_problem(tmp_path: Path) -> None:
    doc = tmp_path / "doc.json"
    doc.write_text(BIG_INT)
    run = run_cli("verify", str(doc))
    assert run.code == 1 and "over the integer-digits limit" in run.out and "Traceback" not in run.err, run.out
