"""Socket Mode end to end: the fake Slack's apps.connections.open hands out the ws:// URL of a
fake Socket Mode server, which sends a slash-command envelope, expects its ack, and the answer
reaches the fake response_url. In process through the same code path, and as `costbot serve`
with SLACK_APP_TOKEN set (its health check still answers on $PORT)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date
from urllib.parse import parse_qsl

import pytest
from fake_slack import BOT_TOKEN, FakeSlack, slash_command_body
from fake_socket_mode import FakeSocketMode, slash_command_envelope
from focus_factory import dollars, make_charges, write_focus_csv
from serve_process import costbot_serve, serve_environment
from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.config import Config
from bot.context import AppContext
from bot.slack.app import build_app
from bot.sources.focus_ingest import ingest_focus
from handlers import register_all

APP_TOKEN = "xapp-1-A000COSTBOT-1-test"
OCTOBER = (date(2026, 10, 1), date(2026, 10, 31))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("socket")
    charges = make_charges(date(2026, 9, 1), date(2026, 10, 31), seed=3)
    db_path = folder / "costbot.db"
    ingest_focus([str(write_focus_csv(folder / "focus.csv", charges))], Config(), db_path)
    return charges, db_path


@pytest.fixture
def socket_mode(fake_slack: FakeSlack) -> Iterator[FakeSocketMode]:
    with FakeSocketMode() as server:
        fake_slack.socket_mode_url = server.url
        yield server


def command_envelope(fake_slack: FakeSlack, envelope_id: str, name: str) -> dict:
    form = dict(
        parse_qsl(
            slash_command_body(
                "/cost",
                "team payments 2026-10",
                "U0ALICE",
                "C0COSTS",
                fake_slack.response_url(name),
            )
        )
    )
    return slash_command_envelope(envelope_id, form)


def assert_answered(fake_slack: FakeSlack, charges, name: str) -> None:
    fake_slack.wait_for(lambda c: c.target == name and c.status == 200, timeout=30)
    (answer,) = fake_slack.responses_posted(name)
    assert dollars(charges, *OCTOBER, team="payments") in answer["text"]
    assert answer["response_type"] == "ephemeral"


def test_socket_mode_command_is_acked_then_answered(
    fake_slack: FakeSlack, socket_mode: FakeSocketMode, store, monkeypatch
) -> None:
    monkeypatch.delenv("SLACK_SIGNING_SECRET")  # Socket Mode needs no signing secret
    charges, db_path = store
    context = AppContext(config=Config(), db_path=str(db_path), today=lambda: date(2026, 11, 2))
    handler = SocketModeHandler(
        build_app(context, register=register_all, socket_mode=True), app_token=APP_TOKEN
    )
    handler.connect()
    try:
        socket_mode.wait_for_connection()
        socket_mode.send(command_envelope(fake_slack, "env-1", "socket"))

        ack = socket_mode.wait_for_ack("env-1", timeout=3)  # Slack's patience for an ack
        assert_answered(fake_slack, charges, "socket")
    finally:
        handler.close()

    assert set(ack) <= {"envelope_id", "payload"}
    (opened,) = fake_slack.calls("apps.connections.open")
    assert opened.headers["authorization"] == f"Bearer {APP_TOKEN}"


@pytest.mark.slow
def test_costbot_serve_in_socket_mode_answers_and_keeps_its_health_check(
    fake_slack: FakeSlack, socket_mode: FakeSocketMode, store, tmp_path
) -> None:
    charges, db_path = store
    env = serve_environment(
        db_path, tmp_path, fake_slack.url, bot_token=BOT_TOKEN, app_token=APP_TOKEN
    )
    # costbot_serve waits for GET /healthz on $PORT: the container's health check.
    with costbot_serve(env, tmp_path, verbose=True, use_port_env=True) as served:
        socket_mode.wait_for_connection(timeout=30)
        socket_mode.send(command_envelope(fake_slack, "env-2", "serve-socket"))

        socket_mode.wait_for_ack("env-2", timeout=10)
        assert_answered(fake_slack, charges, "serve-socket")
        # Slack's requests come over the socket only: there is no HTTP door to knock on.
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(
                urllib.request.Request(f"{served.url}/slack/events", data=b"x"), timeout=5
            )
        assert refused.value.code == 404

    # Envelopes carry response_urls, and slack_sdk logs each one at DEBUG: none may reach the log.
    log = served.log()
    assert "Socket Mode" in log
    assert "/response/" not in log
    assert APP_TOKEN not in log and BOT_TOKEN not in log
