"""The buttons under an anomaly alert, end to end: the alert is posted to the fake Slack through
the real delivery (chart uploaded), then signed button presses over HTTP to the running app
write the store and update the alert in place through its response_url."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fake_slack import (
    RESPONSE_URL,
    ChannelMessage,
    FakeSlack,
    message_action_body,
)
from slack_app import post_signed
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from bot.analytics.anomalies import Alert, Band, Cause, SeriesKey
from bot.config import parse_config
from bot.context import AppContext
from bot.render.anomalies import (
    ACKNOWLEDGE_ACTION_ID,
    ASSIGN_ACTION_ID,
    EXPECTED_ACTION_ID,
    MUTE_ACTION_ID,
    OPEN_STATUS,
    actions_block_id,
    anomaly_message,
    status_block_id,
)
from bot.render.charts import anomaly_chart
from bot.slack.app import build_app
from bot.slack.client import build_web_client
from bot.slack.delivery import Delivery
from bot.slack.server import start_http_in_thread
from bot.store import open_store, queries, writers
from handlers import register_all

TODAY = date(2026, 12, 5)  # a Saturday: a 7-day mute runs through Friday 11 December
CONFIG = parse_config({"teams": [{"name": "payments", "channel": "#team-payments"}]})
CHANNEL = "C0PAYMENTS"
ALICE, BOB = "U0ALICE", "U0BOB"
EC2 = SeriesKey("payments", "Amazon EC2", "111122223333", "USD")
S3 = SeriesKey("payments", "Amazon S3", "111122223333", "USD")


def band(first: date, days: int = 60) -> Band:
    expected = np.full(days, 120.0)
    actual = expected.copy()
    actual[-2:] = 480.0
    anomalous = np.zeros(days, dtype=bool)
    anomalous[-2:] = True
    return Band(first, actual, expected, expected * 0.9, expected * 1.1, anomalous)


def open_alert(db_path: Path, key: SeriesKey, expected: int, actual: int) -> Alert:
    start = TODAY - timedelta(days=1)
    db = open_store(db_path)
    try:
        episode_id = writers.open_episode(
            db,
            series=key.text,
            team=key.team,
            service=key.service,
            account_id=key.account,
            currency=key.currency,
            kind="spike",
            start=start.isoformat(),
            last_day=TODAY.isoformat(),
            detected_on=TODAY.isoformat(),
            expected_micros=expected,
            actual_micros=actual,
            alerted_excess_micros=actual - expected,
            channel=CHANNEL,
        )
    finally:
        db.close()
    cause = Cause(key.service, key.account, "us-east-1", "USE1-BoxUsage", Decimal("0.9"), 1)
    return Alert(
        key=key,
        kind="spike",
        start=start,
        day=TODAY,
        expected_micros=expected,
        actual_micros=actual,
        channel=CHANNEL,
        root_cause=(cause,),
        episode_id=episode_id,
        band=band(TODAY - timedelta(days=59)),
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "costbot.db"
    open_store(path).close()
    return path


@pytest.fixture
def server(fake_slack: FakeSlack, db_path: Path):
    context = AppContext(config=CONFIG, db_path=str(db_path), today=lambda: TODAY)
    background, port = start_http_in_thread(build_app(context, register=register_all))
    with background:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def posted(fake_slack: FakeSlack, db_path: Path) -> tuple[ChannelMessage, list[Alert]]:
    """Two alerts in one message, posted as the job posts them; the EC2 one is the largest."""
    alerts = [
        open_alert(db_path, EC2, 120_000_000, 480_000_000),
        open_alert(db_path, S3, 40_000_000, 95_500_000),
    ]
    client = build_web_client(retry_interval=FixedValueRetryIntervalCalculator(0.01), timeout=2)
    delivery = Delivery(client, lambda: open_store(db_path))
    message = anomaly_message(alerts, TODAY, team_label="payments")
    sent = delivery.post(CHANNEL, message, anomaly_chart(alerts[0]), key="anomalies:test")
    assert sent.ok and sent.chart == "inline"
    (shown,) = fake_slack.channel_messages(CHANNEL)
    return shown, alerts


def as_slack_shows(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Blocks as they come back in an interaction payload: Slack gives every block an id and
    adds read-only fields to images."""
    shown = []
    for number, block in enumerate(blocks):
        block = {"block_id": f"slack{number}", **block}
        if block["type"] == "image":
            block |= {"image_width": 1200, "image_height": 500, "image_bytes": 1234}
        shown.append(block)
    return shown


def press_body(
    message: ChannelMessage,
    blocks: list[dict[str, Any]],
    episode_id: int,
    action_id: str,
    user: str,
    response_url: str,
    *,
    selected_user: str | None = None,
    value: str | None = None,
) -> str:
    """The block_actions payload Slack POSTs when `user` presses `action_id` in the alert."""
    (row,) = [b for b in blocks if b.get("block_id") == actions_block_id(episode_id)]
    (element,) = [e for e in row["elements"] if e["action_id"] == action_id]
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": row["block_id"],
        "type": element["type"],
    }
    if element["type"] == "button":
        action |= {"value": value or element["value"], "text": element["text"]}
    else:
        action["selected_user"] = selected_user
    return message_action_body(message, user, response_url, action, blocks=as_slack_shows(blocks))


