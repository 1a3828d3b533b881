"""The analytics behind `/cost`: what a team, service, account or the whole organisation
spent in a period, compared with the previous equal period, with its top breakdown, budget
burn and month-end forecast. Plain values out; rendering lives in bot/cost_render.py."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

import sqlite_utils

from bot.periods import Period
from bot.store import queries
from bot.store.queries import Change, Scope

TOP_N = 5
FORECAST_WINDOW_DAYS = 7


@dataclass(frozen=True)
class Budget:
    monthly_micros: int
    month_label: str  # "November 2026"
    spent_micros: int  # spent in that month within the period
    share_of_month_elapsed: float  # 1.0 for a finished month

    @property
    def used_fraction(self) -> float:
        return self.spent_micros / self.monthly_micros if self.monthly_micros else 0.0


@dataclass(frozen=True)
class Forecast:
    month_end: date
    month_to_date_micros: int
    daily_average_micros: int
    average_window: Period
    remaining_days: int

    @property
    def projected_micros(self) -> int:
        return self.month_to_date_micros + self.daily_average_micros * self.remaining_days


@dataclass(frozen=True)
class CostSummary:
    subject_kind: str  # team | service | account | organisation
    subject: str  # display name
    scope: Scope
    period: Period
    previous: Period
    total_micros: int
    previous_micros: int
    breakdown_by: str  # what the top list is split by
    top: list[Change]  # first TOP_N, largest first
    others: int  # how many more rows exist beyond `top`
    daily: list[tuple[date, int]]
    previous_daily: list[tuple[date, int]]
    budget: Budget | None
    forecast: Forecast | None
    data_through: date | None
    metric: str


def summarise(
    db: sqlite_utils.Database,
    *,
    subject_kind: str,
    subject: str,
    scope: Scope,
    period: Period,
    breakdown_by: str,
    metric: str,
    monthly_budget_micros: int | None = None,
) -> CostSummary:
    previous = period.previous()
    changes = [
        c
        for c in queries.compare(db, period, breakdown_by, scope, metric)
        if c.current or c.previous
    ]
    coverage = queries.data_range(db)
    data_through = coverage[1] if coverage else None
    return CostSummary(
        subject_kind=subject_kind,
        subject=subject,
        scope=scope,
        period=period,
        previous=previous,
        total_micros=queries.total(db, period, scope, metric),
        previous_micros=queries.total(db, previous, scope, metric),
        breakdown_by=breakdown_by,
        top=changes[:TOP_N],
        others=max(len(changes) - TOP_N, 0),
        daily=queries.daily_series(db, period, scope, metric),
        previous_daily=queries.daily_series(db, previous, scope, metric),
        budget=_budget(db, period, scope, metric, monthly_budget_micros),
        forecast=_forecast(db, period, scope, metric, data_through),
        data_through=data_through,
        metric=metric,
    )


def _month_bounds(day: date) -> tuple[date, date]:
    return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _budget(
    db: sqlite_utils.Database,
    period: Period,
    scope: Scope,
    metric: str,
    monthly_micros: int | None,
) -> Budget | None:
    """Budget burn for a period inside one calendar month (mtd, a month); rolling windows
    and quarters span months, where a monthly budget says little."""
    if monthly_micros is None or period.kind not in ("mtd", "month"):
        return None
    month_start, month_end = _month_bounds(period.start)
    spent = queries.total(db, Period(month_start, period.end, "month", ""), scope, metric)
    elapsed = ((period.end - month_start).days + 1) / ((month_end - month_start).days + 1)
    return Budget(
        monthly_micros=monthly_micros,
        month_label=month_start.strftime("%B %Y"),
        spent_micros=spent,
        share_of_month_elapsed=min(elapsed, 1.0),
    )


def _forecast(
    db: sqlite_utils.Database,
    period: Period,
    scope: Scope,
    metric: str,
    data_through: date | None,
) -> Forecast | None:
    """Month-end forecast for month-to-date questions: what is spent so far plus the
    average of the last 7 complete days for each day left in the month."""
    if period.kind != "mtd" or data_through is None:
        return None
    month_start, month_end = _month_bounds(period.end)
    through = min(period.end, data_through)
    if through < month_start:
        return None
    window = Period(through - timedelta(days=FORECAST_WINDOW_DAYS - 1), through, "rolling", "7d")
    return Forecast(
        month_end=month_end,
        month_to_date_micros=queries.total(
            db, Period(month_start, through, "mtd", "mtd"), scope, metric
        ),
        daily_average_micros=queries.total(db, window, scope, metric) // FORECAST_WINDOW_DAYS,
        average_window=window,
        remaining_days=(month_end - through).days,
    )
