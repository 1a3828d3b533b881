"""`/cost` end to end: signed slash commands over HTTP to the running app (waitress + Bolt),
answers through lazy listeners to a fake Slack Web API over HTTP, charts uploaded privately with
the files v2 flow and shown once, in the answer. Dollars are compared with an independent sum of
the FOCUS rows."""

from __future__ import annotations

import time
from datetime import date

import pytest
from fake_slack import (
    RESPONSE_URL,
    SIGNING_SECRET,
    UPLOAD,
    slash_command_body,
)
from focus_factory import dollars
from slack_app import post_signed
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from stores import focus_store

from bot.config import parse_config
from bot.context import AppContext
from bot.slack.app import build_app
from bot.slack.client import build_web_client
from bot.slack.delivery import CHART_REFUSED_NOTE
from bot.slack.server import start_http_in_thread
from handlers import register_all

TODAY = date(2026, 11, 27)
CONFIG = parse_config(
    {"teams": [{"name": "payments", "channel": "#team-payments", "monthly_budget": 20000}]}
)
OCTOBER = (date(2026, 10, 1), date(2026, 10, 31))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slack")
    return focus_store(folder, CONFIG, date(2026, 9, 1), date(2026, 11, 26), seed=5)


QUICK_RETRIES = FixedValueRetryIntervalCalculator(0.01)


def start_app(store, config=CONFIG):
    """The app over HTTP; its client gives up on a request after 1 s and retries at once, so
    failure tests stay quick (the retry budget is the production one)."""
    context = AppContext(config=config, db_path=str(store[1]), today=lambda: TODAY)
    client = build_web_client(retry_interval=QUICK_RETRIES, timeout=1)
    app = build_app(context, register=register_all, client=client)
    return start_http_in_thread(app)


@pytest.fixture
def server(fake_slack, store):
    background, port = start_app(store)
    yield f"http://127.0.0.1:{port}"
    background.shutdown()


def post_command(
    base_url,
    fake_slack,
    text,
    *,
    channel="C0PAYMENTS",
    secret=SIGNING_SECRET,
    timestamp=None,
    name="r1",
):
    body = slash_command_body(
        "/cost",
        text,
        "U0ALICE",
        channel,
        fake_slack.response_url(name),
        channel_name="team-payments",
    )
    return post_signed(base_url, body, secret=secret, timestamp=timestamp)


def wait_for_answer(fake_slack, name="r1"):
    fake_slack.wait_for(lambda c: c.method == RESPONSE_URL and c.target == name and c.status == 200)
    (answer,) = fake_slack.responses_posted(name)
    return answer


def images(payload):
    return [b for b in payload["blocks"] if b["type"] == "image"]


