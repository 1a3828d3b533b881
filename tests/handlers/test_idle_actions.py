"""The Stop and Keep running buttons of an idle EC2 notice, end to end: the idle job posts the
notice to the fake Slack, then signed button presses over HTTP to the running app stop
instances in moto's server, record the audit row and the run-rate saved, and update the
notice in place through its response_url."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_deny_proxy import DenyProxy, unauthorized_operation
from fake_slack import (
    RESPONSE_URL,
    ChannelMessage,
    FakeSlack,
    message_action_body,
)
from idle_world import (
    ALICE,
    APPROVER,
    GROUP,
    GROUP_MEMBER,
    REGION,
    STRANGER,
    World,
    build_world,
    dollars,
    stored,
)
from slack_app import post_signed

from bot.context import AppContext
from bot.periods import format_day
from bot.render.idle import KEEP_ACTION_ID, STOP_ACTION_ID
from bot.slack.app import build_app
from bot.slack.approvers import ONLY_APPROVERS_NOTE
from bot.slack.server import start_http_in_thread
from handlers import register_all
from handlers.actions.idle import NOT_ON_TEAM_NOTE
from jobs import idle


@pytest.fixture
def world(aws, tmp_path: Path) -> World:
    return build_world(tmp_path)


@pytest.fixture
def notices(world: World, fake_slack: FakeSlack) -> dict[str, ChannelMessage]:
    """The job's notices as posted, by channel."""
    context = AppContext(config=world.config, db_path=str(world.db_path), today=lambda: world.today)
    idle.run(context, world.now)
    return {m.channel: m for m in fake_slack.channel_messages()}


@pytest.fixture
def server(world: World, fake_slack: FakeSlack, notices):
    context = AppContext(config=world.config, db_path=str(world.db_path), today=lambda: world.today)
    background, port = start_http_in_thread(build_app(context, register=register_all))
    with background:
        yield f"http://127.0.0.1:{port}"


def press_body(
    message: ChannelMessage, arn: str, action_id: str, user: str, response_url: str
) -> str:
    """The block_actions payload Slack POSTs when `user` presses `action_id` of `arn`'s row
    (forged rows too: a button the message does not have)."""
    blocks = [{"block_id": f"slack{n}", **block} for n, block in enumerate(message.blocks)]
    block_id = next(
        (
            b["block_id"]
            for b in blocks
            if b["type"] == "actions" and any(e.get("value") == arn for e in b["elements"])
        ),
        "forged",
    )
    action = {
        "action_id": action_id,
        "block_id": block_id,
        "type": "button",
        "value": arn,
        "text": {"type": "plain_text", "text": "Stop"},
    }
    return message_action_body(
        message,
        user,
        response_url,
        action,
        blocks=blocks,
        channel_name=message.channel.lstrip("#"),
    )


def press(
    server: str,
    fake_slack: FakeSlack,
    message: ChannelMessage,
    arn: str,
    action_id: str,
    user: str,
    name: str,
) -> dict[str, Any]:
    """Press, wait for the lazy listener's answer on the response_url `name`; that answer."""
    body = press_body(message, arn, action_id, user, fake_slack.response_url(name))
    assert post_signed(server, body) == 200
    fake_slack.wait_for(lambda c: c.method == RESPONSE_URL and c.target == name and c.status == 200)
    (response,) = fake_slack.responses_posted(name)
    return response


def savings(world: World) -> list[dict]:
    return stored(world.db_path, "SELECT * FROM verified_savings ORDER BY id")


def audit(world: World) -> list[dict]:
    """The audit rows of Stop presses (the job's `idle-notify` rows left out)."""
    return stored(
        world.db_path, "SELECT * FROM enforcement_audit WHERE step = 'idle-stop' ORDER BY id"
    )


def notice(world: World, name: str) -> dict:
    (row,) = stored(world.db_path, "SELECT * FROM idle_notices WHERE arn = ?", [world.arn(name)])
    return row


