"""host.*: the node itself — SSH server and keys, accounts, firewall and listening ports,
mandatory access control, OS, fail2ban, systemd units, data volumes and the declared NixOS
configuration (the `host` collector, docs/host.md)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import msgspec
from msgspec import Meta

from auditor.evidence.contract import Facts, Part

Verdict = Annotated[Literal["accept", "drop", "uncertain"], Meta(
    description="what the firewall does with a new TCP connection from the internet: accept, drop, or uncertain "
                "(a rule the model cannot judge decides)")]
Problems = Annotated[tuple[str, ...], Meta(description="what could not be read or judged, and why")]


class HostOs(Facts, frozen=True, kw_only=True):
    """The operating system (/etc/os-release, else /usr/lib/os-release) and the running kernel."""

    KIND: ClassVar[str] = "host.os"

    id: Annotated[str | None, Meta(description="ID= of os-release (nixos, debian, ...)")]
    name: Annotated[str | None, Meta(description="NAME= of os-release")]
    version_id: Annotated[str | None, Meta(description="VERSION_ID= of os-release, as written")]
    release: Annotated[str | None, Meta(description="the numeric release from VERSION_ID, e.g. 24.05; null when it is not a number")]
    pretty_name: Annotated[str | None, Meta(description="PRETTY_NAME= of os-release")]
    build_id: Annotated[str | None, Meta(description="BUILD_ID= of os-release (NixOS: the nixpkgs revision)")]
    nixos: Annotated[bool, Meta(description="ID is nixos")]
    kernel: Annotated[str | None, Meta(description="the running kernel's release (/proc/sys/kernel/osrelease)")]


# --- host.sshd -----------------------------------------------------------------------------
# Values are as `sshd -T` prints them: lower-case flags, numbers as text, algorithm lists
# comma-separated.

ALLOW_USERS = "AllowUsers: user patterns allowed to log in ([]: anyone)"
DENY_USERS = "DenyUsers: user patterns refused"
ALLOW_GROUPS = "AllowGroups: group patterns allowed to log in ([]: any)"
DENY_GROUPS = "DenyGroups: group patterns refused"


class MatchableSettings(Part, frozen=True, kw_only=True):
    """The settings a Match block may change, other than the Allow/Deny lists."""

    passwordauthentication: Annotated[str | None, Meta(description="PasswordAuthentication: yes or no")]
    kbdinteractiveauthentication: Annotated[str | None, Meta(
        description="KbdInteractiveAuthentication (ChallengeResponseAuthentication): yes or no")]
    pubkeyauthentication: Annotated[str | None, Meta(description="PubkeyAuthentication: yes or no")]
    permitemptypasswords: Annotated[str | None, Meta(description="PermitEmptyPasswords: yes or no")]
    hostbasedauthentication: Annotated[str | None, Meta(description="HostbasedAuthentication: yes or no")]
    x11forwarding: Annotated[str | None, Meta(description="X11Forwarding: yes or no")]
    allowagentforwarding: Annotated[str | None, Meta(description="AllowAgentForwarding: yes or no")]
    permitrootlogin: Annotated[str | None, Meta(
        description="PermitRootLogin: yes, no, without-password (prohibit-password) or forced-commands-only")]
    allowtcpforwarding: Annotated[str | None, Meta(description="AllowTcpForwarding: yes, no, local or remote")]
    gatewayports: Annotated[str | None, Meta(description="GatewayPorts: yes, no or clientspecified")]
    ignorerhosts: Annotated[str | None, Meta(description="IgnoreRhosts: yes, no or shosts-only")]
    maxauthtries: Annotated[str | None, Meta(description="MaxAuthTries: authentication attempts per connection")]
    clientalivecountmax: Annotated[str | None, Meta(
        description="ClientAliveCountMax: unanswered keepalives before disconnecting")]
    clientaliveinterval: Annotated[str | None, Meta(description="ClientAliveInterval: seconds between keepalives (0: none)")]
    loglevel: Annotated[str | None, Meta(
        description="LogLevel: QUIET, FATAL, ERROR, INFO, VERBOSE, DEBUG, DEBUG2, DEBUG3")]
    authorizedkeysfile: Annotated[str | None, Meta(
        description="AuthorizedKeysFile: space-separated patterns (%h, %u, %U, %% not expanded)")]
    authorizedkeyscommand: Annotated[str | None, Meta(description="AuthorizedKeysCommand as written, or none")]
    authenticationmethods: Annotated[str | None, Meta(
        description="AuthenticationMethods: any, or space-separated lists of comma-separated methods (split in "
                    "authentication_methods)")]
    pubkeyacceptedalgorithms: Annotated[str | None, Meta(
        description="PubkeyAcceptedAlgorithms: the signature algorithms accepted for user keys, comma-separated")]
    casignaturealgorithms: Annotated[str | None, Meta(
        description="CASignatureAlgorithms: the algorithms a certificate authority may sign with, comma-separated")]


class SshdSettings(MatchableSettings, frozen=True, kw_only=True):
    """sshd's effective settings for a connection no Match block selects, as `sshd -T` prints
    them (null: `sshd -T` did not print the setting)."""

    port: Annotated[tuple[str, ...], Meta(description="Port: every port sshd listens on")]
    usepam: Annotated[str | None, Meta(description="UsePAM: yes or no (keyboard-interactive asks PAM, hence for passwords)")]
    strictmodes: Annotated[str | None, Meta(description="StrictModes: yes or no (sshd checks the modes of the user's files)")]
    logingracetime: Annotated[str | None, Meta(description="LoginGraceTime: seconds to authenticate (0: no limit)")]
    ciphers: Annotated[str | None, Meta(description="Ciphers, comma-separated (split in algorithms.ciphers)")]
    macs: Annotated[str | None, Meta(description="MACs, comma-separated (split in algorithms.macs)")]
    kexalgorithms: Annotated[str | None, Meta(description="KexAlgorithms, comma-separated (split in algorithms.kex)")]
    hostkeyalgorithms: Annotated[str | None, Meta(
        description="HostKeyAlgorithms, comma-separated (split in algorithms.host_keys)")]
    allowusers: Annotated[tuple[str, ...], Meta(description=ALLOW_USERS)]
    denyusers: Annotated[tuple[str, ...], Meta(description=DENY_USERS)]
    allowgroups: Annotated[tuple[str, ...], Meta(description=ALLOW_GROUPS)]
    denygroups: Annotated[tuple[str, ...], Meta(description=DENY_GROUPS)]


class SshdMatchSettings(MatchableSettings, frozen=True, kw_only=True):
    """The settings one Match block's own lines set, as `sshd -T` would print them (null: the
    block does not set it). Only settings sshd allows in a Match block."""

    allowusers: Annotated[tuple[str, ...] | None, Meta(description=ALLOW_USERS)]
    denyusers: Annotated[tuple[str, ...] | None, Meta(description=DENY_USERS)]
    allowgroups: Annotated[tuple[str, ...] | None, Meta(description=ALLOW_GROUPS)]
    denygroups: Annotated[tuple[str, ...] | None, Meta(description=DENY_GROUPS)]


class SshdAlgorithms(Part, frozen=True, kw_only=True):
    """The effective algorithm lists, one name per element, in sshd's order of preference."""

    ciphers: Annotated[tuple[str, ...], Meta(description="Ciphers")]
    macs: Annotated[tuple[str, ...], Meta(description="MACs")]
    kex: Annotated[tuple[str, ...], Meta(description="KexAlgorithms")]
    host_keys: Annotated[tuple[str, ...], Meta(description="HostKeyAlgorithms: what the host key may sign with")]
    user_keys: Annotated[tuple[str, ...], Meta(
        description="PubkeyAcceptedAlgorithms: the signatures accepted from users' keys (ssh-rsa: SHA-1)")]


