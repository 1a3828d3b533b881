"""`/cost`: ack at once, answer in a lazy listener (Slack's 3-second rule), hand the reply to
delivery. Answers are private to the asker with a "Share in channel" button, unless the config
makes them public (`slack.answer_visibility`); usage errors and help are always private."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.answers.cost import Asker, answer_cost
from bot.context import AppContext
from bot.slack.delivery import Delivered, Delivery, new_answer_key
from handlers.actions.share import share_button_block


def acknowledge(ack: Ack) -> None:
    ack()


def answer_cost_command(body: dict[str, Any], context: AppContext, delivery: Delivery) -> Delivered:
    db = context.open_db()
    try:
        reply = answer_cost(
            body.get("text", ""),
            db=db,
            config=context.config,
            today=context.today(),
            asker=Asker(
                user_id=body.get("user_id"),
                channel_id=body.get("channel_id"),
                channel_name=body.get("channel_name"),
            ),
        )
    finally:
        db.close()
    # A notice (usage, unknown names) says "ephemeral" itself; who sees an answer is config.
    is_notice = reply.payload.get("response_type") == "ephemeral"
    response_type = "ephemeral" if is_notice else context.config.slack.answer_response_type
    channel_id = body.get("channel_id") or ""
    key = new_answer_key()
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


def register(app: App, context: AppContext) -> None:
    delivery = Delivery(app.client, context.open_writer)

    def answer(body: dict[str, Any]) -> None:
        answer_cost_command(body, context, delivery)

    app.command("/cost")(ack=acknowledge, lazy=[answer])
