"""auditor/_nats/gourl.py against `nats-server -t`: which route, leafnode and gateway URLs the server refuses.

Each URL is written as a cluster route (and some as a leafnode remote's and a gateway's URL)
in a config of its own; the server's verdict on the file must be auditor's. The URLs are
hand-picked edges of Go's url.Parse and generated ones put together from the parts a URL has
(scheme, `//`, user information, host, port, path, query, fragment), each part drawn from
pieces the parser treats differently.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from auditor._nats.gourl import parse, url_error
from tests.auditor._nats.oracle import auditor_verdict, server_verdict

EDGES = [
    "nats://h:4222", "nats://127.0.0.1:-1", "nats://h:x", "nats://h:", "127.0.0.1:4222", "localhost:4222",
    ":4222", "", "*", "//h:4222", "///h", "h/a:b", "1nats://h", "n_ats://h:1", "nats:%zz", "nats:?x:y",
    "nats://[::1]:4222", "nats://[::1]", "nats://[1.2.3.4]:4222", "nats://[abc]:1", "nats://[v1.x]:1",
    "nats://[::ffff:1.2.3.4]:1", "nats://[00000::1]:1", "nats://[]:1", "nats://[::1", "nats://[::1]x",
    "nats://[::1]:4222:5", "nats://[::1]]:1", "nats://x[::1]:1", "nats://h[:1", "nats://h]:1",
    "nats://[fe80::1%25en0]:1", "nats://[fe80::1%en0]:1", "nats://[::1%25]:1", "nats://[::1%25%20x]:1",
    "nats://[::1%25x%0a]:1", "nats://[::1%25%c3%a9]:1", "nats://[1.2.3.4%25en0]:1", "nats://user@[::1]:1",
    "nats://[::1]@h:1", "nats://u:p@h:1", "nats://a@b@h:1", "nats://u{:p@h:1", "nats://ü@h:1",
    "nats://u%zz@h:1", "nats://u:p%zz@h:1", "nats://u p@h:1", "nats://h h:1", "nats://h|x:1",
    "nats://h{x}:1", "nats://h<x>':1", "nats://%41:1", "nats://%c3%a9:1", "nats://é:1", "nats://h%2:1",
    "nats://h%7e:1", "nats://h%80:1", "nats://h:1/%zz", "nats://h:1/%41%2", "nats://h:1/a b",
    "nats://h:1?%zz", "nats://h:1?", "nats://h:1#%zz", "nats://h:1#a b", " nats://h:4222 ",
    "nats://h:4222\t/x", "\tnats://h:1\n",
]


def conf(url: str, where: str) -> str:
    quoted = json.dumps(url)  # the NATS double-quoted string reads JSON's escapes alike
    if where == "leafnode":
        return f"leafnodes {{ remotes [ {{ url: {quoted} }} ] }}\n"
    if where == "gateway":
        return f"gateway {{ name: A, port: -1, gateways: [ {{ name: B, url: {quoted} }} ] }}\n"
    return f"cluster {{ port: -1, routes: [{quoted}] }}\n"


def disagreements(tmp_path: Path, urls: list[tuple[str, str]]) -> tuple[list[str], int]:
    path, found, refused = tmp_path / "url.conf", [], 0
    for url, where in urls:
        path.write_text(conf(url, where))
        server, ours = server_verdict(path, cwd=tmp_path), auditor_verdict(path)
        refused += not server.accepted
        if server.accepted != ours.accepted:
            found.append(f"{where} {url!r}: nats-server {'accepts' if server.accepted else 'refuses'} "
                         f"({server.message}); auditor {ours.message or 'accepts'}")
    return found, refused


def test_edges_agree_with_nats_server(tmp_path: Path) -> None:
    urls = [(url, "route") for url in EDGES] + [(url, where) for url in EDGES[:12] for where in ("leafnode", "gateway")]
    found, refused = disagreements(tmp_path, urls)
    assert not found, "\n".join(found)
    assert 0.3 < refused / len(urls) < 0.8


PARTS = [
    ["nats", "tls", "NATS", "ws", "n_ats", "1x", "", "x+y.z-w"],
    ["://", "//", ":", ":/", "", ":///"],
    ["", "u@", "u:p@", "u:@", "u p@", "u%41@", "u%zz:p@", "[::1]@", "ü@", "a@b@", "u:p:q@", "%@"],
    ["h", "127.0.0.1", "[::1]", "[1.2.3.4]", "[fe80::1%25en0]", "[::1%25]", "h]", "h[", "%41", "%c3%a9", "%zz",
     "h h", "h|", "é", "", "[", "]", "[::1]]", "h<>", "*"],
    ["", ":4222", ":-1", ":", ":x", ":4222:1", "::"],
    ["", "/", "/a b", "/%zz", "/%41", "/a:b", "/?"],
    ["", "?", "?%zz", "?a?b", "?x:y"],
    ["", "#", "#%zz", "#a b", "#?"],
]


def generated(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    urls = ["".join(rng.choice(part) for part in PARTS) for _ in range(count)]
    alphabet = "ab1:/@[]%?#. -_~|{}!$&'()*+,;=<>é\t"
    urls += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14))) for _ in range(count // 4)]
    return urls


def test_generated_urls_agree_with_nats_server(tmp_path: Path) -> None:
    urls = generated(23, 240)
    found, refused = disagreements(tmp_path, [(url, "route") for url in urls])
    assert not found, f"{len(found)} of {len(urls)} disagree:\n" + "\n".join(found[:20])
    assert 0.2 < refused / len(urls) < 0.9


@pytest.mark.parametrize(("url", "scheme", "password"), [
    ("tls://u:p@h:7422", "tls", True), ("NATS://u@h", "nats", False), ("nats://u:@h", "nats", False),
    ("ws://h]:1", "ws", False), ("localhost:4222", "localhost", False), ("//u:p@h", "", True),
    ("nats://a@b:c@h", "nats", True), ("nats://a:b@c@h", "nats", True),
])
def test_scheme_and_password(url: str, scheme: str, password: bool) -> None:
    read = parse(url)
    assert (read.scheme, read.password, read.error) == (scheme, password, None)


def test_refusals_say_why() -> None:
    assert url_error("nats://127.0.0.1:-1") == "invalid port ':-1' after host"
    assert url_error("127.0.0.1:4222") == "first path segment in URL cannot contain colon"
    assert url_error("nats://[1.2.3.4]:1") == "invalid IP-literal '[1.2.3.4]'"
    assert url_error("nats://h h:1") == "invalid character ' ' in host name"


RESOLVERS = ["MEMORY", "memo", "xmem", "URL", "foo URL", "URLx", 'URL("http://h/")', "url(http://h/)",
             "URL( http://h/ )", "xURL(http://h/)", "URL(http://h/) trailing", 'URL("http://h/"', "URL()",
             'URL("http://h:-1/")', "URL(127.0.0.1:80)", "URL(http://[1.2.3.4]/)", "URL(\vhttp://h:-1/)",
             "URL(http://h:-1/", "url url(http://h:-1/)", "MeM URL(http://h:-1/)", "nothing", ""]


def test_resolver_strings_agree_with_nats_server(tmp_path: Path) -> None:
    """A resolver string: the server searches it for MEM, else for URL and the URL in the
    parentheses after it (unanchored, in any case), and parses that URL."""
    path, found, refused = tmp_path / "resolver.conf", [], 0
    for text in RESOLVERS:
        path.write_text(f"resolver: {json.dumps(text)}\n")
        server, ours = server_verdict(path, cwd=tmp_path), auditor_verdict(path)
        refused += not server.accepted
        if server.accepted != ours.accepted:
            found.append(f"{text!r}: nats-server {server.message or 'accepts'}; auditor {ours.message or 'accepts'}")
    assert not found, "\n".join(found)
    assert 0 < refused < len(RESOLVERS)


def test_a_remote_python_cannot_split_is_read_as_the_server_reads_it(tmp_path: Path) -> None:
    """`h]` is a host to Go's url.Parse, and Python's urlsplit raises on it: the leafnode remote
    is interpreted (its scheme, its password) instead of failing the whole config."""
    from auditor._nats.conf import parse_file
    from auditor._nats.config import interpret

    path = tmp_path / "remote.conf"
    path.write_text(conf("tls://u:p@h]:7422", "leafnode"))
    assert server_verdict(path, cwd=tmp_path).accepted
    settings = interpret(parse_file(path)).settings
    assert settings is not None
    (remote,) = settings.leafnodes.remotes
    assert remote.uses_tls and remote.url_has_password and remote.urls == ("tls://h]:7422",)
