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

import json
import sqlite3
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from bot.analytics import champions
from bot.context import AppContext
from bot.render.champions import CELEBRATED_TEAMS, render_celebration, savings_chart
from bot.render.preview import PreviewMessage
from bot.store import open_store
from jobs.clock import run_moment
from jobs.fanout import ChartSpec, JobResult, Outgoing, Say, deliver, delivery_key

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
    return deliver(context, outgoing, result, delivery=delivery, say=say)


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


# ---- the demo's preview (bot/demo.py)

DEMO_TEAMS_STOPPING = 3


def demo_user(team: str) -> str:
    """A made-up Slack user id for someone of the team, as the demo's Stop presser."""
    return "U0DEMO" + "".join(ch for ch in team.upper() if ch.isalnum())[:12]


def preview(config, db_path: str | Path, today: date, work_dir: Path) -> list[PreviewMessage]:
    """Last month's leaderboard and celebration for `costbot demo`. The demo store has cost,
    metrics and an inventory but nobody pressing buttons, so on a copy of it (the demo store
    itself is left as the other previews expect) an idle notice of the costliest unprotected
    EC2 instance of up to three teams is pressed Stop through the real idle flow
    (`bot.cloud.idle.stop_idle_instance`, against an in-memory cloud), in the middle of last
    month: their run-rates come from the demo's own resource costs. Unit-cost wins come from
    the demo's metrics as they are."""
    from bot.answers.champions import preview_champions

    copy = Path(work_dir) / "champions-preview.db"
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)
    source = sqlite3.connect(str(db_path))
    target = sqlite3.connect(str(copy))
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    month = champions.previous_month(champions.month_of(today))
    start, _ = champions.month_span(month)
    moment = datetime.combine(start + timedelta(days=14), time(15), UTC)
    db = open_store(copy)
    try:
        _demo_stops(db, config, month, moment)
        _demo_kudos(db, config, moment)
        board = champions.leaderboard(db, config, month)
        answers = preview_champions(db, config, today)
    finally:
        db.close()
    celebration = render_celebration(board, config)
    images = {}
    if any(e.annual_micros for e in board.teams):
        chart = savings_chart(board, config.currency)
        celebration = _with_image(celebration, chart.filename)
        images[chart.filename] = chart.png
    return [
        *answers,
        PreviewMessage(
            title=f"Cost champions of {champions.month_name(month)} in {config.champions.channel}",
            description="the monthly celebration (`costbot run champions`, on the 1st)",
            payload=celebration,
            images=images,
        ),
    ]


def _with_image(message: dict, key: str) -> dict:
    from bot.render.cost import CHART_PLACEHOLDER

    return {
        **message,
        "blocks": [
            {**b, "slack_file": {"id": key}}
            if b.get("type") == "image" and b.get("slack_file", {}).get("id") == CHART_PLACEHOLDER
            else b
            for b in message["blocks"]
        ],
    }


# Kudos given in the demo's last month, through the real /kudos answer: (giver, text, confirmed)
DEMO_KUDOS = (
    ("U0CHECKOUT1", "<@U0PAYMENTS2> moved the settlement batch jobs to spot $1,850/month", True),
    ("U0PLATFORM1", "<@U0SEARCH1> deleted 40 TB of orphaned EBS snapshots $2,304.50/month", False),
    ("U0DATA2", "<@U0ML1> wrote the GPU right-sizing runbook", False),
)


def _demo_kudos(db, config, moment: datetime) -> None:
    """The demo's kudos, recorded by `/kudos` as Slack would send them; the first confirmed as
    a lead's Confirm button does."""
    from bot.answers.common import Asker
    from bot.answers.kudos import answer_kudos
    from bot.store import writers

    for giver, text, confirmed in DEMO_KUDOS:
        given = answer_kudos(
            text, db=db, config=config, today=moment.date(), asker=Asker(giver), now=moment
        )
        if confirmed and given.new_win_ids:
            writers.decide_kudos(db, list(given.new_win_ids), "confirmed", "U0FINOPSLEAD", moment)


def _demo_stops(db, config, month: str, moment: datetime) -> None:
    from bot.cloud.aws import LiveResource
    from bot.cloud.demo import DemoCloud
    from bot.cloud.idle import stop_idle_instance
    from bot.store import writers

    rows = db.query(
        "SELECT r.arn, r.resource_id, r.account_id, r.region, r.tags, r.team,"
        " sum(c.effective_micros) AS cost FROM resources r JOIN resource_cost c"
        " ON c.resource_id = r.arn WHERE r.resource_type = 'ec2:instance' AND r.team IS NOT NULL"
        " AND c.month = ? GROUP BY r.arn ORDER BY cost DESC, r.arn",
        [champions.previous_month(month)],
    )
    stopped_teams: set[str] = set()
    for row in rows:
        if row["team"] in stopped_teams or len(stopped_teams) == DEMO_TEAMS_STOPPING:
            continue
        tags = json.loads(row["tags"] or "{}")
        live = LiveResource(
            row["arn"], "ec2:instance", row["resource_id"], row["account_id"], row["region"],
            "running", tags,
        )  # fmt: skip
        notice = {
            "arn": row["arn"],
            "resource_id": row["resource_id"],
            "account": row["account_id"],
            "region": row["region"],
            "team": row["team"],
            "idle_since": (moment - timedelta(days=14)).date().isoformat(),
        }
        channel = config.team_channel(row["team"]) or config.slack.admin_channel
        writers.record_idle_notified(
            db, [notice], at=moment - timedelta(days=1), channel=channel,
            delivery_key=f"idle:{channel}:demo", message_ts=None,
        )  # fmt: skip
        outcome = stop_idle_instance(
            db, config, DemoCloud([live]), row["arn"], demo_user(row["team"]), moment
        )
        if outcome.stopped:
            stopped_teams.add(row["team"])