class SshdMatchBlock(Part, frozen=True, kw_only=True):
    """One Match block of sshd_config or a file it includes."""

    criteria: Annotated[str, Meta(description="the Match line, e.g. `Match User deploy Address 10.0.0.0/8`")]
    file: Annotated[str, Meta(description="the file holding the block (host path)")]
    line: Annotated[int, Meta(description="the Match line's number in that file")]
    settings: Annotated[SshdMatchSettings, Meta(description="what the block's own lines set (null: not set)")]


class HostSshd(Facts, frozen=True, kw_only=True):
    """The OpenSSH server's effective configuration: from the server itself (`sshd -T`) where it runs, else from auditor's model of sshd_config with its Include files and Match blocks (held to `sshd -T` by tests); the algorithm lists, AuthenticationMethods, each Match block's own settings, and whether sshd would accept the configuration."""

    KIND: ClassVar[str] = "host.sshd"

    installed: Annotated[bool, Meta(description="an sshd_config or an sshd program exists; false: no SSH server")]
    source: Annotated[Literal["sshd -T", "sshd_config", "none"], Meta(
        description="where the effective settings come from: the server (sshd -T), auditor's model of sshd_config, "
                    "or none (no SSH server)")]
    config_files: Annotated[tuple[str, ...], Meta(
        description="sshd_config and the files it includes, in reading order (host paths)")]
    valid: Annotated[bool | None, Meta(
        description="sshd would start with this configuration (no errors); null when there is no sshd_config")]
    errors: Annotated[tuple[str, ...], Meta(description="FILE:LINE: what sshd would refuse")]
    notes: Annotated[tuple[str, ...], Meta(description="Include patterns that match nothing and similar")]
    effective: Annotated[SshdSettings, Meta(
        description="the effective settings for a connection no Match block selects, as sshd -T prints them")]
    algorithms: Annotated[SshdAlgorithms, Meta(description="the effective algorithm lists, split into names")]
    authentication_methods: Annotated[tuple[tuple[str, ...], ...], Meta(
        description="AuthenticationMethods as lists of methods, any one list sufficing ([]: any single method)")]
    match_blocks: Annotated[tuple[SshdMatchBlock, ...], Meta(description="Match blocks, in order")]
    problems: Annotated[tuple[str, ...], Meta(description="why sshd -T or a file could not be used")]
    unread: Annotated[tuple[str, ...], Meta(
        description="files of the configuration (sshd_config, an included file) that exist and could not be read, "
                    "or not whole: what they set is unknown, so the rules on sshd are not decided")] = ()


