"""The "Approve termination" button of the tag enforcement ladder's message.

Ack at once; then, in a lazy listener: only an approver (`tag_policy.approvers`: user ids, or
user groups read from Slack) may approve. Anyone else is told, privately, that only approvers
can do this, and nothing changes but one audit row (step `approve`, outcome `skipped`, actor
the user who tried): who tried to approve what is part of the record.

An approver's click is recorded (`writers.record_approval`, with its audit row), then the
termination is carried out at once through bot/cloud/enforcement.py, which re-reads the
resource first and leaves it alone if it was tagged or changed since. With enforcement off,
it is only "would terminate". The message is updated in place (the response_url): the
resource's button gives way to who approved and what happened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App

from bot.analytics.tag_ladder import TERMINATE, LadderState, next_step
from bot.cloud.aws import AwsCloud, CloudActionFailed, CloudActions, arn_parts
from bot.cloud.enforcement import carry_out, facts_of
from bot.context import AppContext
from bot.periods import format_day
from bot.render.blocks import code, escape_mrkdwn
from bot.render.tag_policy import APPROVE_ACTION_ID, with_approval
from bot.slack.approvers import ONLY_APPROVERS_NOTE, may_approve
from bot.slack.delivery import Delivery
from bot.store import queries, writers

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

NOT_AWAITING_NOTE = (
    "This resource is not waiting for an approval any more (approved already, terminated, "
    "or tagged): nothing was changed."
)


def acknowledge(ack: Ack) -> None:
    ack()


def approve_pressed(
    body: dict[str, Any],
    app_context: AppContext,
    delivery: Delivery,
    client: Any,
    cloud: CloudActions,
    now: datetime,
) -> str | None:
    """Handle one click; the line shown in place of the button (None: nothing approved)."""
    action = next(
        (a for a in body.get("actions", []) if a.get("action_id") == APPROVE_ACTION_ID), None
    )
    response_url = body.get("response_url")
    if action is None or not response_url:
        return None
    arn = str(action.get("value") or "")
    user_id = str(body.get("user", {}).get("id", ""))
    policy = app_context.config.tag_policy
    db = app_context.open_writer()
    try:
        if not may_approve(client, user_id, policy):
            _record_refusal(db, arn, user_id, now)
            _tell(delivery, response_url, ONLY_APPROVERS_NOTE)
            return None
        if not writers.record_approval(db, arn, user_id, now):
            _tell(delivery, response_url, NOT_AWAITING_NOTE)
            return None
        line = _terminate(db, app_context, cloud, arn, user_id, now)
    finally:
        db.close()
    message = body.get("message") or {}
    if message.get("blocks"):
        updated = {
            "replace_original": True,
            "text": message.get("text") or line,
            "blocks": with_approval(message["blocks"], arn, line),
        }
        error = delivery.send_to_response_url(response_url, updated)
        if error is None:
            return line
        log.warning("Updating the tag policy message in place failed: %s", error)
    _tell(delivery, response_url, line)
    return line


def _terminate(db, app_context: AppContext, cloud: CloudActions, arn: str, user: str, now) -> str:
    """Carry out the approved termination; the line saying who approved and what happened."""
    config = app_context.config
    row = queries.inventory_resource(db, arn)
    who = f"Approved by <@{escape_mrkdwn(user)}> on {format_day(now.date())} {now:%H:%M} UTC"
    name = code(row["resource_id"] if row else arn_parts(arn)[1])
    if row is None:
        return f"{name}: {who}; it is no longer in the inventory, so nothing was terminated."
    facts = facts_of(row, config)
    state = LadderState.from_row(queries.enforcement_state(db, arn))
    step = next_step(facts, state, config.tag_policy, now)
    if step.action != TERMINATE:
        return f"{name}: {who}; not terminated: {escape_mrkdwn(step.reason)}"
    carried = carry_out(db, config, cloud, facts, step, now=now, actor=user)
    if carried.acted:
        snapshot = f" (final snapshot {code(step.snapshot_id)})" if step.snapshot_id else ""
        return f"💥 {name}: {who}; terminated{snapshot}."
    if carried.outcome == "done" and step.dry:
        return f"{name}: {who}; would be terminated, but enforcement is off: nothing changed."
    return f"{name}: {who}; not terminated: {escape_mrkdwn(carried.reason)}"


def _record_refusal(db, arn: str, user_id: str, now: datetime) -> None:
    try:
        _, _, account, region = arn_parts(arn)
    except CloudActionFailed:  # a value that is no ARN: still recorded, as given
        account = region = None
    ladder = queries.enforcement_state(db, arn) or {}
    writers.record_audit(
        db,
        at=now,
        arn=arn[:2000] or "(none)",
        step="approve",
        outcome="skipped",
        reason=f"{user_id or 'unknown user'} is not an approver: nothing was changed.",
        actor=user_id or "unknown",
        account=account,
        region=region,
        resource_type=ladder.get("resource_type"),
    )


def _tell(delivery: Delivery, response_url: str, note: str) -> None:
    delivery.send_to_response_url(
        response_url, {"response_type": "ephemeral", "replace_original": False, "text": note}
    )


def register(
    app: App,
    context: AppContext,
    *,
    cloud: CloudActions | None = None,
    clock: Clock | None = None,
) -> None:
    delivery = Delivery(app.client, context.open_writer)
    acting = cloud or AwsCloud(context.config)

    def pressed(body: dict[str, Any]) -> None:
        now = (clock or (lambda: datetime.now(UTC)))()
        approve_pressed(body, context, delivery, app.client, acting, now)

    app.action(APPROVE_ACTION_ID)(ack=acknowledge, lazy=[pressed])
