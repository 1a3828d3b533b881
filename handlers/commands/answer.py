"""Delivering a slash command's reply, the same for every command: notices (usage, unknown
names) are private; who sees an answer is config (`slack.answer_visibility`), and a private
answer asked in a channel gets a "Share in channel" button."""

from __future__ import annotations

from typing import Any

from bot.answers.common import Asker
from bot.context import AppContext
from bot.render.cost import Reply
from bot.slack.delivery import Delivered, Delivery, new_answer_key
from handlers.actions.share import share_button_block


def deliver_reply(
    body: dict[str, Any],
    context: AppContext,
    delivery: Delivery,
    reply: Reply,
    key: str | None = None,
) -> Delivered:
    """Send `reply` to the command's response_url, recorded under `key` (a new answer key
    when none is given: a caller that must name the key in the message passes its own)."""
    # A notice (usage, unknown names) says "ephemeral" itself; who sees an answer is config.
    is_notice = reply.payload.get("response_type") == "ephemeral"
    response_type = "ephemeral" if is_notice else context.config.slack.answer_response_type
    channel_id = body.get("channel_id") or ""
    key = key or new_answer_key()
    # A private answer can be shared where it was asked; a DM has nobody else to share with.
    in_a_channel = bool(channel_id) and not channel_id.startswith("D")
    shareable = not is_notice and response_type == "ephemeral" and in_a_channel
    return delivery.respond(
        body["response_url"],
        {"text": reply.payload["text"], "blocks": reply.payload["blocks"]},
        reply.chart,
        key=key,
        kind="notice" if is_notice else "answer",  # only answers can be shared
        response_type=response_type,
        user_id=body.get("user_id"),
        channel_id=channel_id,
        extra_blocks=[share_button_block(key)] if shareable else [],
    )


def asker_of(body: dict[str, Any]) -> Asker:
    """Who asked, and where, from a slash command's payload."""
    return Asker(
        user_id=body.get("user_id"),
        channel_id=body.get("channel_id"),
        channel_name=body.get("channel_name"),
    )
