"""`/kudos` end to end: signed slash commands and button presses over HTTP to the running app,
the fake Slack Web API behind it. The kudos message is posted once in the channel with its
buttons and its ts stored with the win; a lead or a member of a confirmer user group confirms
it (the message updated in place), anyone else is told privately and nothing changes."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fake_slack import (
    BOT_USER_ID,
    RESPONSE_URL,
    FakeSlack,
    message_action_body,
    slash_command_body,
)
from slack_app import post_signed

from bot.answers.kudos_confirm import GAVE_IT_NOTE, ONLY_CONFIRMERS_NOTE
from bot.config import ChampionSettings, Config, TagPolicySettings, Team
from bot.context import AppContext
from bot.render.kudos import CONFIRM_ACTION_ID, DECLINE_ACTION_ID
from bot.slack.app import build_app
from bot.slack.server import start_http_in_thread
from bot.store import open_reader, open_store
from handlers.actions import kudos as kudos_actions
from handlers.commands import kudos as kudos_command

TODAY = date(2026, 11, 12)
PRESSED_AT = datetime(2026, 11, 13, 9, 15, tzinfo=UTC)
CHANNEL = "C0PAYMENTS"
GIVER, MARIA, LEAD, STRANGER, GROUPIE = "U0GIVER", "U0MARIA", "U0LEAD", "U0STRANGER", "U0GROUPIE"
FINOPS_GROUP = "S0FINOPS"
CONFIG = Config(
    teams=(Team(name="payments", channel="#team-payments", members=(MARIA,), leads=(LEAD,)),),
    tag_policy=TagPolicySettings(approvers=("U0APPROVER",)),
    champions=ChampionSettings(confirmers=(FINOPS_GROUP,)),
)
TEXT = "<@U0MARIA|maria> moved the batch jobs to spot $1,200/month"


@pytest.fixture
def context(tmp_path: Path) -> AppContext:
    path = tmp_path / "costbot.db"
    open_store(path).close()
    return AppContext(config=CONFIG, db_path=str(path), today=lambda: TODAY)


@pytest.fixture
def server(fake_slack: FakeSlack, context: AppContext):
    fake_slack.channel_names[CHANNEL] = "team-payments"

    def register(app, app_context):
        kudos_command.register(app, app_context)
        kudos_actions.register(app, app_context, clock=lambda: PRESSED_AT)

    background, port = start_http_in_thread(build_app(context, register=register))
    with background:
        yield f"http://127.0.0.1:{port}"


def wins(context: AppContext) -> list[dict[str, Any]]:
    db = open_reader(context.db_path)
    try:
        return list(db.query("SELECT * FROM wins ORDER BY id"))
    finally:
        db.close()


def wait_until(condition, timeout: float = 10.0) -> None:
    """The lazy listener writes after Slack answered it: wait for the store to say so."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the store never showed the expected state"
        time.sleep(0.02)


def give(server: str, fake: FakeSlack, text: str, user: str = GIVER, name: str = "kudos"):
    body = slash_command_body(
        "/kudos", text, user, CHANNEL, fake.response_url(name), channel_name="team-payments"
    )
    assert post_signed(server, body) == 200


def note_to(fake: FakeSlack, name: str) -> dict[str, Any]:
    fake.wait_for(lambda c: c.method == RESPONSE_URL and c.target == name and c.status == 200)
    (response,) = fake.responses_posted(name)
    return response


def posted_kudos(server: str, fake: FakeSlack, context: AppContext):
    give(server, fake, TEXT)
    fake.wait_for("chat.postMessage")
    wait_until(lambda: any(w["message_ts"] for w in wins(context)))
    (message,) = fake.channel_messages(CHANNEL)
    return message


def press(
    server: str, fake: FakeSlack, message, user: str, name: str, action_id=CONFIRM_ACTION_ID
) -> dict[str, Any]:
    (actions,) = [b for b in message.blocks if b["type"] == "actions"]
    (button,) = [e for e in actions["elements"] if e["action_id"] == action_id]
    action = {
        "action_id": action_id,
        "block_id": actions["block_id"],
        "type": "button",
        "value": button["value"],
        "text": button["text"],
    }
    body = message_action_body(message, user, fake.response_url(name), action)
    assert post_signed(server, body) == 200
    return note_to(fake, name)


def test_the_kudos_is_posted_once_in_the_channel_with_its_buttons(server, fake_slack, context):
    message = posted_kudos(server, fake_slack, context)
    (win,) = wins(context)
    assert (win["person"], win["team"], win["reported_by"]) == (MARIA, "payments", GIVER)
    assert win["monthly_savings_micros"] == 1_200_000_000
    assert (win["channel"], win["message_ts"]) == (CHANNEL, message.ts)
    assert message.metadata["event_payload"]["costbot_delivery_key"] == f"kudos:{win['id']}"
    assert message.text == (
        f"Kudos: <@{GIVER}> thanks <@{MARIA}> for: moved the batch jobs to spot ($1,200.00/month)"
    )
    shown = json.dumps(message.blocks)
    assert f"<@{GIVER}> thanks <@{MARIA}> (payments) for: moved the batch jobs to spot" in shown
    assert "$1,200.00/month, $14,400.00/year" in shown
    (actions,) = [b for b in message.blocks if b["type"] == "actions"]
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [
        (CONFIRM_ACTION_ID, str(win["id"])),
        (DECLINE_ACTION_ID, str(win["id"])),
    ]
    assert fake_slack.responses_posted("kudos") == []  # the channel message is the answer

    give(server, fake_slack, TEXT.replace("spot", "Spot!"), name="again")
    again = note_to(fake_slack, "again")
    assert again["response_type"] == "ephemeral" and "You already gave" in again["text"]
    assert len(fake_slack.channel_messages(CHANNEL)) == 1
    assert wins(context) == [win]


