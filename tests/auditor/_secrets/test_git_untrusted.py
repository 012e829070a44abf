"""A scanned repository is untrusted input: its `.git/config` may name programs git runs while
the history is read (a node's /etc kept by etckeeper, scanned with `git: true`). Before, a
repository's fsmonitor hook, signature checker or content filter ran on the auditor's machine
during `auditor secrets scan --git`; now none does, and the history is read as before."""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

import pytest

from auditor._secrets import prepare
from auditor._secrets.engines import run_engines
from auditor._secrets.gitrepo import untrusted_env
from tests.auditor._secrets.test_run import _commit, git
from tests.secrets_corpus import github_token


def _program(tmp_path: Path) -> tuple[Path, Path]:
    """A program that notes each run of it in a file (and fails, as a refusing hook would)."""
    ran = tmp_path / "ran.txt"
    program = tmp_path / "program"
    program.write_text(f"#!/bin/sh\necho \"$@\" >> {ran}\nexit 1\n")
    program.chmod(0o755)
    return program, ran


def _signed_head(repo: Path) -> None:
    """HEAD made a commit with a (bogus) signature, as `git commit -S` leaves one: what `git log`
    hands to gpg.program when log.showSignature is set."""
    body = subprocess.run(["git", "-C", str(repo), "cat-file", "commit", "HEAD"], check=True,
                          capture_output=True).stdout
    head, _, message = body.partition(b"\n\n")
    signature = b"gpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEzBAABCAAdFiEE\n -----END PGP SIGNATURE-----\n"
    sha = subprocess.run(["git", "-C", str(repo), "hash-object", "-t", "commit", "-w", "--stdin"], check=True,
                         capture_output=True, input=head + b"\n" + signature + b"\n" + message).stdout.decode().strip()
    git(repo, "update-ref", "HEAD", sha)


def _fsmonitor(repo: Path, program: Path) -> None:
    git(repo, "config", "core.fsmonitor", str(program))


def _signature_checker(repo: Path, program: Path) -> None:
    _signed_head(repo)
    git(repo, "config", "log.showSignature", "true")
    git(repo, "config", "gpg.program", str(program))


def _content_filter(repo: Path, program: Path) -> None:
    """A filter an untracked .gitattributes applies; the files' times changed, so that git
    compares their contents with their blobs (through the filter)."""
    git(repo, "config", "filter.lfs2.clean", f"{program} %f")
    (repo / ".git" / "info" / "attributes").unlink(missing_ok=True)
    (repo / ".gitattributes").write_text("* filter=lfs2\n")
    for name in ("deploy.env", "notes.txt"):
        os.utime(repo / name, (1_000_000_000, 1_000_000_000))


@pytest.mark.parametrize("setting", [_fsmonitor, _signature_checker, _content_filter])
def test_no_program_a_scanned_repository_names_is_run(tmp_path: Path, setting: object) -> None:
    program, ran = _program(tmp_path)
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    token = github_token(random.Random(11))
    (repo / "deploy.env").write_text(f"GH_TOKEN={token}\n")
    (repo / "notes.txt").write_text("nothing here\n")
    _commit(repo, "add")
    setting(repo, program)  # type: ignore[operator]
    found = []
    for _ in range(2):  # the first run, then one with the history cache
        report = run_engines(["auditor"], prepare([repo], base=tmp_path, git=True))
        found.append(sorted((x.rule, x.path, bool(x.commit)) for x in report.leaks))
    assert not ran.exists(), ran.read_text()
    expected = [("github-token", "deploy.env", True), ("github-token", "repo/deploy.env", False)]
    assert found == [expected, expected]


def test_a_program_that_runs_git_itself_gets_the_same_settings(tmp_path: Path) -> None:
    """trufflehog3 runs git itself: the environment it is given overrides the repository's own
    settings, as the command line of our own git runs does."""
    program, _ = _program(tmp_path)
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    _fsmonitor(repo, program)
    git(repo, "config", "log.showSignature", "true")

    def setting(name: str, env: dict[str, str]) -> str:
        return subprocess.run(["git", "-C", str(repo), "config", name], check=True, capture_output=True, text=True,
                              env=env).stdout.strip()

    env = {**os.environ, **untrusted_env()}
    assert (setting("core.fsmonitor", dict(os.environ)), setting("log.showSignature", dict(os.environ))) == \
        (str(program), "true")
    assert (setting("core.fsmonitor", env), setting("log.showSignature", env)) == ("false", "false")