def cents_of(micros: int) -> Decimal:
    return (Decimal(micros) / 1_000_000).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_an_approver_stops_an_idle_instance_and_the_saving_is_recorded_to_the_cent(
    server, world: World, fake_slack: FakeSlack, notices
):
    message = notices["#payments"]
    arn = world.arn("quiet")

    update = press(server, fake_slack, message, arn, STOP_ACTION_ID, APPROVER, "stop")

    # Stopped in moto although tag_policy.enforce is false: Stop is the approver's decision.
    assert world.config.tag_policy.enforce is False
    assert world.state("quiet") in ("stopping", "stopped")
    assert world.state("prod") == "running" and world.state("exempt") == "running"
    cost = world.last_month_cost["quiet"]
    (saving,) = savings(world)
    assert cents_of(saving["monthly_micros"]) == cost.quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert (saving["arn"], saving["action"], saving["actor"], saving["team"]) == (
        arn,
        "idle-stop",
        APPROVER,
        "payments",
    )
    assert saving["day"] == world.today.isoformat()
    (row,) = audit(world)
    assert (row["step"], row["outcome"], row["actor"], row["approved_by"], row["dry"]) == (
        "idle-stop",
        "done",
        APPROVER,
        APPROVER,
        0,
    )
    assert (notice(world, "quiet")["status"], notice(world, "quiet")["stopped_by"]) == (
        "stopped",
        APPROVER,
    )

    # The notice, updated in place: quiet's buttons give way to who stopped it, and for how much.
    assert update["replace_original"] is True and update["text"] == message.text
    month = saving["basis"]
    said = (
        f"🛑 <@{APPROVER}> stopped {world.instance_id('quiet')}:"
        f" saves {dollars(cost)}/month ({month})"
    )
    statuses = [b for b in update["blocks"] if b["type"] == "context"]
    assert said in [e["text"] for b in statuses for e in b["elements"]]
    still = [b for b in update["blocks"] if b["type"] == "actions"]
    values = {e["value"] for b in still for e in b["elements"]}
    assert values == {world.arn("exempt"), world.arn("prod")}

    # Pressed again: nothing more is stopped or saved; the presser hears why.
    again = press(server, fake_slack, message, arn, STOP_ACTION_ID, APPROVER, "again")
    assert again["response_type"] == "ephemeral"
    assert again["text"] == (
        f"{world.instance_id('quiet')} is already stopped (by {APPROVER}): nothing was changed."
    )
    assert len(savings(world)) == 1
    assert [r["outcome"] for r in audit(world)] == ["done", "skipped"]


def test_a_member_of_an_approver_user_group_may_stop(
    server, world: World, fake_slack: FakeSlack, notices
):
    fake_slack.set_reply("usergroups.users.list", {"ok": True, "users": [GROUP_MEMBER]})

    update = press(
        server,
        fake_slack,
        notices["#search"],
        world.arn("hostile"),
        STOP_ACTION_ID,
        GROUP_MEMBER,
        "group",
    )

    assert fake_slack.calls("usergroups.users.list")[0].body["usergroup"] == GROUP
    assert world.state("hostile") in ("stopping", "stopped")
    (saving,) = savings(world)
    assert saving["team"] == "search" and saving["actor"] == GROUP_MEMBER
    assert cents_of(saving["monthly_micros"]) == Decimal("30.10")
    assert dollars(world.last_month_cost["hostile"]) == "$30.10"
    assert "saves $30.10/month" in json.dumps(update["blocks"], ensure_ascii=False)


def test_a_stranger_is_told_only_approvers_may_and_nothing_changes(
    server, world: World, fake_slack: FakeSlack, notices
):
    fake_slack.set_reply("usergroups.users.list", {"ok": True, "users": [GROUP_MEMBER]})

    answer = press(
        server,
        fake_slack,
        notices["#payments"],
        world.arn("quiet"),
        STOP_ACTION_ID,
        STRANGER,
        "stranger",
    )

    assert answer == {
        "response_type": "ephemeral",
        "replace_original": False,
        "text": ONLY_APPROVERS_NOTE,
    }
    assert world.state("quiet") == "running"
    assert savings(world) == [] and audit(world) == []
    assert notice(world, "quiet")["status"] == "open"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("exempt", "it carries the exemption tag costbot:exempt"),
        ("prod", "its environment production is protected"),
    ],
)
def test_a_forged_stop_of_an_exempt_or_protected_instance_stops_nothing(
    server, world: World, fake_slack: FakeSlack, notices, name, reason
):
    message = notices["#payments"]
    arn = world.arn(name)
    shown = [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]
    assert [e["action_id"] for e in shown if e["value"] == arn] == [KEEP_ACTION_ID]

    answer = press(server, fake_slack, message, arn, STOP_ACTION_ID, APPROVER, "forged")

    assert answer["response_type"] == "ephemeral"
    assert answer["text"] == f"{world.instance_id(name)} was not stopped: {reason}."
    assert world.state(name) == "running"
    assert savings(world) == []
    (row,) = audit(world)
    assert (row["arn"], row["outcome"], row["actor"]) == (arn, "skipped", APPROVER)
    assert notice(world, name)["status"] == "open"


