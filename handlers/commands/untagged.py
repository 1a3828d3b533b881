"""`/untagged`: ack at once, answer in a lazy listener, hand the reply to delivery like
`/cost`. The answer's Claim sections name the delivery key, so that a claim can update the
recorded message (Slack sends an ephemeral message's button presses without its blocks)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.answers.untagged import answer_untagged
from bot.context import AppContext
from bot.render.untagged import with_answer_key
from bot.slack.delivery import Delivered, Delivery, new_answer_key
from handlers.commands.answer import asker_of, deliver_reply


def acknowledge(ack: Ack) -> None:
    ack()


def answer_untagged_command(
    body: dict[str, Any], context: AppContext, delivery: Delivery
) -> Delivered:
    db = context.open_db()
    try:
        reply = answer_untagged(
            body.get("text", ""),
            db=db,
            config=context.config,
            today=context.today(),
            asker=asker_of(body),
        )
    finally:
        db.close()
    key = new_answer_key()
    reply.payload = with_answer_key(reply.payload, key)
    return deliver_reply(body, context, delivery, reply, key=key)


def register(app: App, context: AppContext) -> None:
    delivery = Delivery(app.client, context.open_writer)

    def answer(body: dict[str, Any]) -> None:
        answer_untagged_command(body, context, delivery)

    app.command("/untagged")(ack=acknowledge, lazy=[answer])