class HostAuthorizedKey(Facts, frozen=True, kw_only=True):
    """One key of an account's authorized_keys file: type, size, SHA-256 fingerprint, comment and option names (forced commands and environment values are not kept: they may hold secrets)."""

    KIND: ClassVar[str] = "host.authorized-key"

    account: Annotated[str, Meta(description="the account the key logs in as")]
    account_uid: Annotated[int, Meta(description="that account's UID")]
    service_account: Annotated[bool, Meta(
        description="a service account (named by the source's service_accounts or a unit's User=)")]
    file: Annotated[str, Meta(description="the authorized_keys file (relative to the target's root)")]
    line: Annotated[int, Meta(description="the key's line in that file")]
    type: Annotated[str, Meta(description="the key type as written (ssh-ed25519, ssh-rsa, ...)")]
    algorithm: Annotated[Literal["rsa", "dsa", "ecdsa", "ed25519", "ed25519-sk", "ecdsa-sk", "unknown"], Meta(
        description="the key's algorithm, certificates included; unknown when not recognised")]
    bits: Annotated[int | None, Meta(description="RSA/DSA modulus bits, the ECDSA curve's size, 256 for Ed25519; null when unknown")]
    fingerprint: Annotated[str | None, Meta(description="SHA256:... as ssh-keygen -l prints it; null when the line is unusable")]
    comment: Annotated[str, Meta(description="the comment after the key")]
    certificate: Annotated[bool, Meta(description="an OpenSSH certificate (*-cert-v01@openssh.com)")]
    options: Annotated[tuple[str, ...], Meta(description="option names in order (of the values only from='s are kept, in `from`)")]
    from_: Annotated[tuple[str, ...], Meta(
        description="the from= patterns: where the key may be used from ([]: anywhere)")] = msgspec.field(name="from")
    from_anywhere: Annotated[bool, Meta(
        description="no from=, or patterns that admit every address of IPv4 or of IPv6 sshd could see (`*`, "
                    "`0.0.0.0/0`, `!10.0.0.1,*`), as sshd matches them")]
    expires_at: Annotated[str | None, Meta(description="expiry-time (UTC; a time without Z read as UTC); null without one")]
    forced_command: Annotated[bool, Meta(description="a command= option forces a command (its text is not kept)")]
    restricted: Annotated[bool, Meta(description="restrict or no-port-forwarding is set")]
    problem: Annotated[str | None, Meta(description="why sshd would ignore the line; null for a usable key")]


