"""`/champions` end to end: signed slash commands over HTTP to the running app, answered in a
lazy listener through the fake Slack Web API; the leaderboard of October 2026
(tests/champions_world.py) checked to the cent, the savings chart uploaded privately once,
a bad month answered with a one-line notice and nothing uploaded."""

from __future__ import annotations

from datetime import date

import pytest
from champions_world import CONFIG, build
from fake_slack import RESPONSE_URL, SIGNING_SECRET, slash_command_body
from slack_app import post_signed
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from bot.context import AppContext
from bot.slack.app import build_app
from bot.slack.client import build_web_client
from bot.slack.server import start_http_in_thread
from handlers import register_all

TODAY = date(2026, 11, 20)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return build(tmp_path_factory.mktemp("champions-slack"))


@pytest.fixture
def server(fake_slack, store):
    context = AppContext(config=CONFIG, db_path=str(store), today=lambda: TODAY)
    client = build_web_client(retry_interval=FixedValueRetryIntervalCalculator(0.01), timeout=1)
    background, port = start_http_in_thread(
        build_app(context, register=register_all, client=client)
    )
    yield f"http://127.0.0.1:{port}"
    background.shutdown()


def ask(server, fake_slack, text, name="r1"):
    body = slash_command_body(
        "/champions", text, "U0ALICE", "C0FINOPS", fake_slack.response_url(name),
        channel_name="finops",
    )  # fmt: skip
    assert post_signed(server, body, secret=SIGNING_SECRET) == 200
    fake_slack.wait_for(lambda c: c.method == RESPONSE_URL and c.target == name and c.status == 200)
    (answer,) = fake_slack.responses_posted(name)
    return answer


def test_a_past_month_shows_teams_people_and_their_wins_with_the_chart_once(server, fake_slack):
    answer = ask(server, fake_slack, "2026-10")

    assert answer["response_type"] == "ephemeral"
    assert answer["text"] == (
        "Cost champions, October 2026: payments leads with 17,890 points; "
        "$2,554.56/month saved in all."
    )
    text = str(answer["blocks"])
    assert "$1,220.00/month saved = $14,640.00/year → 14,640 points" in text
    assert "cost per order down 30.0%" in text and "$930.00/month ($11,160.00/year)" in text
    assert "*1. <@U0ALICE>* (payments): *3,130 points*" in text
    (uploaded,) = fake_slack.uploaded_files()
    assert uploaded.data.startswith(b"\x89PNG") and uploaded.is_private
    (image,) = [b for b in answer["blocks"] if b["type"] == "image"]
    assert image["slack_file"] == {"id": uploaded.file_id}
    assert image["alt_text"].startswith("Bar chart of savings a year by team, October 2026")
    assert fake_slack.channel_messages() == []


def test_a_teams_record_by_month(server, fake_slack):
    answer = ask(server, fake_slack, "team search 2")
    text = str(answer["blocks"])
    assert "*November 2026*: not on the board" in text
    assert "*October 2026*: #2, 3 wins, $1,334.56/month saved ($16,014.72/year)" in text
    assert fake_slack.uploaded_files() == []


def test_a_bad_month_is_a_private_one_line_notice(server, fake_slack):
    answer = ask(server, fake_slack, "2026-13")
    assert answer["response_type"] == "ephemeral"
    assert answer["text"] == "'2026-13' is not a month: use YYYY-MM, e.g. 2026-10"
    assert fake_slack.uploaded_files() == []
