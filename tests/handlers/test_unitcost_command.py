"""`/unitcost` end to end: signed slash commands over HTTP to the running app, answered in a
lazy listener through the fake Slack Web API, the weekly chart uploaded privately and shown
once; figures checked against independent sums of the FOCUS rows and metric values."""

from __future__ import annotations

from datetime import date

import pytest
from fake_slack import RESPONSE_URL, SIGNING_SECRET, slash_command_body
from slack_app import post_signed
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from unit_cost_data import (
    CONFIG,
    COST_END,
    COST_START,
    build,
    cents_text,
    cost_of,
    days,
    exact,
    three_figures,
    volume_days,
    volume_of,
)

from bot.context import AppContext
from bot.slack.app import build_app
from bot.slack.client import build_web_client
from bot.slack.server import start_http_in_thread
from handlers import register_all

TODAY = date(2026, 12, 1)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return build(tmp_path_factory.mktemp("unitcost-slack"))


@pytest.fixture
def server(fake_slack, store):
    context = AppContext(config=CONFIG, db_path=str(store.db_path), today=lambda: TODAY)
    client = build_web_client(retry_interval=FixedValueRetryIntervalCalculator(0.01), timeout=1)
    background, port = start_http_in_thread(
        build_app(context, register=register_all, client=client)
    )
    yield f"http://127.0.0.1:{port}"
    background.shutdown()


def ask(server, fake_slack, text, name="r1"):
    body = slash_command_body(
        "/unitcost", text, "U0ALICE", "C0PAYMENTS", fake_slack.response_url(name),
        channel_name="team-payments",
    )  # fmt: skip
    assert post_signed(server, body, secret=SIGNING_SECRET) == 200
    fake_slack.wait_for(lambda c: c.method == RESPONSE_URL and c.target == name and c.status == 200)
    (answer,) = fake_slack.responses_posted(name)
    return answer


def test_a_team_answer_with_its_weekly_chart_once(server, fake_slack, store):
    answer = ask(server, fake_slack, "api_requests payments last-month")
    on = [
        d
        for d in days(date(2026, 11, 1), date(2026, 11, 30))
        if COST_START <= d <= COST_END and d in volume_days(store, "api_requests", "payments")
    ]
    cost = cost_of(store, on, team="payments")
    volume = volume_of(store, "api_requests", "payments", on)
    assert answer["response_type"] == "ephemeral"
    assert f"{three_figures(exact(cost, volume))} per api request" in answer["text"]
    assert f"{cents_text(cost)} of payments" in answer["text"]
    assert "Nov 1 – Nov 12, 2026" in answer["text"]
    (uploaded,) = fake_slack.uploaded_files()
    assert uploaded.data.startswith(b"\x89PNG") and uploaded.is_private
    (image,) = [b for b in answer["blocks"] if b["type"] == "image"]
    assert image["slack_file"] == {"id": uploaded.file_id}
    assert fake_slack.channel_messages() == []
    assert len(fake_slack.responses_posted()) == 1


def test_an_unknown_metric_is_a_private_one_line_notice_without_upload(server, fake_slack):
    answer = ask(server, fake_slack, "widgets")
    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith("I don't know the unit metric or team 'widgets'.")
    assert "cost_per_api_requests" in answer["text"]
    assert fake_slack.uploaded_files() == []


def test_bare_unitcost_lists_the_unit_metrics(server, fake_slack):
    answer = ask(server, fake_slack, "")
    assert answer["text"].startswith("Unit costs, Nov 1 – Nov 14, 2026: cost_per_api_request ")
    assert fake_slack.uploaded_files() == []
