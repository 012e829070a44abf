"""How much auditor reads: the limits on its inputs, in one place, raised through the environment.

auditor reads what attackers may have written (files on a compromised node, manifests from a
pull request, bundles from elsewhere), so every input has a bound checked before it is parsed:
past one, the input is refused with one line naming the limit and how to raise it (or, for a
source being collected, an error finding that says the same). Each limit is raised (or lowered)
with its environment variable, `AUDITOR_LIMIT_<NAME>` (e.g. `AUDITOR_LIMIT_BUNDLE_BYTES=1GiB`);
sizes take the suffixes KiB, MiB, GiB (or K, M, G, powers of 1024). The table in
docs/limits.md is generated from :data:`LIMITS` (tests check it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from auditor.errors import ConfigError

Unit = Literal["bytes", "count"]


@dataclass(frozen=True)
class Limit:
    """One limit: its name (as errors and docs spell it), default and what it bounds."""

    name: str
    default: int
    unit: Unit
    bounds: str

    @property
    def env(self) -> str:
        """The environment variable that sets it."""
        return "AUDITOR_LIMIT_" + self.name.upper().replace("-", "_")

    def show(self, value: int) -> str:
        return size_text(value) if self.unit == "bytes" else f"{value:,}"

    def env_value(self, value: int) -> str:
        """`value` as its environment variable would be set: 512MiB, 200000."""
        text = size_text(value)
        return text.replace(" ", "") if self.unit == "bytes" and not text.endswith("bytes") else str(value)

    def how_to_raise(self, value: int) -> str:
        """E.g. 'raise it with AUDITOR_LIMIT_JSON_DEPTH=200': the variable, twice `value`."""
        return f"raise it with {self.env}={self.env_value(2 * value)}"


LIMITS: tuple[Limit, ...] = (
    Limit("file-bytes", 32 << 20, "bytes",
          "one file read as evidence or configuration (nats.conf and each include, certificates, "
          ".creds, sops and .env files, manifests, keys, logs); and a packed git blob over 8 MiB, "
          "held in memory to be unpacked by the history scan (a larger one is reported as not "
          "scanned whole)"),
    Limit("yaml-bytes", 16 << 20, "bytes",
          "one YAML file (inventory, rules, packs, checklists, allowed signers, manifests, sops YAML)"),
    Limit("yaml-values", 200_000, "count",
          "the values one YAML document may hold once its aliases are expanded (alias bombs)"),
    Limit("bundle-bytes", 256 << 20, "bytes", "an evidence bundle (`auditor evaluate`, `verify --bundle`)"),
    Limit("result-bytes", 256 << 20, "bytes",
          "a findings document (`report`, `signoff`, `verify`, and each one the scan history holds)"),
    Limit("json-values", 5_000_000, "count",
          "the arrays, objects and array or object members of one JSON document (each costs memory "
          "far beyond its bytes), counted before it is parsed"),
    Limit("json-depth", 100, "count", "how deeply the arrays and objects of a JSON document may nest"),
    Limit("integer-digits", 100, "count", "the digits of one integer in a JSON document"),
    Limit("pem-certificates", 1_000, "count",
          "the certificates (PEM blocks, or those of a PKCS#7 chain or PKCS#12 file) in one file; a public CA "
          "bundle holds about 150, and 10,000 cost "
          "about 20 s and 900 MB"),
    Limit("nats-users", 100_000, "count",
          "the users (and nkeys) in one nats.conf, includes counted (a scan holds about 8 KB per user "
          "at its peak: 100,000 users stay under 1 GB)"),
    Limit("gunzip-bytes", 1 << 30, "bytes",
          "what the leak scan reads of the packed content of one file or git blob, every level "
          "together: a gzip, xz, bzip2 or zstd file's content (a rotated log `*.log.1.gz`, a `.tar.gz`), a "
          "zip archive's members, the compressed members of a tar, and what each of them packs in "
          "turn; past it the file is reported as not scanned whole, and the secrets rules are not "
          "decided"),
    Limit("archive-depth", 5, "count",
          "how many levels of packing the leak scan unpacks in one file (a rotated log in a zip in a "
          "`.tar.gz`: three); packing nested deeper is not unpacked (a zip that holds itself would "
          "never end), the file is reported as not scanned whole, and the secrets rules are not "
          "decided; at most 100 whatever it is set to"),
    Limit("secret-findings", 10_000, "count",
          "the findings one leak scan keeps (`secrets scan`, each path of a secrets source): each "
          "secret once per file (repeats are counted in it), and past the limit the rest of that file and "
          "the files after it are reported as not scanned whole, and the secrets rules are not decided "
          "(`auditor scan` holds about 18 KB per finding: 300,000 took 5.6 GB)"),
)
"""Every limit, with its default."""

BY_NAME: Mapping[str, Limit] = {limit.name: limit for limit in LIMITS}

_SUFFIXES = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_VALUE = re.compile(r"\s*([0-9][0-9_,]*)\s*([kmgt]?)(?:i?b)?\s*", re.IGNORECASE)


def size_text(n: int) -> str:
    """1048576 -> '1 MiB'; 1500 -> '1500 bytes'; 1610612736 -> '1536 MiB'."""
    for suffix, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {suffix}"
    return f"{n} bytes"


def parse_value(limit: Limit, text: str) -> int:
    """The number in `text` ("64MiB", "100000", "1G"); ConfigError naming the variable otherwise."""
    m = _VALUE.fullmatch(text)
    if m is None or (m.group(2) and limit.unit != "bytes"):
        raise ConfigError(
            f"{limit.env}={text!r} is not a " + ("size (e.g. 64MiB)" if limit.unit == "bytes" else "whole number")
        )
    value = int(m.group(1).replace("_", "").replace(",", "")) * _SUFFIXES[m.group(2).lower()]
    if value < 1:
        raise ConfigError(f"{limit.env} must be at least 1")
    return value


@dataclass(frozen=True)
class Limits:
    """The limits in force. `Limits()` holds the defaults; :func:`current` those of the environment."""

    file_bytes: int = BY_NAME["file-bytes"].default
    yaml_bytes: int = BY_NAME["yaml-bytes"].default
    yaml_values: int = BY_NAME["yaml-values"].default
    bundle_bytes: int = BY_NAME["bundle-bytes"].default
    result_bytes: int = BY_NAME["result-bytes"].default
    json_values: int = BY_NAME["json-values"].default
    json_depth: int = BY_NAME["json-depth"].default
    integer_digits: int = BY_NAME["integer-digits"].default
    pem_certificates: int = BY_NAME["pem-certificates"].default
    nats_users: int = BY_NAME["nats-users"].default
    gunzip_bytes: int = BY_NAME["gunzip-bytes"].default
    archive_depth: int = BY_NAME["archive-depth"].default
    secret_findings: int = BY_NAME["secret-findings"].default

    def get(self, name: str) -> int:
        value: int = getattr(self, name.replace("-", "_"))
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Limits:
        """The defaults, overridden by the AUDITOR_LIMIT_* variables set in `environ`."""
        given = {
            limit.name.replace("-", "_"): parse_value(limit, environ[limit.env])
            for limit in LIMITS
            if environ.get(limit.env, "").strip()
        }
        return cls(**given)


_cache: tuple[tuple[str | None, ...], Limits] | None = None
_ENVS = tuple(limit.env for limit in LIMITS)
"""The variables that set the limits (read each time the limits are asked for)."""


def current() -> Limits:
    """The limits in force: the defaults and this process's AUDITOR_LIMIT_* variables."""
    global _cache
    key = tuple(map(os.environ.get, _ENVS))
    if _cache is None or _cache[0] != key:
        _cache = (key, Limits.from_env(os.environ))
    return _cache[1]


