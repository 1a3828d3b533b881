"""The "Share in channel" button end to end: a private /cost answer, then signed button clicks
over HTTP to the running app; the fake Slack records what reaches the channel."""

from __future__ import annotations

from datetime import date

import pytest
from fake_slack import (
    RESPONSE_URL,
    block_actions_body,
    slash_command_body,
)
from focus_factory import dollars, make_charges, write_focus_csv
from slack_app import post_signed

from bot.config import parse_config
from bot.context import AppContext
from bot.slack.app import build_app
from bot.slack.server import start_http_in_thread
from bot.sources.focus_ingest import ingest_focus
from handlers import register_all

TODAY = date(2026, 11, 27)
CONFIG = parse_config({"teams": [{"name": "payments", "channel": "#team-payments"}]})
OCTOBER = (date(2026, 10, 1), date(2026, 10, 31))
CHANNEL = "C0PAYMENTS"
ASKER = "U0ALICE"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("share")
    charges = make_charges(date(2026, 9, 1), date(2026, 11, 26), seed=5)
    db_path = folder / "costbot.db"
    ingest_focus([str(write_focus_csv(folder / "focus.csv", charges))], CONFIG, db_path)
    return charges, db_path


@pytest.fixture
def server(fake_slack, store):
    context = AppContext(config=CONFIG, db_path=str(store[1]), today=lambda: TODAY)
    background, port = start_http_in_thread(build_app(context, register=register_all))
    with background:
        yield f"http://127.0.0.1:{port}"


def ask_privately(server, fake_slack) -> dict:
    body = slash_command_body(
        "/cost", "team payments 2026-10", ASKER, CHANNEL, fake_slack.response_url("answer")
    )
    assert post_signed(server, body) == 200
    fake_slack.wait_for(lambda c: c.target == "answer" and c.status == 200)
    (answer,) = fake_slack.responses_posted("answer")
    assert answer["response_type"] == "ephemeral"
    return answer


def share_key(answer: dict) -> str:
    (actions,) = [b for b in answer["blocks"] if b["type"] == "actions"]
    (button,) = actions["elements"]
    return button["value"]


def click_share(server, fake_slack, key: str, user: str, name: str) -> None:
    body = block_actions_body(user, CHANNEL, fake_slack.response_url(name), "share_answer", key)
    assert post_signed(server, body) == 200
    fake_slack.wait_for(lambda c: c.method == RESPONSE_URL and c.target == name)


def test_the_asker_shares_the_answer_in_the_channel_once_chart_included(server, fake_slack, store):
    answer = ask_privately(server, fake_slack)
    (uploaded,) = fake_slack.uploaded_files()

    click_share(server, fake_slack, share_key(answer), ASKER, "click")

    (shared,) = fake_slack.channel_messages(CHANNEL)
    assert shared.kind == "message"
    assert dollars(store[0], *OCTOBER, team="payments") in shared.text
    # The same chart, the same file: shown in the channel by the shared message alone.
    (image,) = [b for b in shared.blocks if b["type"] == "image"]
    assert image["slack_file"] == {"id": uploaded.file_id}
    assert len(fake_slack.uploaded_files()) == 1 and uploaded.is_private
    assert not [b for b in shared.blocks if b["type"] == "actions"]
    # The private copy is replaced by a note saying who shared it.
    (note,) = fake_slack.responses_posted("click")
    assert note["replace_original"] is True
    assert f"<@{ASKER}>" in note["text"]

    click_share(server, fake_slack, share_key(answer), ASKER, "again")

    assert len(fake_slack.channel_messages(CHANNEL)) == 1
    (told,) = fake_slack.responses_posted("again")
    assert "already shared" in told["text"]


def test_only_the_asker_can_share_their_answer(server, fake_slack):
    answer = ask_privately(server, fake_slack)

    click_share(server, fake_slack, share_key(answer), "U0MALLORY", "mallory")

    assert fake_slack.channel_messages() == []
    assert fake_slack.calls("chat.postMessage") == []
    (told,) = fake_slack.responses_posted("mallory")
    assert "Only the person who asked" in told["text"]
    assert told["response_type"] == "ephemeral"


def test_an_unknown_answer_key_shares_nothing(server, fake_slack):
    click_share(server, fake_slack, "answer:not-a-real-key", ASKER, "unknown")

    assert fake_slack.calls("chat.postMessage") == []
    (told,) = fake_slack.responses_posted("unknown")
    assert "can no longer be shared" in told["text"]


def test_sharing_where_the_bot_is_not_a_member_says_how_to_fix_it(server, fake_slack):
    answer = ask_privately(server, fake_slack)
    fake_slack.not_in_channel.add(CHANNEL)

    click_share(server, fake_slack, share_key(answer), ASKER, "outsider")

    assert fake_slack.channel_messages() == []
    (told,) = fake_slack.responses_posted("outsider")
    assert "/invite @Costbot" in told["text"]

    fake_slack.not_in_channel.discard(CHANNEL)  # invited: sharing now works
    click_share(server, fake_slack, share_key(answer), ASKER, "invited")
    assert len(fake_slack.channel_messages(CHANNEL)) == 1
