"""`/cost`: ack at once, answer in a lazy listener (Slack's 3-second rule), hand the reply to
delivery. Answers are private to the asker with a "Share in channel" button, unless the config
makes them public (`slack.answer_visibility`); usage errors and help are always private."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.answers.cost import answer_cost
from bot.context import AppContext
from bot.slack.delivery import Delivered, Delivery
from handlers.commands.answer import asker_of, deliver_reply


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
            asker=asker_of(body),
        )
    finally:
        db.close()
    return deliver_reply(body, context, delivery, reply)


def register(app: App, context: AppContext) -> None:
    delivery = Delivery(app.client, context.open_writer)

    def answer(body: dict[str, Any]) -> None:
        answer_cost_command(body, context, delivery)

    app.command("/cost")(ack=acknowledge, lazy=[answer])
