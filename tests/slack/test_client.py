"""bot.slack_client against FakeSlack over real HTTP: retries, base URL, secrets kept out of logs,
and the fake's own Web API behaviour that handler tests rely on."""

from __future__ import annotations

import logging

import pytest
from fake_slack import BOT_TOKEN, FakeSlack
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from bot.slack.client import (
    DEFAULT_MAX_RETRIES,
    MissingCredentialError,
    build_web_client,
    slack_api_url,
)

# Backoff is not what these tests are about; keep them fast.
QUICK_RETRIES = FixedValueRetryIntervalCalculator(0.01)


def statuses(fake: FakeSlack, method: str) -> list[int]:
    return [call.status for call in fake.calls(method)]


def test_rate_limited_call_is_retried_after_retry_after(fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=0)

    response = build_web_client().chat_postMessage(channel="C0COSTS", text="hello")

    assert response["ok"] is True
    assert statuses(fake_slack, "chat.postMessage") == [429, 200]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_error_is_retried(fake_slack: FakeSlack, status: int) -> None:
    fake_slack.fail_next("chat.postMessage", status=status)
    client = build_web_client(retry_interval=QUICK_RETRIES)

    response = client.chat_postMessage(channel="C0COSTS", text="hello")

    assert response["ok"] is True
    assert statuses(fake_slack, "chat.postMessage") == [status, 200]


def test_persistent_server_error_raises_after_the_retry_budget(fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("chat.postMessage", status=500, times=100)
    client = build_web_client(retry_interval=QUICK_RETRIES)

    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C0COSTS", text="hello")

    assert raised.value.response.status_code == 500
    assert statuses(fake_slack, "chat.postMessage") == [500] * (1 + DEFAULT_MAX_RETRIES)


def test_retry_budget_is_shared_across_kinds_of_failure(fake_slack: FakeSlack) -> None:
    # slack_sdk counts retries per call, so a 429 uses up part of the 5xx budget too.
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=0)
    fake_slack.fail_next("chat.postMessage", status=500, times=100)
    client = build_web_client(max_retries=2, retry_interval=QUICK_RETRIES)

    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C0COSTS", text="hello")

    assert statuses(fake_slack, "chat.postMessage") == [429, 500, 500]


def test_ok_false_is_not_retried(fake_slack: FakeSlack) -> None:
    fake_slack.error_next("chat.postMessage", "channel_not_found")

    with pytest.raises(SlackApiError) as raised:
        build_web_client().chat_postMessage(channel="C0GONE", text="hello")

    assert raised.value.response["error"] == "channel_not_found"
    assert len(fake_slack.calls("chat.postMessage")) == 1


