"""The monthly and quarterly reports in `costbot demo`'s preview: the organisation's summary,
one team's monthly report and the quarterly report, as the jobs would post them on `today`
(the month and quarter before it), with their charts."""

from __future__ import annotations

from datetime import date

import sqlite_utils

from bot.analytics.monthly_report import monthly_report
from bot.analytics.quarterly_report import quarterly_report
from bot.config import Config
from bot.render.anomalies import with_chart_file
from bot.render.monthly_report import (
    monthly_cost_chart,
    org_chart_args,
    org_message,
    team_chart_args,
    team_message,
)
from bot.render.preview import PreviewMessage
from bot.render.quarterly_report import chart_args, quarterly_message


def _preview(title: str, description: str, message: dict, args: tuple) -> PreviewMessage:
    chart = monthly_cost_chart(*args)
    return PreviewMessage(
        title=title,
        description=description,
        payload=with_chart_file(message, chart, chart.filename),
        images={chart.filename: chart.png},
    )


def preview_reports(db: sqlite_utils.Database, config: Config, today: date) -> list[PreviewMessage]:
    channels = [t.name for t in config.teams if config.leads_channel(t.name)]
    team = channels[0] if channels else None
    report = monthly_report(db, config, today, teams=[team] if team else [])
    organisation = report.organisation
    month = organisation.period.start.strftime("%B %Y")
    messages = [
        _preview(
            f"Monthly report: organisation summary, {month}",
            f"`costbot run monthly-report` on the 1st, to {config.reports.finops_channel}",
            org_message(organisation),
            org_chart_args(organisation),
        )
    ]
    if team is not None:
        messages.append(
            _preview(
                f"Monthly report: {team}, {month}",
                f"to the team's leads, {config.leads_channel(team)}",
                team_message(report.teams[team]),
                team_chart_args(report.teams[team]),
            )
        )
    quarter = quarterly_report(db, config, today)
    messages.append(
        _preview(
            f"Quarterly report: Q{quarter.quarter.number} {quarter.quarter.year}",
            f"`costbot run quarterly-report`, to {config.reports.quarterly_channel}",
            quarterly_message(quarter),
            chart_args(quarter),
        )
    )
    return messages
