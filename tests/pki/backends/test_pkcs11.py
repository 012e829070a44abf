"""The PKCS#11 backend against a real SoftHSM2 token (Debian's softhsm2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.pki.conftest import PASSPHRASE

pytestmark = pytest.mark.slow
MODULE = "/usr/lib/softhsm/libsofthsm2.so"


@pytest.fixture
def token(tmp_path: Path) -> dict[str, str]:
    """A fresh SoftHSM2 token in a private folder; the environment that finds it."""
    if not Path(MODULE).is_file():
        pytest.fail("SoftHSM2 is not installed (bash .ci/bootstrap --test installs softhsm2)")
    (tmp_path / "tokens").mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\n")
    env = {"SOFTHSM2_CONF": str(conf), "PKI_PASS": PASSPHRASE, "TOKEN_PIN": "246810"}
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "cim-root", "--pin", "246810",
                    "--so-pin", "13579246"], env=env, check=True, capture_output=True)
    return env


@pytest.mark.parametrize("key_type", ["ecdsa-p384", "ed25519", "rsa-3072"])
def test_root_key_on_a_token_signs_the_chain(token: dict[str, str], tmp_path: Path, key_type: str) -> None:
    ca = tmp_path / "CA"
    hsm = ["--backend", "pkcs11", "--pkcs11-module", MODULE, "--pkcs11-token", "cim-root", "--pin-env", "TOKEN_PIN"]
    r = run_cli("pki", "init", "--dir", str(ca), "--name", "HSM Root CA", "--key-type", key_type, *hsm, env=token)
    assert r.code == 0, r.err
    config = json.loads((ca / "ca.json").read_text())
    assert config["root"]["key"]["backend"] == "pkcs11" and not (ca / "private/root.key.pem").exists()
    r = run_cli("pki", "intermediate", "--dir", str(ca), "--name", "HSM Intermediate CA", "--pin-env", "TOKEN_PIN",
                "--passphrase-env", "PKI_PASS", env=token)
    assert r.code == 0, r.err
    r = run_cli("pki", "issue", "--dir", str(ca), "--node", "cim-001", "--profile", "nats-client", "--out",
                str(tmp_path / "n"), "--passphrase-env", "PKI_PASS", env=token)
    assert r.code == 0, r.err
    proc = subprocess.run(["openssl", "verify", "-CAfile", str(ca / "certs/root.pem"), "-untrusted",
                           str(ca / "certs/intermediate.pem"), str(tmp_path / "n/cert.pem")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the key stays on the token: sensitive, never extractable
    check = (
        "import pkcs11, sys\n"
        "from pkcs11 import Attribute, ObjectClass\n"
        f"t = pkcs11.lib({MODULE!r}).get_token(token_label='cim-root')\n"
        "with t.open(user_pin='246810') as s:\n"
        f"    k = s.get_key(object_class=ObjectClass.PRIVATE_KEY, id=bytes.fromhex({config['root']['key']['id']!r}))\n"
        "    print(k[Attribute.SENSITIVE], k[Attribute.EXTRACTABLE])\n"
    )
    out = subprocess.run([sys.executable, "-c", check], env={**token, "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False"]


def test_wrong_pin_and_unknown_token(token: dict[str, str], tmp_path: Path) -> None:
    base = ["pki", "init", "--dir", str(tmp_path / "CA"), "--name", "X", "--backend", "pkcs11",
            "--pkcs11-module", MODULE, "--pin-env", "BAD_PIN"]
    r = run_cli(*base, "--pkcs11-token", "cim-root", env={**token, "BAD_PIN": "000000"})
    assert r.code == 2 and "wrong PIN" in r.err and "000000" not in r.err
    r = run_cli(*base, "--pkcs11-token", "nope", env={**token, "BAD_PIN": "000000"})
    assert r.code == 2 and "no PKCS#11 token labelled 'nope'" in r.err
    assert not (tmp_path / "CA").exists()
