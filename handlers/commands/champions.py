"""`/champions`: ack at once, answer in a lazy listener (Slack's 3-second rule), hand the reply
to delivery, exactly as `/unitcost` does (private with a "Share in channel" button unless the
config makes answers public; notices always private)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.answers.champions import answer_champions
from bot.context import AppContext
from bot.slack.delivery import Delivered, Delivery
from handlers.commands.answer import deliver_reply


def acknowledge(ack: Ack) -> None:
    ack()


def answer_champions_command(
    body: dict[str, Any], context: AppContext, delivery: Delivery
) -> Delivered:
    db = context.open_db()
    try:
        reply = answer_champions(
            body.get("text", ""), db=db, config=context.config, today=context.today()
        )
    finally:
        db.close()
    return deliver_reply(body, context, delivery, reply)


def register(app: App, context: AppContext) -> None:
    delivery = Delivery(app.client, context.open_writer)

    def answer(body: dict[str, Any]) -> None:
        answer_champions_command(body, context, delivery)

    app.command("/champions")(ack=acknowledge, lazy=[answer])
