"""Generated secrets and clean look-alikes, for detector tests and the scanning benchmark.

Every secret is made by the real thing where one exists here: nkey seeds and signed NATS
JWTs by nats-io's `nkeys`, age identities by `pyrage`, private keys by `cryptography`.
Tokens whose issuers cannot run here (Vault, GitHub, AWS, ...) follow their published formats.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass

import nkeys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

ALNUM = string.ascii_letters + string.digits
_NKEY_PREFIXES = {
    "user": nkeys.PREFIX_BYTE_USER,
    "account": nkeys.PREFIX_BYTE_ACCOUNT,
    "operator": nkeys.PREFIX_BYTE_OPERATOR,
    "server": nkeys.PREFIX_BYTE_SERVER,
    "cluster": nkeys.PREFIX_BYTE_CLUSTER,
}


def nkey_seed(rng: random.Random, kind: str = "user") -> str:
    return str(nkeys.encode_seed(bytes(rng.getrandbits(8) for _ in range(32)), _NKEY_PREFIXES[kind]).decode())


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def nats_user_jwt(rng: random.Random, account_seed: str, user_public: str, exp: int | None = None) -> str:
    """A NATS user JWT signed by an account nkey (ed25519-nkey), as nsc issues them."""
    account = nkeys.from_seed(account_seed.encode())
    claims: dict[str, object] = {
        "jti": "".join(rng.choice(string.ascii_uppercase + "234567") for _ in range(52)),
        "iat": 1763856000,
        "iss": account.public_key.decode(),
        "name": "cim-agent",
        "sub": user_public,
        "nats": {"pub": {"allow": ["agent.>"]}, "sub": {"allow": ["commands.>"]}, "subs": -1, "data": -1,
                 "payload": -1, "type": "user", "version": 2},
    }
    if exp is not None:
        claims["exp"] = exp
    head = _b64u(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    body = _b64u(json.dumps(claims).encode())
    sig = account.sign(f"{head}.{body}".encode())
    return f"{head}.{body}.{_b64u(sig)}"


def creds_file(rng: random.Random) -> str:
    user_seed = nkey_seed(rng, "user")
    user_public = nkeys.from_seed(user_seed.encode()).public_key.decode()
    jwt = nats_user_jwt(rng, nkey_seed(rng, "account"), user_public)
    return (
        "-----BEGIN NATS USER JWT-----\n" + jwt + "\n------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n"
        "NKEYs are sensitive and should be treated as secrets.\n\n"
        "-----BEGIN USER NKEY SEED-----\n" + user_seed + "\n------END USER NKEY SEED------\n\n"
        "*************************************************************\n"
    )


def age_identity() -> str:
    from pyrage import x25519

    return str(x25519.Identity.generate())


def private_key_pem(rng: random.Random, kind: str = "ec", encrypted: bool = False, fmt: str = "pkcs8") -> str:
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    if kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=1024 if fmt != "pkcs8" else 2048)
    elif kind == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    algo: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(b"correct horse") if encrypted else serialization.NoEncryption()
    )
    formats = {
        "pkcs8": serialization.PrivateFormat.PKCS8,
        "traditional": serialization.PrivateFormat.TraditionalOpenSSL,
        "openssh": serialization.PrivateFormat.OpenSSH,
    }
    return key.private_bytes(serialization.Encoding.PEM, formats[fmt], algo).decode()


def token(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def vault_token(rng: random.Random) -> str:
    return "hvs." + token(rng, ALNUM + "_-", 91)


def github_token(rng: random.Random) -> str:
    return "ghp_" + token(rng, ALNUM, 36)


def aws_key_id(rng: random.Random) -> str:
    return "AKIA" + token(rng, string.ascii_uppercase + "234567", 16)


def password(rng: random.Random) -> str:
    words = ["river", "Orbit", "cactus", "Nimbus", "falcon", "Quartz", "ember", "Violet"]
    return f"{rng.choice(words)}{rng.choice(words)}-{rng.randrange(10, 99)}{rng.choice('!#%+=')}{token(rng, ALNUM, 4)}"


def bearer_jwt(rng: random.Random) -> str:
    head = _b64u(b'{"alg":"HS256","typ":"JWT"}')
    body = _b64u(json.dumps({"sub": "svc-" + token(rng, string.ascii_lowercase, 6), "exp": 4070908800}).encode())
    return f"{head}.{body}.{_b64u(bytes(rng.getrandbits(8) for _ in range(32)))}"


@dataclass(frozen=True)
class Planted:
    """A line (or block) holding one secret, and the categories that may legitimately report it."""

    text: str
    categories: frozenset[str]


def _p(text: str, *cats: str) -> Planted:
    return Planted(text, frozenset(cats))


PLANTERS: dict[str, Callable[[random.Random], Planted]] = {
    "nkey-seed": lambda r: _p(f"export NATS_NKEY_SEED={nkey_seed(r, r.choice(list(_NKEY_PREFIXES)))}\n", "nkey-seed"),
    "nats-creds": lambda r: _p(creds_file(r), "nats-creds"),
    "private-key": lambda r: _p(private_key_pem(r, r.choice(["ec", "ed25519"]), fmt=r.choice(["pkcs8", "openssh"])), "private-key"),
    "age-identity": lambda r: _p(f"# created: 2026-01-01T00:00:00Z\n{age_identity()}\n", "age-identity"),
    "vault-token": lambda r: _p(f"VAULT_TOKEN={vault_token(r)}\n", "vault-token"),
    "github-token": lambda r: _p(f'GITHUB_TOKEN = "{github_token(r)}"\n', "cloud-token"),
    "aws-key": lambda r: _p(f"aws_access_key_id = {aws_key_id(r)}\n", "cloud-token"),
    "password-yaml": lambda r: _p(f"  password: \"{password(r)}\"\n", "password"),
    "password-nix": lambda r: _p(f'  services.foo.adminPassword = "{password(r)}";\n', "password"),
    "password-env": lambda r: _p(f"DB_PASSWORD={password(r)}\n", "password"),
    "password-json": lambda r: _p(f'  "db_password": "{password(r)}",\n', "password"),
    "password-ini": lambda r: _p(f"password = {password(r)}\n", "password"),
    "url-credential": lambda r: _p(f"url: postgres://cim:{password(r)}@db{r.randrange(9)}.example.com:5432/cim\n", "url-credential"),
    "jwt": lambda r: _p(f'Authorization: "Bearer {bearer_jwt(r)}"\n', "jwt"),
}

CLEAN_LINES = (
    "password = os.environ['DB_PASSWORD']\n",
    "    password: ${DB_PASSWORD}\n",
    '  password = config.sops.secrets."db/password".path;\n',
    'password: "$2a$11$3kIDaCxw.Glsl1.u5nKa6eUnNDLV5HV9tIuUp7EHhMt6Nm9myW1aS"\n',
    "token_url: https://auth.example.com/oauth/token\n",
    'api_key: "<your-api-key>"\n',
    "secret_name: cim-agent-nats\n",
    "password_file = /run/secrets/db-password\n",
    "  recipient: age1j7stx2zkpf49e8vu04kecnkg9xtcfesg4duwpful4w9sjc6lxc7sv62tht\n",
    "  account: ADRBPGHSQC4YCBFHLXBIKHTUGE3XKHKHNC4VLEW6IDQX3MPGNMKQWXUT\n",
    "  digest: sha256:6f1c9e0a8d2b4c7e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6\n",
    "  id: 3f2b7c1e-8d4a-4b6f-9e0c-1a2b3c4d5e6f\n",
    '  password: ENC[AES256_GCM,data:YxNpUXV+Lvr5VVvAJVtnhDjUus47jQ==,iv:PRL3YeZITYrhvmgRyZ/OjPnZX95j/8C1QD0CPPxTEW0=,tag:T3zEjFLAVw9xXiNlZTby/w==,type:str]\n',
    "def check_password(password: str) -> bool:\n",
    "    if not password:\n",
    "        raise ValueError('password required')\n",
    "url: https://user@example.com/repo.git\n",
    "-----BEGIN PUBLIC KEY-----\n",
    "# -----BEGIN RSA PRIVATE KEY----- marks a PEM key; never commit one\n",
    "    integrity: sha512-Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4\n",
)
