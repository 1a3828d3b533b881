"""`/kudos`: ack at once; the lazy listener records the win (bot/answers/kudos.py) and posts
the kudos message to the channel through the delivery ledger (key `kudos:<first win id>`),
so the message's ts is stored with the wins for their Confirm / Decline buttons.

Where Costbot cannot post (not invited to the channel, a DM between people), the message is
shown to the channel through the command's response_url instead (in_channel): its buttons
work the same, through the response_url of each press. Notices (usage, self-kudos, "already
recorded") are private to the asker.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.answers.kudos import answer_kudos
from bot.context import AppContext
from bot.slack.delivery import Delivered, Delivery
from bot.store import writers
from handlers.commands.answer import asker_of, deliver_reply

log = logging.getLogger(__name__)


def acknowledge(ack: Ack) -> None:
    ack()


def answer_kudos_command(
    body: dict[str, Any],
    context: AppContext,
    delivery: Delivery,
    bot_user_id: str | None = None,
) -> Delivered:
    db = context.open_writer()
    try:
        answer = answer_kudos(
            body.get("text", ""),
            db=db,
            config=context.config,
            today=context.today(),
            asker=asker_of(body),
            bot_user_id=bot_user_id,
        )
    finally:
        db.close()
    if not answer.new_win_ids or answer.message is None:
        return deliver_reply(body, context, delivery, answer.reply)
    win_ids = list(answer.new_win_ids)
    key = f"kudos:{win_ids[0]}"
    channel = body.get("channel_id") or ""
    posted = delivery.post(channel, answer.message, key=key, kind="kudos") if channel else None
    if posted is not None and posted.status in ("sent", "duplicate"):
        if posted.ts:
            _remember_message(context, win_ids, channel, posted.ts)
    else:
        log.info(
            "Kudos %s could not be posted (%s): shown through the response_url",
            key,
            posted.error if posted else "no channel",
        )
        posted = delivery.respond(
            body["response_url"],
            answer.message,
            key=f"{key}:in-channel",
            kind="kudos",
            response_type="in_channel",
            user_id=body.get("user_id"),
            channel_id=channel,
        )
    if answer.notes:
        delivery.tell(body.get("response_url"), "\n".join(answer.notes))
    return posted


def _remember_message(context: AppContext, win_ids: list[int], channel: str, ts: str) -> None:
    db = context.open_writer()
    try:
        writers.set_kudos_message(db, win_ids, channel, ts)
    finally:
        db.close()


def register(app: App, app_context: AppContext) -> None:
    delivery = Delivery(app.client, app_context.open_writer)

    # Bolt hands a listener its BoltContext by the parameter's name, `context`: the bot's own
    # user id (from auth.test), so that a kudos to Costbot itself is refused.
    def answer(body: dict[str, Any], context: BoltContext) -> None:
        answer_kudos_command(body, app_context, delivery, context.bot_user_id)

    app.command("/kudos")(ack=acknowledge, lazy=[answer])