def press(server: str, fake_slack: FakeSlack, body: str, name: str) -> dict[str, Any]:
    assert post_signed(server, body) == 200
    fake_slack.wait_for(lambda c: c.method == RESPONSE_URL and c.target == name and c.status == 200)
    (response,) = fake_slack.responses_posted(name)
    return response


def status_of(blocks: list[dict[str, Any]], episode_id: int) -> str:
    (block,) = [b for b in blocks if b.get("block_id") == status_block_id(episode_id)]
    (element,) = block["elements"]
    return element["text"]


def stored(db_path: Path, episode_id: int) -> tuple[dict, list[dict], dict[str, str]]:
    db = open_store(db_path)
    try:
        return (
            queries.anomaly_episode(db, episode_id) or {},
            queries.anomaly_actions(db, episode_id),
            queries.anomaly_mutes(db, TODAY),
        )
    finally:
        db.close()


def assert_updated_in_place(update: dict, message: ChannelMessage, episode_id: int) -> None:
    """The alert as it was, but for the pressed episode's status line."""
    assert update["replace_original"] is True
    assert update["text"] == message.text
    before = [b for b in message.blocks if b.get("block_id") != status_block_id(episode_id)]
    after = [b for b in update["blocks"] if b.get("block_id") != status_block_id(episode_id)]
    for old, new in zip(before, after, strict=True):
        if old["type"] == "image":
            # The chart stays, the same uploaded file; Slack's read-only sizes are not sent back.
            assert new["slack_file"] == old["slack_file"] and "image_width" not in new
        else:
            # As posted (Slack's own block ids aside).
            assert {k: v for k, v in new.items() if k != "block_id"} == {
                k: v for k, v in old.items() if k != "block_id"
            }


@pytest.mark.parametrize(
    ("action_id", "status", "row_fields", "detail"),
    [
        (
            ACKNOWLEDGE_ACTION_ID,
            f"✅ Acknowledged by <@{ALICE}>",
            {"acknowledged_by": ALICE, "status": "open"},
            None,
        ),
        (
            EXPECTED_ACTION_ID,
            f"🟢 Marked expected by <@{ALICE}>: this level is normal from now on",
            {"expected_by": ALICE, "status": "expected"},
            None,
        ),
        (
            MUTE_ACTION_ID,
            f"🔕 Muted until Friday 11 December by <@{ALICE}>",
            {"status": "open", "acknowledged_by": None},
            "2026-12-11",
        ),
    ],
    ids=["acknowledge", "expected", "mute"],
)
def test_each_button_is_recorded_and_updates_the_alert_in_place_once(
    server, fake_slack, db_path, posted, action_id, status, row_fields, detail
):
    message, alerts = posted
    ec2, s3 = (alert.episode_id for alert in alerts)
    body = press_body(message, message.blocks, ec2, action_id, ALICE, fake_slack.response_url("p"))

    update = press(server, fake_slack, body, "p")

    assert status_of(update["blocks"], ec2) == status
    assert status_of(update["blocks"], s3) == OPEN_STATUS  # the other alert is untouched
    assert_updated_in_place(update, message, ec2)
    episode, actions, mutes = stored(db_path, ec2)
    assert {name: episode[name] for name in row_fields} == row_fields
    assert [(a["action"], a["user_id"], a["detail"]) for a in actions] == [
        (action_id.removeprefix("anomaly_"), ALICE, detail)
    ]
    assert mutes == ({EC2.text: "2026-12-11"} if action_id == MUTE_ACTION_ID else {})
    assert stored(db_path, s3)[1] == []
    # Only the update: no new message in the channel, no second response.
    assert len(fake_slack.channel_messages()) == 1
    assert len(fake_slack.calls(RESPONSE_URL)) == 1


def test_assign_records_the_selected_person_and_says_who_assigned_whom(
    server, fake_slack, db_path, posted
):
    message, alerts = posted
    s3 = alerts[1].episode_id
    body = press_body(
        message, message.blocks, s3, ASSIGN_ACTION_ID, ALICE, fake_slack.response_url("assign"),
        selected_user=BOB,
    )  # fmt: skip

    update = press(server, fake_slack, body, "assign")

    assert status_of(update["blocks"], s3) == f"👤 Assigned to <@{BOB}> by <@{ALICE}>"
    assert_updated_in_place(update, message, s3)
    episode, actions, _ = stored(db_path, s3)
    assert (episode["assigned_to"], episode["assigned_by"]) == (BOB, ALICE)
    assert [(a["action"], a["user_id"], a["detail"]) for a in actions] == [("assign", ALICE, BOB)]
    assert len(fake_slack.calls(RESPONSE_URL)) == 1