class HostAccount(Facts, frozen=True, kw_only=True):
    """An account of /etc/passwd with its groups; of /etc/shadow only whether the password is locked, empty or set (never the hash)."""

    KIND: ClassVar[str] = "host.account"

    name: Annotated[str, Meta(description="the user name")]
    uid: Annotated[int, Meta(description="UID")]
    gid: Annotated[int, Meta(description="primary GID")]
    home: Annotated[str, Meta(description="home folder")]
    shell: Annotated[str, Meta(description="login shell as written ('' means /bin/sh)")]
    system: Annotated[bool, Meta(description="UID below login.defs UID_MIN (1000 by default), or root")]
    login_shell: Annotated[bool, Meta(description="the shell gives an interactive login (not nologin, false, ...)")]
    password: Annotated[Literal["locked", "empty", "set", "unknown"], Meta(
        description="the password's state in /etc/shadow; unknown when shadow is unreadable or has no entry")]
    groups: Annotated[tuple[str, ...], Meta(description="primary group, then supplementary groups (/etc/group)")]
    service_account: Annotated[bool, Meta(
        description="a service account (named by the source's service_accounts or a unit's User=)")]


class InputChain(Part, frozen=True, kw_only=True):
    """A filter chain on the input or prerouting hook."""

    family: Annotated[str, Meta(description="inet, ip or ip6")]
    table: Annotated[str, Meta(description="the table's name")]
    chain: Annotated[str, Meta(description="the chain's name")]
    hook: Annotated[str | None, Meta(description="input or prerouting")]
    priority: Annotated[int, Meta(description="the hook priority (lower runs first)")]
    policy: Annotated[str | None, Meta(description="accept or drop: what happens to a packet no rule decides")]
    rules: Annotated[int, Meta(description="how many rules the chain holds")]


class IpVersions(Part, frozen=True, kw_only=True):
    """A yes or no for each IP version."""

    ipv4: Annotated[bool, Meta(description="for IPv4")]
    ipv6: Annotated[bool, Meta(description="for IPv6")]


class DefaultVerdicts(Part, frozen=True, kw_only=True):
    """A verdict for each IP version."""

    ipv4: Verdict
    ipv6: Verdict


class HostFirewall(Facts, frozen=True, kw_only=True):
    """The active firewall ruleset (`nft -j list ruleset`, or iptables-save) as auditor's model judges it: input chains and policies, whether each IP version is filtered, and the verdict for a port no rule names."""

    KIND: ClassVar[str] = "host.firewall"

    source: Annotated[str, Meta(description="the command(s) the ruleset came from")]
    backend: Annotated[str, Meta(description="nftables, iptables, or nftables+iptables (iptables-nft tables read from iptables-save)")]
    tables: Annotated[tuple[str, ...], Meta(description="every table with a chain, as `FAMILY NAME`")]
    input_chains: Annotated[tuple[InputChain, ...], Meta(description="filter chains on the input and prerouting hooks")]
    filters: Annotated[IpVersions, Meta(description="something on the input path can drop a packet of that IP version")]
    default_verdict: Annotated[DefaultVerdicts, Meta(
        description="what happens to a new TCP connection to a port no rule names (port 1) from anywhere")]
    compat_tables: Annotated[tuple[str, ...], Meta(description="nft tables made by iptables-nft (judged from iptables-save)")]
    problems: Problems


