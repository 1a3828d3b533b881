"""Button listeners: ack at once, act in a lazy listener, check who clicked before acting."""

from __future__ import annotations

from slack_bolt import App

from bot.context import AppContext
from handlers.actions import anomalies, claim, idle, kudos, share, tag_policy


def register(app: App, context: AppContext) -> None:
    share.register(app, context)
    anomalies.register(app, context)
    idle.register(app, context)
    tag_policy.register(app, context)
    claim.register(app, context)
    kudos.register(app, context)
