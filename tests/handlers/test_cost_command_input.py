"""`/cost` end to end with hostile data and text as Slack sends it: signed slash commands
over HTTP to the running app, answers posted to a fake Slack's response_url. What reaches
Slack carries no raw `<`, `>` from data in any rendered field, fallback text included."""

from __future__ import annotations

import json
from datetime import date

import pytest
from fake_slack import RESPONSE_URL, slash_command_body
from focus_rows import dollars_of, focus_row, write_rows
from slack_app import post_signed

from bot.config import parse_config
from bot.context import AppContext
from bot.slack.app import build_app
from bot.slack.server import start_http_in_thread
from bot.sources.focus_ingest import ingest_focus
from handlers import register_all

TODAY = date(2026, 11, 2)
CONFIG = parse_config({"teams": [{"name": "payments"}]})
EVIL_TEAM = "<!channel> <https://evil.test|click>"
ROWS = [
    focus_row(date(2026, 10, 2), "12.50", team="payments"),
    focus_row(date(2026, 10, 3), "3000.01", team=EVIL_TEAM),
    focus_row(date(2026, 10, 3), "20.02", team="R&D", service="<!here> & Co"),
]


@pytest.fixture
def server(fake_slack, tmp_path):
    db_path = tmp_path / "costbot.db"
    ingest_focus([str(write_rows(tmp_path / "focus.csv", ROWS))], CONFIG, db_path)
    context = AppContext(config=CONFIG, db_path=str(db_path), today=lambda: TODAY)
    background, port = start_http_in_thread(build_app(context, register=register_all))
    yield f"http://127.0.0.1:{port}"
    background.shutdown()


def answer_to(base_url, fake_slack, typed: str):
    """Send `/cost <typed>` as Slack would (entities in the text) and return the answer."""
    sent = typed.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    body = slash_command_body("/cost", sent, "U0ALICE", "C0ANY", fake_slack.response_url("r"))
    assert post_signed(base_url, body) == 200
    fake_slack.wait_for(lambda c: c.method == RESPONSE_URL and c.status == 200)
    (answer,) = fake_slack.responses_posted("r")
    return answer


def shown_texts(answer) -> list[str]:
    texts = [answer["text"]]
    for block in answer["blocks"]:
        if isinstance(block.get("text"), dict):
            texts.append(block["text"]["text"])
        texts += [f["text"] for f in block.get("fields", [])]
        texts += [e["text"] for e in block.get("elements", []) if "text" in e]
    return texts


def test_a_hostile_team_tag_never_reaches_slack_raw(server, fake_slack):
    answer = answer_to(server, fake_slack, "top teams 2026-10")
    for text in shown_texts(answer):
        assert "<" not in text and ">" not in text, text
    # It leads the ranking, escaped in the notification text, with its amount to the cent.
    tags = json.dumps({"Team": EVIL_TEAM})
    assert dollars_of(ROWS, Tags=tags) == "$3,000.01"
    assert "largest: &lt;!channel&gt; &lt;https://evil.test|click&gt; $3,000.01" in answer["text"]


def test_entities_slack_sends_are_decoded_before_parsing(server, fake_slack):
    answer = answer_to(server, fake_slack, "team R&D 2026-10")
    assert answer["blocks"][0]["text"]["text"].startswith("👥 r&d:")
    assert "$20.02" in answer["text"] and "r&amp;d" in answer["text"]
    for text in shown_texts(answer):
        assert "<" not in text and ">" not in text, text