class HostListener(Facts, frozen=True, kw_only=True):
    """A listening TCP or UDP socket (/proc/net) and what the firewall does with a new connection to it from the internet."""

    KIND: ClassVar[str] = "host.listener"

    proto: Annotated[Literal["tcp", "udp"], Meta(description="tcp or udp")]
    ip_version: Annotated[Literal[4, 6], Meta(description="4 or 6")]
    address: Annotated[str, Meta(description="the bound address (an IPv4-mapped one as ::ffff:a.b.c.d)")]
    port: Annotated[int, Meta(description="the bound port")]
    service: Annotated[str, Meta(description="proto/port, e.g. tcp/4222")]
    exposed: Annotated[bool, Meta(description="bound to a non-loopback address")]
    wildcard: Annotated[bool, Meta(description="bound to every address (0.0.0.0 or ::)")]
    program: Annotated[str | None, Meta(description="the owning program (live hosts, as far as readable)")]
    uid: Annotated[int, Meta(description="the owning UID")]
    firewall: Annotated[Literal["accept", "drop", "uncertain"], Meta(
        description="the firewall's verdict for a new connection from the internet (drop for loopback; uncertain "
                    "without a readable ruleset)")]
    firewall_source: Annotated[str | None, Meta(description="the command the judged ruleset came from; null without one")]


class AppArmorProfile(Part, frozen=True, kw_only=True):
    """A loaded AppArmor profile."""

    name: Annotated[str, Meta(description="the profile's name (often the confined program's path)")]
    mode: Annotated[str, Meta(description="enforce, complain, kill, unconfined, ... as the kernel reports it")]


class AppArmor(Part, frozen=True, kw_only=True):
    """AppArmor as the kernel reports it (/sys/module/apparmor, /sys/kernel/security/apparmor)."""

    enabled: Annotated[bool | None, Meta(description="the kernel's AppArmor is enabled; null: not in this kernel (or unreadable)")]
    profiles_readable: Annotated[bool, Meta(description="the loaded profiles could be listed (securityfs mounted and readable)")]
    profiles: Annotated[tuple[AppArmorProfile, ...], Meta(description="loaded profiles, by name")]
    enforce: Annotated[int, Meta(description="how many profiles are in enforce mode")]
    complain: Annotated[int, Meta(description="how many profiles are in complain mode")]


class SELinux(Part, frozen=True, kw_only=True):
    """SELinux as the kernel reports it (/sys/fs/selinux) and as configured."""

    mode: Annotated[Literal["enforcing", "permissive"] | None, Meta(description="the running mode; null: selinuxfs not mounted")]
    configured: Annotated[str | None, Meta(description="SELINUX= of /etc/selinux/config (enforcing, permissive, disabled)")]


class HostMac(Facts, frozen=True, kw_only=True):
    """Mandatory access control: AppArmor (enabled, loaded profiles and their modes) and SELinux (mode), and whether an enforcing system is on."""

    KIND: ClassVar[str] = "host.mac"

    apparmor: Annotated[AppArmor, Meta(description="AppArmor: enabled, loaded profiles and their modes")]
    selinux: Annotated[SELinux, Meta(description="SELinux: running and configured mode")]
    enforcing: Annotated[bool, Meta(description="AppArmor with a profile in enforce mode, or SELinux enforcing")]
    problems: Problems


