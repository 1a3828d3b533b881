"""The buttons under an idle EC2 notice (jobs/idle.py): Stop and Keep running.

Stop: approvers only (`tag_policy.approvers`, user ids or user groups); everyone else is told
so privately and nothing changes. The instance is re-read and stopped by bot/cloud/idle.py,
which records the audit row and the run-rate saved; the notice is then updated in place
("<@U..> stopped i-0abc: saves $123.45/month (its cost in October 2026)"). A press that could
not stop it (already stopped, gone, exempt, AccessDenied) gets one private line.

Keep running: anyone on the instance's team (its `members` in the config; a team that lists
none: anyone in its channel, where the notice was posted), or an approver. The notice is not
repeated for KEEP_DAYS, and says who kept it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.analytics.idle import kept_until
from bot.cloud.aws import AwsCloud, CloudActions
from bot.cloud.idle import stop_idle_instance
from bot.config import Config
from bot.context import AppContext
from bot.render.blocks import escape_mrkdwn
from bot.render.idle import (
    IDLE_ACTIONS,
    KEEP_ACTION_ID,
    STOP_ACTION_ID,
    kept_text,
    stopped_text,
    with_status,
)
from bot.slack.approvers import ONLY_APPROVERS_NOTE, may_approve
from bot.slack.delivery import Delivery
from bot.store import queries, writers

log = logging.getLogger(__name__)

NOT_ON_TEAM_NOTE = (
    "Only the instance's team (or an approver) can keep it running: nothing was changed."
)
NOT_OPEN_NOTE = "This idle notice is no longer open: nothing was changed."


@dataclass(frozen=True)
class Press:
    action_id: str
    arn: str
    user_id: str
    response_url: str
    message: dict[str, Any]


def read_press(body: dict[str, Any]) -> Press | None:
    """The idle button pressed in a block_actions payload (None if none was)."""
    pressed = [a for a in body.get("actions", []) if a.get("action_id") in IDLE_ACTIONS]
    action = pressed[0] if pressed else None
    if action is None or not body.get("response_url") or not action.get("value"):
        return None
    return Press(
        action_id=action["action_id"],
        arn=str(action["value"]),
        user_id=str(body.get("user", {}).get("id", "")),
        response_url=str(body["response_url"]),
        message=body.get("message") or {},
    )


def acknowledge(ack: Ack) -> None:
    ack()


def press_moment(context: AppContext) -> datetime:
    """Now; on the context's day when it pins one (tests, the demo), at the clock's time."""
    clock = datetime.now(UTC)
    today = context.today()
    return clock if clock.date() == today else datetime.combine(today, clock.time(), UTC)


def stop_pressed(
    body: dict[str, Any],
    context: AppContext,
    client: WebClient,
    delivery: Delivery,
    cloud: CloudActions,
) -> None:
    press = read_press(body)
    if press is None:
        return
    if not may_approve(client, press.user_id, context.config.tag_policy):
        delivery.tell(press.response_url, ONLY_APPROVERS_NOTE)
        return
    db = context.open_writer()
    try:
        outcome = stop_idle_instance(
            db, context.config, cloud, press.arn, press.user_id, press_moment(context)
        )
    finally:
        db.close()
    if not outcome.stopped:
        delivery.tell(press.response_url, escape_mrkdwn(outcome.note))
        return
    status = stopped_text(
        press.user_id,
        outcome.resource_id,
        outcome.monthly_micros,
        outcome.basis,
        context.config.currency,
    )
    _update(delivery, press, status)


def keep_pressed(
    body: dict[str, Any], context: AppContext, client: WebClient, delivery: Delivery
) -> None:
    press = read_press(body)
    if press is None:
        return
    config = context.config
    db = context.open_writer()
    try:
        notice = queries.idle_notice(db, press.arn)
        if notice is None or notice["status"] != "open":
            delivery.tell(press.response_url, NOT_OPEN_NOTE)
            return
        if not _on_team(config, notice.get("team"), press.user_id) and not may_approve(
            client, press.user_id, config.tag_policy
        ):
            delivery.tell(press.response_url, NOT_ON_TEAM_NOTE)
            return
        now = press_moment(context)
        until = kept_until(now)
        if not writers.keep_idle_notice(db, press.arn, press.user_id, now, until):
            delivery.tell(press.response_url, NOT_OPEN_NOTE)
            return
    finally:
        db.close()
    _update(delivery, press, kept_text(press.user_id, notice["resource_id"], until.date()))


def _on_team(config: Config, team: str | None, user_id: str) -> bool:
    """A member of the instance's team; a team that lists no members (or no team): anyone who
    sees the notice, which went to that team's channel."""
    configured = config.team(team) if team else None
    if configured is None or not configured.members:
        return True
    return user_id in configured.members


def _update(delivery: Delivery, press: Press, status: str) -> None:
    """The notice with the pressed instance's buttons replaced by `status`; without a message
    to rewrite, `status` told to the presser."""
    blocks = press.message.get("blocks")
    if not blocks:
        delivery.tell(press.response_url, status)
        return
    updated = {
        "replace_original": True,
        "text": press.message.get("text") or status,
        "blocks": with_status(blocks, press.arn, status),
    }
    error = delivery.send_to_response_url(press.response_url, updated)
    if error is not None:
        log.warning("Updating an idle notice in place failed: %s", error)
        delivery.tell(press.response_url, f"{status} (the notice itself could not be updated)")


def register(
    app: App, context: AppContext, cloud_for: Callable[[Config], CloudActions] = AwsCloud
) -> None:
    delivery = Delivery(app.client, context.open_writer)

    def stop(body: dict[str, Any]) -> None:
        stop_pressed(body, context, app.client, delivery, cloud_for(context.config))

    def keep(body: dict[str, Any]) -> None:
        keep_pressed(body, context, app.client, delivery)

    app.action(STOP_ACTION_ID)(ack=acknowledge, lazy=[stop])
    app.action(KEEP_ACTION_ID)(ack=acknowledge, lazy=[keep])
