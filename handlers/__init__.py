"""Thin Slack listeners, grouped by kind: `commands/`, `actions/`, `views/`, `events/`.
Each module has `register(app, context)`; `register_all` is what the app factory is given.

`SLASH_COMMANDS` is the one list of slash commands the app answers, with their help text:
`manifest.yml` must declare exactly these (tests/test_manifest.py checks it).
"""

from __future__ import annotations

from slack_bolt import App

from bot.context import AppContext

SLASH_COMMANDS: dict[str, str] = {
    "/cost": (
        "Cloud cost for a team, service or account, with change vs the previous period, "
        "top services, budget, forecast and a daily chart."
    ),
    "/unitcost": (
        "Cloud cost per unit of business volume (per API request, order, active user), "
        "with change vs the previous period and a weekly trend."
    ),
    "/untagged": (
        "Tagging compliance against the target, the non-compliant cost to the cent, and the "
        "costliest resources missing required tags, each with a Claim button."
    ),
    "/kudos": (
        "Thank someone for a cost win: /kudos @someone what they did [$saved/month]. "
        "A team lead confirms it; it counts for the monthly cost champions."
    ),
    "/champions": (
        "The cost-champion leaderboard for a month: teams and people ranked by measured "
        "savings, tagging gains and kudos, with what they did; a team's record of wins."
    ),
}


def register_all(app: App, context: AppContext) -> None:
    from handlers import actions, commands, events, views

    commands.register(app, context)
    actions.register(app, context)
    views.register(app, context)
    events.register(app, context)
