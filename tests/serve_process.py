"""`costbot serve` as users run it: the console script in its own process, its log captured."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

COSTBOT = Path(sys.executable).parent / "costbot"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_environment(
    db_path: Path,
    folder: Path,
    slack_api_url: str,
    *,
    bot_token: str,
    signing_secret: str = "",
    app_token: str = "",
) -> dict[str, str]:
    """What `costbot serve` reads: the store, an empty config (defaults), and Slack's
    credentials and API URL. HTTP mode needs `signing_secret`, Socket Mode `app_token`."""
    config = folder / "none.yml"
    config.write_text("{}\n")
    return {
        "COSTBOT_DB": str(db_path),
        "COSTBOT_CONFIG": str(config),
        "SLACK_API_URL": slack_api_url,
        "SLACK_BOT_TOKEN": bot_token,
        "SLACK_SIGNING_SECRET": signing_secret,
        "SLACK_APP_TOKEN": app_token,
    }


@dataclass
class ServeProcess:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def wait_until_healthy(url: str, process: subprocess.Popen, log_path: Path, timeout=30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"costbot serve exited: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("costbot serve did not become healthy")


@contextmanager
def costbot_serve(
    env: dict[str, str], folder: Path, *, verbose: bool = False, use_port_env: bool = False
) -> Iterator[ServeProcess]:
    """Run `costbot [-v] serve --no-scheduler` on a free port (`--port`, or `$PORT` when
    `use_port_env`) until healthy; stop it afterwards. stderr (the log) goes to a file, read
    with `.log()` once the process has stopped."""
    port = free_port()
    full_env = {**os.environ, **env}
    args = [str(COSTBOT), *(["-v"] if verbose else []), "serve", "--no-scheduler"]
    if use_port_env:
        full_env["PORT"] = str(port)
    else:
        args += ["--port", str(port)]
    log_path = folder / f"serve-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(args, env=full_env, stdout=subprocess.DEVNULL, stderr=log_file)
    url = f"http://127.0.0.1:{port}"
    running = ServeProcess(url, process, log_path)
    try:
        wait_until_healthy(url, process, log_path)
        yield running
    finally:
        process.terminate()
        process.wait(timeout=10)
