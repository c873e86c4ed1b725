"""Headless Chromium (Debian's ``chromium`` + ``chromium-driver``) under Selenium.

``.ci/run`` installs both with ``scripts/install-chromium``; a machine without them
fails these tests with that instruction instead of skipping them. Each browser gets
a fresh profile directory and the flags that keep Chromium from reaching the network
on its own (no updates, sync, QUIC or background requests).

Screenshots go to ``tests/artefacts/`` (git-ignored; ``$SHARDLINE_ARTEFACTS``
overrides it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1440,1800",
)

ARTEFACTS = Path(
    os.environ.get("SHARDLINE_ARTEFACTS", Path(__file__).resolve().parents[1] / "artefacts")
)


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed: run scripts/install-chromium (as root)")
    return found


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium WebDriver with a fresh profile, quit afterwards."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.binary_location = _binary("chromium")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(_binary("chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(driver: Any, name: str) -> Path:
    """Save the whole page as ``ARTEFACTS/name`` and return the path."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / name
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1440, max(900, min(int(height) + 40, 4000)))
    driver.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
    driver.save_screenshot(str(path))
    return path


def console_errors(driver: Any) -> list[dict[str, Any]]:
    """Severe entries of the browser's console since the last call (JS errors)."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
