"""`auditor secrets scan|detectors` as a user runs them."""

from __future__ import annotations

import json
import random
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from auditor._cli import build_parser
from auditor._cli import secrets as secrets_cli
from tests.conftest import run_cli
from tests.secrets_corpus import nkey_seed, vault_token


def test_scan_reports_without_printing_secrets(tmp_path: Path) -> None:
    seed, token = nkey_seed(random.Random(1)), vault_token(random.Random(2))
    (tmp_path / "a.env").write_text(f"SEED={seed}\nVAULT_TOKEN={token}\n")
    (tmp_path / "clean.txt").write_text("nothing here\n")
    run = run_cli("secrets", "scan", ".", cwd=tmp_path)
    assert run.code == 1
    lines = run.out.splitlines()
    assert lines[0].startswith(f"a.env:1:6: nkey-seed [high] {seed[:4]}…(hmac:")
    assert lines[1].startswith("a.env:2:13: vault-token [high] hvs.…(hmac:")
    assert "2 finding(s) in 2 files" in run.out
    assert seed not in run.out + run.err and token not in run.out + run.err
    js = run_cli("secrets", "scan", ".", "--format", "json", cwd=tmp_path)
    doc = json.loads(js.out)
    assert [f["rule"] for f in doc["findings"]] == ["nkey-seed", "vault-token"]
    assert seed not in js.out and token not in js.out


def test_links_named_are_followed_and_links_in_folders_with_follow_links(tmp_path: Path) -> None:
    """NixOS links /etc into /nix/store: `auditor secrets scan /etc/cim/agent.env` (the link
    itself named) finds its secret, as does a named link to a folder; a folder holding links
    finds it with --follow-links, and without it says the links were skipped and how to follow
    them. Was: every link skipped, "0 finding(s)", exit 0."""
    seed = nkey_seed(random.Random(1))
    store = tmp_path / "nix/store/abc-cim"
    store.mkdir(parents=True)
    (store / "agent.env").write_text(f"SEED={seed}\n")
    (tmp_path / "etc/cim").mkdir(parents=True)
    (tmp_path / "etc/cim/agent.env").symlink_to(store / "agent.env")
    (tmp_path / "etc/static").symlink_to("../nix/store/abc-cim")
    for named in ("etc/cim/agent.env", "etc/static"):
        run = run_cli("secrets", "scan", named, cwd=tmp_path)
        assert run.code == 1 and run.out.startswith(f"{named.replace('static', 'static/agent.env')}:1:6: nkey-seed"), run.out
    plain = run_cli("secrets", "scan", "etc", cwd=tmp_path)
    assert plain.code == 0 and "skipped 2 symlink (--follow-links follows links in folders)" in plain.out
    run = run_cli("secrets", "scan", "etc", "--follow-links", "--format", "json", cwd=tmp_path)
    doc = json.loads(run.out)
    assert run.code == 1 and sorted(f["file"] for f in doc["findings"]) == ["etc/cim/agent.env", "etc/static/agent.env"]
    assert seed not in run.out + run.err