class Fail2banJail(Part, frozen=True, kw_only=True):
    """A jail as fail2ban ends up with it (later files override earlier ones)."""

    name: Annotated[str, Meta(description="the jail's section name")]
    enabled: Annotated[bool, Meta(description="enabled = true")]
    filter: Annotated[str | None, Meta(description="the filter's name (the text before `[` of filter =); null: none set")]
    filter_present: Annotated[bool, Meta(description="filter.d holds the filter")]
    missing_actions: Annotated[tuple[str, ...], Meta(
        description="actions of an enabled jail that action.d does not hold: fail2ban skips the jail")] = ()
    maxretry: Annotated[int | None, Meta(description="failures before a ban; null: not set here (fail2ban's default)")]
    port: Annotated[str | None, Meta(description="port = as written")]
    bantime: Annotated[str | None, Meta(description="bantime = as written")]
    findtime: Annotated[str | None, Meta(description="findtime = as written")]


class HostFail2ban(Facts, frozen=True, kw_only=True):
    """fail2ban: the jails as configured (jail.conf, jail.d, jail.local in fail2ban's order), their filters, and on a live host the running ones."""

    KIND: ClassVar[str] = "host.fail2ban"

    configured: Annotated[bool, Meta(description="a fail2ban configuration exists (jail.conf, jail.local or jail.d)")]
    service_enabled: Annotated[bool | None, Meta(
        description="fail2ban.service is wanted by a target; null: no systemd unit folder to tell")]
    running_jails: Annotated[tuple[str, ...] | None, Meta(
        description="the jails the running server reports; null: not asked (a recorded host, no fail2ban-client)")]
    jails: Annotated[tuple[Fail2banJail, ...], Meta(description="every jail configured, enabled or not")]
    files: Annotated[tuple[str, ...], Meta(description="the configuration files read, in order (relative to the target's root)")]
    refused: Annotated[str | None, Meta(
        description="why fail2ban would refuse the whole configuration (a file it cannot parse, a %(name)s it "
                    "cannot fill) and start no jail; then jails is empty. null: fail2ban reads it")] = None
    problems: Problems


class HostUnit(Facts, frozen=True, kw_only=True):
    """A systemd service unit of the NATS server or a CIM service (with its drop-ins): the user it runs as, its sandboxing options and, where systemd-analyze runs, its exposure score."""

    KIND: ClassVar[str] = "host.unit"

    name: Annotated[str, Meta(description="the unit's name, e.g. nats.service")]
    path: Annotated[str, Meta(description="the unit file systemd uses (host path)")]
    dropins: Annotated[tuple[str, ...], Meta(description="its drop-in files (NAME.d/*.conf)")]
    program: Annotated[str | None, Meta(description="ExecStart's program (arguments are not kept: they may hold secrets)")]
    user: Annotated[str, Meta(description="User=, 'dynamic' for DynamicUser=yes, or root")]
    dynamic_user: Annotated[bool, Meta(description="DynamicUser=yes")]
    enabled: Annotated[bool, Meta(description="wanted by a target (a .wants link)")]
    options: Annotated[dict[str, str], Meta(description="[Service] sandboxing options as set")]
    hardening: Annotated[dict[str, bool], Meta(
        description="whether each sandboxing setting is in force (NoNewPrivileges, ProtectSystem, ..., NonRootUser)")]
    exposure: Annotated[float | None, Meta(description="systemd-analyze security: 0 (safe) .. 10 (exposed); null: not scored")]
    exposure_problem: Annotated[str | None, Meta(description="why systemd-analyze gave no score")]


class HostVolume(Facts, frozen=True, kw_only=True):
    """Where a data folder lives (its mount and block device) and whether that device is encrypted (dm-crypt; LVM on LUKS counts)."""

    KIND: ClassVar[str] = "host.volume"

    path: Annotated[str, Meta(description="the data folder (host path)")]
    exists: Annotated[bool, Meta(description="the folder exists")]
    mount_point: Annotated[str | None, Meta(description="the mount holding it; null: no mount table")]
    source: Annotated[str | None, Meta(description="the mounted device, e.g. /dev/mapper/root")]
    fstype: Annotated[str | None, Meta(description="the file system type")]
    encrypted: Annotated[bool | None, Meta(description="on dm-crypt; null: cannot be told (not a block device, or /sys says nothing)")]
    how: Annotated[str, Meta(description="how that was told")]


