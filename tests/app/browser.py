"""Serving the app headless and looking at it with headless Chromium: used by the browser
test (tests/app/test_browser.py) and by docs/make_screenshots.py.

Nothing here is imported by the app itself; it needs Chromium on PATH and the
``websockets`` package (installed with Streamlit's server dependencies).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tsssm.app import RUNS_DIR_ENV
from tsssm.app.serve import server_command

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
# What Streamlit draws when a script raises: its exception box.
EXCEPTION_MARKERS = ('data-testid="stException"', "Traceback (most recent call last)")


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) executable on PATH, if any."""
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serve(runs_dir: Path, timeout: float = 90.0) -> Iterator[str]:
    """Run the app headless on a free loopback port for the block; yields its URL.

    Raises:
        RuntimeError: the server did not answer its health check within ``timeout`` seconds
            (the message holds the end of its output).
    """
    port = free_port()
    command = server_command(port, "127.0.0.1", headless=True)  # as `tsssm app` serves it
    env = {**os.environ, RUNS_DIR_ENV: str(Path(runs_dir).resolve())}
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, server, log, timeout)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait_healthy(url: str, server: subprocess.Popen, log: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            break
        with (contextlib.suppress(OSError),
              urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply):
            if reply.status == 200:
                return
        time.sleep(0.5)
    log.seek(0)  # type: ignore[attr-defined]
    tail = log.read()[-2000:].decode(errors="replace")  # type: ignore[attr-defined]
    raise RuntimeError(f"the app did not start at {url} within {timeout:.0f} s:\n{tail}")


class Chromium:
    """Headless Chromium driven through its DevTools protocol (``websockets``' client).

    A plain ``chromium --screenshot`` cannot be used on a Streamlit app: the page draws only
    after the script has run on the server, over a websocket, which Chromium's virtual time
    does not wait for. Here the page is opened, and captured only once the app is idle (no
    "running" widget) and its main area has content.

        with Chromium(chromium_path, (1400, 1600)) as browser:
            browser.open(url)
            browser.screenshot(Path("page.png")); html = browser.dom()
    """

    def __init__(self, executable: str, size: tuple[int, int] = (1400, 1600)) -> None:
        self.executable, self.size = executable, size

    def __enter__(self) -> Chromium:
        from websockets.sync.client import connect

        port = free_port()
        self._profile = tempfile.TemporaryDirectory()
        self._process = subprocess.Popen(
            [self.executable, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--hide-scrollbars", "--no-first-run",
             # Offline: no updates, sync or metrics, and no host but the loopback resolves.
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-domain-reliability", "--metrics-recording-only",
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
             f"--remote-debugging-port={port}", "--remote-allow-origins=*",
             f"--user-data-dir={self._profile.name}",
             f"--window-size={self.size[0]},{self.size[1]}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._stack = contextlib.ExitStack()
        try:
            page = self._page_target(port)
            self._socket = self._stack.enter_context(
                connect(page, max_size=2**26, open_timeout=30))
        except BaseException:
            self._stop()
            raise
        self._id = 0
        width, height = self.size
        self._call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                   deviceScaleFactor=1, mobile=False)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        self._stop()

    def _stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._profile.cleanup()

    @staticmethod
    def _page_target(port: int, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list",
                                            timeout=2) as reply:
                    pages = [t for t in json.load(reply) if t.get("type") == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
            time.sleep(0.3)
        raise RuntimeError(f"chromium's DevTools did not answer on port {port}")

    def _call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self._socket.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv(timeout=60))
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"chromium {method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self._call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def open(self, url: str, timeout: float = 90.0, settle: float = 2.0,
             poll: float = 0.5) -> None:
        """Load ``url`` and wait until the app has run and drawn (looking every ``poll``
        seconds; then ``settle`` seconds more, for the charts' own rendering).

        Raises:
            TimeoutError: the app still runs, or shows nothing, after ``timeout`` seconds.
        """
        self._call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(poll)
            if self.evaluate(_IDLE):
                time.sleep(settle)
                if self.evaluate(_IDLE):
                    return
        raise TimeoutError(f"{url} did not finish drawing within {timeout:.0f} s")

    def screenshot(self, path: Path) -> Path:
        """A PNG of the page as shown (the window's size)."""
        data = self._call("Page.captureScreenshot", format="png")["data"]
        path = Path(path)
        path.write_bytes(base64.b64decode(data))
        return path

    def dom(self) -> str:
        """The page's HTML as it is now."""
        return str(self.evaluate("document.documentElement.outerHTML"))


# The app is idle and drawn: no "running" status widget, and text in its main area.
_IDLE = """(() => {
  const main = document.querySelector('[data-testid="stMainBlockContainer"]');
  const running = document.querySelector('[data-testid="stStatusWidget"]');
  return !running && !!main && main.innerText.trim().length > 0;
})()"""


def exception_shown(dom: str) -> bool:
    """Whether the page shows a Streamlit exception box or a Python traceback."""
    return any(marker in dom for marker in EXCEPTION_MARKERS)
