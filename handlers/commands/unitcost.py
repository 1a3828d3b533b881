"""`/unitcost`: answered from the store by `bot.answers.unitcost`, exactly as `/cost` is
(handlers/commands/answer.py)."""

from __future__ import annotations

from slack_bolt import App

from bot.answers.unitcost import answer_unitcost
from bot.context import AppContext
from handlers.commands.answer import register_command


def register(app: App, context: AppContext) -> None:
    register_command(app, context, "/unitcost", answer_unitcost)
