"""The sshd_config model against the real `sshd -T` (Debian openssh-server) on generated files.

The real binary decides what a configuration means: for every generated configuration (with
Include files and Match blocks, valid and invalid values) the model must accept exactly what
sshd accepts and compute the same effective settings, without a connection and for sample
connections (`sshd -T -C`).
"""

from __future__ import annotations

import grp
import pwd
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from auditor._host.sshd import (
    KEYWORDS,
    MODELLED,
    Connection,
    SshdConfig,
    assemble,
    convtime,
    parse_sshd_config,
    parse_sshd_t,
    split_args,
)
from auditor._host.system import HostFiles
from tests.auditor._host import sshd_oracle

VALUES: dict[str, Sequence[str]] = {
    "PasswordAuthentication": ["yes", "no", "NO", "maybe"],
    "KbdInteractiveAuthentication": ["yes", "no"],
    "ChallengeResponseAuthentication": ["no", "yes"],
    "PubkeyAuthentication": ["yes", "no"],
    "PermitEmptyPasswords": ["no", "yes"],
    "UsePAM": ["yes", "no"],
    "X11Forwarding": ["yes", "no"],
    "PermitRootLogin": ["yes", "no", "prohibit-password", "without-password", "forced-commands-only", "never"],
    "AllowTcpForwarding": ["yes", "all", "no", "local", "remote"],
    "GatewayPorts": ["no", "clientspecified", "yes"],
    "IgnoreRhosts": ["yes", "shosts-only", "no"],
    "MaxAuthTries": ["3", "6", "0", "-1", "x"],
    "ClientAliveCountMax": ["0", "3"],
    "LoginGraceTime": ["0", "30", "2m", "1h30m", "10x"],
    "ClientAliveInterval": ["300", "5m", "0"],
    "LogLevel": ["info", "VERBOSE", "debug", "debug3", "loud"],
    "Ciphers": ["aes256-gcm@openssh.com,chacha20-poly1305@openssh.com", "+aes128-cbc", "-aes*-ctr",
                "^aes256-ctr,aes128-cbc", "aes*", "blowfish-cbc"],
    "MACs": ["hmac-sha2-512-etm@openssh.com", "+hmac-md5", "-*sha1*", "^hmac-sha2-512"],
    "KexAlgorithms": ["curve25519-sha256", "+diffie-hellman-group1-sha1", "-ecdh-*", "^diffie-hellman-group14-sha1"],
    "HostKeyAlgorithms": ["ssh-ed25519", "+ssh-rsa", "-ssh-rsa*,rsa-sha2-256", "ssh-ed25519*,ecdsa-*"],
    "PubkeyAcceptedAlgorithms": ["ssh-ed25519", "+ssh-rsa,ssh-dss", "-ssh-rsa*,rsa-sha2-256", "^ssh-dss",
                                 "rsa-sha2-512,!ssh-rsa", "bogus"],
    "PubkeyAcceptedKeyTypes": ["+ssh-rsa"],
    "CASignatureAlgorithms": ["ssh-ed25519", "+ssh-rsa"],
    "AuthorizedKeysFile": [".ssh/authorized_keys", "/etc/ssh/authorized_keys/%u", ".ssh/a .ssh/b", "none"],
    "AuthenticationMethods": ["publickey", "publickey,password publickey,keyboard-interactive", "any",
                              "publickey any", "magic"],
    "AllowUsers": ["alice", "alice bob", "*@10.0.0.0/8", "x@10.0.0.1/8"],
    "DenyUsers": ["mallory"],
    "AllowGroups": ["wheel admins"],
    "DenyGroups": ["nogroup"],
    "Port": ["22", "2222", "ssh", "0"],
    "Banner": ["none", "/etc/issue.net"],
    "Frobnicate": ["yes"],
}
MATCHES = ["All", "User alice", "User bob,root", "User !bob,*", "Group root", "Host *.example.com",
           "Address 10.0.0.0/8", "Address 10.0.0.1/8", "Address 2001:db8::/32,!192.0.2.9", "LocalPort 22",
           "User alice Address 10.0.0.0/8", "Foo bar", "All User x"]
