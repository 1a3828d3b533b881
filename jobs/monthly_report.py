"""The `monthly-report` job (`costbot run monthly-report [--date D]`, scheduled on the 1st):
the report of the calendar month before D to each team's leads (`leads_channel`, else the
team's channel) and the organisation's summary to `reports.finops_channel`.

One message per channel and month: the key is `monthly-report:<YYYY-MM>:<channel>`. Teams
that share a channel (or whose leads' channel is the FinOps channel) get one message there,
their reports one after the other (the organisation's first), with the first report's chart:
a second message to the same channel would need a second key, and a key per team would let a
renamed team's report go out twice. Teams without a channel are skipped, and the run says so.

The run sees only cost up to the end of the reported month (before D). Nothing is sent when
the store holds no cost for that month (run again once the data is in).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from bot.analytics.monthly_report import monthly_report, report_month
from bot.context import AppContext
from bot.render import blocks
from bot.render.monthly_report import (
    monthly_cost_chart,
    org_chart_args,
    org_message,
    team_chart_args,
    team_message,
)
from jobs.fanout import ChartSpec, JobResult, Outgoing, deliver, delivery_key

JOB = "monthly-report"
Say = Callable[[str], None]


def _day(now: date | datetime) -> date:
    return now.date() if isinstance(now, datetime) else now


def merge_messages(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Several reports for one channel as one message: their blocks one after the other (a
    divider between), the first one's chart placeholder kept (one chart per message), the
    fallback texts joined; cut to Slack's 50 blocks."""
    if len(parts) == 1:
        return parts[0]
    content: list[dict[str, Any]] = []
    for index, part in enumerate(parts):
        if index:
            content.append(blocks.divider())
        content.extend(
            block
            for block in part["blocks"]
            if index == 0 or block.get("type") != "image"  # the later reports' charts
        )
    return blocks.message("\n".join(part["text"] for part in parts), content)


def plan(context: AppContext, day: date) -> tuple[list[Outgoing], list[str]]:
    """The messages of the run on `day`, and notes (skipped teams, no data)."""
    config = context.config
    period = report_month(day)
    notes: list[str] = []
    channels = {t.name: config.leads_channel(t.name) for t in config.teams}
    skipped = sorted(name for name, channel in channels.items() if not channel)
    if skipped:
        shown = ", ".join(skipped[:10]) + (
            f" and {len(skipped) - 10} more" if len(skipped) > 10 else ""
        )
        notes.append(f"teams without a leads_channel or channel, skipped: {shown}")
    db = context.open_db()
    try:
        report = monthly_report(
            db, config, day, teams=[name for name, channel in channels.items() if channel]
        )
    finally:
        db.close()
    if not report.organisation.costs or not any(a.micros for a in report.organisation.costs):
        notes.append(f"no cost recorded for {period.start:%B %Y}: nothing to report yet")
        return [], notes

    by_channel: dict[str, list[tuple[dict[str, Any], ChartSpec, str | None]]] = {}
    finops = config.reports.finops_channel
    organisation = report.organisation
    by_channel.setdefault(finops, []).append(
        (
            org_message(organisation),
            ChartSpec(monthly_cost_chart, org_chart_args(organisation)),
            None,
        )
    )
    for name in sorted(report.teams):
        team = report.teams[name]
        channel = channels[name]
        assert channel is not None
        by_channel.setdefault(channel, []).append(
            (team_message(team), ChartSpec(monthly_cost_chart, team_chart_args(team)), name)
        )
    outgoing = []
    for channel, parts in by_channel.items():
        scopes = [scope for _, _, scope in parts]
        if len(parts) > 1:
            named = ", ".join(s or "organisation" for s in scopes)
            notes.append(f"{channel}: one message for {named}")
        outgoing.append(
            Outgoing(
                channel=channel,
                key=delivery_key(JOB, period.name, channel),
                message=merge_messages([message for message, _, _ in parts]),
                chart=parts[0][1],
                period=period.name,
                scope=scopes[0]
                if len(scopes) == 1
                else ",".join(s or "organisation" for s in scopes),
            )
        )
    return outgoing, notes


def run(
    context: AppContext,
    now: date | datetime,
    *,
    dry_run: bool = False,
    delivery: Any = None,
    say: Say | None = None,
) -> JobResult:
    """Build and deliver the monthly report of the month before `now` (see the docstring)."""
    day = _day(now)
    result = JobResult(JOB, day, dry_run=dry_run)
    outgoing, notes = plan(context, day)
    result.notes.extend(notes)
    return deliver(context, outgoing, result, delivery=delivery, say=say)
