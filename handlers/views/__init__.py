"""Modal submission listeners: validate in the ack (errors shown in the modal), act lazily."""

from __future__ import annotations

from slack_bolt import App

from bot.context import AppContext
from handlers.views import claim


def register(app: App, context: AppContext) -> None:
    claim.register(app, context)