def test_baseline_round_trip(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("password: Hunter2-Hunter2\n")
    wrote = run_cli("secrets", "scan", ".", "--write-baseline", "base.json", cwd=tmp_path)
    assert wrote.code == 0 and "1 accepted findings" in wrote.out
    assert (tmp_path / "base.json").stat().st_mode & 0o777 == 0o644
    again = run_cli("secrets", "scan", "a.yaml", "--baseline", "base.json", cwd=tmp_path)
    assert again.code == 0 and "1 accepted" in again.out
    (tmp_path / "a.yaml").write_text("password: Hunter2-Hunter2\npasswd: Another-Secret-77\n")
    assert run_cli("secrets", "scan", "a.yaml", "--baseline", "base.json", cwd=tmp_path).code == 1


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    run = run_cli("secrets", "scan", "missing", cwd=tmp_path)
    assert run.code == 2 and run.err.strip() == "auditor: error: missing: no such file or folder"
    (tmp_path / "base.json").write_text("[]")
    bad = run_cli("secrets", "scan", ".", "--baseline", "base.json", cwd=tmp_path)
    assert bad.code == 2 and "not an auditor secrets baseline" in bad.err and "Traceback" not in bad.err


def test_detectors_list() -> None:
    run = run_cli("secrets", "detectors", "--format", "json")
    rows = json.loads(run.out)
    ids = {d["id"] for d in rows}
    assert {"nkey-seed", "nats-creds", "private-key", "age-identity", "vault-token", "sops-plaintext"} <= ids
    # what each is looked for as in base64 (a Kubernetes Secret's data, a file encoded whole)
    by_id = {d["id"]: d["base64"] for d in rows}
    assert "ghp_" in by_id["github-token"]["starts"] and "-----BEGIN" in by_id["private-key"]["words"]


def test_old_baselines_keep_working_and_are_migrated(tmp_path: Path) -> None:
    """Issue 14: fingerprints became HMACs; a baseline of the old form still matches, and
    `migrate-baseline` rewrites it."""
    import hashlib

    secret = "Hunter2-Hunter2"
    (tmp_path / "a.yaml").write_text(f"password: {secret}\n")
    old_fpr = "sha256:" + hashlib.sha256(b"password:" + secret.encode()).hexdigest()[:12]
    old = {"format": "auditor-secrets-baseline", "version": 1,
           "accepted": [{"rule": "password", "file": "a.yaml", "fingerprint": old_fpr},
                        {"rule": "password", "file": "gone.yaml", "fingerprint": "sha256:0123456789ab"}]}
    (tmp_path / "base.json").write_text(json.dumps(old))
    run = run_cli("secrets", "scan", ".", "--baseline", "base.json", "--exclude", "base.json", cwd=tmp_path)
    assert run.code == 0 and "1 accepted" in run.out and "migrate-baseline" in run.err
    mig = run_cli("secrets", "migrate-baseline", "base.json", ".", cwd=tmp_path)
    assert mig.code == 0 and "1 fingerprint(s) migrated, 1 old-form" in mig.out, mig.err
    doc = json.loads((tmp_path / "base.json").read_text())
    assert doc["version"] == 2 and len(doc["fingerprint_key"]) == 16
    fingerprints = sorted(e["fingerprint"] for e in doc["accepted"])
    assert fingerprints[0].startswith("hmac:") and fingerprints[1] == "sha256:0123456789ab"
    again = run_cli("secrets", "scan", "a.yaml", "--baseline", "base.json", cwd=tmp_path)
    assert again.code == 0 and "1 accepted" in again.out
    # a baseline written under another installation's key is refused, naming both key ids
    other = tmp_path / "other.key"
    other.write_text("ff" * 32 + "\n")
    other.chmod(0o600)
    refused = run_cli("secrets", "scan", "a.yaml", "--baseline", "base.json", cwd=tmp_path,
                      env={"AUDITOR_FINGERPRINT_KEY_FILE": str(other)})
    assert refused.code == 2 and "fingerprint key" in refused.err and "Traceback" not in refused.err


def test_fifo_and_unscanned_files_are_listed(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "scan.yaml").write_text("version: 1\nmax_file_bytes: 1000\n")
    run = run_cli("secrets", "scan", ".", "--config", "scan.yaml", cwd=tmp_path)
    assert run.code == 0 and "  never opened: pipe (fifo)" in run.out  # never opened: no change to the exit code
    (tmp_path / "big.txt").write_text("x" * 2000)
    run = run_cli("secrets", "scan", ".", "--config", "scan.yaml", cwd=tmp_path)
    assert "  never opened: pipe (fifo)" in run.out and "  not scanned: big.txt: 2000 bytes" in run.out
    # nothing found, but not everything read: "nothing found" would not be true (it exited 0)
    assert run.code == 3 and "big.txt: 2000 bytes, over the configured max_file_bytes: not scanned" in run.err


def test_key_command_names_the_file_not_the_key() -> None:
    import os

    run = run_cli("secrets", "key")
    path = os.environ["AUDITOR_FINGERPRINT_KEY_FILE"]
    assert run.code == 0 and run.out.splitlines()[0] == path
    assert Path(path).read_text().strip() not in run.out


def test_vendor_examples_are_reported_as_examples_not_leaks(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n")
    run = run_cli("secrets", "scan", ".", cwd=tmp_path)
    assert run.code == 0, run.out
    assert "README.md:1:21: aws-access-key [example]" in run.out and "0 finding(s)" in run.out
    assert "1 vendor example(s)" in run.out


_WORDS = ["--git", "--format", "json", "text", "yaml", "-o", "--output", "out.json", "--exclude", "*.txt", "--jobs",
          "-j", "2", "007", "x", "--engine", "auditor", "trufflehog3", "repo", "./repo/", "other", "-", "--",
          "--format=json", "--out", "", "-1", "--no-git-cache", "--help", "-ojson", "--config", "c.yml"]


_OPTIONS = st.lists(st.one_of(st.just(["--git"]), st.lists(st.sampled_from(_WORDS), min_size=2, max_size=2)),
                    max_size=5)
_STRUCTURED = st.tuples(_OPTIONS, st.sampled_from(_WORDS), st.integers(0, 5)).map(
    lambda t: [w for pair in t[0][:t[2]] for w in pair] + [t[1]] + [w for pair in t[0][t[2]:] for w in pair])


@settings(max_examples=3000)
@given(st.one_of(st.lists(st.sampled_from(_WORDS), max_size=9), _STRUCTURED))
@example(["repo", "--format", "yaml"])
@example(["--git", "./repo/", "-j", "007", "--engine", "trufflehog3", "--exclude", "x", "--exclude", "*.txt"])
@example(["x", "--output", "out.json", "--git", "--format", "text"])
def test_the_plain_form_means_what_the_parser_says(words: list[str]) -> None:
    """`secrets scan` in the plain form is answered from a kept report without the parser
    (auditor._cli.secrets.plain_args): whatever that form accepts, the parser accepts with the
    same options."""
    plain = secrets_cli.plain_args(words)
    if plain is None:
        return
    try:
        parsed = build_parser("secrets").parse_args(["secrets", "scan", *words])
    except SystemExit:  # a usage error
        raise AssertionError(f"the parser refuses {words}") from None
    assert {k: getattr(parsed, k) for k in vars(plain)} == vars(plain)


def test_the_plain_form_is_read_for_the_usual_command_lines() -> None:
    for words in (["repo", "--git"], ["--git", "repo", "--format", "json", "-o", "r.json"],
                  ["repo", "--git", "--exclude", "a", "--exclude", "b", "-j", "2", "--engine", "auditor"]):
        plain = secrets_cli.plain_args(words)
        assert plain is not None and plain.git
        assert vars(plain) == {k: getattr(v := build_parser("secrets").parse_args(["secrets", "scan", *words]), k)
                               for k in vars(plain)} and v.paths == [Path("repo")]
    for words in (["repo", "--git", "--format=json"], ["repo", "--git", "--form", "json"], ["repo", "other", "--git"],
                  ["repo", "--git", "-o", "-"], ["repo", "--git", "--format", "json", "--format", "text"]):
        assert secrets_cli.plain_args(words) is None


def test_a_secret_found_base64_encoded_is_marked_so(tmp_path: Path) -> None:
    import base64

    from tests.secrets_corpus import github_token

    encoded = base64.b64encode(github_token(random.Random(8)).encode()).decode()
    (tmp_path / "secret.yaml").write_text(f"kind: Secret\ndata:\n  GITHUB_TOKEN: {encoded}\n")
    run = run_cli("secrets", "scan", ".", cwd=tmp_path)
    assert run.code == 1, run.err
    assert "secret.yaml:3:17: github-token [high, base64-encoded] ghp_…" in run.out