def test_api_url_without_trailing_slash_still_reaches_the_methods(
    fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_API_URL", fake_slack.url.rstrip("/"))

    assert slack_api_url() == fake_slack.url
    assert build_web_client().auth_test()["user_id"] == "U000BOT"
    assert fake_slack.calls("auth.test")[0].path == "/api/auth.test"


def test_default_api_url_is_slack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLACK_API_URL", raising=False)
    assert slack_api_url() == "https://slack.com/api/"


def test_token_comes_from_the_argument_or_the_environment(fake_slack: FakeSlack) -> None:
    build_web_client("xoxb-explicit").auth_test()
    build_web_client().auth_test()

    sent = [call.headers["authorization"] for call in fake_slack.calls("auth.test")]
    assert sent == ["Bearer xoxb-explicit", f"Bearer {BOT_TOKEN}"]


def test_missing_token_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    with pytest.raises(MissingCredentialError, match="SLACK_BOT_TOKEN"):
        build_web_client()


def test_token_never_reaches_the_logs_even_at_debug_level(
    fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # Bolt's start-up call passes the token as a body parameter, which slack_sdk logs at DEBUG.
    build_web_client().auth_test(token=BOT_TOKEN)

    assert "Sending a request" in caplog.text  # the DEBUG logging did happen...
    assert BOT_TOKEN not in caplog.text  # ...without the token


# ---- the fake's Web API, as files_upload_v2 and handlers use it


def test_files_upload_v2_goes_through_all_three_steps(fake_slack: FakeSlack) -> None:
    client = build_web_client()

    response = client.files_upload_v2(
        channel="C0COSTS",
        content=b"\x89PNG fake chart",
        filename="daily-cost.png",
        title="Daily cost, payments",
        alt_txt="Bar chart of daily cost",
        initial_comment="Here is the chart",
    )

    assert response["file"]["id"] == "F000001"
    assert [c.method for c in fake_slack.calls()] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    (uploaded,) = fake_slack.uploaded_files()
    assert uploaded.data == b"\x89PNG fake chart"
    assert uploaded.length == len(b"\x89PNG fake chart")
    assert uploaded.alt_txt == "Bar chart of daily cost"
    assert uploaded.title == "Daily cost, payments"
    assert uploaded.channel_id == "C0COSTS"
    assert uploaded.initial_comment == "Here is the chart"
    assert client.files_info(file="F000001")["file"]["title"] == "Daily cost, payments"


def test_sharing_a_file_where_the_bot_is_not_a_member_fails(fake_slack: FakeSlack) -> None:
    fake_slack.not_in_channel.add("C0PRIVATE")

    with pytest.raises(SlackApiError) as raised:
        build_web_client().files_upload_v2(
            channel="C0PRIVATE", content=b"data", filename="chart.png"
        )

    assert raised.value.response["error"] == "not_in_channel"


def test_conversations_info_names_configured_channels_only(fake_slack: FakeSlack) -> None:
    fake_slack.channel_names["C0COSTS"] = "payments-costs"
    client = build_web_client()

    assert client.conversations_info(channel="C0COSTS")["channel"]["name"] == "payments-costs"
    with pytest.raises(SlackApiError, match="channel_not_found"):
        client.conversations_info(channel="C0UNKNOWN")


def test_calls_without_a_token_are_refused(fake_slack: FakeSlack) -> None:
    client = build_web_client()
    client.token = None

    with pytest.raises(SlackApiError, match="not_authed"):
        client.chat_postMessage(channel="C0COSTS", text="hello")


def test_wait_for_names_what_arrived_when_nothing_matches(fake_slack: FakeSlack) -> None:
    build_web_client().auth_test()

    with pytest.raises(AssertionError, match=r"chat\.postMessage.*auth\.test"):
        fake_slack.wait_for("chat.postMessage", timeout=0.1)


def test_a_file_shared_to_a_channel_is_a_message_of_its_own(fake_slack: FakeSlack) -> None:
    # The double post the private upload avoids: completing with a channel posts the PNG there.
    build_web_client().files_upload_v2(channel="C0COSTS", content=b"\x89PNG", filename="c.png")

    (uploaded,) = fake_slack.uploaded_files()
    assert uploaded.shared_to == ["C0COSTS"] and not uploaded.is_private
    (message,) = fake_slack.channel_messages("C0COSTS")
    assert (message.kind, message.file_ids) == ("file_share", (uploaded.file_id,))


def test_a_file_completed_without_a_channel_is_private_and_posts_nothing(
    fake_slack: FakeSlack,
) -> None:
    client = build_web_client()
    client.files_upload_v2(content=b"\x89PNG", filename="c.png", alt_txt="chart")

    (uploaded,) = fake_slack.uploaded_files()
    assert uploaded.completed and uploaded.is_private
    assert fake_slack.channel_messages() == []
    image = {"type": "image", "slack_file": {"id": uploaded.file_id}, "alt_text": "chart"}
    assert client.chat_postMessage(channel="C0COSTS", text="x", blocks=[image])["ok"]
    with pytest.raises(SlackApiError, match="invalid_blocks"):
        client.chat_postMessage(
            channel="C0COSTS", text="x", blocks=[image | {"slack_file": {"id": "F404"}}]
        )


def test_apps_connections_open_needs_an_app_level_token(fake_slack: FakeSlack) -> None:
    fake_slack.socket_mode_url = "ws://127.0.0.1:9/link"

    opened = build_web_client("xapp-1-test").apps_connections_open(app_token="xapp-1-test")
    assert opened["url"] == "ws://127.0.0.1:9/link"
    with pytest.raises(SlackApiError, match="not_allowed_token_type"):
        build_web_client().apps_connections_open(app_token=BOT_TOKEN)
