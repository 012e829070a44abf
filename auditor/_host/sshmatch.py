"""sshd's matching of a client address against an authorized_keys `from=` option (OpenSSH
match.c match_host_and_ip), on the address and pattern lists auditor._host.sshd reads Match
blocks with (addr_match_list, match_pattern_list).

Each comma-separated entry, `!` in front to negate, is a network in CIDR form (an address alone
is a network of one; host bits set beyond the mask are an error, as is an IPv4 mask over 32) or
else a wildcard pattern (`*` and `?`) matched against the address's text. The first negated
entry that matches refuses; an error refuses every address; an empty entry is an error. sshd
then matches the host name, which is the address where UseDNS is no (its default), against the
patterns once more, lowercased. Addresses are read by the C library's getaddrinfo as sshd reads
them (`127.1` and `0177.0.0.1` are 127.0.0.1).
"""

from __future__ import annotations

from auditor._host.sshd import address_list_match, pattern_list_match

PROBES_V4 = ("1.1.1.1", "8.8.8.8", "45.33.32.156", "93.184.216.34", "104.16.132.229", "151.101.1.69",
             "185.199.108.153", "192.0.2.99", "198.51.100.23", "203.0.113.77", "100.64.10.1", "223.255.254.254")
PROBES_V6 = ("2001:4860:4860::8888", "2606:4700:4700::1111", "2a00:1450:4001:82a::200e", "2001:db8::7",
             "2c0f:fb50:4003::1", "2400:cb00:2048:1::c629:d7a2")
"""Addresses from many networks of the Internet: patterns that admit all of one family's admit
a key from anywhere (`*`, `0.0.0.0/0`, `!10.0.0.1,*`)."""


def admits(patterns: str, address: str) -> bool:
    """Whether sshd lets a key whose `from=` is `patterns` in from `address` (UseDNS no: the host
    name sshd matches is the address)."""
    by_address = address_list_match(address, patterns)
    if by_address < 0:  # a negated match, or a malformed entry
        return False
    by_name = pattern_list_match(address.lower(), patterns, lower=True)
    return by_name != -1 and (by_name == 1 or by_address == 1)


def admits_anywhere(patterns: str) -> bool:
    """Whether `patterns` admit every probe address of IPv4 or every one of IPv6."""
    return all(admits(patterns, a) for a in PROBES_V4) or all(admits(patterns, a) for a in PROBES_V6)


def invalid(patterns: str) -> bool:
    """Whether sshd finds an error in `patterns` (an empty entry, a network with host bits set or
    an IPv4 mask over 32): addr_match_list's check of a list without an address, which sshd
    then refuses for every address."""
    return address_list_match(None, patterns) == -2
