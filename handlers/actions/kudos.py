"""The Confirm and Decline buttons of a kudos message (handlers/commands/kudos.py).

Ack at once; then, in a lazy listener, bot/answers/kudos.py decides: only the win's team's
leads, `champions.confirmers` and `tag_policy.approvers` (users, or user groups read from
Slack at the press) may judge it, never the person thanked nor who gave it. Anyone else is
told privately why, and nothing changes. A judged kudos is updated in place through the
press's response_url ("confirmed by @lead"), its buttons gone; a second press changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.answers.kudos_confirm import KudosDecision, decide_kudos, win_ids_of
from bot.config import TagPolicySettings
from bot.context import AppContext
from bot.render.kudos import CONFIRM_ACTION_ID, DECLINE_ACTION_ID
from bot.slack.approvers import may_approve
from bot.slack.delivery import Delivery

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def acknowledge(ack: Ack) -> None:
    ack()


def kudos_pressed(
    body: dict[str, Any],
    app_context: AppContext,
    delivery: Delivery,
    client: WebClient,
    now: datetime,
) -> KudosDecision | None:
    """Handle one press of Confirm or Decline; what it decided (None: not a kudos press)."""
    action = next(
        (
            a
            for a in body.get("actions", [])
            if a.get("action_id") in (CONFIRM_ACTION_ID, DECLINE_ACTION_ID)
        ),
        None,
    )
    response_url = body.get("response_url")
    if action is None or not response_url:
        return None
    user_id = str(body.get("user", {}).get("id", "")) or None

    def is_confirmer(user: str, allowed: tuple[str, ...]) -> bool:
        # The approvers' check, user groups included, over this win's list of confirmers.
        return may_approve(client, user, TagPolicySettings(approvers=allowed))

    db = app_context.open_writer()
    try:
        decision = decide_kudos(
            db,
            app_context.config,
            win_ids_of(action.get("value")),
            user_id,
            confirm=action["action_id"] == CONFIRM_ACTION_ID,
            is_confirmer=is_confirmer,
            now=now,
        )
    finally:
        db.close()
    if decision.changed and decision.message is not None:
        error = delivery.send_to_response_url(
            response_url, {"replace_original": True, **decision.message}
        )
        if error is not None:
            log.warning("Updating a kudos message in place failed: %s", error)
    if decision.note:
        delivery.tell(response_url, decision.note)
    return decision


def register(app: App, context: AppContext, *, clock: Clock | None = None) -> None:
    delivery = Delivery(app.client, context.open_writer)

    def pressed(body: dict[str, Any]) -> None:
        now = (clock or (lambda: datetime.now(UTC)))()
        kudos_pressed(body, context, delivery, app.client, now)

    app.action(CONFIRM_ACTION_ID)(ack=acknowledge, lazy=[pressed])
    app.action(DECLINE_ACTION_ID)(ack=acknowledge, lazy=[pressed])
