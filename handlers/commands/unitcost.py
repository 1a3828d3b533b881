"""`/unitcost`: ack at once, answer in a lazy listener (Slack's 3-second rule), hand the reply
to delivery, exactly as `/cost` does (private with a "Share in channel" button unless the
config makes answers public; notices always private)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.answers.unitcost import answer_unitcost
from bot.context import AppContext
from bot.slack.delivery import Delivered, Delivery
from handlers.commands.answer import deliver_reply


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
    return deliver_reply(body, context, delivery, reply)


def register(app: App, context: AppContext) -> None:
    delivery = Delivery(app.client, context.open_writer)

    def answer(body: dict[str, Any]) -> None:
        answer_unitcost_command(body, context, delivery)

    app.command("/unitcost")(ack=acknowledge, lazy=[answer])
