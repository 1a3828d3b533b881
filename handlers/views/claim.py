"""Submitting the Claim modal: the values are checked in the ack (Slack shows the errors
under the fields, `response_action: errors`), then a lazy listener tags the resource
(bot/cloud/claim.py) and updates the /untagged message through the press's response_url:
the resource's line says who claimed it, its Claim button gone. A failure is one ephemeral
line to the person who claimed, and changes nothing."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App

from bot.cloud.aws import AwsCloud, CloudActions
from bot.cloud.claim import ClaimResult, claim_problems, claim_resource
from bot.context import AppContext
from bot.render.claim import (
    CLAIM_CALLBACK_ID,
    error_block_ids,
    read_metadata,
    submitted_values,
)
from bot.render.untagged import claimed_text, mark_claimed
from bot.slack.delivery import Delivery
from bot.store import writers
from handlers.actions.share import share_button_block

log = logging.getLogger(__name__)


def _values(body: dict[str, Any], required: tuple[str, ...]) -> dict[str, str]:
    state = ((body.get("view") or {}).get("state") or {}).get("values") or {}
    return submitted_values(state, required)


def check_submission(ack: Ack, body: dict[str, Any], context: AppContext) -> None:
    required = tuple(context.config.tag_policy.required_tags)
    problems = claim_problems(_values(body, required), required)
    if problems:
        ack(response_action="errors", errors=error_block_ids(problems, required))
    else:
        ack()


def claim_submitted(
    body: dict[str, Any],
    context: AppContext,
    delivery: Delivery,
    make_cloud: Callable[[], CloudActions],
) -> ClaimResult | None:
    required = tuple(context.config.tag_policy.required_tags)
    values = _values(body, required)
    if claim_problems(values, required):
        return None  # the ack showed the errors; the modal is still open
    metadata = read_metadata((body.get("view") or {}).get("private_metadata"))
    arn, response_url = metadata.get("arn"), metadata.get("response_url")
    if not arn:
        return None
    user_id = str((body.get("user") or {}).get("id", ""))
    db = context.open_writer()
    try:
        result = claim_resource(
            db, make_cloud(), context.config, arn, values, user_id, datetime.now(UTC)
        )
    finally:
        db.close()
    if not result.ok:
        delivery.tell(response_url, result.problem)
        return result
    note = claimed_text(user_id, result.resource_id, result.team, result.written)
    key = metadata.get("key")
    private = bool(metadata.get("private"))
    _update_message(context, delivery, response_url, key, private, arn, note)
    return result


def _update_message(
    context: AppContext,
    delivery: Delivery,
    response_url: str | None,
    key: str | None,
    private: bool,
    arn: str,
    note: str,
) -> None:
    """Rewrite the recorded /untagged message with the claim (a private answer keeps its
    Share button); without a record (the message was not sent through delivery), say it to
    the person who claimed."""
    record = delivery.recorded(key) if key else None
    if record is None or not record.get("payload") or not response_url:
        delivery.tell(response_url, note)
        return
    message = json.loads(record["payload"])
    message["blocks"] = mark_claimed(message.get("blocks") or [], arn, note)
    db = context.open_writer()
    try:
        writers.update_delivery(db, key, payload=json.dumps(message))
    finally:
        db.close()
    channel = record.get("channel") or ""
    shown = list(message["blocks"])
    if private and record.get("kind") == "answer" and channel and not channel.startswith("D"):
        shown.append(share_button_block(key))
    updated = {"replace_original": True, "text": message.get("text") or note, "blocks": shown}
    error = delivery.send_to_response_url(response_url, updated)
    if error is not None:
        log.warning("Updating the /untagged message after a claim failed: %s", error)
        delivery.tell(response_url, note)


def register(app: App, context: AppContext) -> None:
    delivery = Delivery(app.client, context.open_writer)

    def acknowledge(ack: Ack, body: dict[str, Any]) -> None:
        check_submission(ack, body, context)

    def submitted(body: dict[str, Any]) -> None:
        claim_submitted(body, context, delivery, lambda: AwsCloud(context.config))

    app.view(CLAIM_CALLBACK_ID)(ack=acknowledge, lazy=[submitted])
