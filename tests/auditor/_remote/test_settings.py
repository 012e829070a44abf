"""The fleet's settings: a target's `ssh` and `agent` in the inventory (fuzzed), NATS URLs shown
without secrets, and the commands' usage errors (exit 2, one line, nothing started)."""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
import yaml
from hypothesis import assume, example, given
from hypothesis import strategies as st

from auditor._inventory.load import load_inventory
from auditor._remote.connection import NatsSettings
from auditor.errors import ConfigError
from tests.conftest import run_cli


def _load(tmp_path: Path, **target: object) -> object:
    doc = {"version": 1, "targets": [{"name": "n1", "environment": "e", "policies": ["cim-staging"], "sources": [],
                                      **target}]}
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_inventory(path).targets[0]


@pytest.mark.parametrize(("text", "user", "host", "port"), [
    ("auditor@cim-prod-002.example.com", "auditor", "cim-prod-002.example.com", 22),
    ("10.0.3.22:2222", None, "10.0.3.22", 2222),
    ("root@[::1]:2200", "root", "::1", 2200),
    ("[fe80::1]", None, "fe80::1", 22),
])
def test_ssh_destinations(tmp_path: Path, text: str, user: str | None, host: str, port: int) -> None:
    target = _load(tmp_path, ssh=text)
    spec = target.ssh  # type: ignore[attr-defined]
    assert (spec.user, spec.host, spec.port) == (user, host, port)
    assert target.root == Path("/")  # type: ignore[attr-defined]
    assert spec.known_hosts == Path("~/.ssh/known_hosts").expanduser()


def test_ssh_mapping_and_agent_paths(tmp_path: Path) -> None:
    target = _load(tmp_path, root="/srv/node", trust_anchors=["pki/root.pem"], ssh={
        "destination": "a@h:2", "identity_file": "keys/id", "known_hosts": "kh", "auditor": "/opt/auditor"},
        agent={"key": "k.pem", "certificate": "c.pem", "chain": ["i.pem"]})
    spec = target.ssh  # type: ignore[attr-defined]
    assert (spec.identity_file, spec.known_hosts, spec.command) == (tmp_path / "keys/id", tmp_path / "kh", "/opt/auditor")
    agent = target.agent  # type: ignore[attr-defined]
    assert (agent.key, agent.chain) == (Path("/srv/node/k.pem"), (Path("/srv/node/i.pem"),))
    assert target.evidence_anchors == (Path("/srv/node/pki/root.pem"),)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("ssh", "message"), [
    ("h:0", "port 0"), ("h:70000", "port 70000"), ("a b@h", "ssh"), ({"identity_file": "x"}, "destination"),
    ({"destination": "h", "password": "x"}, "ssh"),
])
def test_bad_ssh_settings_are_located_errors(tmp_path: Path, ssh: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, ssh=ssh)
    assert "inv.yaml" in caught.value.diagnostics() and message in caught.value.diagnostics()


def test_a_relative_root_cannot_be_remote(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="absolute path"):
        _load(tmp_path, ssh="h", root="rel")


@given(st.text(max_size=40))
def test_any_ssh_text_is_refused_or_parsed_to_a_valid_destination(text: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        try:
            target = _load(Path(folder), ssh=text)
        except ConfigError:
            return
    spec = target.ssh  # type: ignore[attr-defined]
    assert 0 < spec.port < 65536 and spec.host and "@" not in spec.host
    assert spec.destination.endswith(f":{spec.port}")


@given(st.text(alphabet=string.ascii_letters + string.digits + "-_~!$&'()*+,;=%", min_size=6, max_size=40))
@example("redact")  # in the text shown for any secret: no sign of a leak
@example("s3cret-value")
def test_urls_are_kept_and_shown_without_user_info(secret: str) -> None:
    for url, login in ((f"nats://user:{secret}@127.0.0.1:4222", ("user", "password")),
                       (f"tls://{secret}@h:1", (None, "token")), (f"nats://{secret}:{secret}@h", (None, "password"))):
        neutral = NatsSettings.make(url.replace(secret, "Q"))  # what is shown of any secret there
        assume(secret not in neutral.shown + repr(neutral))  # "redact" is in "<redacted>" whatever the secret
        settings = NatsSettings.make(url)
        assert secret not in settings.shown and secret not in repr(settings)
        assert all("@" not in server for server in settings.servers)
        options = settings.connect_options(reconnect=False)
        assert all("@" not in server for server in options["servers"])
        assert login[1] in options and (login[0] is None or options["user"] == login[0])
    assert NatsSettings.make("nats://u:p@[::1]:4222").shown == "nats://[::1]:4222"
    with pytest.raises(ConfigError, match="different users or passwords"):
        NatsSettings.make("nats://a:1@h1,nats://a:2@h2")


def test_nats_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a NATS URL"):
        NatsSettings.make("http://h:4222")
    with pytest.raises(ConfigError, match="not a NATS URL"):
        NatsSettings.make("nats://")
    settings = NatsSettings.make("nats://a:pw-1@h1:4222, tls://h2:4443")
    assert settings.shown == "nats://h1:4222,tls://h2:4443" and settings.uses_tls


def test_usage_errors_start_nothing(tmp_path: Path) -> None:
    none = run_cli("agent", "--target", "cim-prod-001", "--nats", "nats://127.0.0.1:1", cwd=tmp_path)
    assert none.code == 2 and "no inventory" in none.err and "--demo" in none.err
    unknown = run_cli("agent", "--target", "nope", "--nats", "nats://127.0.0.1:1", "--demo")
    assert unknown.code == 2 and "unknown target 'nope'" in unknown.err
    half = run_cli("agent", "--target", "cim-prod-001", "--nats", "nats://127.0.0.1:1", "--demo", "--key", "k.pem")
    assert half.code == 2 and "both --key and --cert" in half.err
    zero = run_cli("worker", "--nats", "nats://127.0.0.1:1", "--demo", "--concurrency", "0")
    assert zero.code == 2 and "--concurrency" in zero.err
    wait = run_cli("fleet", "collect", "--target", "cim-prod-001", "--nats", "nats://127.0.0.1:1", "--wait", "-1")
    assert wait.code == 2 and "--wait" in wait.err
    bad = run_cli("fleet", "collect", "--target", "Bad Name", "--nats", "nats://127.0.0.1:1")
    assert bad.code == 2 and "not a target name" in bad.err
    for run in (none, unknown, half, zero, wait, bad):
        assert "Traceback" not in run.err and len(run.err.strip().splitlines()) == 1


def test_fleet_collect_without_an_agent_exits_3(tmp_path: Path) -> None:
    from tests.auditor._remote.fleetlab import start_nats

    nats = start_nats(tmp_path)
    try:
        run = run_cli("fleet", "collect", "--target", "cim-prod-001", "--nats", nats.url, "--format", "json")
    finally:
        nats.stop()
    assert run.code == 3, run.err
    doc = json.loads(run.out)
    assert doc["targets"][0]["note"] == "no agent answers for this target"
