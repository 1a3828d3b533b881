"""`/cost` answers over a store loaded from FOCUS rows, checked against an independent sum of
those rows; and `costbot ask` printing them."""

from __future__ import annotations

import json
from datetime import date

import pytest
from focus_factory import dollars
from stores import focus_store

from bot.answers.cost import Asker, answer_cost
from bot.cli import main
from bot.config import parse_config
from bot.store import open_store

TODAY = date(2026, 11, 27)
CONFIG = parse_config(
    {
        "teams": [
            {
                "name": "payments",
                "channel": "#team-payments",
                "monthly_budget": 20000,
                "members": ["U1"],
            },
            {"name": "search", "aliases": ["search-team"]},
        ]
    }
)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cost")
    return focus_store(folder, CONFIG, date(2026, 9, 1), date(2026, 11, 26))


def ask(store, text, asker=None, with_chart=False):
    _, db_path, _ = store
    db = open_store(db_path)
    try:
        return answer_cost(
            text, db=db, config=CONFIG, today=TODAY, asker=asker or Asker(), with_chart=with_chart
        )
    finally:
        db.close()


def all_text(payload) -> str:
    return json.dumps(payload, ensure_ascii=False)


def test_team_answer_to_the_cent_with_dates_change_and_top_services(store):
    charges = store[0]
    reply = ask(store, "team payments 2026-10")
    text = all_text(reply.payload)
    assert dollars(charges, date(2026, 10, 1), date(2026, 10, 31), team="payments") in text
    assert dollars(charges, date(2026, 9, 1), date(2026, 9, 30), team="payments") in text
    assert "Oct 1 – Oct 31, 2026" in text and "Sep 1 – Sep 30, 2026" in text
    ec2 = dollars(
        charges,
        date(2026, 10, 1),
        date(2026, 10, 31),
        team="payments",
        service="Amazon Elastic Compute Cloud",
    )
    assert ec2 in text
    assert "Budget (October 2026)" in text and "$20,000.00" in text
    assert "response_type" not in reply.payload  # who sees it is decided at delivery


def test_mtd_answer_has_a_forecast_that_says_how(store):
    reply = ask(store, "team payments")
    text = all_text(reply.payload)
    assert "Nov 1 – Nov 26, 2026" in text
    assert "Forecast for Nov 30, 2026" in text
    assert "average of Nov 20 – Nov 26, 2026" in text and "4 days left" in text


def test_service_and_account_answers_split_by_team(store):
    charges = store[0]
    ec2 = ask(store, "service amazon elastic compute cloud last-month")
    text = all_text(ec2.payload)
    assert (
        dollars(
            charges, date(2026, 10, 1), date(2026, 10, 31), service="Amazon Elastic Compute Cloud"
        )
        in text
    )
    assert "Top teams" in text and "search" in text and "payments" in text
    account = ask(store, "account acme-staging 2026-10")
    text = all_text(account.payload)
    assert "acme-staging (333333333333)" in text
    assert dollars(charges, date(2026, 10, 1), date(2026, 10, 31), account="333333333333") in text
    assert "(untagged)" in text


def test_top_ranking_and_charts(store):
    charges = store[0]
    reply = ask(store, "top teams 2026-10", with_chart=True)
    text = all_text(reply.payload)
    assert dollars(charges, date(2026, 10, 1), date(2026, 10, 31)) in text
    assert reply.chart is not None and reply.chart.png.startswith(b"\x89PNG")
    assert reply.chart.alt_text
    image_blocks = [b for b in reply.payload["blocks"] if b["type"] == "image"]
    assert len(image_blocks) == 1 and image_blocks[0]["alt_text"]


