"""The Claim button of `/untagged`: open the Claim modal at once (views.open needs the
trigger_id within 3 seconds of the press, so it is done right after ack, not lazily).
Submitting it is handlers/views/claim.py."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.answers.claim import NOT_IN_INVENTORY, claim_form
from bot.context import AppContext
from bot.render.claim import claim_metadata
from bot.render.untagged import CLAIM_ACTION_ID, answer_key_of
from bot.slack.delivery import Delivery

log = logging.getLogger(__name__)

TOO_LONG_NOTE = "This resource's ARN is too long to claim from Slack: tag it where it lives."


def open_claim_modal(
    ack: Ack, body: dict[str, Any], client: WebClient, context: AppContext, delivery: Delivery
) -> None:
    ack()
    action = next(
        (a for a in body.get("actions", []) if a.get("action_id") == CLAIM_ACTION_ID), None
    )
    response_url = body.get("response_url")
    if action is None or not action.get("value"):
        return
    arn = str(action["value"])
    # A shared copy (in the channel) is not ephemeral: updating it adds no Share button.
    private = bool((body.get("container") or {}).get("is_ephemeral", False))
    answer_key = answer_key_of(str(action.get("block_id", "")))
    metadata = claim_metadata(arn, response_url, answer_key, private)
    if metadata is None:
        delivery.tell(response_url, TOO_LONG_NOTE)
        return
    db = context.open_db()
    try:
        view = claim_form(db, context.config, arn, metadata)
    finally:
        db.close()
    if view is None:
        delivery.tell(response_url, NOT_IN_INVENTORY)
        return
    client.views_open(trigger_id=body["trigger_id"], view=view)


def register(app: App, context: AppContext) -> None:
    delivery = Delivery(app.client, context.open_writer)

    def pressed(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        open_claim_modal(ack, body, client, context, delivery)

    app.action(CLAIM_ACTION_ID)(pressed)