def test_presses_accumulate_in_the_status_line(server, fake_slack, db_path, posted):
    message, alerts = posted
    ec2 = alerts[0].episode_id
    url = fake_slack.response_url
    first = press(
        server, fake_slack,
        press_body(message, message.blocks, ec2, ACKNOWLEDGE_ACTION_ID, ALICE, url("1")), "1",
    )  # fmt: skip
    # The next press comes from the message as it now shows.
    second = press(
        server, fake_slack,
        press_body(message, first["blocks"], ec2, ASSIGN_ACTION_ID, BOB, url("2"),
                   selected_user=BOB),
        "2",
    )  # fmt: skip
    third = press(
        server, fake_slack,
        press_body(message, second["blocks"], ec2, MUTE_ACTION_ID, BOB, url("3")), "3",
    )  # fmt: skip

    assert status_of(third["blocks"], ec2) == (
        f"✅ Acknowledged by <@{ALICE}> · 🔕 Muted until Friday 11 December by <@{BOB}> · "
        f"👤 Assigned to <@{BOB}> by <@{BOB}>"
    )
    assert [a["action"] for a in stored(db_path, ec2)[1]] == ["acknowledge", "assign", "mute"]
    assert len(fake_slack.calls(RESPONSE_URL)) == 3


def test_an_unknown_episode_gets_a_private_answer_and_changes_nothing(
    server, fake_slack, db_path, posted
):
    message, alerts = posted
    ec2 = alerts[0].episode_id
    body = press_body(
        message, message.blocks, ec2, ACKNOWLEDGE_ACTION_ID, ALICE,
        fake_slack.response_url("gone"), value="987654",
    )  # fmt: skip

    told = press(server, fake_slack, body, "gone")

    assert told["response_type"] == "ephemeral" and told["replace_original"] is False
    assert told["text"] == "This anomaly is no longer on record: nothing was changed."
    assert "blocks" not in told
    for alert in alerts:
        episode, actions, mutes = stored(db_path, alert.episode_id)
        assert actions == [] and mutes == {} and episode["acknowledged_by"] is None


def test_a_forged_press_gets_401_and_writes_nothing(server, fake_slack, db_path, posted):
    message, alerts = posted
    ec2 = alerts[0].episode_id
    body = press_body(
        message, message.blocks, ec2, MUTE_ACTION_ID, ALICE, fake_slack.response_url("forged")
    )

    assert post_signed(server, body, secret="not-the-signing-secret") == 401
    assert post_signed(server, body, timestamp=1_000_000_000) == 401  # a replayed old request

    for alert in alerts:
        episode, actions, mutes = stored(db_path, alert.episode_id)
        assert actions == [] and mutes == {} and episode["status"] == "open"
    assert fake_slack.calls(RESPONSE_URL) == []


def test_when_slack_refuses_the_update_the_presser_still_hears_it_was_recorded(
    server, fake_slack, db_path, posted
):
    message, alerts = posted
    ec2 = alerts[0].episode_id
    fake_slack.fail_next(RESPONSE_URL, status=400)
    body = press_body(
        message, message.blocks, ec2, ACKNOWLEDGE_ACTION_ID, ALICE, fake_slack.response_url("no")
    )

    told = press(server, fake_slack, body, "no")

    assert told["response_type"] == "ephemeral" and told["replace_original"] is False
    assert told["text"] == (
        f"✅ Acknowledged by <@{ALICE}> (the alert itself could not be updated)"
    )
    assert stored(db_path, ec2)[0]["acknowledged_by"] == ALICE


def test_presses_on_two_alerts_of_one_message_do_not_undo_each_other(
    server, fake_slack, db_path, posted
):
    message, alerts = posted
    ec2, s3 = (alert.episode_id for alert in alerts)
    url = fake_slack.response_url
    press(
        server, fake_slack,
        press_body(message, message.blocks, ec2, ACKNOWLEDGE_ACTION_ID, ALICE, url("a")), "a",
    )  # fmt: skip
    # Bob's press arrives with the message as it was before Alice's update reached him.
    update = press(
        server, fake_slack,
        press_body(message, message.blocks, s3, MUTE_ACTION_ID, BOB, url("b")), "b",
    )  # fmt: skip

    assert status_of(update["blocks"], ec2) == f"✅ Acknowledged by <@{ALICE}>"
    assert status_of(update["blocks"], s3) == f"🔕 Muted until Friday 11 December by <@{BOB}>"


def test_assign_without_a_person_changes_nothing(server, fake_slack, db_path, posted):
    message, alerts = posted
    s3 = alerts[1].episode_id
    body = press_body(
        message, message.blocks, s3, ASSIGN_ACTION_ID, ALICE, fake_slack.response_url("nobody")
    )

    told = press(server, fake_slack, body, "nobody")

    assert told["text"] == "Pick the person to assign it to: nothing was changed."
    assert told["response_type"] == "ephemeral"
    assert stored(db_path, s3)[1] == []
