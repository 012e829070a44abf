"""The ACME server over HTTP: a small ASGI application served by uvicorn.

uvicorn (h11, asyncio) was chosen for its start-up cost: importing it took 0.29 s against
0.39 s for hypercorn and 0.92 s for aiohttp on the shared project machine
(tests/benchmarks/test_bench_acme.py; docs/pki.md has the figures). Requests are read
with a size limit and handed to :meth:`AcmeServer.handle` in a thread pool, so the event loop
never waits on SQLite, the CA's lock or a signature.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import signal
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pki.acme.problems import AcmeProblem
from pki.acme.server import AcmeServer, Request, Response

MAX_BODY = 64 * 1024
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def application(server: AcmeServer, *, threads: int = 8, max_body: int = MAX_BODY) -> App:
    """The ASGI application: lifespan starts and stops `server`, HTTP requests go to it."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="acme-request")

    async def lifespan(receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await loop.run_in_executor(pool, server.start)
                except Exception as exc:  # reported to uvicorn, which stops
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                server.stop()
                pool.shutdown(wait=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def respond(send: Send, response: Response, head_only: bool) -> None:
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
        if response.content_type:
            headers.append((b"content-type", response.content_type.encode()))
        headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head_only else response.body})

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > max_body:
                problem = AcmeProblem("malformed", f"the request body is larger than {max_body} bytes", status=413)
                await respond(send, Response(413, json.dumps(problem.to_json()).encode(), "application/problem+json"),
                              False)
                return
            if not message.get("more_body", False):
                break
        request = Request(method=scope["method"], path=scope["path"], scheme=scope.get("scheme", "http"),
                          host=headers.get("host", ""), content_type=headers.get("content-type", ""), body=bytes(body))
        loop = asyncio.get_running_loop()
        response = await loop.run_in_executor(pool, server.handle, request)
        await respond(send, response, scope["method"] == "HEAD")

    return app


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); OSError when it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve(server: AcmeServer, sock: socket.socket, *, tls_cert: str | None = None, tls_key: str | None = None,
          threads: int = 8) -> None:
    """Serve until SIGINT or SIGTERM (uvicorn handles both: a graceful stop)."""
    import uvicorn

    config = uvicorn.Config(
        application(server, threads=threads), ssl_certfile=tls_cert, ssl_keyfile=tls_key, lifespan="on",
        log_config=None, log_level="warning", access_log=False, server_header=False, proxy_headers=False,
        http="h11", ws="none", loop="asyncio", interface="asgi3", timeout_graceful_shutdown=5,
    )
    # uvicorn stops gracefully on SIGINT/SIGTERM, then re-raises the signal with the handlers it
    # found: with these, the re-raised signal is a no-op and the command exits 0 after a clean stop
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore(signum: int, frame: object) -> None:
    return
