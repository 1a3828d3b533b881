"""The "Share in channel" button under a private answer: only the asker may share it, and it is
posted to the channel once, as it was shown (chart included)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.context import AppContext
from bot.render import blocks
from bot.slack.delivery import Delivery, share_answer

SHARE_ACTION_ID = "share_answer"


def share_button_block(answer_key: str) -> blocks.Block:
    """The row under a private answer; the button carries the answer's delivery key."""
    return blocks.actions(
        [blocks.button("Share in channel", SHARE_ACTION_ID, answer_key, style="primary")],
        block_id="costbot_share",
    )


def acknowledge(ack: Ack) -> None:
    ack()


def share_clicked(body: dict[str, Any], delivery: Delivery) -> None:
    action = next(a for a in body.get("actions", []) if a.get("action_id") == SHARE_ACTION_ID)
    share_answer(
        delivery,
        answer_key=str(action.get("value", "")),
        clicked_by=str(body.get("user", {}).get("id", "")),
        response_url=body["response_url"],
    )


def register(app: App, context: AppContext) -> None:
    delivery = Delivery(app.client, context.open_writer)

    def share(body: dict[str, Any]) -> None:
        share_clicked(body, delivery)

    app.action(SHARE_ACTION_ID)(ack=acknowledge, lazy=[share])
