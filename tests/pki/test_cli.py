"""`auditor pki` as a user runs it: the commands of the issue, their errors and exit codes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.pki.conftest import PASSPHRASE

pytestmark = pytest.mark.slow


def pki(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> tuple[int, str, str]:
    r = run_cli("pki", *args, env={"PKI_PASS": PASSPHRASE, **(env or {})}, stdin=stdin)
    assert "Traceback" not in r.err
    assert PASSPHRASE not in r.out + r.err
    return r.code, r.out, r.err


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli") / "CA"
    code, out, err = pki("init", "--dir", str(folder), "--name", "CIM Root CA", "--org", "CIM",
                         "--key-type", "ecdsa-p384", "--passphrase-env", "PKI_PASS")
    assert code == 0, err
    assert "created CA" in out
    code, out, err = pki("intermediate", "--dir", str(folder), "--name", "CIM Intermediate CA",
                         "--permitted-dns", "example.com", "--permitted-dns", "localhost", "--permitted-ip", "10.0.0.0/8",
                         "--passphrase-env", "PKI_PASS")
    assert code == 0, err
    return folder


def test_issue_list_revoke_crl_verify_export(ca: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "cim-001"
    code, out, err = pki("issue", "--dir", str(ca), "--node", "cim-001", "--profile", "nats-server",
                         "--dns", "cim-001.example.com", "--ip", "10.0.3.21", "--out", str(out_dir),
                         "--passphrase-env", "PKI_PASS")
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == ["cert.pem", "chain.pem", "key.pem"]
    assert (out_dir / "key.pem").stat().st_mode & 0o777 == 0o600
    serial = out.split("serial ")[1].split(",")[0]

    code, out, _ = pki("list", "--dir", str(ca), "--format", "json")
    listed = {e["serial"]: e for e in json.loads(out)}
    assert listed[serial]["node"] == "cim-001" and listed[serial]["state"] == "valid"
    assert listed[serial]["sans"] == {"dns": ["cim-001.example.com"], "ip": ["10.0.3.21"]}
    code, out, _ = pki("list", "--dir", str(ca), "--expiring", "30d")
    assert "no certificates expiring within 30d" in out
    code, out, _ = pki("list", "--dir", str(ca), "--expiring", "100d")
    assert serial in out

    code, out, _ = pki("verify", str(out_dir / "cert.pem"), "--dir", str(ca), "--name", "cim-001.example.com")
    assert code == 0 and out.startswith("OK:")
    code, out, _ = pki("verify", str(out_dir / "cert.pem"), "--roots", str(ca / "certs/root.pem"),
                       "--intermediates", str(out_dir / "chain.pem"), "--purpose", "client")
    assert code == 0, out

    code, out, err = pki("export", "--dir", str(ca), "--node", "cim-001", "--format", "nats", "--out", str(out_dir))
    assert code == 0, err
    assert "tls {" in out and f'key_file: "{out_dir.resolve()}/key.pem"' in out and "verify: true" in out
    assert (out_dir / "nats-tls.conf").read_text() == out

    code, out, err = pki("revoke", "--dir", str(ca), serial, "--reason", "keyCompromise", "--passphrase-env", "PKI_PASS")
    assert code == 0, err
    code, out, _ = pki("verify", str(out_dir / "cert.pem"), "--dir", str(ca), "--name", "cim-001.example.com")
    assert code == 1 and "INVALID" in out and "revoked" in out

    crl = tmp_path / "crl.pem"
    code, _, err = pki("crl", "--dir", str(ca), "-o", str(crl), "--passphrase-env", "PKI_PASS")
    assert code == 0, err
    text = subprocess.run(["openssl", "crl", "-in", str(crl), "-noout", "-text"], capture_output=True, text=True, check=True).stdout
    assert serial.upper().lstrip("0") in text.replace(":", "").upper()
    assert "Key Compromise" in text

    code, out, _ = pki("log", "verify", "--dir", str(ca))
    assert code == 0 and out.startswith("OK:")
    log = ca / "log.jsonl"
    original = log.read_text()
    try:
        log.write_text(original.replace('"cim-001"', '"cim-666"', 1))
        code, out, _ = pki("log", "verify", "--dir", str(ca))
        assert code == 1 and "TAMPERED" in out and "edited" in out
    finally:
        log.write_text(original)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["list", "--dir", "{tmp}/nope"], "no such CA folder"),
        (["issue", "--dir", "{ca}", "--node", "x", "--profile", "nats-client", "--out", "{tmp}/x",
          "--passphrase-env", "WRONG_PASS"], "wrong passphrase"),
        (["issue", "--dir", "{ca}", "--node", "x", "--profile", "nats-client", "--out", "{tmp}/x",
          "--passphrase-env", "UNSET_VAR_XYZ"], "UNSET_VAR_XYZ is not set"),
        (["issue", "--dir", "{ca}", "--node", "x", "--profile", "nats-client", "--out", "{tmp}/x"], "no passphrase"),
        (["issue", "--dir", "{ca}", "--node", "x", "--profile", "web", "--out", "{tmp}/x",
          "--passphrase-env", "PKI_PASS"], "unknown profile 'web'"),
        (["issue", "--dir", "{ca}", "--node", "x", "--profile", "nats-server", "--out", "{tmp}/x",
          "--passphrase-env", "PKI_PASS"], "needs at least one DNS name or IP address (give --dns NAME or --ip ADDRESS)"),
        (["issue", "--dir", "{ca}", "--node", "x", "--profile", "nats-server", "--dns", "bad name!", "--out",
          "{tmp}/x", "--passphrase-env", "PKI_PASS"], "'bad name!' is not a DNS name (given with --dns)"),
        (["issue", "--dir", "{ca}", "--node", "x", "--profile", "nats-server", "--ip", "10.0.0.300", "--out",
          "{tmp}/x", "--passphrase-env", "PKI_PASS"], "'10.0.0.300' is not an IP address (given with --ip)"),
        (["issue", "--dir", "{ca}", "--node", "x", "--profile", "nats-client", "--email", "ops@example.com", "--out",
          "{tmp}/x", "--passphrase-env", "PKI_PASS"],
         "permits no email names (an intermediate made with --permitted-email permits them)"),
        (["revoke", "--dir", "{ca}", "zz", "--passphrase-env", "PKI_PASS"], "not a hexadecimal serial"),
        (["revoke", "--dir", "{ca}", "abc123", "--passphrase-env", "PKI_PASS"], "not in the inventory"),
        (["init", "--dir", "{ca}", "--name", "Again", "--passphrase-env", "PKI_PASS"], "not empty"),
        (["verify", "{tmp}/missing.pem", "--dir", "{ca}"], "file not found"),
        (["list", "--dir", "{ca}", "--expiring", "soon"], "not a duration"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(ca: Path, tmp_path: Path, args: list[str], message: str) -> None:
    filled = [a.format(ca=ca, tmp=tmp_path) for a in args]
    code, out, err = pki(*filled, env={"WRONG_PASS": "not the right one"})
    assert code == 2, (out, err)
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_passphrase_is_never_a_flag_value(ca: Path) -> None:
    r = run_cli("pki", "issue", "--dir", str(ca), "--node", "x", "--profile", "nats-client", "--out", "x",
                "--passphrase", PASSPHRASE)
    assert r.code == 2 and "unrecognized arguments" in r.err


def test_a_secret_given_in_place_of_a_variable_name_is_not_echoed(ca: Path) -> None:
    r = run_cli("pki", "issue", "--dir", str(ca), "--node", "x", "--profile", "nats-client", "--out", "x",
                "--passphrase-env", PASSPHRASE)
    assert r.code == 2 and "takes the name of an environment variable" in r.err
    assert PASSPHRASE not in r.err + r.out


def test_renew_rotate_and_profiles(ca: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "n"
    code, out, err = pki("issue", "--dir", str(ca), "--node", "cim-010", "--profile", "nats-leaf", "--out",
                         str(out_dir), "--passphrase-env", "PKI_PASS")
    assert code == 0, err
    serial = out.split("serial ")[1].split(",")[0]
    old_key = (out_dir / "key.pem").read_bytes()
    code, out, err = pki("renew", "--dir", str(ca), serial, "--out", str(out_dir), "--reuse-key",
                         str(out_dir / "key.pem"), "--passphrase-env", "PKI_PASS")
    assert code == 0, err
    assert f"replaces serial {serial}" in out and "key kept" in out
    assert (out_dir / "key.pem").read_bytes() == old_key
    code, out, _ = pki("list", "--dir", str(ca), "--format", "json")
    states = {e["serial"]: e["state"] for e in json.loads(out)}
    assert states[serial] == "superseded"

    root_crl = tmp_path / "root.crl"
    code, _, err = pki("crl", "--dir", str(ca), "--issuer", "root", "-o", str(root_crl), "--passphrase-env", "PKI_PASS")
    assert code == 0, err
    text = subprocess.run(["openssl", "crl", "-in", str(root_crl), "-noout", "-issuer"], capture_output=True,
                          text=True, check=True).stdout
    assert "CIM Root CA" in text

    code, out, _ = pki("profiles")
    assert code == 0 and {line.split()[0] for line in out.splitlines()} == {
        "root", "intermediate", "nats-server", "nats-client", "nats-leaf", "admin"}
