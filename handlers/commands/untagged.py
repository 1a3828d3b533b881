"""`/untagged`: answered from the store by `bot.answers.untagged` like `/cost`
(handlers/commands/answer.py). The answer's Claim sections name the delivery key, so that a
claim can update the recorded message (Slack sends an ephemeral message's button presses
without its blocks)."""

from __future__ import annotations

from slack_bolt import App

from bot.answers.untagged import answer_untagged
from bot.context import AppContext
from bot.render.cost import Reply
from bot.render.untagged import with_answer_key
from handlers.commands.answer import register_command


def _naming_the_key(reply: Reply, key: str) -> Reply:
    reply.payload = with_answer_key(reply.payload, key)
    return reply


def register(app: App, context: AppContext) -> None:
    register_command(app, context, "/untagged", answer_untagged, _naming_the_key)