def test_a_second_reporter_is_added_to_the_same_kudos(server, fake_slack, context):
    posted_kudos(server, fake_slack, context)
    give(server, fake_slack, TEXT, user="U0OMAR", name="second")
    note = note_to(fake_slack, "second")
    assert note["response_type"] == "ephemeral" and "Added your thanks" in note["text"]
    assert len(fake_slack.channel_messages(CHANNEL)) == 1
    assert wins(context)[0]["mentions"] == 2


def test_a_lead_confirms_and_the_message_says_so_once(server, fake_slack, context):
    message = posted_kudos(server, fake_slack, context)
    update = press(server, fake_slack, message, LEAD, "lead")
    assert update["replace_original"] is True
    assert f"confirmed by <@{LEAD}> on Nov 13, 2026" in json.dumps(update["blocks"])
    assert not [b for b in update["blocks"] if b["type"] == "actions"]
    (win,) = wins(context)
    assert (win["status"], win["confirmed_by"], win["confirmed_at"]) == (
        "confirmed",
        LEAD,
        "2026-11-13T09:15:00+00:00",
    )
    twice = press(server, fake_slack, message, "U0APPROVER", "twice", DECLINE_ACTION_ID)
    assert twice["response_type"] == "ephemeral" and twice["replace_original"] is False
    assert "already confirmed" in twice["text"]
    assert wins(context) == [win]


def test_a_member_of_a_confirmer_user_group_confirms(server, fake_slack, context):
    fake_slack.user_groups[FINOPS_GROUP] = ["U0SOMEONE", GROUPIE]
    message = posted_kudos(server, fake_slack, context)
    update = press(server, fake_slack, message, GROUPIE, "groupie")
    assert f"confirmed by <@{GROUPIE}>" in json.dumps(update["blocks"])
    assert wins(context)[0]["confirmed_by"] == GROUPIE


def test_anyone_else_is_told_privately_and_nothing_changes(server, fake_slack, context):
    fake_slack.user_groups[FINOPS_GROUP] = ["U0SOMEONE"]
    message = posted_kudos(server, fake_slack, context)
    before = wins(context)
    for user, name, note in (
        (STRANGER, "stranger", ONLY_CONFIRMERS_NOTE),
        (GIVER, "giver", GAVE_IT_NOTE),
        (MARIA, "maria", "This kudos is for you"),
    ):
        told = press(server, fake_slack, message, user, name)
        assert told == {"response_type": "ephemeral", "replace_original": False, "text": ANY}
        assert told["text"].startswith(note)
    assert wins(context) == before and before[0]["status"] == "reported"
    assert len(fake_slack.channel_messages(CHANNEL)) == 1


def test_a_lead_declines(server, fake_slack, context):
    message = posted_kudos(server, fake_slack, context)
    update = press(server, fake_slack, message, LEAD, "decline", DECLINE_ACTION_ID)
    assert f"declined by <@{LEAD}>" in json.dumps(update["blocks"])
    assert wins(context)[0]["status"] == "declined"


def test_self_kudos_and_the_bot_itself_are_refused_privately(server, fake_slack, context):
    give(server, fake_slack, "<@U0GIVER|me> fixed my own NAT bill $100/month", name="self")
    own = note_to(fake_slack, "self")
    assert own["response_type"] == "ephemeral" and "Kudos are for others" in own["text"]
    give(server, fake_slack, f"<@{BOT_USER_ID}|costbot> posts digests", name="bot")
    bot = note_to(fake_slack, "bot")
    assert bot["response_type"] == "ephemeral" and "not bots" in bot["text"]
    assert wins(context) == [] and fake_slack.channel_messages() == []


def test_where_costbot_cannot_post_the_kudos_is_shown_through_the_response_url(
    server, fake_slack, context
):
    fake_slack.not_in_channel.add(CHANNEL)
    give(server, fake_slack, TEXT, name="fallback")
    shown = note_to(fake_slack, "fallback")
    assert shown["response_type"] == "in_channel"
    assert "$1,200.00/month, $14,400.00/year" in json.dumps(shown["blocks"])
    assert any(b["type"] == "actions" for b in shown["blocks"])
    (win,) = wins(context)
    assert (win["channel"], win["message_ts"]) == (CHANNEL, None)


def test_a_forged_kudos_is_refused_and_records_nothing(server, fake_slack, context):
    body = slash_command_body("/kudos", TEXT, GIVER, CHANNEL, fake_slack.response_url("x"))
    assert post_signed(server, body, secret="not-the-secret") == 401
    assert wins(context) == [] and fake_slack.calls("chat.postMessage") == []


class _Any:
    def __eq__(self, other: object) -> bool:
        return True


ANY = _Any()
