"""Unit economics: cloud cost per unit of business volume (per API request, per order, per
monthly active user), or cloud cost as a share of revenue. Plain functions of the store;
rendering lives in bot/render/unitcost.py.

Definitions (`definitions`): every business metric M in the store is "cost per M" without any
config (all cost / M's organisation values; given a team, that team's cost / M's values for
that team's scope; a scope that names a `product` tag works the same way). `unit_metrics:` in
the config adds named definitions with a cost side (all, a team, a product tag, a service)
and a business side (a metric, optionally scoped); `as: percent` shows cost as a % of a money
metric (revenue).

The arithmetic: over a period, cost (integer micro-units of the config currency, the config's
cost metric, counted as /cost counts it) and volume (exact Decimal) are summed over the days
that have BOTH; the unit cost is their ratio as an exact Fraction (a ratio of sums, never an
average of daily ratios). Days with cost but no volume, or volume but no cost, are left out
and reported as gaps; no volume at all gives no unit cost, never a division by zero.

Public functions (the monthly report and champions read these; the definitions come from
bot/analytics/unit_definitions.py and are re-exported here):
- `definitions(db, config) -> list[UnitDefinition]`, `find_definition(defs, text)`
- `subject_of(definition, team=None, product=None) -> Subject`
- `unit_figures(db, config, definition, period, subject=None, weeks=True) -> UnitFigures`:
  the period, the previous period of the same days (`Period.previous`), the change in
  percent and the weekly trend (ISO weeks, Monday to Sunday)
- `weekly_trend(db, config, definition, end, weeks=12, subject=None) -> list[Sums]`
- `unit_cost_trend(db, config, definition, months=6, end=None, subject=None) -> list[Sums]`:
  one `Sums` per calendar month, oldest first (`Sums.unit_cost` None where there is no volume)
- `monthly_unit_costs(db, config, month) -> list[UnitFigures]`: every definition for one
  calendar month (any date in it), with its change against the month before
- `reference_check(definition, unit_cost) -> ReferenceCheck | None`: where a figure sits
  against the field's usual range
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import sqlite_utils

from bot.analytics.unit_definitions import (
    REFERENCES,
    CostSide,
    Reference,
    ReferenceCheck,
    UnitCostError,
    UnitDefinition,
    definitions,
    find_definition,
    reference_check,
)
from bot.config import Config
from bot.money import MICROS_PER_DOLLAR
from bot.periods import Period
from bot.store import queries
from bot.store.queries import Scope

# The definitions live in unit_definitions; callers import everything from here.
__all__ = [
    "REFERENCES",
    "CostSide",
    "Reference",
    "ReferenceCheck",
    "Subject",
    "Sums",
    "UnitCostError",
    "UnitDefinition",
    "UnitFigures",
    "definitions",
    "find_definition",
    "monthly_unit_costs",
    "overview",
    "reference_check",
    "subject_of",
    "sums_of",
    "unit_cost_trend",
    "unit_figures",
    "weekly_trend",
]

DEFAULT_TREND_WEEKS = 12


@dataclass(frozen=True)
class Subject:
    """What is divided by what: the cost side and the metric's scope."""

    cost: CostSide
    metric_scope: str | None
    label: str | None = None  # the team or product asked for, None for the definition's own


@dataclass(frozen=True)
class Sums:
    """One period's figures. `cost_micros` and `volume` are sums over the days with both."""

    start: date
    end: date
    cost_micros: int
    volume: Decimal
    days_with_both: int
    cost_only: tuple[date, ...] = ()  # days with cost but no volume: left out
    volume_only: tuple[date, ...] = ()  # days with volume but no cost: left out
    cost_left_out_micros: int = 0
    volume_left_out: Decimal = Decimal(0)

    @property
    def unit_cost(self) -> Fraction | None:
        """Dollars (config currency) per unit, exactly; None without volume."""
        if self.volume <= 0:
            return None
        return Fraction(self.cost_micros, MICROS_PER_DOLLAR) / Fraction(self.volume)

    @property
    def has_gaps(self) -> bool:
        return bool(self.cost_only or self.volume_only)


@dataclass(frozen=True)
class UnitFigures:
    definition: UnitDefinition
    subject: Subject
    period: Period
    current: Sums
    previous_period: Period
    previous: Sums | None  # None: not comparable (before the stored data, or no volume)
    weeks: list[Sums] = field(default_factory=list)
    reference: ReferenceCheck | None = None
    currency: str = "USD"
    cost_metric: str = "effective"
    data_through: date | None = None
    data_from: date | None = None  # the first day with cost or the metric's values

    @property
    def change_percent(self) -> Fraction | None:
        now = self.current.unit_cost
        before = self.previous.unit_cost if self.previous else None
        if now is None or not before:
            return None
        return (now - before) / before * 100