def get(name: str) -> int:
    """The value in force of the limit `name` (e.g. "bundle-bytes")."""
    return current().get(name)


def exceeded(name: str, what: str) -> str:
    """The words for `what` going past the limit `name`: which limit, its value and how to raise
    it, e.g. 'nested too deep: over the json-depth limit of 100 (raise it with
    AUDITOR_LIMIT_JSON_DEPTH=200)'."""
    limit = BY_NAME[name]
    value = current().get(name)
    return f"{what}: over the {name} limit of {limit.show(value)} ({limit.how_to_raise(value)})"


def document() -> str:
    """docs/limits.md: every limit, its default and its variable (tests check the file)."""
    rows = "\n".join(
        f"| `{limit.name}` | {limit.show(limit.default)} | `{limit.env}` | {limit.bounds} |" for limit in LIMITS
    )
    return f"""# Limits

auditor reads what attackers may have written (files on a compromised node, manifests from a
pull request, bundles from elsewhere), so every input has a bound, checked before it is parsed.
Past a limit the input is refused with one line naming the limit and how to raise it (exit 2),
or, for a source being collected, the source's finding is an error saying the same; nothing is
truncated silently. Only regular files are opened: a FIFO, socket or device is refused (or, in a
scanned folder, listed as skipped) without being opened, so nothing blocks.

Each limit is set through the environment, e.g. `AUDITOR_LIMIT_BUNDLE_BYTES=1GiB`; sizes take
the suffixes KiB, MiB, GiB (or K, M, G: powers of 1024).

| limit | default | variable | what it bounds |
|---|---|---|---|
{rows}

This page is generated: `python -m auditor._limits > docs/limits.md`.

## Hostile input

- **No internal error.** Every parser of outside input (JSON, YAML, inventories, findings
  documents, bundles, nats.conf, .creds, PEM, CRLs, CSRs, key files, the pki log, pki profiles,
  the ACME policy and request JWS, sops files and .sops.yaml, manifests, secrets, secrets rules,
  configurations and baselines, rules, sign-off statements and allowed signers, cron schedules,
  the host's files) is fuzzed in the suite with random bytes and mutations of
  the demo's own files (`tests/auditor/test_fuzz.py`, 60 inputs per parser); a longer run,
  printing the count of inputs tried per parser:
  `AUDITOR_FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest tests/auditor/test_fuzz.py -q -s | grep '^fuzz'`.
- **Only regular files, every read bounded.** Files are read through one reader
  (`pki.fsutil.read_regular`, wrapped with these limits by `auditor._fsutil.read_user_bytes`);
  the CA's own files (ca.json, CA certificates, CRLs it signs) are read up to 16 MiB. A test
  (`tests/test_reads.py`) scans the source for any other read and fails unless it is listed
  with the reason it is safe.
- **Terminal output.** Control characters from any input (a Pod named `p\\x1b[2K\\rFAKE`, a
  NATS user, a file name) are shown escaped (`\\x1b`) in terminal and text output, and in
  every warning, error and log line on stderr, through one function (`printable`, defined in
  `pki.terminal` since pki never imports auditor, and re-exported by `auditor._terminal`,
  whose `warn` and log handler are the only writers to stderr); file names that are not UTF-8
  show their bytes as `\\xNN`.
- **No input hides a failure.** A file that exists and cannot be read, or not whole (a FIFO, a
  folder, over its limit, a sops file sops would refuse, a /proc/net table, an sshd Include or a
  unit's drop-in), is an error for the rules that read it, beside what the other files show;
  it is never judged as absent, nor are the rest judged as if whole. A finding keeps its id when
  lines are added above it, a copy of its object is added after it, or the inventory reaches
  its file by another or a second path (then each problem is still one finding). Tested on
  copies of the demo with one file or one inventory line changed
  (`tests/auditor/test_verdicts.py`).
- **Boundaries.** A scan reads nats.conf includes only from inside the target's root;
  `auditor nats can|permissions` only from inside the config's folder (or `--root DIR`).
  `auditor history` never creates a history and opens only an auditor history; files and
  folders auditor creates are 0600/0700 whatever the umask (see [history](history.md)).
- **Exit codes.** `rules validate` of a folder without rules exits 2; `secrets scan` exits 3
  when a file could not be read, or not whole (see [exit codes](exit-codes.md)).
"""


if __name__ == "__main__":
    print(document(), end="")
