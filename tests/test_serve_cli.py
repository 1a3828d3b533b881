"""`costbot serve` as users run it: the console script in its own process, HTTP on a port,
Slack's Web API faked over HTTP. The answer's total is checked to the cent."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import date
from pathlib import Path

import pytest
from fake_slack import (
    BOT_TOKEN,
    RESPONSE_URL,
    SIGNING_SECRET,
    signed_request_headers,
    slash_command_body,
)
from focus_factory import dollars
from stores import focus_store

from bot.config import Config

COSTBOT = Path(sys.executable).parent / "costbot"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"costbot serve exited: {process.stderr.read()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("costbot serve did not become healthy")


@pytest.mark.slow
def test_costbot_serve_answers_a_signed_command(fake_slack, tmp_path):
    september, october_end = date(2026, 9, 1), date(2026, 10, 31)
    charges, db_path, _ = focus_store(tmp_path, Config(), september, october_end, seed=11)
    port = free_port()
    env = {
        **os.environ,
        "COSTBOT_DB": str(db_path),
        "COSTBOT_CONFIG": str(tmp_path / "none.yml"),
        "SLACK_API_URL": fake_slack.url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    }
    (tmp_path / "none.yml").write_text("{}\n")
    env.pop("SLACK_APP_TOKEN", None)
    process = subprocess.Popen(
        [str(COSTBOT), "serve", "--port", str(port), "--no-scheduler"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, process)
        body = slash_command_body(
            "/cost", "team payments 2026-10", "U1", "C1", fake_slack.response_url("a")
        )
        request = urllib.request.Request(
            f"{url}/slack/events",
            data=body.encode(),
            headers=signed_request_headers(body, SIGNING_SECRET),
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        fake_slack.wait_for(lambda c: c.method == RESPONSE_URL and c.status == 200, timeout=30)
        (answer,) = fake_slack.responses_posted("a")
        assert (
            dollars(charges, date(2026, 10, 1), date(2026, 10, 31), team="payments")
            in answer["text"]
        )
        assert len(fake_slack.uploaded_files()) == 1
    finally:
        process.terminate()
        process.wait(timeout=10)
