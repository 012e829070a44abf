"""Issue 17's measured detection cases: each failed on main (missed, misplaced or wrongly flagged).

The assignment syntaxes follow gitleaks' sample generator (gitleaks/gitleaks
cmd/generate/config/utils/generate.go `GenerateSampleSecrets`, MIT) and its Slack and GCP rule
samples (cmd/generate/config/rules/slack.go, gcp.go); the values here are our own.
"""

from __future__ import annotations

import random

import pytest

from auditor._secrets.scanner import Scanner
from tests.secrets_corpus import PLANTERS

SCANNER = Scanner()
PY_SCANNER = Scanner(prefer="python-re")
PW = "Kx9-vR2q-Lm7T"  # a password: 13 characters, 3 classes
TOKEN = "q8Zr3LmN7vKx2PwT9sYb4HcJ6dFg1EaU"  # a generic high-entropy secret


def found(text: str, name: str) -> list[tuple[str, str, int, int]]:
    """(rule, category, line, column) of every hit, the same with both prefilters."""
    out = []
    for scanner in (SCANNER, PY_SCANNER):
        leaks = scanner._leaks_in(text.encode(), name, "", whole=True)
        out.append(sorted((x.rule, x.category, x.line, x.column) for x in leaks))
    assert out[0] == out[1]
    return out[0]


@pytest.mark.parametrize(("text", "name", "expected"), [
    # passwords in SQL/shell text inside other formats
    (f"services.postgresql.initialScript = pkgs.writeText \"init.sql\" ''\n  ALTER USER cim PASSWORD '{PW}';\n'';\n",
     "postgres.nix", [("password", "password", 2, 28)]),
    (f"initdb: |\n  CREATE ROLE cim LOGIN PASSWORD '{PW}';\n", "values.yaml", [("password", "password", 2, 35)]),
    (f"psql <<EOF\nCREATE USER 'cim'@'%' IDENTIFIED BY '{PW}';\nEOF\n", "setup.sh", [("password", "password", 2, 38)]),
    (f"mysql -u root -p'{PW}' cim < dump.sql\n", "restore.sh", [("password", "password", 1, 18)]),
    (f"docker login --password={PW} registry.example.com\n", "ci.sh", [("password", "password", 1, 25)]),
    # assignment syntaxes (gitleaks' sample shapes)
    (f"<apiToken>{TOKEN}</apiToken>\n", "settings.xml", [("generic-secret", "generic-secret", 1, 11)]),
    (f"<apiToken>\n    {TOKEN}\n</apiToken>\n", "settings.xml", [("generic-secret", "generic-secret", 2, 5)]),
    (f'System.setProperty("X_TOKEN", "{TOKEN}");\n', "Main.java", [("generic-secret", "generic-secret", 1, 32)]),
    (f'var apiToken string = "{TOKEN}"\n', "main.go", [("generic-secret", "generic-secret", 1, 24)]),
    (f'val apiToken: String = "{TOKEN}"\n', "Main.kt", [("generic-secret", "generic-secret", 1, 25)]),
    (f'$apiToken .= "{TOKEN}";\n', "index.php", [("generic-secret", "generic-secret", 1, 15)]),
    (f'API_TOKEN ?= "{TOKEN}"\n', "Makefile", [("generic-secret", "generic-secret", 1, 15)]),
    (f'API_TOKEN ::= "{TOKEN}"\n', "Makefile", [("generic-secret", "generic-secret", 1, 16)]),
    (f'API_TOKEN :::= "{TOKEN}"\n', "Makefile", [("generic-secret", "generic-secret", 1, 17)]),
    (f"api_token: |\n  {TOKEN}\n", "a.yaml", [("generic-secret", "generic-secret", 2, 3)]),
    # token families
    ("slack: xoxa-2-511111111-31111111111-3111111111111-e039d02840a0b9379c\n", "a.txt", [("slack-token", "cloud-token", 1, 8)]),
    ("slack: xoxr-9Qz4Lm2Rt7Xw\n", "a.txt", [("slack-token", "cloud-token", 1, 8)]),
    ("key = sk-svcacct-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z" * 3 + "T3BlbkFJ" + "Zx8Cv7Bn6Mq5Wp4Lk3Jh2Gf1Ds9Ae8Rt" + "\n",
     "a.env", [("openai-key", "cloud-token", 1, 7)]),
    # vendor-published examples and placeholders: reported as examples, not leaks
    ("aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n", "credentials", [("aws-access-key", "example", 1, 21)]),
    ('apiKey: "AIzaSyAnLA7NfeLquW1tJFpx_eQCxoX-oo6YyIs",\n', "firebase.js", [("google-api-key", "example", 1, 10)]),
    ('"token4": "xoxp-572370529330-573807301142-572331691188-####################"\n', "a.json",
     [("slack-token", "example", 1, 12)]),
    # names that merely contain "password", and obvious test literals
    ('    AttributeOID.CHALLENGE_PASSWORD: "challengePassword",\n', "oid.py", []),
    ("challengePassword = A challenge password\n", "openssl.cnf", []),
    ("password_1 = 'password1'\n", "test_auth.py", []),
    ("token = 'test123'\n", "test_api.py", []),
])
def test_measured_case(text: str, name: str, expected: list[tuple[str, str, int, int]]) -> None:
    assert found(text, name) == expected


def test_a_seed_inside_a_creds_file_is_reported_at_the_seed() -> None:
    """Issue 17: the seed of a .creds file was reported at line 1 (the JWT block's start)."""
    text = PLANTERS["nats-creds"](random.Random(3)).text
    lines = text.splitlines()
    seed_line = next(i for i, line in enumerate(lines, 1) if line.startswith("SU"))
    assert found(text, "leaf.creds") == [("nats-creds", "nats-creds", seed_line, 1)]


def test_real_passwords_stay_findings() -> None:
    """The test-literal rule is narrow: a password that only contains a credential word is a leak."""
    assert [r for r, *_ in found("password = 'Password123!'\n", "app.py")] == ["password"]
    assert [r for r, *_ in found(f"ALTER USER cim PASSWORD '{PW}';\n", "x.sql")] == ["password"]
    # SQL without a user statement, and placeholders, are not passwords
    assert found("SELECT password FROM users WHERE password = 'x';\n", "q.sql") == []
    assert found("ALTER USER cim PASSWORD '${DB_PASSWORD}';\n", "x.sql") == []
