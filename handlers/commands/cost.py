"""`/cost`: answered from the store by `bot.answers.cost` (handlers/commands/answer.py: ack at
once, answer in a lazy listener, deliver). Answers are private to the asker with a "Share in
channel" button, unless the config makes them public (`slack.answer_visibility`); usage errors
and help are always private."""

from __future__ import annotations

from slack_bolt import App

from bot.answers.cost import answer_cost
from bot.context import AppContext
from handlers.commands.answer import register_command


def register(app: App, context: AppContext) -> None:
    register_command(app, context, "/cost", answer_cost)
