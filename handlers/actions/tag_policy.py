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

from bot.cloud.aws import AwsCloud, CloudActionFailed, CloudActions, arn_parts
from bot.cloud.enforcement import approve_and_terminate
from bot.context import AppContext
from bot.render.tag_policy import APPROVE_ACTION_ID, approval_line, with_approval
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
            delivery.tell(response_url, ONLY_APPROVERS_NOTE)
            return None
        approval = approve_and_terminate(db, app_context.config, cloud, arn, user_id, now)
        if not approval.recorded:
            delivery.tell(response_url, NOT_AWAITING_NOTE)
            return None
        line = approval_line(
            approval.resource_id,
            user_id,
            now,
            terminated=approval.terminated,
            dry=approval.dry,
            snapshot_id=approval.snapshot_id,
            reason=approval.reason,
        )
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
    delivery.tell(response_url, line)
    return line


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
