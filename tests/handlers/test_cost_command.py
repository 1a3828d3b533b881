"""`/cost` end to end: signed slash commands over HTTP to the running app (waitress + Bolt),
answers through lazy listeners to a fake Slack Web API over HTTP, charts uploaded with the
files v2 flow. Dollars are compared with an independent sum of the FOCUS rows."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from datetime import date

import pytest
from fake_slack import RESPONSE_URL, SIGNING_SECRET, signed_request_headers, slash_command_body
from focus_factory import dollars
from stores import focus_store

from bot.config import parse_config
from bot.context import AppContext
from bot.slack.app import build_app
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


@pytest.fixture
def server(fake_slack, store):
    context = AppContext(config=CONFIG, db_path=str(store[1]), today=lambda: TODAY)
    app = build_app(context, register=register_all)
    background, port = start_http_in_thread(app)
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
    request = urllib.request.Request(
        f"{base_url}/slack/events",
        data=body.encode(),
        headers=signed_request_headers(body, secret, timestamp),
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def wait_for_answer(fake_slack, name="r1"):
    fake_slack.wait_for(lambda c: c.method == RESPONSE_URL and c.target == name and c.status == 200)
    (answer,) = fake_slack.responses_posted(name)
    return answer


def test_team_answer_with_chart_in_the_channel(server, fake_slack, store):
    charges = store[0]
    status = post_command(server, fake_slack, "team payments 2026-10")
    assert status == 200
    answer = wait_for_answer(fake_slack)

    assert answer["response_type"] == "in_channel"
    assert dollars(charges, *OCTOBER, team="payments") in answer["text"]
    blocks = str(answer["blocks"])
    assert dollars(charges, *OCTOBER, team="payments") in blocks
    assert "Oct 1 – Oct 31, 2026" in blocks and "Sep 1 – Sep 30, 2026" in blocks

    (uploaded,) = fake_slack.uploaded_files()
    assert uploaded.data.startswith(b"\x89PNG") and uploaded.completed
    assert uploaded.channel_id == "C0PAYMENTS"
    assert uploaded.alt_txt
    (image,) = [b for b in answer["blocks"] if b["type"] == "image"]
    assert image["slack_file"] == {"id": uploaded.file_id}
    assert image["alt_text"]
    assert len(fake_slack.responses_posted()) == 1


def test_not_in_channel_answers_without_chart_and_says_why(server, fake_slack, store):
    fake_slack.not_in_channel.add("C0OTHER")
    post_command(server, fake_slack, "team payments 2026-10", channel="C0OTHER")
    answer = wait_for_answer(fake_slack)
    assert dollars(store[0], *OCTOBER, team="payments") in answer["text"]
    assert not [b for b in answer["blocks"] if b["type"] == "image"]
    assert "/invite @Costbot" in str(answer["blocks"])


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


def test_answer_links_the_chart_when_slack_refuses_the_image_block(server, fake_slack, store):
    fake_slack.fail_next(RESPONSE_URL, status=404)  # what Slack answers for invalid_blocks
    post_command(server, fake_slack, "team payments 2026-10")
    fake_slack.wait_for(lambda c: c.method == RESPONSE_URL and c.status == 200)
    (answer,) = fake_slack.responses_posted("r1")
    (uploaded,) = fake_slack.uploaded_files()
    assert not [b for b in answer["blocks"] if b["type"] == "image"]
    assert f"files/{uploaded.file_id}|" in str(answer["blocks"])
    assert dollars(store[0], *OCTOBER, team="payments") in answer["text"]
