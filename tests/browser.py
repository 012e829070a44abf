"""A small DevTools-protocol client for tests: real headless Chromium over --remote-debugging-pipe.

Chromium reads commands from fd 3 and writes replies and events to fd 4, each a JSON message
ended by a NUL byte. Tests open a page, read what its console and network did, query the DOM
and take screenshots. Every run has a fresh profile and is bounded by timeouts; the browser is
always stopped (its process group killed if it will not close).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor._render.chromium import base_flags, find_chromium

TIMEOUT = 60.0
FIRST_SCREEN = (1400, 900)
"""A desktop browser window: the width the reports are checked at, and one screen's height."""

# The text a reader sees without scrolling: every text node whose box lies (at least half) within
# the viewport and that is rendered (not display:none, visibility:hidden or a collapsed
# <details>), in document order, one line per block (text nodes of one block joined as written,
# so a path split by <wbr> reads whole).
VISIBLE_TEXT = """
(() => {
  const out = [];
  const h = window.innerHeight, w = window.innerWidth;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let last = null;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.replace(/\\s+/g, ' ');
    if (!text.trim()) continue;
    const el = node.parentElement;
    if (!el || getComputedStyle(el).visibility !== 'visible' || !el.checkVisibility()) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const rects = Array.from(range.getClientRects()).filter((r) => r.width > 0 && r.height > 0);
    const seen = rects.filter((r) => r.top + r.height / 2 < h && r.bottom > 0 && r.left < w && r.right > 0);
    if (!seen.length) continue;
    const block = el.closest('p, li, td, th, dd, dt, h1, h2, h3, h4, summary, div, section, header, nav a');
    out.push(block === last ? text : '\\n' + text);
    last = block;
  }
  return out.join('').split('\\n').map((line) => line.replace(/ +/g, ' ').trim()).filter(Boolean).join('\\n');
})()
"""


@dataclass
class PageLog:
    """What happened while a page loaded: console messages, exceptions, requests."""

    console: list[tuple[str, str]] = field(default_factory=list)
    """(level, text) of console API calls and browser log entries."""
    exceptions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def errors(self) -> list[str]:
        return [text for level, text in self.console if level in ("error", "assert")] + self.exceptions


class Browser:
    def __init__(self, profile: Path) -> None:
        exe = find_chromium()
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire() -> None:  # runs in the child: the pipe ends become fds 3 and 4
            a, b = os.dup(to_child_r), os.dup(from_child_w)  # first out of the way of 3 and 4
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [exe, *base_flags(profile), "--remote-debugging-pipe", "--hide-scrollbars", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,  # fds 3 and 4 are inheritable copies; every other fd is close-on-exec
            preexec_fn=wire,  # a test helper: no threads are running here
            start_new_session=True,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_child], [], [], left)
            if ready:
                chunk = os.read(self._from_child, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe")
                self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        message: dict[str, Any] = json.loads(raw)
        return message

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self.events.append(reply)

    def wait_event(self, method: str, session: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        for i, event in enumerate(self.events):
            if event["method"] == method and event.get("sessionId") == session:
                return self.events.pop(i)
        while True:
            message = self._read_message(deadline)
            if message.get("method") == method and message.get("sessionId") == session:
                return message
            if "method" in message:
                self.events.append(message)

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):
            self._next_id += 1
            os.write(self._to_child, json.dumps({"id": self._next_id, "method": "Browser.close"}).encode() + b"\0")
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)
        finally:
            for fd in (self._to_child, self._from_child):
                with contextlib.suppress(OSError):
                    os.close(fd)


class Page:
    def __init__(self, browser: Browser, width: int, height: int) -> None:
        self.browser = browser
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            browser.send(f"{domain}.enable", session=self.session)
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            self.session,
        )

    def open(self, url: str) -> PageLog:
        self.browser.events.clear()
        self.browser.send("Page.navigate", {"url": url}, self.session)
        self.browser.wait_event("Page.loadEventFired", self.session)
        self.evaluate("1")  # let late console messages arrive before they are read
        log = PageLog()
        for event in self.browser.events:
            if event.get("sessionId") != self.session:
                continue
            params = event.get("params", {})
            method = event["method"]
            if method == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                log.console.append((params.get("type", ""), text))
            elif method == "Log.entryAdded":
                entry = params.get("entry", {})
                log.console.append((entry.get("level", ""), entry.get("text", "")))
            elif method == "Runtime.exceptionThrown":
                log.exceptions.append(json.dumps(params.get("exceptionDetails", {}))[:500])
            elif method == "Network.requestWillBeSent":
                log.requests.append(params.get("request", {}).get("url", ""))
        return log

    def evaluate(self, expression: str) -> Any:
        reply = self.browser.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}, self.session
        )
        if "exceptionDetails" in reply:
            raise RuntimeError(f"script failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def visible_text(self) -> str:
        """The text on the current screen (the viewport, not scrolled), one line per block."""
        text: str = self.evaluate(VISIBLE_TEXT)
        return text

    def screenshot(self, path: Path, *, full_page: bool = True) -> None:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.browser.send("Page.getLayoutMetrics", session=self.session)["cssContentSize"]
            params["captureBeyondViewport"] = True
            params["clip"] = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        data = self.browser.send("Page.captureScreenshot", params, self.session)["data"]
        path.write_bytes(base64.b64decode(data))


@dataclass(frozen=True)
class FirstScreen:
    """What a reader sees of a page on opening it at FIRST_SCREEN: its text and what loaded."""

    text: str
    log: PageLog


def first_screen(html: Path, screenshot: Path | None = None) -> FirstScreen:
    """Open `html` in a fresh Chromium at 1400x900; its first screen's text (and a PNG of it)."""
    with chromium_page(*FIRST_SCREEN) as page:
        log = page.open(html.as_uri())
        if screenshot is not None:
            page.screenshot(screenshot, full_page=False)
        return FirstScreen(page.visible_text(), log)


@contextlib.contextmanager
def chromium_page(width: int = 1200, height: int = 900) -> Iterator[Page]:
    """A page in a fresh headless Chromium, closed afterwards whatever happens."""
    with tempfile.TemporaryDirectory(prefix="auditor-browser-") as tmp:
        browser = Browser(Path(tmp) / "profile")
        try:
            yield Page(browser, width, height)
        finally:
            browser.close()
