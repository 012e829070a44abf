"""Peers' own rule samples, read from snapshots of their repositories (never copied into ours).

- Kingfisher (mongodb/kingfisher, Apache-2.0): `data/rules/*.yml`, each rule's `examples`
  (true positives).
- gitleaks (gitleaks/gitleaks, MIT): `cmd/generate/config/rules/*.go`, each rule function's
  `tps` (true positives) and `fps` (false positives), the samples gitleaks' generator enforces.
  Go string literals, their concatenations, `utils.GenerateSampleSecrets(id, secret)` (expanded
  into the syntaxes gitleaks' `utils/generate.go` lists) and generated secrets
  (`secrets.NewSecret("[A-Z2-7]{16}")`, `utils.AlphaNumeric("20")`, ...) with a fixed seed are
  read; any other expression is skipped.

Only the families auditor claims are taken (`FAMILIES`). The repositories are read with
`git show` from a snapshot's git directory (`$AUDITOR_PEER_MIRRORS/<owner>+<name>/repo`).
"""

from __future__ import annotations

import json
import random
import re
import string
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

# family -> (Kingfisher rule files, gitleaks rule files, gitleaks rule ids)
FAMILIES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "aws": (("aws.yml",), ("aws.go",), ("aws-access-token",)),
    "github": (("github.yml",), ("github.go",), ("github-pat", "github-oauth", "github-app-token",
                                                 "github-refresh-token", "github-fine-grained-pat")),
    "gitlab": (("gitlab.yml",), ("gitlab.go",), ("gitlab-pat",)),
    "slack": (("slack.yml",), ("slack.go",), ("slack-bot-token", "slack-user-token", "slack-app-token",
                                              "slack-config-access-token", "slack-config-refresh-token",
                                              "slack-legacy-bot-token", "slack-legacy-workspace-token",
                                              "slack-legacy-token", "slack-webhook-url")),
    "stripe": (("stripe.yml",), ("stripe.go",), ("stripe-access-token",)),
    "google-api-key": ((), ("gcp.go",), ("gcp-api-key",)),  # Kingfisher's google.yml: OAuth client ids
    "openai": (("openai.yml",), ("openai.go",), ("openai-api-key",)),
    "anthropic": (("anthropic.yml",), ("anthropic.go",), ("anthropic-api-key", "anthropic-admin-api-key")),
    "npm": (("npm.yml",), ("npm.go",), ("npm-access-token",)),
    "pypi": (("pypi.yml",), ("pypi.go",), ("pypi-upload-token",)),
    "sendgrid": (("sendgrid.yml",), ("sendgrid.go",), ("sendgrid-api-token",)),
    "digitalocean": (("digitalocean.yml",), ("digitalocean.go",), ("digitalocean-pat", "digitalocean-access-token",
                                                                   "digitalocean-refresh-token")),
    "tailscale": (("tailscale.yml",), (), ()),
    "azure-storage": (("azurestorage.yml",), (), ()),
    "jwt": (("jwt.yml",), ("jwt.go",), ("jwt",)),
    "private-key": (("pem.yml", "privkey.yml"), ("privatekey.go",), ("private-key",)),
    "vault": ((), ("hashicorp_vault.go",), ("vault-service-token", "vault-batch-token")),
    "age": (("age.yml",), ("age.go",), ("age-secret-key",)),
    "generic-password": (("generic.yml", "credentials.yml"), ("generic.go",), ("generic-api-key",)),
    "url-credential": (("uri.yml", "postgres.yml", "mysql.yaml"), (), ()),
    "curl": ((), ("curl.go",), ("curl-auth-user", "curl-auth-header")),
}

# gitleaks' GenerateSampleSecrets syntaxes (gitleaks/gitleaks cmd/generate/config/utils/generate.go, MIT)
SAMPLE_SYNTAXES = (
    '{i}Token="{s}"', '{i}Token = "{s}"', "{i}Token={s}", "{i}Token = {s}",
    '{{\n    "{i}_token": "{s}"\n}}', '\\{{\n    \\"{i}_token\\": \\"{s}\\"\n\\}}',
    "<{i}Token>{s}</{i}Token>", "<{i}Token>\n    {s}\n</{i}Token>",
    "{i}_token: {s}", "{i}_token: '{s}'", '{i}_token: "{s}"', "{i}_token: |\n  {s}", "{i}_token: >\n  {s}",
    'string {i}Token = "{s}";', 'var {i}Token string = "{s}"', '{i}Token := "{s}"', "{i}Token := `{s}`",
    'String {i}Token = "{s}";', 'var {i}Token = "{s}"', '${i}Token .= "{s}"', "{i}Token = '{s}'",
    '{i}Token = "{s}"', "{i}Token,{s},", '  "{i}Token" => "{s}"',
    '{i}_TOKEN = "{s}"', '{i}_TOKEN := "{s}"', '{i}_TOKEN ::= "{s}"', '{i}_TOKEN :::= "{s}"',
    '{i}_TOKEN ?= "{s}"', '{i}_TOKEN += "{s}"',
)


