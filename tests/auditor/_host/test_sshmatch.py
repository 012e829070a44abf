"""sshd's from= matching (auditor._host.sshmatch), case by case; test_authkeys_oracle.py holds
the same matcher to the real sshd with generated patterns."""

from __future__ import annotations

import pytest

from auditor._host import sshmatch

ADMITS = [
    ("127.0.0.2", "127.0.0.2", True),
    ("127.0.0.2", "127.0.0.3", False),
    ("127.0.0.0/24", "127.0.0.9", True),
    ("127.0.0.1/8", "127.0.0.1", False),  # host bits beyond the mask: an error, every address refused
    ("127.0.0.0/33", "127.0.0.1", False),  # a mask too long for IPv4: an error
    ("127.0.0.0/129", "127.0.0.1", False),  # no mask sshd reads: a wildcard pattern, matching only itself
    ("127.0.0.*", "127.0.0.7", True),
    ("127.0.0.?", "127.0.0.17", False),
    ("*", "203.0.113.5", True),
    ("!127.0.0.2,*", "127.0.0.2", False),
    ("*,!127.0.0.2", "127.0.0.2", False),  # a negated match refuses wherever it stands
    ("!127.0.0.2,*", "127.0.0.3", True),
    ("127.0.0.2,,127.0.0.3", "127.0.0.3", False),  # an empty entry is an error
    ("127.1", "127.0.0.1", True),  # getaddrinfo reads IPv4 shorthand
    ("0177.0.0.1", "127.0.0.1", True),  # and octal
    ("localhost", "127.0.0.1", False),  # with UseDNS no the host name is the address
    ("127.0.0.2 ", "127.0.0.2", False),
    ("2001:db8::/32", "2001:db8::1", True),
    ("2001:db8::/32", "127.0.0.1", False),
]


@pytest.mark.parametrize(("patterns", "address", "admitted"), ADMITS)
def test_admits(patterns: str, address: str, admitted: bool) -> None:
    assert sshmatch.admits(patterns, address) is admitted


@pytest.mark.parametrize(("patterns", "anywhere"), [
    ("*", True), ("0.0.0.0/0", True), ("::/0", True), ("!10.0.0.1,*", True), ("*.*.*.*", True),
    ("10.0.0.0/8", False), ("10.0.0.0/8,192.168.0.0/16", False), ("1*", False), ("0.0.0.0/1", False),
    ("127.0.0.1/8", False),
])
def test_admits_anywhere(patterns: str, anywhere: bool) -> None:
    assert sshmatch.admits_anywhere(patterns) is anywhere


def test_invalid_entries() -> None:
    assert sshmatch.invalid("10.0.0.1/8") and sshmatch.invalid("a,,b") and sshmatch.invalid("!")
    assert not sshmatch.invalid("10.0.0.0/8,*.example.com,!10.0.0.1")
