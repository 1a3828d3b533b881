"""The `weekly-digest` job (`costbot run weekly-digest [--date D] [--dry-run] [--json]`, and on
Monday 09:00 in each team's time zone by the scheduler): each team's digest of the last
complete Monday-Sunday week, posted to the team's channel exactly once.

The week. `now` in the team's time zone gives the job's day; the week reported is the last
complete week before it: on Monday 26 or Wednesday 28 October 2026, Monday 19 to Sunday 25
October. `costbot run weekly-digest --date D` runs as at 09:00 UTC on D (jobs/clock.py), so
every team from UTC-9 to UTC+14 has D as its day. The digest reads no cost after the week's
Sunday, which is before the job's day.

One message per channel and week. Deliveries are keyed (job, period, channel), as every
scheduled delivery is: `weekly-digest:2026-10-19:#team-payments`. Teams sharing a channel get
one message together (each team's part in it, one chart of their summed spend), so the
channel is posted to once a week whichever of its teams' runs comes first; a later run for
another of its teams finds the key delivered and posts nothing. A run for some teams
(`teams=`, the scheduler's per-time-zone runs) therefore also reports the other teams of
their channels, for the same week. Teams without a channel are skipped and named in `notes`.

Delivery goes through jobs/fanout.py: keys already delivered are skipped before any chart is
rendered, charts are rendered in parallel, one post a second per channel, a channel that
fails (archived, bot not in it) is reported once to the admin channel and the others still
get theirs. A dry run reads the store and posts and records nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.analytics.digest import Week, week_reported, weekly_digests
from bot.config import Config, Team
from bot.context import AppContext
from bot.render.cost import Reply
from bot.render.digest import chart_args, digest_chart, digest_message, format_week, has_chart
from bot.render.preview import PreviewMessage
from bot.store import migrate_store
from jobs.clock import run_moment
from jobs.fanout import ChartSpec, JobResult, Outgoing, deliver, delivery_key

log = logging.getLogger(__name__)

JOB = "weekly-digest"
Say = Callable[[str], None]


def run(
    context: AppContext,
    now: datetime | date,
    *,
    dry_run: bool = False,
    delivery: Any = None,
    say: Say | None = None,
    teams: Sequence[str | Team] | None = None,
) -> JobResult:
    """Build and deliver the digests of `teams` (names or Teams; None: every configured
    team) as of `now` (a date runs as at 09:00 UTC on it). `delivery` (a bot.slack.delivery
    Delivery) posts; None builds one with the environment's bot token. A dry run needs none."""
    config = context.config
    moment = run_moment(now)
    chosen = _chosen_teams(config, teams)
    # The run's day: the date given; for the scheduler's run of a team, that team's day;
    # for `costbot run --date D` (09:00 UTC on D), D.
    if not isinstance(now, datetime):
        day = now
    elif teams is not None and chosen:
        day = _local_day(moment, chosen[0])
    else:
        day = moment.date()
    result = JobResult(JOB, day, dry_run=dry_run)
    plan = _plan(config, moment, chosen, result)
    if not dry_run:
        migrate_store(context.db_path)  # the delivery ledger's tables, once
    outgoing = _outgoing(context, plan)
    if not outgoing:
        result.notes.append("no team has a channel: nothing to post")
    return deliver(context, outgoing, result, delivery=delivery, say=say)


def _chosen_teams(config: Config, teams: Sequence[str | Team] | None) -> list[Team]:
    if teams is None:
        return list(config.teams)
    chosen = []
    for team in teams:
        found = team if isinstance(team, Team) else config.team(team)
        if found is None:
            raise ValueError(f"weekly-digest: no team {team!r} in the config")
        chosen.append(found)
    return chosen


def _local_day(moment: datetime, team: Team | None) -> date:
    return moment.astimezone(ZoneInfo(team.timezone if team else "UTC")).date()


def _channel_key(channel: str) -> str:
    return channel.lstrip("#").lower()


def _plan(
    config: Config, moment: datetime, chosen: list[Team], result: JobResult
) -> list[tuple[str, Week, list[str]]]:
    """(channel, week, its teams in config order) for every channel of the chosen teams; the
    channel's week is that of its first chosen team."""
    skipped = [team.name for team in chosen if not team.channel]
    if skipped:
        result.notes.append(f"no channel configured, no digest: {', '.join(skipped)}")
    mates: dict[str, list[Team]] = defaultdict(list)
    for team in config.teams:
        if team.channel:
            mates[_channel_key(team.channel)].append(team)
    plan, seen = [], set()
    for team in chosen:
        if not team.channel or _channel_key(team.channel) in seen:
            continue
        seen.add(_channel_key(team.channel))
        week = week_reported(_local_day(moment, team))
        names = [mate.name for mate in mates[_channel_key(team.channel)]]
        plan.append((team.channel, week, names))
    return plan


def _outgoing(context: AppContext, plan: list[tuple[str, Week, list[str]]]) -> list[Outgoing]:
    by_week: dict[Week, list[str]] = defaultdict(list)
    for _channel, week, names in plan:
        by_week[week] += [name for name in names if name not in by_week[week]]
    db = context.open_db()
    try:
        digests = {
            (week, digest.team): digest
            for week, names in by_week.items()
            for digest in weekly_digests(db, context.config, week.start, names)
        }
    finally:
        db.close()
    outgoing = []
    for channel, week, names in plan:
        team_digests = [digests[week, name] for name in names]
        message = digest_message(team_digests, context.config.cost_metric)
        chart = (
            ChartSpec(digest_chart, chart_args(team_digests)) if has_chart(team_digests) else None
        )
        outgoing.append(
            Outgoing(
                channel=channel,
                key=delivery_key(JOB, week.start.isoformat(), channel),
                message=message,
                chart=chart,
                period=week.start.isoformat(),
                scope=", ".join(names),
            )
        )
    return outgoing


def preview_weekly_digest(
    db: Any, config: Config, today: date, team: str = "payments"
) -> list[PreviewMessage]:
    """The digest `team` would get on `today` (the demo's preview, bot/demo.py), with its
    chart keyed by file name as the preview expects; nothing is posted or recorded."""
    if config.team(team) is None:
        return []
    week = week_reported(today)
    digests = weekly_digests(db, config, week.start, [team])
    reply = Reply(digest_message(digests, config.cost_metric))
    if not has_chart(digests):
        return [PreviewMessage(_PREVIEW_TITLE, _preview_description(week), reply.payload)]
    chart = digest_chart(*chart_args(digests))
    return [
        PreviewMessage(
            _PREVIEW_TITLE,
            _preview_description(week),
            reply.with_chart_file(chart.filename),
            images={chart.filename: chart.png},
        )
    ]


_PREVIEW_TITLE = "Weekly cost digest"


def _preview_description(week: Week) -> str:
    return (
        f"`costbot run weekly-digest` (Monday 09:00 in each team's time zone): the week of"
        f" {format_week(week)}, one message per team channel"
    )
