"""The small host parsers: known inputs give known facts, and no input crashes them."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._host.accounts import (
    is_login_shell,
    parse_groups,
    parse_passwd,
    parse_shadow_state,
    read_accounts,
)
from auditor._host.fail2ban import parse_jails, parse_status, read_fail2ban
from auditor._host.mac import parse_profiles, parse_selinux_config, read_mac
from auditor._host.osrelease import parse_os_release, read_os
from auditor._host.sockets import IpVersion, Proto, parse_table
from auditor._host.system import NO_COMMANDS, HostFiles
from auditor._host.units import parse_unit, read_unit
from auditor._host.volumes import judge, parse_crypttab, parse_mounts

TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0 100 0 0 10 0
   1: 00000000:107E 00000000:0000 0A 00000000:00000000 00:00000000 00000000   997        0 1002 1 0 100 0 0 10 0
   2: 0100007F:107E 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000   997        0 1003 1 0 100 0 0 10 0
"""
TCP6 = """  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2001 1
   1: 0000000000000000FFFF00000100007F:2021 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2002 1
"""


def test_proc_net_tables() -> None:
    four = parse_table(TCP, "tcp", 4)
    assert [(s.address, s.port, s.uid) for s in four] == [("127.0.0.1", 3306, 0), ("0.0.0.0", 4222, 997)]
    assert four[0].loopback and four[1].wildcard and four[1].name() == "tcp/0.0.0.0:4222"
    six = parse_table(TCP6, "tcp", 6)
    assert [(s.address, s.port) for s in six] == [("::", 22), ("::ffff:127.0.0.1", 8225)]
    assert six[1].loopback and not six[0].loopback


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400), st.sampled_from(["tcp", "udp"]), st.sampled_from([4, 6]))
def test_proc_net_never_crashes(text: str, proto: Proto, version: IpVersion) -> None:
    for s in parse_table("header\n" + text, proto, version):
        assert 0 <= s.port <= 65535


def test_accounts(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\nnats:x:997:997::/var/lib/nats:/run/current-system/sw/bin/nologin\n"
                                         "cim:x:1000:100::/home/cim:\nbroken:x:a:b::/:\n")
    (tmp_path / "etc/shadow").write_text("root:!:19000::::::\nnats:*:1::::::\ncim:$6$salt$hash:1::::::\n")
    (tmp_path / "etc/group").write_text("root:x:0:\nnats:x:997:\nusers:x:100:\nwheel:x:1:cim\n")
    accounts = {a.name: a for a in read_accounts(HostFiles(tmp_path))}
    assert set(accounts) == {"root", "nats", "cim"}
    assert (accounts["nats"].system, accounts["nats"].login_shell, accounts["nats"].password) == (True, False, "locked")
    assert (accounts["cim"].system, accounts["cim"].login_shell, accounts["cim"].password) == (False, True, "set")
    assert accounts["cim"].groups == ("users", "wheel")
    assert not is_login_shell("/usr/sbin/nologin") and is_login_shell("/bin/zsh")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abc:x0123456789/\n!*$", max_size=300))
def test_account_files_never_crash(text: str) -> None:
    parse_passwd(text)
    parse_shadow_state(text)
    parse_groups(text)


def test_accounts_read_as_glibc_reads_them() -> None:
    """Lines the old reading dropped and glibc reads (test_accounts_oracle.py checks these
    against glibc itself): a second uid-0 account behind an extra field, a missing shell or a
    blank in front, and the first shadow entry of a name, not the last."""
    text = "toor:x:0:0::/root:/bin/sh:\nshort:x:0:0::/root\n  lead:x:0:0::/:/bin/sh\nbig:x:4294967296:0::/:/bin/sh\n"
    assert [(a.name, a.uid, a.shell) for a in parse_passwd(text)] == [
        ("toor", 0, "/bin/sh:"), ("short", 0, ""), ("lead", 0, "/bin/sh")]
    assert parse_shadow_state("root::19000:0:99999:7:::\nroot:!:19000:0:99999:7:::\n") == {"root": "empty"}
    assert parse_shadow_state("root::19000:0:99999:7:::\r\n") == {}  # glibc reads no entry from it
    assert parse_groups("sudo:x:27: alice, bob ,,carol\n")[1] == {"alice": ["sudo"], "bob ": ["sudo"], "carol": ["sudo"]}


def test_mac_and_os(tmp_path: Path) -> None:
    (tmp_path / "sys/module/apparmor/parameters").mkdir(parents=True)
    (tmp_path / "sys/module/apparmor/parameters/enabled").write_text("Y\n")
    (tmp_path / "sys/kernel/security/apparmor").mkdir(parents=True)
    (tmp_path / "sys/kernel/security/apparmor/profiles").write_text("nats (enforce)\n/usr/bin/cim-agent (complain)\n")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text('NAME=NixOS\nID=nixos\nVERSION_ID="23.11"\nPRETTY_NAME="NixOS 23.11 (Tapir)"\n')
    mac = read_mac(HostFiles(tmp_path))
    assert mac.apparmor_enabled and mac.enforcing and mac.selinux_mode is None
    assert [(p.name, p.mode) for p in mac.apparmor_profiles or ()] == [("/usr/bin/cim-agent", "complain"), ("nats", "enforce")]
    osr = read_os(HostFiles(tmp_path))
    assert osr is not None and osr.nixos and osr.release == "23.11"
    assert read_mac(HostFiles(tmp_path / "nothing")).apparmor_enabled is None
    assert parse_selinux_config("# c\nSELINUX=enforcing\n") == "enforcing"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_small_parsers_never_crash(text: str) -> None:
    parse_profiles(text)
    parse_selinux_config(text)
    parse_os_release(text)
    parse_status(text)
    parse_unit(text)
    parse_mounts(text)
    parse_crypttab(text)
    parse_jails([("f", text)])


