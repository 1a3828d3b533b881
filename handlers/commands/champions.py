"""`/champions`: answered from the store by `bot.answers.champions`, exactly as `/cost` is
(handlers/commands/answer.py)."""

from __future__ import annotations

from slack_bolt import App

from bot.answers.champions import answer_champions
from bot.context import AppContext
from handlers.commands.answer import register_command


def register(app: App, context: AppContext) -> None:
    register_command(app, context, "/champions", answer_champions)
