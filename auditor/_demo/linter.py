"""A process that lints for the demo's builder (auditor._demo.start_build).

Building the demo issues its certificates through the CA, which lints each one before it
signs it (pki.issuance); importing pkilint takes about 0.2 s of CPU. The scan forks this
process first, before it imports anything else: it imports pkilint on the machine's other core
while the scan imports what the builder needs (cryptography, pki, YAML ...), then the builder
(forked next) sends it each certificate to lint and waits for the report (pki.lint.linted_by).
Nothing is skipped or trusted: it runs pki.lint.lint_der, the function the CA runs
in-process, on the same bytes, and the CA refuses on its report exactly as on its own; a lint
process that fails or goes away makes the builder fail, and the scan then builds the demo
again in-process (auditor._demo.wait_built).

The two processes talk over a pair of pipes, one frame each way per certificate: a 4-byte
length and JSON (the certificate and its issuer in base64; the report as LintReport.to_dict,
or an error). Only processes of this one program are at either end.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import sys
from typing import TYPE_CHECKING

from pki.errors import PKIError

if TYPE_CHECKING:
    from pki.lint import LintReport

MAX_FRAME = 16 << 20
"""The most bytes of one frame (a certificate pair, or a report)."""


class LintProcessError(PKIError):
    """The lint process failed or went away: the build fails, and is done again in-process."""


def _write_frame(fd: int, payload: bytes) -> None:
    data = len(payload).to_bytes(4, "big") + payload
    while data:
        data = data[os.write(fd, data):]


def _read_exactly(fd: int, size: int) -> bytes | None:
    parts, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 16))
        if not chunk:
            return None
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _read_frame(fd: int) -> bytes | None:
    """The next frame's payload; None at the end of the stream (or a frame cut short)."""
    head = _read_exactly(fd, 4)
    if head is None:
        return None
    size = int.from_bytes(head, "big")
    if size > MAX_FRAME:
        return None
    return _read_exactly(fd, size)


def _serve(requests: int, answers: int) -> None:
    """Lint each certificate pair read from `requests`, answering on `answers`, until the
    stream ends (the builder has finished or died)."""
    from pki.lint import _validators, lint_der

    _validators()  # pkilint imported and its validators made before the first request
    while (frame := _read_frame(requests)) is not None:
        try:
            request = json.loads(frame)
            issuer = request["issuer"]
            report = lint_der(base64.b64decode(request["cert"]), None if issuer is None else base64.b64decode(issuer))
            answer: dict[str, object] = {"report": report.to_dict()}
        except Exception as exc:  # reported to the builder, which fails the build
            answer = {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"}
        _write_frame(answers, json.dumps(answer).encode())


class LintProcess:
    """The lint process, forked by :meth:`start`; :meth:`lint` (in the builder) sends it one
    certificate, :meth:`release` (in the scan, once the builder is forked) closes the scan's
    ends of the pipes, :meth:`reap` collects its exit status."""

    def __init__(self, pid: int, requests: int, answers: int) -> None:
        self.pid = pid
        self.requests = requests
        self.answers = answers

    @classmethod
    def start(cls) -> LintProcess:
        """Fork the lint process (OSError if it cannot be: nothing is left open)."""
        requests_r, requests_w = os.pipe()
        answers_r, answers_w = os.pipe()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        try:
            pid = os.fork()
        except OSError:
            for fd in (requests_r, requests_w, answers_r, answers_w):
                os.close(fd)
            raise
        if pid == 0:  # the lint process: serve, then leave without the parent's exit handlers
            code = 1
            try:
                os.close(requests_w)
                os.close(answers_r)
                _serve(requests_r, answers_w)
                code = 0
            except BaseException:  # noqa: S110 - the builder sees the stream end and fails
                pass
            finally:
                os._exit(code)
        os.close(requests_r)
        os.close(answers_w)
        return cls(pid, requests_w, answers_r)

    def lint(self, der: bytes, issuer_der: bytes | None) -> LintReport:
        """pki.lint.lint_der(der, issuer_der), run by the lint process."""
        from pki.lint import LintReport

        request = {"cert": base64.b64encode(der).decode(),
                   "issuer": None if issuer_der is None else base64.b64encode(issuer_der).decode()}
        try:
            _write_frame(self.requests, json.dumps(request).encode())
        except OSError as exc:
            raise LintProcessError(f"the lint process is gone: {exc.strerror}") from None
        frame = _read_frame(self.answers)
        if frame is None:
            raise LintProcessError("the lint process is gone")
        try:
            answer = json.loads(frame)
            if "error" in answer:
                raise LintProcessError(f"the lint process failed: {answer['error']}")
            return LintReport.from_dict(answer["report"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise LintProcessError("the lint process answered something else than a report") from None

    def release(self) -> None:
        """Close this process's ends of the pipes (the builder holds its own copies): the lint
        process stops when the builder does."""
        for fd in (self.requests, self.answers):
            with contextlib.suppress(OSError):
                os.close(fd)

    def reap(self) -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