def test_fail2ban(tmp_path: Path) -> None:
    base = tmp_path / "etc/fail2ban"
    (base / "jail.d").mkdir(parents=True)
    (base / "filter.d").mkdir()
    (base / "filter.d/sshd.conf").write_text("")
    (base / "jail.conf").write_text("[DEFAULT]\nmaxretry = 5\nfilter = %(__name__)s[mode=normal]\n[sshd]\nport = ssh\n"
                                    "[nats]\nfilter = nats-auth\nport = 4222\n")
    (base / "jail.d/10-enable.conf").write_text("[sshd]\nenabled = true\n")
    (base / "jail.local").write_text("[nats]\nenabled = true\nmaxretry = 3\n")
    f2b = read_fail2ban(HostFiles(tmp_path), NO_COMMANDS)
    jails = {j.name: j for j in f2b.jails}
    assert f2b.configured and f2b.running_jails is None
    assert (jails["sshd"].enabled, jails["sshd"].filter, jails["sshd"].filter_present, jails["sshd"].maxretry) == (True, "sshd", True, 5)
    # fail2ban skips a jail whose filter it cannot read, before reading its other options
    assert (jails["nats"].enabled, jails["nats"].filter, jails["nats"].filter_present, jails["nats"].maxretry) == (True, "nats-auth", False, None)
    assert f2b.refused is None
    (base / "jail.d/10-enable.conf").write_text("[sshd]\nenabled = false\n")  # the one working jail disabled
    refused = read_fail2ban(HostFiles(tmp_path), NO_COMMANDS)
    assert refused.jails == () and refused.refused == "every enabled jail fails to load its filter or an action (nats)"
    (base / "jail.local").write_text("[nats]\nenabled = true\n[nats]\nport = 1\n")
    assert "already exists" in (read_fail2ban(HostFiles(tmp_path), NO_COMMANDS).refused or "")
    (base / "jail.local").write_text("[sshd]\nenabled = true\naction = nope[a=1]\n  iptables-multiport\n")
    (base / "action.d").mkdir()
    (base / "action.d/iptables-multiport.conf").write_text("")
    skipped = read_fail2ban(HostFiles(tmp_path), NO_COMMANDS)  # fail2ban skips a jail whose action is missing
    assert skipped.refused is not None and "sshd" in skipped.refused
    (base / "action.d/nope.local").write_text("")
    assert [j.missing_actions for j in read_fail2ban(HostFiles(tmp_path), NO_COMMANDS).jails if j.name == "sshd"] == [()]
    assert parse_status("Status\n|- Number of jail:\t2\n`- Jail list:\tnats, sshd\n") == ["nats", "sshd"]


def test_units(tmp_path: Path) -> None:
    folder = tmp_path / "etc/systemd/system"
    (folder / "nats.service.d").mkdir(parents=True)
    (folder / "multi-user.target.wants").mkdir()
    (folder / "nats.service").write_text("[Service]\nExecStart=/bin/nats-server --pass secret\nUser=nats\n"
                                        "NoNewPrivileges=true\nProtectSystem=strict\nCapabilityBoundingSet=\n")
    (folder / "nats.service.d/override.conf").write_text("[Service]\nPrivateTmp=yes\nUser=\n")
    (folder / "multi-user.target.wants/nats.service").symlink_to("../nats.service")
    unit = read_unit(HostFiles(tmp_path), NO_COMMANDS, "nats.service", "/etc/systemd/system/nats.service", exposure=True)
    assert unit.program == "/bin/nats-server" and unit.enabled and unit.exposure is None
    assert unit.user == "root"  # the drop-in's empty User= resets it
    h = unit.hardening()
    assert h["NoNewPrivileges"] and h["ProtectSystem"] and h["PrivateTmp"] and not h["NonRootUser"] and not h["CapabilityBoundingSet"]


def test_volumes(tmp_path: Path) -> None:
    (tmp_path / "sys/block/dm-0/dm").mkdir(parents=True)
    (tmp_path / "sys/block/dm-0/dm/uuid").write_text("LVM-abc\n")
    (tmp_path / "sys/block/dm-0/dm/name").write_text("vg-data\n")
    (tmp_path / "sys/block/dm-0/slaves/dm-1").mkdir(parents=True)
    (tmp_path / "sys/block/dm-1/dm").mkdir(parents=True)
    (tmp_path / "sys/block/dm-1/dm/uuid").write_text("CRYPT-LUKS2-123-cryptroot\n")
    (tmp_path / "var/lib/nats").mkdir(parents=True)
    mounts = parse_mounts("/dev/vda1 / ext4 rw 0 0\n/dev/mapper/vg-data /var/lib ext4 rw 0 0\ntmpfs /run tmpfs rw 0 0\n"
                          "/dev/mapper/backup /srv/backup\\040x ext4 rw 0 0\n")
    files = HostFiles(tmp_path)
    vol = judge(files, "/var/lib/nats", mounts, set())
    assert (vol.mount_point, vol.encrypted) == ("/var/lib", True)
    assert judge(files, "/etc", mounts, set()).encrypted is None  # vda1: /sys/class/block says nothing here
    assert judge(files, "/srv/backup x/d", mounts, {"backup"}).encrypted is True
    assert judge(files, "/run/x", mounts, set()).fstype == "tmpfs"
