"""A real headless Chromium driven over the DevTools protocol (no browser download of its own).

Debian's `chromium` is started with a fresh profile and `--remote-debugging-port=0`; the port
it picked is read from `DevToolsActivePort`, and one page target is attached (flat session) over
a WebSocket (`websockets`' sync client). Console messages, uncaught exceptions, log entries and
every network request are recorded from before the first navigation.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

CHROMIUM = os.environ.get("THRESHER_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--hide-scrollbars", "--mute-audio", "--remote-debugging-port=0",
]  # fmt: skip


class Chromium:
    """One browser process with one page; use as a context manager."""

    def __init__(self, width: int = 1280, height: int = 1600) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="thresher-chromium-"))
        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or len(port_file.read_text().splitlines()) < 2:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"chromium did not start (exit {self.proc.poll()})")
            time.sleep(0.1)
        port, path = port_file.read_text().splitlines()[:2]
        self.ws = connect(f"ws://127.0.0.1:{port}{path}", max_size=None, open_timeout=30)
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=None)
        attached = self.call(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, None
        )
        self.session: str | None = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, params: dict[str, Any] | None = None, session: Any = "page",
             timeout: float = 60.0) -> dict[str, Any]:  # fmt: skip
        """Send one command and wait for its answer (recording events that arrive meanwhile)."""
        message: dict[str, Any] = {"id": next(self._ids), "method": method, "params": params or {}}
        if session == "page":
            session = self.session
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while True:
            reply = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if reply.get("id") == message["id"]:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))
            if "method" in reply:
                self.events.append(reply)

    def wait_event(self, method: str, timeout: float = 60.0) -> dict[str, Any]:
        """The first recorded (or next arriving) event of a kind."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event["method"] == method and not event.get("_seen"):
                    event["_seen"] = True
                    return event
            reply = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if "method" in reply:
                self.events.append(reply)

    def open(self, url: str, *, javascript: bool = True) -> None:
        """Navigate and wait for the load event."""
        self.call("Emulation.setScriptExecutionDisabled", {"value": not javascript})
        self.call("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def eval(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page."""
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries seen so far."""
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.exceptionThrown":
                out.append(f"exception: {p['exceptionDetails']}")
            elif e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(f"console.{p['type']}: {p.get('args')}")
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        return out

    def requests(self) -> list[str]:
        """URLs of every request the page made."""
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e["method"] == "Network.requestWillBeSent"
        ]

    def screenshot(self, path: Path, selector: str | None = None) -> Path:
        """A PNG of the viewport, or of one element scrolled into view."""
        params: dict[str, Any] = {"format": "png"}
        if selector:
            box = self.eval(
                f"(() => {{const e = document.querySelector({json.dumps(selector)});"
                "e.scrollIntoView(); const r = e.getBoundingClientRect();"
                "return [r.x + scrollX, r.y + scrollY, r.width, r.height];})()"
            )
            params["clip"] = {"x": box[0], "y": box[1], "width": box[2],
                              "height": min(box[3], 4000), "scale": 1}  # fmt: skip
            params["captureBeyondViewport"] = True
        data = self.call("Page.captureScreenshot", params)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        """End the browser and remove its profile."""
        with contextlib.suppress(Exception):
            self.call("Browser.close", session=None, timeout=10)
        with contextlib.suppress(Exception):
            self.ws.close()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 9)
            self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)
