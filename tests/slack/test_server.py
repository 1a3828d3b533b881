"""The HTTP server end to end: build_app + make_wsgi_app under waitress, signed requests over
real HTTP, and FakeSlack receiving what the listeners send. handlers.commands is replaced by a
tiny stand-in (tests/slack_app.py) so these tests do not depend on the real /cost. What the
front door refuses is in test_front_door.py."""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request

import pytest
from fake_slack import BOT_TOKEN, FakeSlack
from fake_slack import slash_command_body as slack_form
from slack_app import StubCommands, calls_after_start, http, post_cost
from slack_bolt import App

from bot.context import AppContext
from bot.slack.app import USER_FACING_ERROR, build_app
from bot.slack.client import MissingCredentialError, build_web_client
from bot.slack.server import BackgroundHttpServer, resolve_port, start_http_in_thread

# ---- routes


def test_healthz_answers_ok(server: BackgroundHttpServer) -> None:
    result = http(f"{server.url}/healthz")

    assert result.status == 200
    assert result.json() == {"ok": True}
    assert result.headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    ("path", "body"), [("/nothing-here", None), ("/slack/events", None), ("/healthz", "x")]
)
def test_other_paths_and_methods_are_not_found(
    server: BackgroundHttpServer, path: str, body: str | None
) -> None:
    assert http(f"{server.url}{path}", body).status == 404


def test_port_zero_binds_a_real_port(
    fake_slack: FakeSlack, stub_commands: StubCommands, app_context: AppContext
) -> None:
    running, port = start_http_in_thread(
        build_app(app_context, register=stub_commands.register), port=0
    )
    with running:
        assert port > 0
        assert running.port == port
        assert http(f"http://127.0.0.1:{port}/healthz").status == 200
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)


# ---- slash commands through the signature check


def test_signed_slash_command_is_acked_fast_and_answered_lazily(
    server: BackgroundHttpServer, fake_slack: FakeSlack, stub_commands: StubCommands
) -> None:
    started = time.monotonic()
    result = post_cost(server, fake_slack, "payments")
    elapsed = time.monotonic() - started

    assert result.status == 200
    assert elapsed < 3, "Slack gives up on a slash command after 3 seconds"
    posted = fake_slack.wait_for(lambda call: call.target == "payments")
    assert posted.body["text"] == "pong"
    assert stub_commands.acked == stub_commands.answered == ["payments"]


def test_slow_answers_in_flight_do_not_hold_up_the_next_ack(
    server: BackgroundHttpServer, fake_slack: FakeSlack, stub_commands: StubCommands
) -> None:
    # More than Bolt's 5 shared listener threads: with lazy work on that pool, the 6th ack
    # would wait for a slow answer to finish and miss Slack's 3 seconds.
    try:
        for _ in range(6):
            started = time.monotonic()
            assert post_cost(server, fake_slack, "slow").status == 200
            assert time.monotonic() - started < 3
    finally:
        stub_commands.release_slow_answers.set()

    answers = fake_slack.wait_for_count(lambda call: call.target == "slow", 6)
    assert {call.body["text"] for call in answers} == {"pong"}


def test_forged_signature_is_rejected_before_any_listener_runs(
    server: BackgroundHttpServer, fake_slack: FakeSlack, stub_commands: StubCommands
) -> None:
    result = post_cost(server, fake_slack, "payments", secret="not-the-secret")

    assert result.status == 401
    # The 401 comes from the front door before Bolt sees the request, so there is no
    # pending work that could still reach the fake.
    assert stub_commands.acked == []
    assert calls_after_start(fake_slack) == []


def test_stale_timestamp_is_rejected_even_when_correctly_signed(
    server: BackgroundHttpServer, fake_slack: FakeSlack, stub_commands: StubCommands
) -> None:
    ten_minutes_ago = int(time.time()) - 600

    result = post_cost(server, fake_slack, "payments", timestamp=ten_minutes_ago)

    assert result.status == 401
    assert stub_commands.acked == []
    assert calls_after_start(fake_slack) == []


