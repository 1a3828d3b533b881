"""Thin Slack listeners. Each module has `register(app, context)`; the app factory calls them.

`SLASH_COMMANDS` is the one list of slash commands the app answers, with their help text:
`manifest.yml` must declare exactly these (tests/test_manifest.py checks it).
"""

SLASH_COMMANDS: dict[str, str] = {
    "/cost": (
        "Cloud cost for a team, service or account, with change vs the previous period, "
        "top services, budget, forecast and a daily chart."
    ),
}
