"""Answering a slash command, the same for every command that reads the store: ack at once,
answer in a lazy listener (Slack's 3-second rule), hand the reply to delivery. Notices (usage,
unknown names) are private; who sees an answer is config (`slack.answer_visibility`), and a
private answer asked in a channel gets a "Share in channel" button."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App

from bot.answers.common import Asker
from bot.context import AppContext
from bot.render.cost import Reply
from bot.slack.delivery import Delivered, Delivery, new_answer_key
from handlers.actions.share import share_button_block

# An answer function: (text, db=, config=, today=, asker=) -> Reply (bot/answers/*.py).
Answerer = Callable[..., Reply]
# Changes a reply before delivery, given the key it is delivered under (a Claim button names it).
KeyedReply = Callable[[Reply, str], Reply]


def acknowledge(ack: Ack) -> None:
    ack()


def answer_command(
    body: dict[str, Any],
    context: AppContext,
    delivery: Delivery,
    answerer: Answerer,
    with_key: KeyedReply | None = None,
) -> Delivered:
    """Answer one command from the store and deliver the reply to its response_url."""
    db = context.open_db()
    try:
        reply = answerer(
            body.get("text", ""),
            db=db,
            config=context.config,
            today=context.today(),
            asker=asker_of(body),
        )
    finally:
        db.close()
    key = new_answer_key()
    if with_key is not None:
        reply = with_key(reply, key)
    return deliver_reply(body, context, delivery, reply, key=key)


def register_command(
    app: App,
    context: AppContext,
    command: str,
    answerer: Answerer,
    with_key: KeyedReply | None = None,
) -> None:
    """`command` acked at once and answered by `answerer` in a lazy listener."""
    delivery = Delivery(app.client, context.open_writer)

    def answer(body: dict[str, Any]) -> None:
        answer_command(body, context, delivery, answerer, with_key)

    app.command(command)(ack=acknowledge, lazy=[answer])


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
