"""The "Approve termination" button end to end: the ladder walked to its request for approval
on moto and the fake Slack, then signed button presses over HTTP to the running app. Only an
approver (by user id, or through a user group read from Slack) terminates; a stranger is told
privately and changes nothing but the audit's record of the attempt; a forged payload is
refused by the signature check."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fake_slack import (
    RESPONSE_URL,
    FakeSlack,
    message_action_body,
)
from ladder_world import (
    APPROVER,
    DAY0,
    PAYMENTS_CHANNEL,
    STRANGER,
    World,
    at,
    config,
    db_instance,
    db_snapshots,
    db_state,
    instance,
    instance_state,
)
from slack_app import post_signed

from bot.render.tag_policy import APPROVE_ACTION_ID
from bot.slack.app import build_app
from bot.slack.approvers import ONLY_APPROVERS_NOTE
from bot.slack.server import start_http_in_thread
from bot.store import open_store
from handlers.actions import tag_policy as approve_handlers
from handlers.actions.tag_policy import NOT_AWAITING_NOTE

GROUP = "S0ADMINS"
GROUPIE = "U0GROUPIE"
CLICKED_AT = at(DAY0 + timedelta(days=8), 10)


@pytest.fixture
def world(tmp_path: Path) -> World:
    path = tmp_path / "costbot.db"
    open_store(path).close()
    return World(path, config(enforce=True, approvers=[APPROVER, GROUP]))


@pytest.fixture
def awaiting(aws, fake_slack: FakeSlack, world: World) -> dict[str, str]:
    """An instance and a DB instance walked to the request for approval (day 7)."""
    resources = {
        "instance": instance({"Team": "payments"}),
        "database": db_instance("orders-db", {"Team": "payments"}),
    }
    for offset in (0, 2, 7):
        world.run(DAY0 + timedelta(days=offset))
    assert instance_state(resources["instance"]) == "stopped"
    return resources


@pytest.fixture
def server(fake_slack: FakeSlack, world: World):
    def register(app, context):
        approve_handlers.register(app, context, clock=lambda: CLICKED_AT)

    background, port = start_http_in_thread(build_app(world.context, register=register))
    with background:
        yield f"http://127.0.0.1:{port}"


def press_body(fake_slack: FakeSlack, arn: str, user: str, response_url: str) -> str:
    message = fake_slack.channel_messages(PAYMENTS_CHANNEL)[-1]
    (block,) = [
        b
        for b in message.blocks
        if b.get("accessory", {}).get("value") == arn
        and b["accessory"]["action_id"] == APPROVE_ACTION_ID
    ]
    action = {
        "action_id": APPROVE_ACTION_ID,
        "block_id": block["block_id"],
        "type": "button",
        "value": arn,
        "text": block["accessory"]["text"],
    }
    return message_action_body(message, user, response_url, action, channel_name="payments")


def press(server: str, fake_slack: FakeSlack, body: str, name: str) -> dict[str, Any]:
    assert post_signed(server, body) == 200
    fake_slack.wait_for(lambda c: c.method == RESPONSE_URL and c.target == name and c.status == 200)
    (response,) = fake_slack.responses_posted(name)
    return response


def approve_rows(world: World, resource_id: str) -> list[tuple]:
    return [
        (r["step"], r["outcome"], r["actor"], r["approved_by"])
        for r in world.audit(resource_id)
        if r["step"] in ("approve", "terminate")
    ]


def test_an_approver_terminates_and_the_message_says_who_and_what(
    awaiting, server, fake_slack, world
):
    vm = awaiting["instance"]
    arn = world.arn(vm)
    url = fake_slack.response_url("approve")
    update = press(server, fake_slack, press_body(fake_slack, arn, APPROVER, url), "approve")

    assert instance_state(vm) == "terminated"
    assert update["replace_original"] is True
    approved = [b for b in update["blocks"] if vm in json.dumps(b) and "accessory" not in b]
    (line,) = [b["text"]["text"] for b in approved if "Approved by" in b["text"]["text"]]
    assert line == f"💥 `{vm}`: Approved by <@{APPROVER}> on Dec 15, 2026 10:00 UTC; terminated."
    # The other resource keeps its button.
    database_arn = world.arn(awaiting["database"])
    assert [b["accessory"]["value"] for b in update["blocks"] if "accessory" in b] == [database_arn]
    assert approve_rows(world, vm) == [
        ("approve", "done", APPROVER, APPROVER),
        ("terminate", "done", APPROVER, APPROVER),
    ]
    assert world.state(vm)["approved_by"] == APPROVER
    assert db_state(awaiting["database"]) == "stopped"  # not approved: untouched

    # A second click: nothing more happens.
    again = fake_slack.response_url("again")
    note = press(server, fake_slack, press_body(fake_slack, arn, APPROVER, again), "again")
    assert note["text"] == NOT_AWAITING_NOTE
    assert len(approve_rows(world, vm)) == 2


def test_a_member_of_an_approver_group_approves_a_database_deleted_with_its_snapshot(
    awaiting, server, fake_slack, world
):
    fake_slack.user_groups[GROUP] = [GROUPIE]
    database = awaiting["database"]
    url = fake_slack.response_url("group")
    update = press(
        server, fake_slack, press_body(fake_slack, world.arn(database), GROUPIE, url), "group"
    )
    assert db_state(database) is None
    assert db_snapshots(database) == ["costbot-final-orders-db-20261215"]
    assert "final snapshot `costbot-final-orders-db-20261215`" in json.dumps(update["blocks"])
    assert approve_rows(world, database) == [
        ("approve", "done", GROUPIE, GROUPIE),
        ("terminate", "done", GROUPIE, GROUPIE),
    ]
    assert fake_slack.calls("usergroups.users.list")[0].body["usergroup"] == GROUP


def test_a_stranger_is_told_only_approvers_can_and_nothing_changes(
    awaiting, server, fake_slack, world
):
    fake_slack.user_groups[GROUP] = [GROUPIE]
    vm = awaiting["instance"]
    url = fake_slack.response_url("stranger")
    note = press(
        server, fake_slack, press_body(fake_slack, world.arn(vm), STRANGER, url), "stranger"
    )
    assert note == {
        "response_type": "ephemeral",
        "replace_original": False,
        "text": ONLY_APPROVERS_NOTE,
    }
    assert instance_state(vm) == "stopped"
    assert world.state(vm)["approved_by"] is None
    assert approve_rows(world, vm) == [("approve", "skipped", STRANGER, None)]


def test_a_forged_press_is_refused_and_changes_nothing(awaiting, server, fake_slack, world):
    vm = awaiting["instance"]
    body = press_body(fake_slack, world.arn(vm), APPROVER, fake_slack.response_url("forged"))
    assert post_signed(server, body, secret="not-the-signing-secret") == 401
    assert instance_state(vm) == "stopped"
    assert approve_rows(world, vm) == []
    assert fake_slack.responses_posted("forged") == []
