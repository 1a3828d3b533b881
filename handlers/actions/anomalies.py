"""The buttons under an anomaly alert: Acknowledge, Expected (adopt as normal), Mute, Assign.

Anyone who can see the alert may press them; each press is recorded with who pressed it
(`writers.record_anomaly_action`), then the alert is updated in place through the action's
response_url: the episode's status line says everything done to it so far.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import sqlite_utils
from slack_bolt import Ack, App

from bot.context import AppContext
from bot.render.anomalies import (
    ANOMALY_ACTIONS,
    ASSIGN_ACTION_ID,
    anomaly_status_text,
    episode_id_from,
    episodes_in,
    with_statuses,
)
from bot.slack.delivery import Delivery
from bot.store import queries, writers

log = logging.getLogger(__name__)

UNKNOWN_EPISODE_NOTE = "This anomaly is no longer on record: nothing was changed."
NO_ASSIGNEE_NOTE = "Pick the person to assign it to: nothing was changed."


@dataclass(frozen=True)
class Press:
    action: str  # acknowledge | expected | mute | assign
    episode_id: int | None
    user_id: str
    assignee: str | None
    response_url: str


def read_press(body: dict[str, Any]) -> Press | None:
    """The anomaly button pressed in a block_actions payload (None if none was)."""
    action = next(
        (a for a in body.get("actions", []) if a.get("action_id") in ANOMALY_ACTIONS), None
    )
    if action is None or not body.get("response_url"):
        return None
    assignee = action.get("selected_user") if action["action_id"] == ASSIGN_ACTION_ID else None
    return Press(
        action=ANOMALY_ACTIONS[action["action_id"]],
        episode_id=episode_id_from(action),
        user_id=str(body.get("user", {}).get("id", "")),
        assignee=str(assignee) if assignee else None,
        response_url=str(body["response_url"]),
    )


def acknowledge(ack: Ack) -> None:
    ack()


def anomaly_button_pressed(
    body: dict[str, Any], app_context: AppContext, delivery: Delivery
) -> None:
    """Record the press, then show the episode's new status in the alert itself."""
    press = read_press(body)
    if press is None:
        return
    if press.action == "assign" and not press.assignee:
        delivery.tell(press.response_url, NO_ASSIGNEE_NOTE)
        return
    message = body.get("message") or {}
    episode, statuses = None, {}
    if press.episode_id is not None:
        db = app_context.open_writer()
        try:
            episode = writers.record_anomaly_action(
                db,
                press.episode_id,
                press.action,
                press.user_id,
                today=app_context.today(),
                assignee=press.assignee,
                mute_days=app_context.config.anomalies.mute_days,
            )
            if episode is not None:
                # Every alert in the message from the store, not from the payload: a press on
                # another alert a moment ago may not be in this payload's copy yet.
                others = episodes_in(message.get("blocks") or [])
                statuses = current_statuses(db, [press.episode_id, *others])
        finally:
            db.close()
    if episode is None:
        delivery.tell(press.response_url, UNKNOWN_EPISODE_NOTE)
        return
    status = statuses[press.episode_id]
    if not message.get("blocks"):
        # No message to rewrite (Slack sends none for some surfaces): say it to the presser.
        delivery.tell(press.response_url, status)
        return
    updated = {
        "replace_original": True,
        "text": message.get("text") or status,
        "blocks": with_statuses(message["blocks"], statuses),
    }
    error = delivery.send_to_response_url(press.response_url, updated)
    if error is not None:
        # The press is recorded either way: the presser at least hears that it was.
        log.warning("Updating anomaly alert %s in place failed: %s", episode["id"], error)
        delivery.tell(press.response_url, f"{status} (the alert itself could not be updated)")


def current_statuses(db: sqlite_utils.Database, episode_ids: list[int]) -> dict[int, str]:
    """episode id -> its status line as the store has it (episodes no longer there: left out,
    so their line stays as it is)."""
    statuses = {}
    for episode_id in dict.fromkeys(episode_ids):
        episode = queries.anomaly_episode(db, episode_id)
        if episode is not None:
            actions = queries.anomaly_actions(db, episode_id)
            statuses[episode_id] = anomaly_status_text(episode, actions)
    return statuses


def register(app: App, context: AppContext) -> None:
    delivery = Delivery(app.client, context.open_writer)

    def pressed(body: dict[str, Any]) -> None:
        anomaly_button_pressed(body, context, delivery)

    for action_id in ANOMALY_ACTIONS:
        app.action(action_id)(ack=acknowledge, lazy=[pressed])
