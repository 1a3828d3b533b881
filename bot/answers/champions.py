"""`/champions`: from the command text to a reply. A plain function of (text, store, config,
today), shared by the Slack handler and `costbot ask`.

- `/champions`: this month's leaderboard so far (through today).
- `/champions YYYY-MM` (or `last-month`): that month's leaderboard; past months stay queryable.
- `/champions team <team> [months]`: the team's record of wins, month by month (default 6).
- `/champions help`: usage.
"""

from __future__ import annotations

from datetime import date

import sqlite_utils

from bot.analytics import champions
from bot.analytics.champions import ChampionsError
from bot.answers.common import (
    Asker,
    UsageError,
    decode_slack_text,
    did_you_mean,
    known_teams,
    preview_answers,
)
from bot.config import Config
from bot.render import blocks
from bot.render.champions import render_leaderboard, render_team_record, savings_chart
from bot.render.cost import CHART_PLACEHOLDER, Reply, render_notice
from bot.render.preview import PreviewMessage
from bot.store import queries

COMMAND = "/champions"
MAX_RECORD_MONTHS = 24
DEFAULT_RECORD_MONTHS = 6
USAGE = """*`/champions`*: the cost-champion leaderboard: teams and people ranked by measured \
savings, tagging gains and kudos.
• `/champions`: this month so far
• `/champions YYYY-MM` or `/champions last-month`: a past month (e.g. `/champions 2026-10`)
• `/champions team <team> [months]`: a team's wins month by month (default 6 months, at most 24)
• `/champions help`: this message
How the score works: savings a year count one point per dollar, tagging compliance gained and \
kudos add smaller weights; a unit cost counts only when it falls per unit of business volume."""


def answer_champions(
    text: str,
    *,
    db: sqlite_utils.Database,
    config: Config,
    today: date,
    asker: Asker | None = None,
    with_chart: bool = True,
) -> Reply:
    """Answer one `/champions` command, given its text as Slack sends it. Bad input gives an
    ephemeral one-line notice (`Reply.is_error`), never an exception. `asker` is unused (the
    signature of every answer, for `costbot ask`)."""
    try:
        return _dispatch(decode_slack_text(text).strip(), db, config, today, with_chart)
    except (ChampionsError, UsageError) as problem:
        message = str(problem)
        if isinstance(problem, ChampionsError):
            message = blocks.escape_mrkdwn(message)
    return Reply(render_notice(f"{message}\nType `/champions help` for usage."), is_error=True)


def _dispatch(
    text: str, db: sqlite_utils.Database, config: Config, today: date, with_chart: bool
) -> Reply:
    words = text.split()
    if words and words[0].lower() in ("help", "-h", "--help", "?"):
        return Reply(render_notice(USAGE, title="Costbot: /champions"))
    if words and words[0].lower() == "team":
        return _team_record(words[1:], db, config, today)
    if len(words) > 1:
        raise ChampionsError(
            f"/champions takes one month (YYYY-MM), not {blocks.shorten(text, 60)!r}"
        )
    this_month = champions.month_of(today)
    if not words or words[0].lower() in ("mtd", "this-month"):
        month = this_month
    elif words[0].lower() == "last-month":
        month = champions.previous_month(this_month)
    else:
        month = champions.parse_month(words[0])
    if month > this_month:
        raise ChampionsError(f"{champions.month_name(month)} has not started yet")
    board = champions.leaderboard(db, config, month, today)
    if not with_chart or not any(e.annual_micros for e in board.teams):
        return Reply(render_leaderboard(board, config))
    return Reply(
        render_leaderboard(board, config, CHART_PLACEHOLDER),
        savings_chart(board, config.currency),
    )


def _team_record(words: list[str], db: sqlite_utils.Database, config: Config, today: date) -> Reply:
    months = DEFAULT_RECORD_MONTHS
    if len(words) > 1 and words[-1].isdigit():
        months = int(words[-1])
        words = words[:-1]
        if not 1 <= months <= MAX_RECORD_MONTHS:
            raise ChampionsError(f"months must be 1 to {MAX_RECORD_MONTHS}, not {months}")
    if not words:
        raise ChampionsError("which team? e.g. /champions team payments")
    name = " ".join(words)
    teams = known_teams(config, queries.known_values(db, "team"))
    canonical = config.canonical_team(name)
    if canonical not in teams:
        raise did_you_mean("team", name, teams)
    records = champions.team_record(db, config, canonical, months, today)
    return Reply(render_team_record(canonical, records, config))


def preview_champions(
    db: sqlite_utils.Database, config: Config, today: date
) -> list[PreviewMessage]:
    """`/champions` answers for the demo preview: last month's board, a team's record."""
    first_team = config.teams[0].name if config.teams else None
    examples = [("last-month", "last month's leaderboard, with the savings chart")]
    if first_team:
        examples.append((f"team {first_team}", "a team's record of wins, month by month"))
    examples.append(("2026-13", "a bad month: one line saying how to ask"))
    return preview_answers(
        "/champions", answer_champions, examples, db=db, config=config, today=today
    )
