"""`/unitcost`: ack at once, answer in a lazy listener (Slack's 3-second rule), hand the reply
to delivery, exactly as `/cost` does (private with a "Share in channel" button unless the
config makes answers public; notices always private)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.answers.unitcost import answer_unitcost
from bot.context import AppContext
from bot.slack.delivery import Delivered, Delivery, new_answer_key
from handlers.actions.share import share_button_block


def acknowledge(ack: Ack) -> None:
    ack()


def answer_unitcost_command(
    body: dict[str, Any], context: AppContext, delivery: Delivery
) -> Delivered:
    db = context.open_db()
    try:
        reply = answer_unitcost(
            body.get("text", ""), db=db, config=context.config, today=context.today()
        )
    finally:
        db.close()
    is_notice = reply.payload.get("response_type") == "ephemeral"
    response_type = "ephemeral" if is_notice else context.config.slack.answer_response_type
    channel_id = body.get("channel_id") or ""
    key = new_answer_key()
    in_a_channel = bool(channel_id) and not channel_id.startswith("D")
    shareable = not is_notice and response_type == "ephemeral" and in_a_channel
    return delivery.respond(
        body["response_url"],
        {"text": reply.payload["text"], "blocks": reply.payload["blocks"]},
        reply.chart,
        key=key,
        kind="notice" if is_notice else "answer",
        response_type=response_type,
        user_id=body.get("user_id"),
        channel_id=channel_id,
        extra_blocks=[share_button_block(key)] if shareable else [],
    )


def register(app: App, context: AppContext) -> None:
    delivery = Delivery(app.client, context.open_writer)

    def answer(body: dict[str, Any]) -> None:
        answer_unitcost_command(body, context, delivery)

    app.command("/unitcost")(ack=acknowledge, lazy=[answer])
