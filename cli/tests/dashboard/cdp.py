#!/usr/bin/env python3
"""Loads a page in headless Chromium, driven over the DevTools protocol on a pipe
(--remote-debugging-pipe: commands on fd 3, answers and events on fd 4, each a JSON text
ended by a NUL byte), waits, and prints as JSON what a test checks: every console error,
uncaught exception and failed load ("errors"), and the page's visible text ("text"). Saves
a PNG screenshot of the page.

    cdp.py URL SCREENSHOT.png SECONDS

Standard library only. Chromium runs without a sandbox (as root), without network
services of its own, in a fresh profile that is deleted afterwards.
"""
import base64
import json
import os
import select
import subprocess
import sys
import tempfile
import time


class Browser:
    def __init__(self, profile):
        commands_r, self.commands = os.pipe()
        self.answers, answers_w = os.pipe()

        def pipes():
            # In the child, before exec: the pipe ends onto fds 3 and 4 (by way of high fds,
            # in case either end already is 3 or 4); dup2 makes them inheritable.
            os.dup2(commands_r, 100)
            os.dup2(answers_w, 101)
            os.dup2(100, 3)
            os.dup2(101, 4)
            os.close(100)
            os.close(101)

        self.process = subprocess.Popen(
            [
                "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-dev-shm-usage", "--remote-debugging-pipe",
                f"--user-data-dir={profile}", "about:blank",
            ],
            close_fds=False,
            preexec_fn=pipes,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(commands_r)
        os.close(answers_w)
        self.buffer = b""
        self.next_id = 0
        self.events = []

    def read(self, timeout):
        """The next message, or None after `timeout` seconds without one."""
        while b"\0" not in self.buffer:
            ready, _, _ = select.select([self.answers], [], [], timeout)
            if not ready:
                return None
            chunk = os.read(self.answers, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method, params=None, session=None):
        """Sends a command and returns its result, keeping the events read meanwhile."""
        self.next_id += 1
        command = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            command["sessionId"] = session
        os.write(self.commands, json.dumps(command).encode() + b"\0")
        deadline = time.time() + 30
        while time.time() < deadline:
            message = self.read(deadline - time.time())
            if message is None:
                break
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)
        raise RuntimeError(f"{method}: no answer within 30 s")

    def wait(self, seconds):
        """Collects events for `seconds`."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            message = self.read(max(0.0, deadline - time.time()))
            if message is not None:
                self.events.append(message)

    def close(self):
        try:
            self.send("Browser.close")
        except RuntimeError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def errors(events):
    """Console errors, uncaught exceptions and error log entries (failed loads among them)."""
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            found.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            found.append("exception: " + details.get("exception", {}).get("description", details.get("text", "")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            found.append(f"log: {entry.get('text')} {entry.get('url', '')}".strip())
    return found


def main():
    url, screenshot, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    with tempfile.TemporaryDirectory() as profile:
        browser = Browser(profile)
        try:
            target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
                browser.send(domain, session=session)
            browser.send("Emulation.setDeviceMetricsOverride",
                         {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False}, session)
            browser.send("Page.navigate", {"url": url}, session)
            browser.wait(seconds)
            text = browser.send("Runtime.evaluate", {"expression": "document.body.innerText", "returnByValue": True},
                                session)["result"].get("value", "")
            shot = browser.send("Page.captureScreenshot", {"format": "png"}, session)["data"]
            with open(screenshot, "wb") as f:
                f.write(base64.b64decode(shot))
            print(json.dumps({"errors": errors(browser.events), "text": text}))
        finally:
            browser.close()


if __name__ == "__main__":
    main()