def subject_of(
    definition: UnitDefinition, team: str | None = None, product: str | None = None
) -> Subject:
    """The definition as asked: its own cost side and scope, or a team's (product's) cost
    over the metric's values for that team (product)."""
    if team is None and product is None:
        return Subject(definition.cost, definition.metric_scope)
    if not definition.scopable:
        raise UnitCostError(
            f"{definition.name} is defined for {definition.cost.description}: it takes no team"
        )
    kind, value = ("team", team) if team is not None else ("product", product)
    return Subject(CostSide(kind, value), value, label=value)


# ---- figures


def _cost_days(
    db: sqlite_utils.Database, config: Config, side: CostSide, start: date, end: date
) -> dict[date, int]:
    currency = config.currency
    product = None
    if side.kind == "team":
        scope = Scope(team=side.value, currency=currency)
    elif side.kind == "service":
        scope = Scope(service=side.value, currency=currency)
    else:
        scope = Scope(currency=currency)
        product = side.value if side.kind == "product" else None
    return queries.cost_by_day(db, start, end, scope, config.cost_metric, product)


def sums_of(
    cost_days: dict[date, int], volumes: dict[date, Decimal], start: date, end: date
) -> Sums:
    """The figures of `start`..`end` from per-day cost and volume (days absent: no data)."""
    volume = left_volume = Decimal(0)
    cost_micros = both = left_cost = 0
    cost_only: list[date] = []
    volume_only: list[date] = []
    day = start
    while day <= end:
        has_cost, has_volume = day in cost_days, day in volumes
        if has_cost and has_volume:
            cost_micros += cost_days[day]
            volume += volumes[day]
            both += 1
        elif has_cost:
            cost_only.append(day)
            left_cost += cost_days[day]
        elif has_volume:
            volume_only.append(day)
            left_volume += volumes[day]
        day += timedelta(days=1)
    return Sums(
        start,
        end,
        cost_micros,
        volume,
        both,
        tuple(cost_only),
        tuple(volume_only),
        left_cost,
        left_volume,
    )


def _coverage(
    db: sqlite_utils.Database, metric: str, scope: str | None
) -> tuple[date, date] | None:
    """The days either side has data for: the store's cost and the metric's values."""
    ranges = []
    if (cost := queries.data_range(db)) is not None:
        ranges.append(cost)
    for series in queries.metric_catalog(db):
        if series.metric == metric and series.scope == scope:
            ranges.append((series.first_day, series.last_day))
    if not ranges:
        return None
    return min(r[0] for r in ranges), max(r[1] for r in ranges)


class _Series:
    """A subject's daily cost and volume over one span, fetched once."""

    def __init__(
        self,
        db: sqlite_utils.Database,
        config: Config,
        definition: UnitDefinition,
        subject: Subject,
        start: date,
        end: date,
    ) -> None:
        self.cost = _cost_days(db, config, subject.cost, start, end)
        self.volume = queries.metric_daily_values(
            db, definition.metric, subject.metric_scope, start, end
        )

    def sums(self, start: date, end: date) -> Sums:
        return sums_of(self.cost, self.volume, start, end)


def _weeks(first: date, end: date, count: int) -> list[tuple[date, date]]:
    """The `count` ISO weeks (Monday to Sunday) ending with `end`'s week, each clipped to
    `first`..`end`; weeks wholly before `first` are left out."""
    last_monday = end - timedelta(days=end.weekday())
    spans = []
    for back in range(count - 1, -1, -1):
        monday = last_monday - timedelta(weeks=back)
        sunday = monday + timedelta(days=6)
        if sunday < first:
            continue
        spans.append((max(monday, first), min(sunday, end)))
    return spans