def test_an_instance_stopped_outside_costbot_is_left_alone(
    server, world: World, fake_slack: FakeSlack, notices
):
    ec2 = boto3.client("ec2", region_name=REGION)
    ec2.stop_instances(InstanceIds=[world.instance_id("quiet")])

    answer = press(
        server,
        fake_slack,
        notices["#payments"],
        world.arn("quiet"),
        STOP_ACTION_ID,
        APPROVER,
        "outside",
    )

    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith(f"{world.instance_id('quiet')} is stopp")
    assert savings(world) == []
    assert [r["outcome"] for r in audit(world)] == ["skipped"]
    assert notice(world, "quiet")["status"] == "closed"


def test_a_forged_signature_is_refused_and_nothing_happens(
    server, world: World, fake_slack: FakeSlack, notices
):
    body = press_body(
        notices["#payments"],
        world.arn("quiet"),
        STOP_ACTION_ID,
        APPROVER,
        fake_slack.response_url("unsigned"),
    )

    assert post_signed(server, body, secret="not-the-secret") == 401

    assert fake_slack.calls(RESPONSE_URL) == []
    assert world.state("quiet") == "running"
    assert savings(world) == [] and audit(world) == []


def test_keep_running_by_the_team_hides_it_for_30_days(
    server, world: World, fake_slack: FakeSlack, notices
):
    message = notices["#payments"]
    arn = world.arn("quiet")

    refused = press(server, fake_slack, message, arn, KEEP_ACTION_ID, STRANGER, "not-team")
    assert refused["text"] == NOT_ON_TEAM_NOTE
    assert notice(world, "quiet")["status"] == "open"

    update = press(server, fake_slack, message, arn, KEEP_ACTION_ID, ALICE, "keep")

    kept = notice(world, "quiet")
    assert (kept["status"], kept["kept_by"]) == ("kept", ALICE)
    until = format_day(world.today + timedelta(days=30))
    quiet = world.instance_id("quiet")
    said = f"✋ <@{ALICE}> kept {quiet} running: not reported again before {until}"
    assert said in json.dumps(update["blocks"], ensure_ascii=False)
    assert world.state("quiet") == "running"
    assert savings(world) == []

    # A team that lists no members: anyone who sees the notice in its channel may keep it.
    press(
        server, fake_slack, notices["#search"], world.arn("hostile"), KEEP_ACTION_ID, STRANGER, "s"
    )
    assert notice(world, "hostile")["kept_by"] == STRANGER


def test_access_denied_is_one_line_to_the_approver_and_an_audit_row(
    server, world: World, fake_slack: FakeSlack, notices, aws, monkeypatch
):
    with DenyProxy(aws) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", proxy.url)
        proxy.rules.append(
            lambda call: unauthorized_operation() if call.action == "StopInstances" else None
        )
        answer = press(
            server,
            fake_slack,
            notices["#payments"],
            world.arn("quiet"),
            STOP_ACTION_ID,
            APPROVER,
            "denied",
        )
        assert world.state("quiet") == "running"

    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith(f"{world.instance_id('quiet')} was not stopped: ")
    assert "ec2:StopInstances" in answer["text"] and "\n" not in answer["text"]
    assert savings(world) == []
    (row,) = audit(world)
    assert (row["outcome"], row["actor"]) == ("failed", APPROVER)
    assert notice(world, "quiet")["status"] == "open"  # an approver may try again