class NixosDeclared(Part, frozen=True, kw_only=True):
    """The evaluated option values, by section (null: the section could not be evaluated)."""

    openssh: Annotated[dict[str, Any] | None, Meta(
        description="services.openssh: enable, openFirewall, ports, settings.PasswordAuthentication, "
                    "KbdInteractiveAuthentication, PermitRootLogin (and their pre-23.05 names)")]
    firewall: Annotated[dict[str, Any] | None, Meta(
        description="networking.firewall: enable, nftables, allowed TCP/UDP ports and ranges, per-interface ports, "
                    "whether extraCommands is set")]
    apparmor: Annotated[dict[str, Any] | None, Meta(description="security.apparmor: enable, policies (names)")]
    fail2ban: Annotated[dict[str, Any] | None, Meta(description="services.fail2ban: enable, jails (names)")]
    acme: Annotated[dict[str, Any] | None, Meta(description="security.acme: acceptTerms, certs (names)")]
    system: Annotated[dict[str, Any] | None, Meta(description="system: stateVersion")]


class NixosEffective(Part, frozen=True, kw_only=True):
    """What the configuration amounts to, NixOS defaults applied."""

    openssh_enable: Annotated[bool, Meta(description="services.openssh.enable")]
    password_authentication: Annotated[bool, Meta(description="services.openssh.settings.PasswordAuthentication")]
    kbd_interactive_authentication: Annotated[bool, Meta(
        description="services.openssh.settings.KbdInteractiveAuthentication")]
    permit_root_login: Annotated[str, Meta(description="services.openssh.settings.PermitRootLogin")]
    firewall_enable: Annotated[bool, Meta(description="networking.firewall.enable")]
    firewall_tcp_ports: Annotated[tuple[int, ...], Meta(
        description="TCP ports the firewall opens on every interface (openssh's own included)")]
    apparmor_enable: Annotated[bool, Meta(description="security.apparmor.enable")]
    fail2ban_enable: Annotated[bool, Meta(description="services.fail2ban.enable")]


class HostNixos(Facts, frozen=True, kw_only=True):
    """The declared NixOS configuration, evaluated by the host's nix-instantiate (the real module system with <nixpkgs>, else the declared values with NixOS defaults): openssh, firewall, AppArmor, fail2ban, ACME, missing imports."""

    KIND: ClassVar[str] = "host.nixos"

    configuration: Annotated[str, Meta(description="the configuration file (host path)")]
    mode: Annotated[Literal["nixpkgs", "standalone", "unknown"], Meta(
        description="nixpkgs: the real module system evaluated it; standalone: auditor's small module system")]
    missing_imports: Annotated[tuple[str, ...], Meta(description="imported files that do not exist (standalone mode)")]
    problems: Annotated[tuple[str, ...], Meta(description="sections that could not be evaluated, and why")]
    declared: Annotated[NixosDeclared, Meta(description="the evaluated option values by section")]
    effective: Annotated[NixosEffective, Meta(description="what the configuration amounts to, NixOS defaults applied")]


DriftValue = str | bool | tuple[str | int, ...]


class HostNixosDrift(Facts, frozen=True, kw_only=True):
    """One setting of the declared NixOS configuration compared with the running system."""

    KIND: ClassVar[str] = "host.nixos-drift"

    option: Annotated[str, Meta(description="the NixOS option, e.g. services.openssh.settings.PasswordAuthentication")]
    configuration: Annotated[str, Meta(description="the configuration file (relative to the target's root)")]
    declared: Annotated[DriftValue, Meta(description="the declared value")]
    running: Annotated[DriftValue, Meta(description="what runs")]
    in_sync: Annotated[bool, Meta(description="the running system is what is declared")]
    detail: Annotated[str, Meta(description="what the comparison found, e.g. the ports admitted but not declared (may be '')")]
