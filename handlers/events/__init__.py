"""Events API listeners (`app.event`): Bolt acknowledges events itself; the work runs lazily."""

from __future__ import annotations

from slack_bolt import App

from bot.context import AppContext
from handlers.events import app_home


def register(app: App, context: AppContext) -> None:
    app_home.register(app, context)
