"""Headless Chromium (Debian's `chromium` package) on a local file: the DOM after its
scripts ran, the console messages, a screenshot. Every network route is closed: host
names resolve to nothing and any request would go to a discard port on loopback, so a page
that tried to load a CDN script shows up as a console error, never as traffic.

`python -m tests.browser.chromium REPORT.html OUT.png` takes the README's screenshot.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

CLOSED_NETWORK = [
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
]
# Chromium logs every console message at INFO ("…:INFO:CONSOLE:1] "text", source: url (1)"),
# whatever its level: so any message counts (the report logs nothing on purpose).
CONSOLE = re.compile(r':(INFO|WARNING|ERROR):CONSOLE[:(](\d+)\)?\] "(.*)", source: (.*)')


@dataclass(frozen=True)
class Message:
    level: str
    text: str
    source: str


@dataclass(frozen=True)
class Rendered:
    dom: str
    console: list[Message]


def binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    chromium = binary()
    if chromium is None:
        raise RuntimeError("chromium is missing: apt-get install chromium")
    with tempfile.TemporaryDirectory(prefix="loocv-chromium-") as profile:
        return subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",  # root in CI; the page is our own file
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                "--enable-logging=stderr",
                "--v=0",
                *CLOSED_NETWORK,
                *args,
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )


def render(page: Path) -> Rendered:
    """The DOM after load (scripts ran) and every console message."""
    done = _run(page, "--dump-dom", "--virtual-time-budget=2000")
    if done.returncode != 0:
        raise RuntimeError(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}")
    console = [
        Message(m.group(1), m.group(3), m.group(4))
        for m in map(CONSOLE.search, done.stderr.splitlines())
        if m
    ]
    return Rendered(done.stdout, console)


def screenshot(page: Path, out: Path, width: int = 1100, height: int = 1500) -> Path:
    done = _run(page, f"--window-size={width},{height}", f"--screenshot={out.resolve()}")
    if done.returncode != 0 or not out.is_file():
        raise RuntimeError(f"no screenshot ({done.returncode}): {done.stderr[-2000:]}")
    return out


if __name__ == "__main__":
    print(screenshot(Path(sys.argv[1]), Path(sys.argv[2])))
