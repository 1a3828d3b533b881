"""The analytics behind `/cost`: what a team, service, account or the whole organisation
spent in a period, compared with the previous equal period, with its top breakdown, budget
burn and month-end forecast; and the rankings of `/cost top`. Plain values out; rendering
lives in bot/render/cost.py.

Answers stay right when data is late or short:
- the period is clipped to the days the store holds, and the comparison period has the same
  number of days (Nov 1-28 against Oct 1-28), so a missing day is never counted as $0;
- a comparison period that starts before the first stored day is not compared with at all;
- each billing currency is summed, compared and ranked on its own, never added to another.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import date, timedelta

import sqlite_utils

from bot.analytics.names import account_labels
from bot.money import DEFAULT_CURRENCY, normalise_currency
from bot.periods import Period
from bot.store import queries
from bot.store.queries import EVERYTHING, Change, Scope

TOP_N = 5
FORECAST_WINDOW_DAYS = 7


@dataclass(frozen=True)
class Budget:
    monthly_micros: int
    month_label: str  # "November 2026"
    spent_micros: int  # spent in that month through the last day with data in the period
    days_elapsed: int  # days of the month through the last day with data
    days_in_month: int
    currency: str = DEFAULT_CURRENCY

    @property
    def share_of_month_elapsed(self) -> float:
        return min(self.days_elapsed / self.days_in_month, 1.0)

    @property
    def used_fraction(self) -> float:
        return self.spent_micros / self.monthly_micros if self.monthly_micros else 0.0


@dataclass(frozen=True)
class Forecast:
    month_end: date
    month_to_date_micros: int
    daily_average_micros: int
    average_window: Period
    remaining_days: int  # after the last day with data

    @property
    def projected_micros(self) -> int:
        return self.month_to_date_micros + self.daily_average_micros * self.remaining_days


@dataclass(frozen=True)
class CostSummary:
    subject_kind: str  # team | service | account | organisation
    subject: str  # display name
    scope: Scope  # with `currency` set: every amount below is in that currency
    period: Period  # clipped to the stored data
    previous: Period  # the equal period before; compared with only if `has_comparison`
    total_micros: int
    previous_micros: int | None  # None: `previous` starts before the first stored day
    breakdown_by: str  # what the top list is split by
    top: list[Change]  # first TOP_N, largest first
    others: int  # how many more rows exist beyond `top`
    daily: list[tuple[date, int]]
    previous_daily: list[tuple[date, int]]
    budget: Budget | None
    forecast: Forecast | None
    data_through: date | None
    metric: str
    currency: str = DEFAULT_CURRENCY
    data_from: date | None = None
    # The same scope's cost billed in other currencies, largest first, each on its own.
    other_currencies: tuple[CostSummary, ...] = ()

    @property
    def has_comparison(self) -> bool:
        return self.previous_micros is not None


@dataclass(frozen=True)
class RankingPart:
    """One currency's ranking: its rows are never added to another currency's."""

    currency: str
    total_micros: int
    previous_micros: int | None
    changes: list[Change]


@dataclass(frozen=True)
class Ranking:
    by: str  # team | service | account
    period: Period
    previous: Period
    parts: list[RankingPart]  # largest currency first
    has_comparison: bool
    data_from: date | None
    data_through: date | None
    metric: str


def comparable(previous: Period, data_from: date | None) -> bool:
    """A previous period is worth comparing with only if the store holds all of it: before
    the first stored day its cost is unknown, not $0."""
    return data_from is not None and previous.start >= data_from


@dataclass(frozen=True)
class _Window:
    """A period as answers show it: clipped to the stored days, with the period it is
    compared with and whether that comparison is possible."""

    period: Period
    previous: Period
    with_previous: bool
    data_from: date | None
    data_through: date | None


def _window(db: sqlite_utils.Database, period: Period) -> _Window:
    coverage = queries.data_range(db)
    data_from, data_through = coverage if coverage else (None, None)
    if coverage:
        period = period.clipped(*coverage)
    previous = period.previous()
    return _Window(period, previous, comparable(previous, data_from), data_from, data_through)


def _currencies(db: sqlite_utils.Database, window: _Window, scope: Scope, metric: str) -> list[str]:
    """Billing currencies with cost in the period, largest first, then any only in the
    period compared with (a scope that stopped billing in EUR still shows the drop)."""
    codes = list(queries.currencies(db, window.period, scope, metric))
    if window.with_previous:
        earlier = queries.currencies(db, window.previous, scope, metric)
        codes += [c for c in earlier if c not in codes]
    return codes


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
    budget_currency: str = DEFAULT_CURRENCY,
) -> CostSummary:
    """The cost of `scope` in `period` (clipped to the stored data), one summary per billing
    currency: the largest first, the others in its `other_currencies`. The monthly budget is
    in `budget_currency` and only set against amounts in that currency."""
    window = _window(db, period)
    period, previous, with_previous = window.period, window.previous, window.with_previous
    data_from, data_through = window.data_from, window.data_through
    codes = _currencies(db, window, scope, metric)
    budget_currency = normalise_currency(budget_currency)
    summaries = [
        _summarise_currency(
            db,
            subject_kind=subject_kind,
            subject=subject,
            scope=replace(scope, currency=code),
            period=period,
            previous=previous,
            with_previous=with_previous,
            breakdown_by=breakdown_by,
            metric=metric,
            monthly_budget_micros=monthly_budget_micros if code == budget_currency else None,
            data_from=data_from,
            data_through=data_through,
        )
        for code in codes or [budget_currency]
    ]
    return replace(summaries[0], other_currencies=tuple(summaries[1:]))


def _summarise_currency(
    db: sqlite_utils.Database,
    *,
    subject_kind: str,
    subject: str,
    scope: Scope,
    period: Period,
    previous: Period,
    with_previous: bool,
    breakdown_by: str,
    metric: str,
    monthly_budget_micros: int | None,
    data_from: date | None,
    data_through: date | None,
) -> CostSummary:
    changes = [
        c
        for c in queries.compare(db, period, breakdown_by, scope, metric, with_previous)
        if c.current or c.previous
    ]
    return CostSummary(
        subject_kind=subject_kind,
        subject=subject,
        scope=scope,
        period=period,
        previous=previous,
        total_micros=queries.total(db, period, scope, metric),
        previous_micros=queries.total(db, previous, scope, metric) if with_previous else None,
        breakdown_by=breakdown_by,
        top=changes[:TOP_N],
        others=max(len(changes) - TOP_N, 0),
        daily=queries.daily_series(db, period, scope, metric),
        previous_daily=queries.daily_series(db, previous, scope, metric) if with_previous else [],
        budget=_budget(db, period, scope, metric, monthly_budget_micros),
        forecast=_forecast(db, period, scope, metric, data_from, data_through),
        data_through=data_through,
        metric=metric,
        currency=scope.currency or DEFAULT_CURRENCY,
        data_from=data_from,
    )


def rank(
    db: sqlite_utils.Database, period: Period, by: str, metric: str, scope: Scope = EVERYTHING
) -> Ranking:
    """`/cost top`: every team / service / account by cost in `period` (clipped to the stored
    data), with its change, one ranking per billing currency."""
    window = _window(db, period)
    period, previous, with_previous = window.period, window.previous, window.with_previous
    data_from, data_through = window.data_from, window.data_through
    # Sub-account ids as `name (id)`; the billing name never labels the payer's own row.
    labels = account_labels(db) if by == "account" else {}
    codes = _currencies(db, window, scope, metric)
    parts = []
    for code in codes:
        in_currency = replace(scope, currency=code)
        changes = [
            replace(c, name=labels.get(c.name, c.name))
            for c in queries.compare(db, period, by, in_currency, metric, with_previous)
            if c.current or c.previous
        ]
        parts.append(
            RankingPart(
                currency=code,
                total_micros=queries.total(db, period, in_currency, metric),
                previous_micros=(
                    queries.total(db, previous, in_currency, metric) if with_previous else None
                ),
                changes=changes,
            )
        )
    return Ranking(by, period, previous, parts, with_previous, data_from, data_through, metric)


def _month_bounds(day: date) -> tuple[date, date]:
    return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _budget(
    db: sqlite_utils.Database,
    period: Period,
    scope: Scope,
    metric: str,
    monthly_micros: int | None,
) -> Budget | None:
    """Budget burn for a period inside one calendar month (mtd, a month), through the last
    day with data in it; rolling windows and quarters span months, where a monthly budget
    says little."""
    if monthly_micros is None or period.kind not in ("mtd", "month"):
        return None
    month_start, month_end = _month_bounds(period.start)
    spent = queries.total(db, Period(month_start, period.end, "month", ""), scope, metric)
    return Budget(
        monthly_micros=monthly_micros,
        month_label=month_start.strftime("%B %Y"),
        spent_micros=spent,
        days_elapsed=(period.end - month_start).days + 1,
        days_in_month=(month_end - month_start).days + 1,
        currency=scope.currency or DEFAULT_CURRENCY,
    )


def _forecast(
    db: sqlite_utils.Database,
    period: Period,
    scope: Scope,
    metric: str,
    data_from: date | None,
    data_through: date | None,
) -> Forecast | None:
    """Month-end forecast for month-to-date questions (and a month still in progress): what
    is spent through the last day with data, plus the average of the last 7 days with data
    for each day left in the month after it."""
    if period.kind not in ("mtd", "month") or data_through is None or data_from is None:
        return None
    month_start, month_end = _month_bounds(period.end)
    through = min(period.end, data_through)
    if through < month_start or (period.kind == "month" and through >= month_end):
        return None
    window_start = max(through - timedelta(days=FORECAST_WINDOW_DAYS - 1), data_from)
    window = Period(window_start, through, "rolling", f"{(through - window_start).days + 1}d")
    return Forecast(
        month_end=month_end,
        month_to_date_micros=queries.total(
            db, Period(month_start, through, "mtd", "mtd"), scope, metric
        ),
        daily_average_micros=queries.total(db, window, scope, metric) // window.days,
        average_window=window,
        remaining_days=(month_end - through).days,
    )
