"""Headless Chromium (Debian's ``chromium``) driven over the DevTools protocol, for the UI tests.

A fresh ``--user-data-dir`` per session, no first-run, sync, component updates or background networking, and
two fences so that nothing can leave the loopback range: host names other than 127.0.0.1/localhost do not
resolve, and every request that is not to 127.0.0.1 goes to a closed local proxy port. The websocket is
``websockets``' synchronous client; the protocol is plain JSON commands with ids.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

CHROMIUM_NAMES = ("chromium", "chromium-browser")


def chromium_binary() -> str | None:
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


class CDPError(RuntimeError):
    pass


class Page:
    """One page target: commands, JavaScript evaluation, navigation, screenshots."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, *, timeout: float = 30.0) -> dict[str, Any]:
        msg_id = next(self._ids)
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CDPError(f"{method}: no answer in {timeout:.0f} s")
            message = json.loads(self._ws.recv(timeout=remaining))
            if message.get("id") == msg_id:
                if "error" in message:
                    raise CDPError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    def evaluate(self, expression: str, *, timeout: float = 30.0) -> Any:
        """The value of a JavaScript expression (promises awaited), or CDPError with the page's exception."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            timeout=timeout,
        )
        if "exceptionDetails" in result:
            raise CDPError(f"JavaScript failed: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, *, timeout: float = 30.0, what: str = "") -> Any:
        """Poll a JavaScript expression until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                text = self.evaluate("document.body ? document.body.innerText.slice(0, 3000) : ''")
                raise CDPError(f"timed out waiting for {what or expression}; the page shows:\n{text}")
            time.sleep(0.25)

    def goto(self, url: str) -> None:
        self.send("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete'", what=f"{url} to load")

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def click_text(self, selector: str, text: str, *, timeout: float = 30.0) -> None:
        """Click (a real mouse click, as a user does) the first element matching ``selector`` whose visible
        text is ``text`` (trimmed)."""
        expression = (
            f"(() => {{ const el = [...document.querySelectorAll({json.dumps(selector)})]"
            f".find(e => e.offsetParent !== null && e.innerText && e.innerText.trim() === {json.dumps(text)});"
            " if (!el) return null; el.scrollIntoView({block: 'center'}); const r = el.getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        deadline = time.monotonic() + timeout
        where = self.wait_for(expression, timeout=timeout, what=f"{selector} {text!r} to click")
        # Only click an element that has stopped moving (a menu that is still opening, a page still laying out):
        # a click at where it was a moment ago lands beside it, and nothing happens (seen in CI on menus and tabs).
        while True:
            time.sleep(0.15)
            now = self.evaluate(expression)
            if now is not None and now == where:
                break
            if time.monotonic() > deadline:
                raise CDPError(f"{selector} {text!r} did not hold still to be clicked")
            where = now if now is not None else where
        self.click_at(float(where[0]), float(where[1]))

    def click_at(self, x: float, y: float) -> None:
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})


@contextlib.contextmanager
def chromium(user_data_dir: Path, *, width: int = 1400, height: int = 1000) -> Iterator[Page]:
    """A headless Chromium with one blank page, closed (by its process id) on exit."""
    binary = chromium_binary()
    if binary is None:
        raise RuntimeError("chromium is not installed: apt-get install -y chromium")
    user_data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--remote-debugging-port=0",
        "--remote-debugging-address=127.0.0.1",
        f"--user-data-dir={user_data_dir}",
        f"--window-size={width},{height}",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-domain-reliability",
        "--disable-client-side-phishing-detection",
        "--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication",
        "--metrics-recording-only",
        "--safebrowsing-disable-auto-update",
        # fences: no name resolves but the loopback ones, and anything not for 127.0.0.1 hits a closed proxy
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
        "--proxy-server=http://127.0.0.1:9",
        "--proxy-bypass-list=127.0.0.1;localhost",
        "about:blank",
    ]
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True
    )
    try:
        port_file = user_data_dir / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chromium did not start (exit code {proc.poll()})")
            time.sleep(0.1)
        port = int(port_file.read_text().splitlines()[0])
        targets = _json(f"http://127.0.0.1:{port}/json/list")
        page_target = next(t for t in targets if t.get("type") == "page")
        with connect(page_target["webSocketDebuggerUrl"], max_size=None, open_timeout=30, ping_interval=None) as ws:
            page = Page(ws)
            page.send("Page.enable")
            page.send("Runtime.enable")
            page.send("Network.enable")
            yield page
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _json(url: str) -> Any:
    import httpx

    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.get(url, timeout=5, trust_env=False).json()
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
