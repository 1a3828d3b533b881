"""The monthly celebration (`costbot run champions [--date D]`, scheduled on the 1st): it
celebrates the month before the job's day (`--date 2026-11-01` celebrates October 2026).

1. The month's measured wins are recorded in `wins` (upserted by their key: a re-run writes
   nothing new; not in a dry run).
2. One message to `champions.channel`, and one to the channel of each of the top 3 teams (a
   team without a channel is skipped and noted): the top teams and people with what they did,
   the total saved and what it means ("... a year: about 4 engineers"), a savings chart.
   A month without wins gets a short, encouraging message on how to get on the board.
3. Posted through `fan_out` with keys `champions:<YYYY-MM>:<channel>`: each channel gets the
   month's celebration exactly once, across re-runs, restarts and a second scheduler.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from bot.analytics import champions
from bot.context import AppContext
from bot.render.champions import CELEBRATED_TEAMS, render_celebration, savings_chart
from bot.store import open_store
from jobs.clock import run_moment
from jobs.fanout import ChartSpec, JobResult, Outgoing, Say, delivery_key, fan_out

JOB = "champions"


def celebrated_month(now: datetime | date) -> str:
    """The month before the job's day."""
    return champions.previous_month(champions.month_of(run_moment(now).date()))


def run(
    context: AppContext,
    now: datetime | date,
    *,
    dry_run: bool = False,
    delivery: Any = None,
    say: Say | None = None,
) -> JobResult:
    """Celebrate the month before `now` (see the module docstring). `delivery`: a
    bot.slack.delivery Delivery; the environment's bot token when None. A dry run records
    nothing and posts nothing, and says what it would post."""
    moment = run_moment(now)
    config = context.config
    month = celebrated_month(moment)
    result = JobResult(JOB, moment.date(), dry_run=dry_run)
    db = open_store(context.db_path)
    try:
        if dry_run:
            measured = champions.measured_wins(db, config, month)
        else:
            measured = champions.record_month(db, config, month, moment)
        board = champions.leaderboard(db, config, month)
    finally:
        db.close()
    result.notes.append(
        f"{champions.month_name(month)}: {len(measured)} measured win(s)"
        f"{' found' if dry_run else ' recorded'}, {len(board.wins)} win(s) in all, "
        f"{len(board.teams)} team(s) and {len(board.people)} people on the board"
    )
    outgoing = _outgoing(board, config, result)
    if not dry_run and delivery is None:  # the bot token of the environment
        from bot.slack.client import build_web_client
        from bot.slack.delivery import Delivery

        delivery = Delivery(build_web_client(), context.open_writer)
    fan_out(
        outgoing,
        result,
        delivery=delivery,
        open_reader=context.open_db,
        admin_channel=config.slack.admin_channel,
    )
    for line in result.lines() if say else ():
        say(line)
    return result


def _outgoing(board: champions.Leaderboard, config, result: JobResult) -> list[Outgoing]:
    chart = None
    if any(e.annual_micros for e in board.teams):
        chart = ChartSpec(savings_chart, (board, config.currency))
    main = config.champions.channel
    outgoing = [
        Outgoing(
            main,
            delivery_key(JOB, board.month, main),
            render_celebration(board, config, with_chart=chart is not None),
            chart,
            period=board.month,
        )
    ]
    channels = {main}
    for entry in board.teams[:CELEBRATED_TEAMS]:
        channel = config.team_channel(entry.name)
        if channel is None:
            result.notes.append(f"team {entry.name} has no channel in the config: not posted")
            continue
        if channel in channels:
            continue  # one celebration per channel
        channels.add(channel)
        outgoing.append(
            Outgoing(
                channel,
                delivery_key(JOB, board.month, channel),
                render_celebration(board, config, team=entry.name, with_chart=chart is not None),
                chart,
                period=board.month,
                scope=entry.name,
            )
        )
    return outgoing