def test_bare_cost_uses_the_channel_then_the_user_then_help(store):
    in_channel = ask(store, "", Asker(channel_name="team-payments"))
    assert "payments: Month to date" in all_text(in_channel.payload)
    by_member = ask(store, "", Asker(user_id="U1", channel_id="C999"))
    assert "payments" in by_member.payload["blocks"][0]["text"]["text"]
    elsewhere = ask(store, "", Asker(user_id="U2", channel_id="C999"))
    assert elsewhere.payload["response_type"] == "ephemeral"
    assert "/cost team &lt;team&gt; [period]" in all_text(elsewhere.payload)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("team paymnets", "Did you mean `payments`?"),
        ("team payments yesterday", "`yesterday` is not a period"),
        ("service lambda", "`lambda` means `AWS Lambda`, with no cost in the store"),
        ("service frobnicator", "I don't know the service `frobnicator`"),
        ("top regions", "ranks `teams`, `services` or `accounts`"),
        ("frobnicate", "`frobnicate` is not a `/cost` command"),
        ("team", "Which team?"),
        ("team payments 2019-01", "No cost data for Jan 1 – Jan 31, 2019: the store holds Sep 1"),
    ],
)
def test_bad_input_gets_an_ephemeral_one_line_answer(store, text, expected):
    reply = ask(store, text)
    assert reply.payload["response_type"] == "ephemeral"
    assert expected in reply.text
    assert reply.chart is None


def test_aliases_and_untagged(store):
    charges = store[0]
    assert "search: " in ask(store, "team SEARCH-TEAM 2026-10").payload["blocks"][0]["text"]["text"]
    untagged = ask(store, "team untagged 2026-10")
    assert dollars(charges, date(2026, 10, 1), date(2026, 10, 31), team=None) in all_text(
        untagged.payload
    )


def test_ask_prints_the_reply_and_the_json_payload(store, monkeypatch, capsys, tmp_path):
    charges, db_path, _ = store
    config_path = tmp_path / "costbot.yml"
    config_path.write_text("teams:\n  - name: payments\n    monthly_budget: 20000\n")
    monkeypatch.setenv("COSTBOT_DB", str(db_path))
    monkeypatch.setenv("COSTBOT_CONFIG", str(config_path))
    expected = dollars(charges, date(2026, 10, 1), date(2026, 10, 31), team="payments")

    assert main(["ask", "--today", "2026-11-27", "/cost team payments 2026-10"]) == 0
    assert expected in capsys.readouterr().out

    chart = tmp_path / "chart.png"
    args = [
        "ask",
        "--json",
        "--today",
        "2026-11-27",
        "--save-chart",
        str(chart),
        "/cost team payments 2026-10",
    ]
    assert main(args) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) == {"response_type", "text", "blocks"}
    assert expected in payload["text"]
    # The saved file is this answer's chart, not merely some PNG.
    assert chart.read_bytes() == ask(store, "team payments 2026-10", with_chart=True).chart.png

    assert main(["ask", "/unknown team payments"]) == 2
    assert "ask runs a slash command" in capsys.readouterr().err


def test_slack_limits_hold_for_hundreds_of_teams_and_long_names(tmp_path):
    db = open_store(tmp_path / "many.db")
    db["daily_cost"].insert_all(
        {
            "date": "2026-10-05",
            "provider": "AWS",
            "billing_account_id": "1",
            "account_id": "1",
            "team": f"team-{i:03d}-" + "x" * 200,
            "service": f"service {i % 40} " + "y" * 300,
            "billing_period": "2026-10",
            "effective_micros": 1_000_000 * (i + 1),
            "billed_micros": 0,
            "list_micros": 0,
        }
        for i in range(300)
    )
    for text in ("top teams 2026-10", "top services 2026-10", "service service 7 2026-10"):
        reply = answer_cost(text, db=db, config=CONFIG, today=TODAY)
        payload = reply.payload
        assert len(payload["blocks"]) <= 50
        for block in payload["blocks"]:
            if block["type"] == "section" and "text" in block:
                assert len(block["text"]["text"]) <= 3000
            if block["type"] == "header":
                assert len(block["text"]["text"]) <= 150
        if text.startswith("top"):
            assert "more" in all_text(payload)
    top = answer_cost("top teams 2026-10", db=db, config=CONFIG, today=TODAY)
    assert "$45,150.00" in top.text  # 1 + 2 + ... + 300 dollars
