"""What stopping or terminating a resource saves: its monthly run-rate, measured from the
resource-level cost of the FOCUS files (`resource_cost`), so that the champions count
measured savings, not claims.

The run-rate is the resource's cost in the last whole month before the day it was stopped;
a resource younger than that is measured on the current month to date, scaled to the whole
month (days elapsed counted to the day before). A resource with no billed cost saves nothing
measurable: zero, said so in `basis`. Cost rows are matched to the resource as tag
compliance matches them: ResourceId equal to the ARN, else to the id in the same account.

The run-rate is in the config currency, always: every caller records it as such (the
verified savings, the champions' wins, idle notices, the monthly report), and currencies are
never added. Only cost billed in the config currency is measured (rows loaded before the
store kept a currency count as it, see `tag_compliance.resource_cost_currency`). A resource
billed in another currency (a EUR billing account) gets no run-rate: zero, with `basis`
naming what it costs in its own currency, so that no EUR amount is ever counted as dollars
in verified savings; its stop is recorded with nothing measurable saved.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

import sqlite_utils

from bot.analytics.tag_compliance import resource_cost_currency
from bot.config import Config
from bot.money import format_money, normalise_currency
from bot.store.queries import METRIC_COLUMNS


@dataclass(frozen=True)
class RunRate:
    monthly_micros: int  # in the config currency (see the module docstring)
    basis: str  # how it was measured, in words ("its cost in October 2026")


def monthly_run_rate(
    db: sqlite_utils.Database,
    config: Config,
    *,
    arn: str,
    resource_id: str,
    account: str | None,
    day: date,
) -> RunRate:
    """The monthly run-rate of one resource as of `day` (see the module docstring)."""
    metric = METRIC_COLUMNS[config.cost_metric]
    last_month_end = day.replace(day=1) - timedelta(days=1)
    previous = last_month_end.strftime("%Y-%m")
    current = day.strftime("%Y-%m")
    matches = "month IN (?, ?) AND (resource_id = ? OR (resource_id = ? AND account_id = ?))"
    params = [previous, current, arn, resource_id, account or ""]
    in_currency, currency_params = resource_cost_currency(config)
    by_month = dict(
        db.execute(
            f"SELECT month, coalesce(sum({metric}), 0) FROM resource_cost"
            f" WHERE {matches} AND {in_currency} GROUP BY month",
            [*params, *currency_params],
        ).fetchall()
    )
    if by_month.get(previous):
        return RunRate(int(by_month[previous]), f"its cost in {last_month_end:%B %Y}")
    elapsed = day.day - 1  # the days of the month before `day`, which is still being billed
    if by_month.get(current) and elapsed > 0:
        month_days = calendar.monthrange(day.year, day.month)[1]
        # Integer micro-units: rounded half up once, at the end.
        scaled = (int(by_month[current]) * month_days * 2 + elapsed) // (2 * elapsed)
        return RunRate(
            scaled,
            f"its cost from 1 to {elapsed} {day:%B %Y}, scaled to the {month_days}-day month",
        )
    other = db.execute(
        f"SELECT month, upper(trim(currency)), coalesce(sum({metric}), 0) FROM resource_cost"
        f" WHERE {matches} AND NOT ({in_currency}) GROUP BY 1, 2 ORDER BY month, 3 DESC",
        [*params, *currency_params],
    ).fetchone()
    if other is not None and other[2]:
        month, code, micros = other
        named = last_month_end if month == previous else day
        period = f"{named:%B %Y}" + ("" if month == previous else " to date")
        return RunRate(
            0,
            f"billed in {code}, not in {normalise_currency(config.currency)}:"
            f" {format_money(int(micros), code)} in {period}, no run-rate counted",
        )
    return RunRate(0, "no billed cost found for it: nothing measurable")
