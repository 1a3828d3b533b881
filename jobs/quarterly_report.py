"""The `quarterly-report` job (`costbot run quarterly-report [--date D]`, scheduled on the 1st
of January, April, July and October): the report of the last complete quarter before D to
`reports.quarterly_channel`, once per quarter (key `quarterly-report:<YYYY>-Q<n>:<channel>`).
Nothing is sent when the store holds no cost for the quarter."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from bot.analytics.quarterly_report import quarterly_report, report_quarter
from bot.context import AppContext
from bot.render.monthly_report import monthly_cost_chart
from bot.render.quarterly_report import chart_args, quarterly_message
from jobs.fanout import ChartSpec, JobResult, Outgoing, deliver, delivery_key

JOB = "quarterly-report"
Say = Callable[[str], None]


def plan(context: AppContext, day: date) -> tuple[list[Outgoing], list[str]]:
    config = context.config
    quarter = report_quarter(day)
    db = context.open_db()
    try:
        report = quarterly_report(db, config, day)
    finally:
        db.close()
    if not any(report.totals.values()):
        return [], [f"no cost recorded for {quarter.name}: nothing to report yet"]
    channel = config.reports.quarterly_channel
    return [
        Outgoing(
            channel=channel,
            key=delivery_key(JOB, quarter.name, channel),
            message=quarterly_message(report),
            chart=ChartSpec(monthly_cost_chart, chart_args(report)),
            period=quarter.name,
        )
    ], []


def run(
    context: AppContext,
    now: date | datetime,
    *,
    dry_run: bool = False,
    delivery: Any = None,
    say: Say | None = None,
) -> JobResult:
    """Build and deliver the quarterly report of the last complete quarter before `now`."""
    day = now.date() if isinstance(now, datetime) else now
    result = JobResult(JOB, day, dry_run=dry_run)
    outgoing, notes = plan(context, day)
    result.notes.extend(notes)
    return deliver(context, outgoing, result, delivery=delivery, say=say)
