"""`costbot serve` as users run it: the console script in its own process, HTTP on a port,
Slack's Web API faked over HTTP. Signed requests are answered (to the cent); forged, oversized
and malformed ones are refused, cause nothing, and leave no body, response_url or secret in the
log even with -v."""

from __future__ import annotations

import http.client
import os
import subprocess
import time
import urllib.request
from datetime import date
from urllib.parse import urlsplit

import pytest
from fake_slack import (
    BOT_TOKEN,
    RESPONSE_URL,
    SIGNING_SECRET,
    signed_request_headers,
    slash_command_body,
)
from focus_factory import dollars
from serve_process import COSTBOT, costbot_serve, serve_environment
from stores import focus_store

from bot.config import Config

MARKER = "FORGED-BODY-MARKER"


@pytest.fixture
def serve_env(fake_slack, tmp_path):
    charges, db_path, _ = focus_store(
        tmp_path, Config(), date(2026, 9, 1), date(2026, 10, 31), seed=11
    )
    env = serve_environment(
        db_path, tmp_path, fake_slack.url, bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET
    )
    return charges, env


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("POST", "/slack/events", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    except (BrokenPipeError, ConnectionResetError):
        return 413  # refused while still sending: only the 413 path closes early
    finally:
        connection.close()


def ask(url: str, fake_slack, name: str) -> None:
    body = slash_command_body(
        "/cost", "team payments 2026-10", "U1", "C1", fake_slack.response_url(name)
    )
    request = urllib.request.Request(
        f"{url}/slack/events",
        data=body.encode(),
        headers=signed_request_headers(body, SIGNING_SECRET),
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    fake_slack.wait_for(lambda c: c.target == name and c.status == 200, timeout=30)


@pytest.mark.slow
def test_costbot_serve_answers_a_signed_command(fake_slack, serve_env, tmp_path):
    charges, env = serve_env
    with costbot_serve(env, tmp_path) as served:
        ask(served.url, fake_slack, "a")

    (answer,) = fake_slack.responses_posted("a")
    assert (
        dollars(charges, date(2026, 10, 1), date(2026, 10, 31), team="payments") in answer["text"]
    )
    assert answer["response_type"] == "ephemeral"
    (uploaded,) = fake_slack.uploaded_files()
    assert uploaded.is_private and fake_slack.channel_messages() == []


@pytest.mark.slow
def test_refused_requests_cause_nothing_and_stay_out_of_the_verbose_log(
    fake_slack, serve_env, tmp_path
):
    _, env = serve_env
    forged_url = fake_slack.response_url("forged")
    command = slash_command_body("/cost", MARKER, "U1", "C1", forged_url)
    now = str(int(time.time()))
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    bad_signature = {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": "v0=" + "0" * 64}

    with costbot_serve(env, tmp_path, verbose=True) as served:
        statuses = [
            # The reported bug: a non-numeric timestamp made a 500 and a post to response_url.
            post(served.url, command.encode(), form | {"X-Slack-Request-Timestamp": "abc"}),
            post(served.url, command.encode(), form | {"X-Slack-Request-Timestamp": ""}),
            post(served.url, command.encode(), form | {"X-Slack-Request-Timestamp": "1e3"}),
            # A forged body of 900 KB: once a 900 KB log line.
            post(served.url, (command + "&pad=" + MARKER * 50_000).encode(), form | bad_signature),
            # 5 MB: refused by size.
            post(served.url, (command + MARKER * 300_000).encode(), form | bad_signature),
            post(served.url, b"\xff\xfe" + command.encode(), form | bad_signature),
        ]
        # A normal request too: the libraries log requests and response_urls at DEBUG.
        ask(served.url, fake_slack, "genuine")

    assert statuses == [401, 401, 401, 401, 413, 400]
    assert [c.target for c in fake_slack.calls(RESPONSE_URL)] == ["genuine"]
    log = served.log()
    assert "Refused a request" in log  # the refusals are logged, without what was sent
    assert len(log) < 20_000, f"{len(log):,} characters of log"
    assert MARKER not in log
    assert "/response/" not in log  # no response_url, forged or genuine
    assert SIGNING_SECRET not in log
    assert BOT_TOKEN not in log
    assert "legacy-verification-token" not in log


@pytest.mark.slow
def test_a_bad_port_is_a_clear_error(serve_env, tmp_path):
    _, env = serve_env
    done = subprocess.run(
        [str(COSTBOT), "serve", "--no-scheduler"],
        env={**os.environ, **env, "PORT": "http"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "PORT" in done.stderr