CONNECTIONS = [
    None,
    Connection(user="alice", host="a.example.com", address="10.1.2.3", laddress="10.0.0.1", lport=2222),
    Connection(user="root", host="b.test", address="192.0.2.9", laddress="10.0.0.1", lport=22),
    Connection(user="bob", host="c.example.com", address="2001:db8::5", laddress="2001:db8::1", lport=22),
]


def groups_of(user: str) -> list[str]:
    """The user's groups on this machine (sshd asks the same name service)."""
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        return []
    return [g.gr_name for g in grp.getgrall() if user in g.gr_mem or g.gr_gid == pw.pw_gid]


def setting_line() -> st.SearchStrategy[str]:
    def render(key: str, value: str, case: int, sep: str, comment: bool) -> str:
        word = [key, key.lower(), key.upper()][case]
        return f"{word}{sep}{value}" + (" # note" if comment else "")
    return st.sampled_from(sorted(VALUES)).flatmap(lambda k: st.builds(
        render, st.just(k), st.sampled_from(list(VALUES[k])), st.integers(0, 2),
        st.sampled_from([" ", "=", " = ", "\t"]), st.booleans()))


lines = st.one_of(setting_line(), setting_line(), setting_line(),
                  st.sampled_from(MATCHES).map(lambda m: f"Match {m}"),
                  st.sampled_from(["# a comment", "", "   "]))
configs = st.tuples(st.lists(lines, max_size=12), st.lists(lines, max_size=6), st.integers(-1, 12))


def write(folder: Path, main: list[str], included: list[str], at: int) -> Path:
    inc = folder / "incl-1.conf"
    inc.write_text("\n".join(included) + "\n")
    body = list(main)
    if at >= 0:
        body.insert(min(at, len(body)), f"Include {folder}/incl*.conf")
    path = folder / "sshd_config"
    path.write_text("\n".join(body) + "\n")
    return path


def model(path: Path) -> SshdConfig:
    return parse_sshd_config(HostFiles(Path("/")), str(path), group_of=groups_of)


needs_sshd = pytest.mark.skipif(sshd_oracle.usable() is not None, reason=str(sshd_oracle.usable()))


def compare(path: Path) -> None:
    ours = model(path)
    for conn in CONNECTIONS:
        accepted, out = sshd_oracle.run(path, conn)
        if not accepted and "not in connection test specification" in out:
            continue  # sshd -T's own limit (Match LocalPort without -C lport=): not the file's fault
        if not accepted:
            assert not ours.valid, f"sshd refuses what the model accepts: {out}"
            return
        theirs = parse_sshd_t(out)
        assert ours.valid, f"the model refuses what sshd accepts: {ours.errors}"
        mine = ours.effective(conn)
        diff = {k: (mine[k], theirs.get(k)) for k in MODELLED if mine[k] != theirs.get(k)}
        assert diff == {}, (conn, path.read_text())


@needs_sshd
@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(configs)
@example(([], [], -1))
@example((["PasswordAuthentication no", "Match User alice", "PasswordAuthentication yes"], [], -1))
@example((["Match User alice"], ["PermitRootLogin yes", "Match All", "MaxAuthTries 2"], 1))
@example((["Match Address 10.0.0.0/8"], ["Ciphers +aes128-cbc"], 1))
def test_model_agrees_with_sshd(tmp_path_factory: pytest.TempPathFactory, case: tuple[list[str], list[str], int]) -> None:
    folder = tmp_path_factory.mktemp("sshd")
    folder.chmod(0o755)
    main, included, at = case
    compare(write(folder, main, included, at))