@dataclass(frozen=True)
class Sample:
    family: str
    source: str
    """peer:file:rule, the provenance."""
    text: str
    positive: bool


def _show(git_dir: Path, path: str) -> str:
    proc = subprocess.run(["git", "--git-dir", str(git_dir), "show", f"HEAD:{path}"], capture_output=True, check=False)
    return proc.stdout.decode("utf-8", "replace") if proc.returncode == 0 else ""


def kingfisher_samples(git_dir: Path) -> list[Sample]:
    out = []
    for family, (files, _, _) in FAMILIES.items():
        for name in files:
            text = _show(git_dir, f"data/rules/{name}")
            if not text:
                continue
            for rule in (yaml.safe_load(text) or {}).get("rules") or []:
                for example in rule.get("examples") or []:
                    if not str(example).strip():
                        continue
                    out.append(Sample(family, f"kingfisher:{name}:{rule.get('id')}", str(example), True))
    return out


# ------------------------------------------------------------------ gitleaks' Go samples

_LITERAL = re.compile(r'`[^`]*`|"(?:[^"\\\n]|\\.)*"')


def _go_string(lit: str) -> str:
    return lit[1:-1] if lit.startswith("`") else json.loads(lit.replace("\\'", "'"))


def _generate(regex: str, rng: random.Random) -> str | None:
    """A string matching a simple regex: literals and `[class]{n}` / `{n,m}` runs only."""
    out = []
    pos = 0
    while pos < len(regex):
        if regex[pos] == "[":
            end = regex.index("]", pos + 1)
            body = regex[pos + 1:end]
            chars: list[str] = []
            i = 0
            while i < len(body):
                if body[i] == "\\" and i + 1 < len(body):
                    chars.extend({"w": string.ascii_letters + string.digits + "_", "d": string.digits}.get(
                        body[i + 1], body[i + 1]))
                    i += 2
                elif i + 2 < len(body) and body[i + 1] == "-":
                    chars.extend(chr(c) for c in range(ord(body[i]), ord(body[i + 2]) + 1))
                    i += 3
                else:
                    chars.append(body[i].replace("\\", ""))
                    i += 1
            pos = end + 1
            m = re.match(r"\{(\d+)(?:,(\d+))?\}", regex[pos:])
            n = 1
            if m:
                n = rng.randint(int(m.group(1)), int(m.group(2) or m.group(1)))
                pos += m.end()
            out.append("".join(rng.choice([c for c in chars if c]) for _ in range(n)))
        elif regex[pos] in "()|*+?\\^$.{":
            return None
        else:
            out.append(regex[pos])
            pos += 1
    return "".join(out)


_CLASSES = {"AlphaNumeric": "[a-zA-Z0-9]", "Hex": "[a-f0-9]", "Numeric": "[0-9]", "AlphaNumericExtendedShort":
            "[a-zA-Z0-9_-]", "AlphaNumericExtended": "[a-zA-Z0-9=_-]", "AlphaNumericExtendedLong": "[a-zA-Z0-9/+=_-]"}