def unit_figures(
    db: sqlite_utils.Database,
    config: Config,
    definition: UnitDefinition,
    period: Period,
    subject: Subject | None = None,
    *,
    weeks: bool = True,
) -> UnitFigures:
    """The definition's figures over `period` (clipped to the days the store holds cost or
    the metric's values), compared with the previous period of the same days, with the
    weekly trend: the ISO weeks the period touches, at least DEFAULT_TREND_WEEKS of them."""
    if definition.problem:
        raise UnitCostError(f"{definition.name} cannot be computed: {definition.problem}")
    subject = subject or subject_of(definition)
    coverage = _coverage(db, definition.metric, subject.metric_scope)
    if coverage is None:
        raise UnitCostError("No cost data or business metrics are loaded yet")
    first, last = coverage
    clipped = period.clipped(first, last)
    if clipped.start > clipped.end:
        raise UnitCostError(f"No data for {period.label}")
    previous_period = clipped.previous()
    span_start = min(previous_period.start, clipped.start)
    trend: list[tuple[date, date]] = []
    if weeks:
        count = max(DEFAULT_TREND_WEEKS, (clipped.end - clipped.start).days // 7 + 2)
        trend = _weeks(first, clipped.end, count)
        span_start = min(span_start, trend[0][0]) if trend else span_start
    series = _Series(db, config, definition, subject, max(span_start, first), clipped.end)
    current = series.sums(clipped.start, clipped.end)
    previous = None
    if previous_period.start >= first:
        candidate = series.sums(previous_period.start, previous_period.end)
        previous = candidate if candidate.unit_cost is not None else None
    unit = current.unit_cost
    cost_range = queries.data_range(db)
    return UnitFigures(
        definition=definition,
        subject=subject,
        period=clipped,
        current=current,
        previous_period=previous_period,
        previous=previous,
        weeks=[series.sums(start, end) for start, end in trend],
        reference=reference_check(definition, unit) if unit is not None else None,
        currency=config.currency,
        cost_metric=config.cost_metric,
        data_through=cost_range[1] if cost_range else None,
        data_from=first,
    )


def weekly_trend(
    db: sqlite_utils.Database,
    config: Config,
    definition: UnitDefinition,
    end: date,
    weeks: int = DEFAULT_TREND_WEEKS,
    subject: Subject | None = None,
) -> list[Sums]:
    """One `Sums` per ISO week (Monday to Sunday) for the `weeks` weeks ending with `end`'s
    week (clipped to `end`), oldest first."""
    subject = subject or subject_of(definition)
    spans = _weeks(date.min, end, weeks)
    series = _Series(db, config, definition, subject, spans[0][0], end)
    return [series.sums(start, stop) for start, stop in spans]


def _month_span(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def unit_cost_trend(
    db: sqlite_utils.Database,
    config: Config,
    definition: UnitDefinition,
    months: int = 6,
    end: date | None = None,
    subject: Subject | None = None,
) -> list[Sums]:
    """One `Sums` per calendar month, the `months` months ending with `end`'s month (default:
    the last day with cost), oldest first; the last month runs through `end`."""
    subject = subject or subject_of(definition)
    if end is None:
        coverage = queries.data_range(db)
        if coverage is None:
            return []
        end = coverage[1]
    spans = []
    index = end.year * 12 + end.month - 1
    for back in range(months - 1, -1, -1):
        year, month = divmod(index - back, 12)
        start, stop = _month_span(year, month + 1)
        spans.append((start, min(stop, end)))
    series = _Series(db, config, definition, subject, spans[0][0], end)
    return [series.sums(start, stop) for start, stop in spans]


def monthly_unit_costs(db: sqlite_utils.Database, config: Config, month: date) -> list[UnitFigures]:
    """Every definition (organisation scope) for the calendar month of `month`, compared
    with the month before; definitions that cannot be computed are left out."""
    start, end = _month_span(month.year, month.month)
    period = Period(start, end, "month", start.strftime("%Y-%m"))
    figures = []
    for definition in definitions(db, config):
        if definition.problem:
            continue
        try:
            figures.append(unit_figures(db, config, definition, period, weeks=False))
        except UnitCostError:
            continue
    return figures


def overview(
    db: sqlite_utils.Database,
    config: Config,
    period: Period,
    team: str | None = None,
    product: str | None = None,
) -> list[UnitFigures]:
    """Bare `/unitcost`: every definition over `period` (for a team: those with values for
    its scope), each compared with its previous period."""
    figures = []
    scoped = team or product
    catalog = {(s.metric, s.scope) for s in queries.metric_catalog(db)}
    for definition in definitions(db, config):
        if definition.problem:
            continue
        if scoped and (not definition.scopable or (definition.metric, scoped) not in catalog):
            continue
        subject = subject_of(definition, team, product)
        if (definition.metric, subject.metric_scope) not in catalog:
            continue
        try:
            figures.append(unit_figures(db, config, definition, period, subject, weeks=False))
        except UnitCostError:
            continue
    return figures