@needs_sshd
def test_include_relative_match_and_nested(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    (tmp_path / "b.conf").write_text("Match User root\n  PasswordAuthentication yes\n")
    (tmp_path / "a.conf").write_text(f"KbdInteractiveAuthentication no\nInclude {tmp_path}/b.conf\nPermitRootLogin no\n")
    path = tmp_path / "sshd_config"
    path.write_text(f"Match User alice\n  Include {tmp_path}/a.conf\nMatch All\n  PasswordAuthentication no\n")
    compare(path)
    cfg = model(path)
    assert [b.describe() for b, _ in cfg.block_settings()] == ["Match user alice", "Match user root", "Match all"]


def test_debian_default_config_keeps_password_login() -> None:
    cfg = parse_sshd_config(HostFiles(Path("/")), "/x", text="Include /nonexistent/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\n")
    eff = cfg.effective()
    assert cfg.valid
    assert (eff["passwordauthentication"], eff["kbdinteractiveauthentication"], eff["usepam"]) == ("yes", "no", "yes")
    assert cfg.notes and "matches no file" in cfg.notes[0]


CANDIDATE_VALUES = ["yes", "no", "1", "22", "none", "any", "/tmp/x", "info", "1m", "ssh-ed25519", "aes128-ctr",
                    "hmac-sha2-256", "curve25519-sha256", "lowdelay", "sha256", "alice", "LANG", "sftp", "10:30:100",
                    "prohibit-password", "%h", "022", "localhost:22"]


@needs_sshd
def test_extra_arguments_are_refused_as_sshd_refuses_them(tmp_path: Path) -> None:
    """Every keyword, with the first of CANDIDATE_VALUES sshd accepts for it, then with one word
    more: the model refuses the longer line exactly where sshd does (a keyword of one argument,
    auditor._host.sshd.ONE_ARGUMENT) and accepts it where sshd takes the word."""
    path, tried, disagreements = tmp_path / "sshd_config", 0, []
    for keyword in sorted(set(KEYWORDS) - {"match", "include"}):
        for value in CANDIDATE_VALUES:
            path.write_text(f"{keyword} {value}\n")
            if not sshd_oracle.run(path, None)[0]:
                continue
            path.write_text(f"{keyword} {value} more\n")
            theirs, out = sshd_oracle.run(path, None)
            refused = not theirs and "extra arguments" in out
            if theirs or refused:  # else the word was a wrong value, not one too many
                tried += 1
                if model(path).valid != theirs:
                    disagreements.append(f"{keyword} {value} more: sshd {'accepts' if theirs else out.strip()}")
            break
    assert not disagreements, "\n".join(disagreements)
    assert tried > 100


def test_errors_name_file_and_line() -> None:
    cfg = parse_sshd_config(HostFiles(Path("/")), "/etc/x", text="Port 22\nPasswordAuthentication maybe\nMatch User a\n  Ciphers aes128-ctr\n")
    assert cfg.errors == ('/etc/x:2: unsupported option "maybe"', "/etc/x:4: Directive 'Ciphers' is not allowed within a Match block")


def test_split_args_and_assemble() -> None:
    assert split_args('a "b c" d\\ e \'f\' # x') == ["a", "b c", "d e", "f"]
    assert assemble("-*sha1*", ["hmac-sha1", "hmac-sha2-256"], ["hmac-sha1", "hmac-sha2-256"]) == ["hmac-sha2-256"]
    assert assemble("rsa-sha2-512,!ssh-rsa", [], ["ssh-rsa"]) is None
    assert convtime("1h30m") == 5400 and convtime("10x") is None and convtime("") is None


def test_parse_sshd_t_lists() -> None:
    out = parse_sshd_t("port 22\nport 2222\nallowusers a\nallowusers b\npasswordauthentication no\n")
    assert out["port"] == ["22", "2222"] and out["allowusers"] == ["a", "b"] and out["passwordauthentication"] == "no"
    assert out["denyusers"] == []


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400), st.lists(st.sampled_from(list(CONNECTIONS)), max_size=2))
def test_parser_never_crashes(text: str, conns: list[Connection | None]) -> None:
    cfg = parse_sshd_config(HostFiles(Path("/nonexistent-root")), "/etc/ssh/sshd_config", text=text)
    for conn in conns:
        eff = cfg.effective(conn)
        assert set(eff) == set(MODELLED)
    cfg.block_settings()


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="PasswordAuthentication MatchUser*!,=\"'\\#\tyesno\n0123.:/", max_size=300))
def test_parser_never_crashes_on_near_miss_syntax(text: str) -> None:
    cfg = parse_sshd_config(HostFiles(Path("/nonexistent-root")), "/etc/ssh/sshd_config", text=text)
    cfg.effective(CONNECTIONS[1])
