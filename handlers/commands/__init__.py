"""Slash command listeners: ack at once, answer in a lazy listener (Slack's 3-second rule)."""

from __future__ import annotations

from slack_bolt import App

from bot.context import AppContext
from handlers.commands import champions, cost, kudos, unitcost, untagged


def register(app: App, context: AppContext) -> None:
    cost.register(app, context)
    unitcost.register(app, context)
    untagged.register(app, context)
    kudos.register(app, context)
    champions.register(app, context)