def test_missing_signature_headers_are_rejected(
    server: BackgroundHttpServer, fake_slack: FakeSlack
) -> None:
    body = slack_form("/cost", "payments", "U0ALICE", "C0COSTS", fake_slack.response_url())

    result = http(f"{server.url}/slack/events", body)

    assert result.status == 401


def test_error_in_lazy_listener_is_logged_and_told_to_the_user(
    server: BackgroundHttpServer,
    fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="bot.slack.app")

    assert post_cost(server, fake_slack, "boom").status == 200

    posted = fake_slack.wait_for(lambda call: call.target == "boom")
    assert posted.body == {
        "text": USER_FACING_ERROR,
        "response_type": "ephemeral",
        "replace_original": False,
    }
    (record,) = [r for r in caplog.records if r.name == "bot.slack.app"]
    assert record.exc_info is not None
    assert "the cost query blew up" in caplog.text
    assert "/cost" in record.getMessage()
    assert "legacy-verification-token" not in caplog.text


def test_error_in_ack_listener_is_told_to_the_user(
    server: BackgroundHttpServer, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="bot.slack.app")

    result = post_cost(server, fake_slack, "ack-boom")

    assert result.status == 500  # Bolt's answer when ack() never happened
    fake_slack.wait_for(
        lambda call: call.target == "ack-boom" and call.body.get("text") == USER_FACING_ERROR
    )
    assert "could not even parse that" in caplog.text
    # Bolt starts lazy listeners whether or not the ack listener succeeded.
    fake_slack.wait_for(lambda call: call.target == "ack-boom" and call.body.get("text") == "pong")


# ---- build_app


def test_build_app_does_not_warn_that_the_token_is_unused(
    fake_slack: FakeSlack,
    stub_commands: StubCommands,
    app_context: AppContext,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Bolt warns when it sees both $SLACK_BOT_TOKEN and a client; the token is the client's.
    caplog.set_level(logging.WARNING)

    build_app(app_context, register=stub_commands.register)

    assert [r.getMessage() for r in caplog.records if r.name.startswith("slack_bolt")] == []


def test_build_app_checks_the_token_through_our_client(
    fake_slack: FakeSlack, stub_commands: StubCommands, app_context: AppContext
) -> None:
    build_app(app_context, register=stub_commands.register)

    (auth_test,) = fake_slack.calls("auth.test")
    assert auth_test.headers["authorization"] == f"Bearer {BOT_TOKEN}"


def test_build_app_uses_the_client_it_is_given(
    fake_slack: FakeSlack, stub_commands: StubCommands, app_context: AppContext
) -> None:
    client = build_web_client("xoxb-given")

    app = build_app(app_context, register=stub_commands.register, client=client)

    assert app.client is client
    assert fake_slack.calls("auth.test")[0].headers["authorization"] == "Bearer xoxb-given"


def test_build_app_needs_the_signing_secret_in_http_mode(
    fake_slack: FakeSlack,
    stub_commands: StubCommands,
    app_context: AppContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SLACK_SIGNING_SECRET")

    with pytest.raises(MissingCredentialError, match="SLACK_SIGNING_SECRET"):
        build_app(app_context, register=stub_commands.register)
    assert build_app(app_context, register=stub_commands.register, socket_mode=True) is not None


def test_build_app_hands_the_app_and_its_context_to_register(
    fake_slack: FakeSlack, app_context: AppContext
) -> None:
    calls: list[tuple[App, AppContext]] = []
    app = build_app(app_context, register=lambda app, context: calls.append((app, context)))

    assert calls == [(app, app_context)]


# ---- resolve_port


def test_port_comes_from_the_option_then_the_environment_then_3000(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PORT", "8080")
    assert resolve_port(9000) == 9000
    assert resolve_port(None) == 8080
    monkeypatch.delenv("PORT")
    assert resolve_port(None) == 3000


@pytest.mark.parametrize("value", ["http", "70000"])
def test_bad_port_in_the_environment_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("PORT", value)
    with pytest.raises(ValueError, match="PORT"):
        resolve_port(None)
