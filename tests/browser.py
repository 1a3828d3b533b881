"""Open a page in Debian's headless Chromium and read how many of its images loaded (the
preview page's load script writes `data-images-loaded="<loaded>/<total>"` into the DOM)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_chromium() -> str:
    """The browser, or a skip; CI sets COSTBOT_REQUIRE_BROWSER=1 to make absence a failure."""
    chromium = find_chromium()
    if chromium is None:
        if os.environ.get("COSTBOT_REQUIRE_BROWSER") == "1":
            pytest.fail(
                "COSTBOT_REQUIRE_BROWSER=1 but no chromium on PATH: apt-get install chromium"
            )
        pytest.skip("chromium not installed (apt-get install chromium)")
    return chromium


def images_loaded(index: Path, profile_dir: Path) -> tuple[int, int]:
    command = [
        require_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile_dir}",
        "--virtual-time-budget=5000", "--dump-dom", index.resolve().as_uri(),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    match = re.search(r'data-images-loaded="(\d+)/(\d+)"', result.stdout)
    assert match, f"the page's load script did not run; stderr: {result.stderr[-2000:]}"
    loaded, total = map(int, match.groups())
    return loaded, total