def share_buttons(payload):
    return [
        element
        for block in payload["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element.get("action_id") == "share_answer"
    ]


def test_team_answer_is_private_with_its_chart_once_and_a_share_button(server, fake_slack, store):
    charges = store[0]
    status = post_command(server, fake_slack, "team payments 2026-10")
    assert status == 200
    answer = wait_for_answer(fake_slack)

    assert answer["response_type"] == "ephemeral"
    assert dollars(charges, *OCTOBER, team="payments") in answer["text"]
    blocks = str(answer["blocks"])
    assert dollars(charges, *OCTOBER, team="payments") in blocks
    assert "Oct 1 – Oct 31, 2026" in blocks and "Sep 1 – Sep 30, 2026" in blocks

    (uploaded,) = fake_slack.uploaded_files()
    assert uploaded.data.startswith(b"\x89PNG") and uploaded.completed
    assert uploaded.alt_txt
    # Private: shared with no conversation, and no message of its own anywhere.
    assert uploaded.is_private
    assert fake_slack.channel_messages() == []
    (image,) = images(answer)
    assert image["slack_file"] == {"id": uploaded.file_id}
    assert image["alt_text"]
    (button,) = share_buttons(answer)
    assert button["value"].startswith("answer:")
    assert len(fake_slack.responses_posted()) == 1


def test_config_can_make_answers_public_in_the_channel(fake_slack, store):
    public = parse_config(
        {
            "teams": [{"name": "payments", "channel": "#team-payments"}],
            "slack": {"answer_visibility": "channel"},
        }
    )
    background, port = start_app(store, public)
    with background:
        post_command(f"http://127.0.0.1:{port}", fake_slack, "team payments 2026-10")
        answer = wait_for_answer(fake_slack)

    assert answer["response_type"] == "in_channel"
    assert share_buttons(answer) == []
    (uploaded,) = fake_slack.uploaded_files()
    assert uploaded.is_private and fake_slack.channel_messages() == []
    assert images(answer)[0]["slack_file"] == {"id": uploaded.file_id}


def test_a_usage_problem_stays_private_even_when_answers_are_public(fake_slack, store):
    public = parse_config({"slack": {"answer_visibility": "channel"}})
    background, port = start_app(store, public)
    with background:
        post_command(f"http://127.0.0.1:{port}", fake_slack, "team payments 2026-13")
        answer = wait_for_answer(fake_slack)
    assert answer["response_type"] == "ephemeral"
    assert share_buttons(answer) == []


def no_chart_and_says_so(answer):
    assert images(answer) == []
    assert "No chart" in str(answer["blocks"])


def fail_upload_url_beyond_retries(fake):
    fake.fail_next("files.getUploadURLExternal", status=500, times=10)


def fail_upload_bytes_beyond_retries(fake):
    fake.fail_next(UPLOAD, status=503, times=10)


def stall_every_upload(fake):
    for _ in range(10):
        fake.stall_next(UPLOAD, 3)  # the app's client gives up after 1 s


def refuse_upload_connections(fake):
    fake.refuse_upload_connections()


def slack_says_no(fake):
    fake.error_next("files.completeUploadExternal", "internal_error")


def stall_the_upload_url(fake):
    for _ in range(10):
        fake.stall_next("files.getUploadURLExternal", 3)


@pytest.mark.parametrize(
    "break_upload",
    [
        fail_upload_url_beyond_retries,
        fail_upload_bytes_beyond_retries,
        stall_every_upload,
        stall_the_upload_url,
        refuse_upload_connections,
        slack_says_no,
    ],
)
def test_a_chart_upload_that_fails_in_any_way_still_delivers_the_answer(
    server, fake_slack, store, break_upload
):
    break_upload(fake_slack)
    post_command(server, fake_slack, "team payments 2026-10")
    answer = wait_for_answer(fake_slack)
    assert dollars(store[0], *OCTOBER, team="payments") in answer["text"]
    no_chart_and_says_so(answer)
    assert fake_slack.channel_messages() == []


def test_a_channel_the_bot_is_not_in_still_gets_the_chart(server, fake_slack, store):
    # Private uploads need no channel membership; the answer goes through its response_url.
    fake_slack.not_in_channel.add("C0OTHER")
    post_command(server, fake_slack, "team payments 2026-10", channel="C0OTHER")
    answer = wait_for_answer(fake_slack)
    assert dollars(store[0], *OCTOBER, team="payments") in answer["text"]
    (uploaded,) = fake_slack.uploaded_files()
    assert images(answer)[0]["slack_file"] == {"id": uploaded.file_id}


def test_rate_limit_then_success_and_a_server_error_are_retried(server, fake_slack, store):
    fake_slack.fail_next("files.getUploadURLExternal", status=429, retry_after=0)
    fake_slack.fail_next("files.completeUploadExternal", status=500)
    post_command(server, fake_slack, "team payments 2026-10")
    answer = wait_for_answer(fake_slack)
    assert len(fake_slack.calls("files.getUploadURLExternal")) == 2
    assert len(fake_slack.calls("files.completeUploadExternal")) == 2
    (uploaded,) = fake_slack.uploaded_files()
    assert (
        next(b for b in answer["blocks"] if b["type"] == "image")["slack_file"]["id"]
        == uploaded.file_id
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [("team paymnts", "Did you mean `payments`?"), ("team payments 2026-13", "not a month")],
)
def test_unknown_team_and_bad_period_get_an_ephemeral_answer(server, fake_slack, text, expected):
    assert post_command(server, fake_slack, text) == 200
    answer = wait_for_answer(fake_slack)
    assert answer["response_type"] == "ephemeral"
    assert expected in answer["text"]
    assert fake_slack.uploaded_files() == []


def test_forged_and_stale_signatures_get_401_and_change_nothing(server, fake_slack):
    assert post_command(server, fake_slack, "team payments", secret="wrong-secret") == 401
    stale = int(time.time()) - 10 * 60
    assert post_command(server, fake_slack, "team payments", timestamp=stale) == 401
    assert fake_slack.calls(RESPONSE_URL) == []
    assert fake_slack.uploaded_files() == []


def test_bare_cost_in_the_team_channel_answers_for_that_team(server, fake_slack, store):
    post_command(server, fake_slack, "")
    answer = wait_for_answer(fake_slack)
    assert "payments: Month to date" in str(answer["blocks"])
    assert (
        dollars(store[0], date(2026, 11, 1), date(2026, 11, 26), team="payments") in answer["text"]
    )


def test_answer_falls_back_to_text_when_slack_refuses_the_image_block(server, fake_slack, store):
    fake_slack.fail_next(RESPONSE_URL, status=400)  # Slack's answer for invalid_blocks
    post_command(server, fake_slack, "team payments 2026-10")
    fake_slack.wait_for(lambda c: c.method == RESPONSE_URL and c.status == 200)
    (answer,) = fake_slack.responses_posted("r1")
    assert images(answer) == []
    assert CHART_REFUSED_NOTE in str(answer["blocks"])
    assert dollars(store[0], *OCTOBER, team="payments") in answer["text"]
    assert share_buttons(answer)  # still shareable, as shown: without the chart
    assert fake_slack.channel_messages() == []


def test_the_fake_refuses_an_image_of_a_file_it_does_not_know(fake_slack):
    # What the fallback above stands for: Slack refuses an image block naming no upload.
    from slack_sdk.webhook import WebhookClient

    image = {"type": "image", "slack_file": {"id": "F404"}, "alt_text": "x"}
    response = WebhookClient(fake_slack.response_url("x")).send_dict(
        {"text": "x", "blocks": [image]}
    )
    assert response.status_code == 400


def test_a_dm_gets_an_answer_with_its_chart_and_no_share_button(server, fake_slack, store):
    post_command(server, fake_slack, "team payments 2026-10", channel="D0ALICE")
    answer = wait_for_answer(fake_slack)
    assert dollars(store[0], *OCTOBER, team="payments") in answer["text"]
    assert len(images(answer)) == 1
    assert share_buttons(answer) == []  # nobody else in a DM to share it with
