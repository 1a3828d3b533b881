"""The quarterly report (issue 11, deliverable 6) for the CTO and CFO: the last complete
quarter before the job's day (run on 2026-10-01 it reports Q3 2026, July 1 - September 30).
Plain values out; rendering is bot/render/quarterly_report.py.

- Spend per month and for the quarter, per billing currency (never added across currencies),
  against revenue when a revenue metric exists (`reports.revenue_metric`, else a business
  metric named `revenue`, organisation values, taken to be in the config currency): cost as a
  share of revenue, with the SaaS reference range /unitcost uses (15-25%).
- Unit-cost trend: each unit metric's figure for each month of the quarter.
- Commitment purchases: FOCUS Purchase charges of Savings Plans and reservations, billed cost
  per month and type ("none recorded" when there are none; Cost Explorer does not say).
- Waste eliminated: resources stopped or terminated through Costbot (enforcement ladder, idle
  Stop button) in the quarter, with the monthly run-rate each saves, per team.
- Forecast against actuals: the month's forecast last stored by the Cost Explorer sync
  (`commitments`), against the month's actual total in that currency.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import sqlite_utils

from bot.analytics import unit_cost
from bot.analytics.chargeback import month_period
from bot.analytics.commitments import commitment_summaries
from bot.analytics.unit_definitions import REFERENCES, Reference
from bot.config import Config
from bot.periods import Period
from bot.store import queries
from bot.store.queries import UNTAGGED

REVENUE = "revenue"


@dataclass(frozen=True)
class Quarter:
    year: int
    number: int  # 1-4
    months: tuple[Period, Period, Period]

    @property
    def name(self) -> str:
        return f"{self.year}-Q{self.number}"

    @property
    def start(self) -> date:
        return self.months[0].start

    @property
    def end(self) -> date:
        return self.months[-1].end

    @property
    def period(self) -> Period:
        return Period(self.start, self.end, "quarter", self.name)


def report_quarter(now: date | datetime) -> Quarter:
    """The last complete quarter before the job's day: 2026-10-01 -> Q3 2026; 2027-01-01 ->
    Q4 2026; any day of November 2026 -> Q3 2026."""
    day = now.date() if isinstance(now, datetime) else now
    first_month = (day.month - 1) // 3 * 3 + 1  # this quarter's first month
    last = date(day.year, first_month, 1) - timedelta(days=1)  # the previous quarter's last day
    number = (last.month - 1) // 3 + 1
    months = tuple(
        month_period(f"{last.year}-{month:02d}") for month in range(number * 3 - 2, number * 3 + 1)
    )
    return Quarter(last.year, number, months)  # type: ignore[arg-type]


@dataclass(frozen=True)
class MonthSpend:
    month: Period
    by_currency: dict[str, int]  # micros, largest first
    revenue: Decimal | None  # the month's revenue (config currency); None: no values
    revenue_days: int = 0

    def cost_share(self, currency: str) -> Fraction | None:
        """Cost in `currency` as a fraction of revenue; None without revenue."""
        if not self.revenue or self.revenue <= 0:
            return None
        return Fraction(self.by_currency.get(currency, 0), 1_000_000) / Fraction(self.revenue)


@dataclass(frozen=True)
class UnitTrend:
    title: str
    unit: str
    as_percent: bool
    values: tuple[Fraction | None, ...]  # per month of the quarter, dollars per unit
    currency: str

    @property
    def change_percent(self) -> Fraction | None:
        first, last = self.values[0], self.values[-1]
        if first is None or last is None or not first:
            return None
        return (last - first) / first * 100


@dataclass(frozen=True)
class Purchase:
    month: str
    kind: str  # "Savings Plan", "Reserved Instance", ... as the provider labels it
    currency: str
    billed_micros: int


@dataclass(frozen=True)
class TeamWaste:
    team: str  # UNTAGGED for resources with no team
    currency: str
    monthly_micros: int
    resources: int
    stops: int
    terminations: int


@dataclass(frozen=True)
class ForecastCheck:
    month: Period
    currency: str
    forecast_micros: int | None  # None: no forecast stored for the month
    low_micros: int | None
    high_micros: int | None
    actual_micros: int

    @property
    def error_fraction(self) -> Fraction | None:
        """(actual - forecast) / forecast; None without a forecast."""
        if not self.forecast_micros:
            return None
        return Fraction(self.actual_micros - self.forecast_micros, self.forecast_micros)


@dataclass(frozen=True)
class QuarterlyReport:
    quarter: Quarter
    currency: str  # the config currency: revenue is taken to be in it
    spend: tuple[MonthSpend, MonthSpend, MonthSpend]
    totals: dict[str, int]  # the quarter's total per currency, largest first
    previous_totals: dict[str, int]  # the quarter before, per currency
    revenue_metric: str | None  # None: no revenue metric in the store
    revenue_reference: Reference
    units: tuple[UnitTrend, ...]
    purchases: tuple[Purchase, ...]
    waste: tuple[TeamWaste, ...]  # largest saving first
    forecasts: tuple[ForecastCheck, ...]  # per month and currency with cost or a forecast
    revenue_wanted: str = REVENUE  # the metric looked for (`reports.revenue_metric`)

    @property
    def revenue_total(self) -> Decimal | None:
        values = [m.revenue for m in self.spend if m.revenue is not None]
        return sum(values, Decimal(0)) if values else None

    def quarter_cost_share(self) -> Fraction | None:
        """The quarter's cost (config currency) over the quarter's revenue, counting only the
        months that have revenue, so a month without values is not counted as free."""
        with_revenue = [m for m in self.spend if m.revenue and m.revenue > 0]
        if not with_revenue:
            return None
        cost = sum(m.by_currency.get(self.currency, 0) for m in with_revenue)
        return Fraction(cost, 1_000_000) / Fraction(sum(m.revenue for m in with_revenue))

    def waste_totals(self) -> dict[str, int]:
        found: dict[str, int] = defaultdict(int)
        for line in self.waste:
            found[line.currency] += line.monthly_micros
        return dict(found)


def revenue_metric(db: sqlite_utils.Database, config: Config) -> str | None:
    """The configured revenue metric, else `revenue`, if the store has organisation values."""
    wanted = config.reports.revenue_metric or REVENUE
    found = {s.metric for s in queries.metric_catalog(db) if s.scope is None}
    return wanted if wanted in found else None


def _previous_quarter(quarter: Quarter) -> Period:
    start = quarter.start
    before = date(start.year - (start.month == 1), (start.month - 4) % 12 + 1, 1)
    return Period(before, start - timedelta(days=1), "quarter", "previous")


def quarterly_report(
    db: sqlite_utils.Database, config: Config, now: date | datetime
) -> QuarterlyReport:
    quarter = report_quarter(now)
    metric = revenue_metric(db, config)
    spend = []
    for month in quarter.months:
        values = (
            queries.metric_daily_values(db, metric, None, month.start, month.end) if metric else {}
        )
        spend.append(
            MonthSpend(
                month=month,
                by_currency=queries.currencies(db, month, metric=config.cost_metric),
                revenue=sum(values.values(), Decimal(0)) if values else None,
                revenue_days=len(values),
            )
        )
    totals: dict[str, int] = defaultdict(int)
    for month in spend:
        for code, micros in month.by_currency.items():
            totals[code] += micros
    previous = queries.currencies(db, _previous_quarter(quarter), metric=config.cost_metric)
    return QuarterlyReport(
        quarter=quarter,
        currency=config.currency,
        spend=tuple(spend),  # type: ignore[arg-type]
        totals=dict(sorted(totals.items(), key=lambda item: (-item[1], item[0]))),
        previous_totals=previous,
        revenue_metric=metric,
        revenue_reference=REFERENCES["saas"],
        units=_unit_trends(db, config, quarter, metric),
        purchases=tuple(
            Purchase(
                row["month"], row["type"] or row["category"], row["currency"], row["billed_micros"]
            )
            for row in queries.commitment_purchases(db, quarter.start, quarter.end)
        ),
        waste=_waste(db, quarter),
        forecasts=_forecasts(db, config, quarter),
        revenue_wanted=config.reports.revenue_metric or REVENUE,
    )


def _unit_trends(
    db: sqlite_utils.Database, config: Config, quarter: Quarter, revenue: str | None
) -> tuple[UnitTrend, ...]:
    found = []
    for definition in unit_cost.definitions(db, config):
        if definition.problem:
            continue
        if revenue and definition.metric == revenue and not definition.as_percent:
            continue  # "cost per revenue" is the share of revenue above, not a unit cost
        sums = unit_cost.unit_cost_trend(db, config, definition, months=3, end=quarter.end)
        values = tuple(s.unit_cost for s in sums)
        if all(v is None for v in values):
            continue
        found.append(
            UnitTrend(
                title=definition.title,
                unit=definition.unit,
                as_percent=definition.as_percent,
                values=values,
                currency=config.currency,
            )
        )
    return tuple(found)


def _waste(db: sqlite_utils.Database, quarter: Quarter) -> tuple[TeamWaste, ...]:
    """Per team and currency: the run-rates saved by the stops and terminations of the
    quarter. A resource stopped then terminated saves its run-rate once."""
    resources: dict[tuple[str, str], dict] = {}  # (arn, currency) -> team, run-rate, actions
    for row in queries.verified_savings(db, quarter.start, quarter.end):
        currency = (row["currency"] or "USD").upper()
        entry = resources.setdefault(
            (row["arn"], currency), {"team": row["team"], "micros": 0, "actions": set()}
        )
        entry["micros"] = max(entry["micros"], row["monthly_micros"])
        entry["actions"].add(row["action"])
    tally: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for (_, currency), entry in resources.items():
        line = tally[(entry["team"] or UNTAGGED, currency)]
        line[0] += entry["micros"]
        line[1] += 1
        line[2] += any(a.endswith("stop") for a in entry["actions"])
        line[3] += any(a.endswith("terminate") for a in entry["actions"])
    lines = [
        TeamWaste(team, currency, micros, count, stops, terminations)
        for (team, currency), (micros, count, stops, terminations) in tally.items()
    ]
    lines.sort(key=lambda w: (-w.monthly_micros, w.team, w.currency))
    return tuple(lines)


def _forecasts(
    db: sqlite_utils.Database, config: Config, quarter: Quarter
) -> tuple[ForecastCheck, ...]:
    found = []
    for month in quarter.months:
        actual = queries.currencies(db, month, metric=config.cost_metric)
        forecasts = {
            s.currency: s.forecast
            for s in commitment_summaries(db, month.name)
            if s.forecast is not None
        }
        for code in sorted(set(actual) | set(forecasts), key=lambda c: (c != config.currency, c)):
            forecast = forecasts.get(code)
            found.append(
                ForecastCheck(
                    month=month,
                    currency=code,
                    forecast_micros=forecast.micros if forecast else None,
                    low_micros=forecast.low_micros if forecast else None,
                    high_micros=forecast.high_micros if forecast else None,
                    actual_micros=actual.get(code, 0),
                )
            )
    return tuple(found)
