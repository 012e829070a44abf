"""sshd's matching of a client address against a pattern list: an authorized_keys `from=`
option (OpenSSH match.c match_host_and_ip, addrmatch.c addr_match_list, addr.c addr_pton_cidr).

Each comma-separated entry, `!` in front to negate, is a network in CIDR form (an address alone
is a network of one; host bits set beyond the mask are an error, as is an IPv4 mask over 32) or
else a wildcard pattern (`*` and `?`) matched against the address's text. The first negated
entry that matches refuses; an error refuses every address; an empty entry is an error. sshd
then matches the host name, which is the address where UseDNS is no (its default), against the
patterns once more, lowercased. Addresses are read by the C library's getaddrinfo as sshd reads
them (`127.1` and `0177.0.0.1` are 127.0.0.1).
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from collections.abc import Callable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_ERROR = "error"

PROBES_V4 = ("1.1.1.1", "8.8.8.8", "45.33.32.156", "93.184.216.34", "104.16.132.229", "151.101.1.69",
             "185.199.108.153", "192.0.2.99", "198.51.100.23", "203.0.113.77", "100.64.10.1", "223.255.254.254")
PROBES_V6 = ("2001:4860:4860::8888", "2606:4700:4700::1111", "2a00:1450:4001:82a::200e", "2001:db8::7",
             "2c0f:fb50:4003::1", "2400:cb00:2048:1::c629:d7a2")
"""Addresses from many networks of the Internet: patterns that admit all of one family's admit
a key from anywhere (`*`, `0.0.0.0/0`, `!10.0.0.1,*`)."""


def admits(patterns: str, address: str) -> bool:
    """Whether sshd lets a key whose `from=` is `patterns` in from `address` (UseDNS no)."""
    by_address = _address_list(address, patterns)
    if by_address in (_ERROR, -1):
        return False
    by_name = _pattern_list(address.lower(), patterns)
    return by_name != -1 and (by_name == 1 or by_address == 1)


def admits_anywhere(patterns: str) -> bool:
    """Whether `patterns` admit every probe address of IPv4 or every one of IPv6."""
    return all(admits(patterns, a) for a in PROBES_V4) or all(admits(patterns, a) for a in PROBES_V6)


def invalid(patterns: str) -> bool:
    """Whether sshd finds an error in `patterns` (an empty entry, a network with host bits set or
    an IPv4 mask over 32) and so refuses every address; sshd reads the entries in order and stops
    at a negated one that matches, so this says what it says for an address no entry negates."""
    return any(not entry.removeprefix("!") or _network(entry.removeprefix("!")) == _ERROR
               for entry in patterns.split(","))


def _address_list(address: str, patterns: str) -> int | str:
    """addr_match_list: 1 a match, 0 none, -1 a negated match, _ERROR an invalid entry."""
    host = _parse(address)
    if host is None:
        return 0
    found = 0
    for entry in patterns.split(","):
        negated = entry.startswith("!")
        if negated:
            entry = entry[1:]
        if not entry:
            return _ERROR
        network = _network(entry)
        if network == _ERROR:
            return _ERROR
        if isinstance(network, ipaddress.IPv4Network | ipaddress.IPv6Network):
            hit = host.version == network.version and host in network
        else:
            hit = _wildcard(entry)(address) is not None
        if hit:
            if negated:
                return -1
            found = 1
    return found


def _pattern_list(text: str, patterns: str) -> int:
    """match_pattern_list, lowercasing the patterns: 1 a match, 0 none, -1 a negated match. An
    entry of 1023 characters or more ends the list with no match at all."""
    found = 0
    for entry in patterns.split(","):
        negated = entry.startswith("!")
        if negated:
            entry = entry[1:]
        if len(entry) >= 1023:
            return 0
        if _wildcard(entry.lower())(text) is not None:
            if negated:
                return -1
            found = 1
    return found


@functools.lru_cache(maxsize=1024)
def _wildcard(pattern: str) -> Callable[[str], re.Match[str] | None]:
    """match_pattern: `*` any run of characters, `?` any one, the rest itself."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern) + r"\Z",
                      re.DOTALL).match


def _network(entry: str) -> Network | str | None:
    """addr_pton_cidr: the network `entry` names, None if it is no address (then a wildcard
    pattern), _ERROR for a mask too long for its family or host bits set beyond it."""
    if len(entry) >= 64:
        return None
    text, slash, mask = entry.partition("/")
    if slash:
        if not mask[:1].isdigit() or not mask.isdigit() or not mask.isascii() or int(mask) > 128:
            return None
    host = _parse(text)
    if host is None:
        return None
    bits = int(mask) if slash else host.max_prefixlen
    if bits > host.max_prefixlen:
        return _ERROR
    try:
        return ipaddress.ip_network(f"{host}/{bits}", strict=True)
    except ValueError:  # host bits set
        return _ERROR


@functools.lru_cache(maxsize=1024)
def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address getaddrinfo(AI_NUMERICHOST) reads in `text` (sshd's addr_pton), or None."""
    if not text or "\0" in text:
        return None
    try:
        found = socket.getaddrinfo(text, None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    for family, _, _, _, sockaddr in found:
        if family in (socket.AF_INET, socket.AF_INET6):
            return ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
    return None