def _split_top(expr: str, sep: str) -> list[str]:
    """Split at `sep` outside brackets and string literals."""
    parts, depth, cur, i = [], 0, [], 0
    while i < len(expr):
        m = _LITERAL.match(expr, i) if expr[i] in "`\"" else None
        if m:
            cur.append(m.group(0))
            i = m.end()
            continue
        ch = expr[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def _value(expr: str, rng: random.Random) -> str | None:
    """A Go string expression: literals, generated secrets and their concatenation."""
    pieces = []
    for part in _split_top(expr, "+"):
        part = re.sub(r"//.*$", "", part, flags=re.MULTILINE).strip()
        if _LITERAL.fullmatch(part):
            pieces.append(_go_string(part))
            continue
        m = re.fullmatch(r"secrets\.NewSecret\((.*)\)", part, re.DOTALL)
        if m:
            inner = _value(m.group(1), rng)
            gen = _generate(inner, rng) if inner is not None else None
            if gen is None:
                return None
            pieces.append(gen)
            continue
        m = re.fullmatch(r"utils\.(\w+)\(\"(\d+)\"\)", part)
        if m and m.group(1) in _CLASSES:
            gen = _generate(_CLASSES[m.group(1)] + "{" + m.group(2) + "}", rng)
            if gen is None:
                return None
            pieces.append(gen)
            continue
        return None
    return "".join(pieces)


def _elements(expr: str, rng: random.Random) -> list[str]:
    """The samples an expression adds: a []string{...} literal, append(x, ...), GenerateSampleSecrets(...)."""
    expr = expr.strip().removesuffix("...").strip()
    m = re.fullmatch(r"\[\]string\{(.*)\}", expr, re.DOTALL)
    if m:
        return [v for e in _split_top(m.group(1), ",") for v in _elements(e, rng)]
    m = re.fullmatch(r"append\((.*)\)", expr, re.DOTALL)
    if m:
        args = _split_top(m.group(1), ",")
        return [v for e in args[1:] for v in _elements(e, rng)] + (
            _elements(args[0], rng) if not re.fullmatch(r"\w+", args[0]) else [])
    m = re.fullmatch(r"utils\.GenerateSampleSecrets?\((.*)\)", expr, re.DOTALL)
    if m:
        args = _split_top(m.group(1), ",")
        ident, secret = (_value(a, rng) for a in args[:2]) if len(args) >= 2 else (None, None)
        if ident is None or secret is None:
            return []
        if expr.startswith("utils.GenerateSampleSecret("):
            return [f'{ident}_api_token = "{secret}"']
        return [s.format(i=ident, s=secret) for s in SAMPLE_SYNTAXES]
    value = _value(re.sub(r"//[^\n`\"]*$", "", expr), rng)
    return [value] if value is not None else []


def _assignments(body: str) -> list[tuple[str, str]]:
    """(tps|fps, expression) for each `tps := ...`, `tps = ...`, `r.TPs = ...`, `fps := ...`."""
    out = []
    for m in re.finditer(r"\b(tps|fps|r\.TPs|r\.FPs)\s*:?=\s*", body):
        kind = "tps" if "t" in m.group(1).lower()[:3] and "tp" in m.group(1).lower() else "fps"
        i, depth = m.end(), 0
        while i < len(body):
            lit = _LITERAL.match(body, i) if body[i] in "`\"" else None
            if lit:
                i = lit.end()
                continue
            if body[i] in "([{":
                depth += 1
            elif body[i] in ")]}":
                depth -= 1
            elif body[i] == "\n" and depth == 0:
                break
            i += 1
        expr = body[m.end():i]
        expr = re.sub(r"([)}\]])\s*//[^\n]*$", r"\1", expr.rstrip())  # a trailing comment
        out.append((kind, expr))
    return out


def gitleaks_samples(git_dir: Path, seed: int = 1) -> list[Sample]:
    rng = random.Random(seed)
    out = []
    for family, (_, files, rule_ids) in FAMILIES.items():
        for name in files:
            text = _show(git_dir, f"cmd/generate/config/rules/{name}")
            for func in re.split(r"\nfunc ", text)[1:]:
                rid = re.search(r'RuleID:\s*"([^"]+)"', func)
                if rid is None or rid.group(1) not in rule_ids:
                    continue
                for kind, expr in _assignments(func):
                    for value in _elements(expr, rng):
                        if not value.strip(" \t\n,"):
                            continue
                        out.append(Sample(family, f"gitleaks:{name}:{rid.group(1)}", value, kind == "tps"))
    return out


def all_samples(mirrors: Path) -> list[Sample]:
    samples: list[Sample] = []
    kingfisher = mirrors / "mongodb+kingfisher" / "repo"
    gitleaks = mirrors / "gitleaks+gitleaks" / "repo"
    if kingfisher.is_dir():
        samples += kingfisher_samples(kingfisher)
    if gitleaks.is_dir():
        samples += gitleaks_samples(gitleaks)
    return samples


__all__ = ["FAMILIES", "Sample", "all_samples"]
