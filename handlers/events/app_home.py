"""`app_home_opened`: publish the viewer's Home tab, rebuilt from the store on every open.

Bolt acknowledges the event at once; the view is built in a lazy listener (queries over the
store can take longer than Slack's 3 seconds). A view that cannot be built is replaced by a
short one saying what to do, never by nothing. The Messages tab's opens are ignored."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.answers.app_home import home_view, unavailable_reason
from bot.context import AppContext
from bot.render.app_home import unavailable_view

log = logging.getLogger(__name__)


def acknowledge(ack: Ack) -> None:
    ack()


def publish_home(client: WebClient, context: AppContext, event: dict[str, Any]) -> bool:
    """Build and publish the Home tab of the event's user; False when nothing was published
    (another tab, no user, or Slack has the app's Home tab switched off)."""
    user_id = event.get("user")
    if event.get("tab") != "home" or not user_id:
        return False
    try:
        db = context.open_db()
        try:
            view = home_view(db, context.config, user_id, context.today())
        finally:
            db.close()
    except Exception as problem:
        log.exception("Could not build the Home tab of %s", user_id)
        view = unavailable_view(unavailable_reason(problem))
    try:
        client.views_publish(user_id=user_id, view=view)
    except SlackApiError as error:
        if error.response.get("error") == "not_enabled":
            # Slack refuses every Home view until the app's Home tab is switched on.
            log.error(
                "Slack refused the Home tab of %s: the Home tab is off. Turn on "
                "features.app_home.home_tab_enabled (manifest.yml) in the app's settings",
                user_id,
            )
            return False
        raise
    return True


def register(app: App, context: AppContext) -> None:
    def publish(client: WebClient, event: dict[str, Any]) -> None:
        publish_home(client, context, event)

    app.event("app_home_opened")(ack=acknowledge, lazy=[publish])
