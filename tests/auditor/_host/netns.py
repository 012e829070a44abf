"""Two network namespaces joined by a veth pair: a server behind a firewall and a client on the
internet, so the kernel itself says which ports a ruleset admits.

The server namespace has 203.0.113.1 and 2001:db8::1 and listens on every test port; the
client has 203.0.113.7 and 2001:db8::7 (the addresses auditor's firewall model uses for
"anywhere"). Rulesets are loaded with the real nft (or iptables-restore) inside the server
namespace; a port is admitted when the client's TCP connection completes. Needs root and
iproute2 (`ip netns`); where the sandbox refuses, `unavailable()` says why and the tests fall
back to recorded JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Sequence

SERVER = textwrap.dedent("""
    import socket, sys, select
    socks = []
    for port in map(int, sys.argv[1:]):
        for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((addr, port)); s.listen(64); socks.append(s)
    print("ready", flush=True)
    while True:
        for s in select.select(socks, [], [], 1)[0]:
            c, _ = s.accept(); c.close()
""")
CLIENT = textwrap.dedent("""
    import socket, sys, selectors, time, errno
    sel = selectors.DefaultSelector(); pending = {}
    for item in sys.argv[1:]:
        host, port = item.rsplit(",", 1)
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM); s.setblocking(False)
        s.connect_ex((host, int(port))); sel.register(s, selectors.EVENT_WRITE, item); pending[item] = s
    result = {}
    end = time.time() + float(__import__("os").environ.get("PROBE_TIMEOUT", "1.0"))
    def settle(wait):
        for key, _ in sel.select(wait):
            err = key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            result[key.data] = "accept" if err == 0 else "drop"
            sel.unregister(key.fileobj); key.fileobj.close(); pending.pop(key.data)
    while pending and time.time() < end:
        settle(max(0.01, end - time.time()))
    if pending:
        settle(0)  # a late look: the kernel answered while this process was not scheduled
    for item in pending: result[item] = "drop"
    print(" ".join(f"{k}={v}" for k, v in sorted(result.items())))
""")


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)


class Namespaces:
    def __init__(self, ports: Sequence[int]) -> None:
        tag = uuid.uuid4().hex[:6]
        self.server, self.client = f"aud-s-{tag}", f"aud-c-{tag}"
        self.ports = list(ports)
        self.proc: subprocess.Popen[str] | None = None

    def up(self) -> None:
        veth_s, veth_c = f"{self.server}-v", f"{self.client}-v"
        steps = [
            ("netns", "add", self.server), ("netns", "add", self.client),
            ("link", "add", veth_s[:15], "type", "veth", "peer", "name", veth_c[:15]),
            ("link", "set", veth_s[:15], "netns", self.server), ("link", "set", veth_c[:15], "netns", self.client),
            ("-n", self.server, "addr", "add", "203.0.113.1/24", "dev", veth_s[:15]),
            ("-n", self.client, "addr", "add", "203.0.113.7/24", "dev", veth_c[:15]),
            ("-n", self.server, "addr", "add", "2001:db8::1/64", "dev", veth_s[:15], "nodad"),
            ("-n", self.client, "addr", "add", "2001:db8::7/64", "dev", veth_c[:15], "nodad"),
            ("-n", self.server, "link", "set", veth_s[:15], "up"), ("-n", self.client, "link", "set", veth_c[:15], "up"),
            ("-n", self.server, "link", "set", "lo", "up"), ("-n", self.client, "link", "set", "lo", "up"),
        ]
        for step in steps:
            res = _ip(*step)
            if res.returncode != 0:
                self.down()
                raise OSError(f"ip {' '.join(step)}: {res.stderr.strip()}")
        # permanent neighbour entries: a ruleset that drops ICMPv6 would otherwise break neighbour
        # discovery, and the probe would measure that rather than the rule for the port
        macs = {}
        for ns, dev in ((self.server, veth_s[:15]), (self.client, veth_c[:15])):
            res = _ip("-n", ns, "-j", "link", "show", dev)
            macs[ns] = json.loads(res.stdout)[0]["address"]
        for ns, dev, peer, addr6, addr4 in ((self.server, veth_s[:15], self.client, "2001:db8::7", "203.0.113.7"),
                                            (self.client, veth_c[:15], self.server, "2001:db8::1", "203.0.113.1")):
            for addr in (addr6, addr4):
                res = _ip("-n", ns, "neigh", "replace", addr, "lladdr", macs[peer], "dev", dev, "nud", "permanent")
                if res.returncode != 0:
                    self.down()
                    raise OSError(f"ip neigh: {res.stderr.strip()}")
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.server, sys.executable, "-c", SERVER,
                                      *map(str, self.ports)], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            self.down()
            raise OSError("the test server did not start")

    def down(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None
        for ns in (self.server, self.client):
            _ip("netns", "del", ns)

    def in_server(self, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.server, *argv], input=stdin, capture_output=True,
                              text=True, timeout=60, check=False)

    def probe(self, versions: Sequence[int], ports: Sequence[int], timeout: float = 1.0) -> dict[tuple[int, int], str]:
        """What the kernel does with a new TCP connection from the client: accept or drop."""
        hosts = {4: "203.0.113.1", 6: "2001:db8::1"}
        res = subprocess.run(["ip", "netns", "exec", self.client, sys.executable, "-c", CLIENT,
                              *(f"{hosts[v]},{p}" for v in versions for p in ports)], capture_output=True, text=True,
                             timeout=60, check=False, env={**os.environ, "PROBE_TIMEOUT": str(timeout)})
        out = {}
        for item in res.stdout.split():
            key, _, verdict = item.partition("=")
            host, _, port = key.rpartition(",")
            out[(6 if ":" in host else 4, int(port))] = verdict
        return out


def unavailable() -> str | None:
    """None when network namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"aud-probe-{os.getpid()}"
    res = _ip("netns", "add", probe)
    if res.returncode != 0:
        return f"ip netns add is refused here: {res.stderr.strip()}"
    _ip("netns", "del", probe)
    time.sleep(0)
    return None
