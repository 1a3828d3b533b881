"""The monthly report (issue 11, deliverable 5): for the calendar month before the job's day,
each team's figures (to its leads) and the organisation's summary (to FinOps). Plain values
out; rendering is bot/render/monthly_report.py, delivery jobs/monthly_report.py.

Per team, only what the team can act on: its own cost (in each billing currency, never added
across currencies) against its budget (in the config currency), its unit costs against the
month before (the unit metrics with values for its scope), the Savings Plans coverage and spot
share of its own compute (FOCUS rows carry the team; Cost Explorer's figures exist per billing
account only, so they are the organisation's), the tagging compliance of its resources, its
top opportunities, and its own chargeback row.

The organisation: total cost per currency against the month before, every team against its
budget, the chargeback of the month (the same numbers as `costbot report chargeback --month
YYYY-MM`), unit costs, Savings Plans coverage and utilization and spot share, tagging
compliance, and the top opportunities across teams.

Opportunities (idle instances, untagged spend, low Savings Plans coverage) are estimated in
bot/analytics/opportunities.py.

The inventory (idle, tags) is as last read: a report of a past month shows today's resources.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import sqlite_utils

from bot.analytics import unit_cost
from bot.analytics.chargeback import Chargeback, ChargebackRow, chargeback, month_period
from bot.analytics.commitments import (
    UTILIZATION_TARGET,
    CommitmentSummary,
    Ratio,
    Target,
    commitment_summaries,
)
from bot.analytics.opportunities import (
    LOW_COVERAGE,
    UNTAGGED_SPEND,
    Opportunity,
    TagFigures,
    coverage_opportunity,
    idle_opportunities,
    ranked,
    tagging_figures,
    untagged_opportunity,
)
from bot.config import Config
from bot.periods import Period
from bot.store import queries
from bot.store.queries import UNTAGGED, Scope

TOP_OPPORTUNITIES = 5
# The months of the chart's trend, the reported month last.
TREND_MONTHS = 6


def report_month(now: date | datetime) -> Period:
    """The calendar month before the job's day: run on 2026-11-01 (or any day of November),
    it reports October 2026."""
    day = now.date() if isinstance(now, datetime) else now
    last = day.replace(day=1) - timedelta(days=1)
    return month_period(last.strftime("%Y-%m"))


def previous_month(period: Period) -> Period:
    return month_period((period.start - timedelta(days=1)).strftime("%Y-%m"))


def months_ending(period: Period, count: int) -> list[Period]:
    """The `count` calendar months ending with `period`'s, oldest first."""
    months = [period]
    while len(months) < count:
        months.insert(0, previous_month(months[0]))
    return months


def target_of(bounds: tuple[float, float]) -> Target:
    """A config range (floats, 0.7) as exact Decimals: 0.7 is 70%, not 69.99999...%."""
    low, high = sorted(bounds)
    return Target(Decimal(str(low)), Decimal(str(high)))


@dataclass(frozen=True)
class Amount:
    currency: str
    micros: int
    previous_micros: int  # the month before, same currency


@dataclass(frozen=True)
class BudgetFigures:
    budget_micros: int  # the team's monthly budget, config currency
    spent_micros: int  # the team's cost billed in the config currency
    currency: str

    @property
    def used(self) -> Fraction:
        return (
            Fraction(self.spent_micros, self.budget_micros) if self.budget_micros else Fraction(0)
        )

    @property
    def over(self) -> bool:
        return self.spent_micros > self.budget_micros


@dataclass(frozen=True)
class UnitLine:
    title: str
    unit: str
    as_percent: bool
    current: Fraction | None  # dollars per unit (or the share, as a fraction) this month
    previous: Fraction | None
    currency: str

    @property
    def change_percent(self) -> Fraction | None:
        if self.current is None or not self.previous:
            return None
        return (self.current - self.previous) / self.previous * 100


@dataclass(frozen=True)
class CommitmentFigures:
    """Coverage, spot share (and for the organisation utilization) in one currency."""

    currency: str
    coverage: Ratio  # covered / eligible, at on-demand prices
    spot_share: Ratio
    utilization: Ratio | None  # None for a team: plans are bought for the organisation
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TeamMonth:
    team: str
    period: Period
    previous: Period
    costs: tuple[Amount, ...]  # config currency first, then the others
    budget: BudgetFigures | None
    units: tuple[UnitLine, ...]
    commitments: CommitmentFigures | None  # None: no FOCUS rows with pricing for the team
    tagging: TagFigures | None
    opportunities: tuple[Opportunity, ...]
    chargeback: ChargebackRow | None
    chargeback_currency: str
    coverage_target: Target
    spot_target: Target
    trend: tuple[tuple[Period, int], ...] = ()  # cost per month (config currency), oldest first
    currency: str = "USD"  # the config currency
    data_through: date | None = None  # the last day of the month with cost loaded


@dataclass(frozen=True)
class TeamLine:
    """One team in the organisation's summary."""

    team: str
    micros: int  # config currency
    previous_micros: int
    budget_micros: int | None
    chargeback_total: Decimal | None  # direct + shared, to the cent


@dataclass(frozen=True)
class OrgMonth:
    period: Period
    previous: Period
    currency: str  # the config currency: budgets, chargeback, team lines
    costs: tuple[Amount, ...]
    teams: tuple[TeamLine, ...]  # largest cost first
    chargeback: Chargeback
    units: tuple[UnitLine, ...]
    commitments: tuple[CommitmentFigures, ...]  # one per billing currency
    tagging: TagFigures | None
    opportunities: tuple[Opportunity, ...]  # the top ones across the organisation
    opportunity_count: int
    coverage_target: Target
    spot_target: Target
    data_through: date | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    trend: tuple[tuple[Period, int], ...] = ()  # cost per month (config currency), oldest first
    budget_total_micros: int | None = None  # the configured teams' budgets, summed

    @property
    def over_budget(self) -> list[TeamLine]:
        return [t for t in self.teams if t.budget_micros is not None and t.micros > t.budget_micros]


@dataclass(frozen=True)
class MonthlyReport:
    organisation: OrgMonth
    teams: dict[str, TeamMonth]


# ---- building blocks


def _amounts(db: sqlite_utils.Database, config: Config, period: Period, previous: Period, scope):
    now = queries.currencies(db, period, scope, config.cost_metric)
    before = queries.currencies(db, previous, scope, config.cost_metric)
    codes = sorted(set(now) | set(before), key=lambda c: (c != config.currency, -now.get(c, 0), c))
    return tuple(Amount(c, now.get(c, 0), before.get(c, 0)) for c in codes)


def _team_costs(
    db: sqlite_utils.Database, config: Config, period: Period
) -> dict[str, dict[str, int]]:
    """team -> currency -> micros for the month, every team in one query per currency."""
    found: dict[str, dict[str, int]] = defaultdict(dict)
    for code in queries.currencies(db, period, metric=config.cost_metric):
        for share in queries.breakdown(
            db, period, "team", Scope(currency=code), config.cost_metric
        ):
            found[share.name][code] = share.micros
    return found


def _unit_line(figures: unit_cost.UnitFigures) -> UnitLine:
    return UnitLine(
        title=figures.definition.title,
        unit=figures.definition.unit,
        as_percent=figures.definition.as_percent,
        current=figures.current.unit_cost,
        previous=figures.previous.unit_cost if figures.previous else None,
        currency=figures.currency,
    )


def _ratio(part: int, whole: int, target: Target) -> Ratio:
    return Ratio(part, whole, target)


def _team_commitments(
    db: sqlite_utils.Database, config: Config, period: Period, coverage: Target, spot: Target
) -> dict[str | None, CommitmentFigures]:
    """A team's own coverage and spot share in the config currency (FOCUS rows only)."""
    found = {}
    for row in queries.commitment_figures_by_team(db, period.name):
        if row["currency"] != config.currency:
            continue
        covered, on_demand = row["sp_covered_micros"], row["sp_on_demand_micros"]
        found[row["team"]] = CommitmentFigures(
            currency=row["currency"],
            coverage=_ratio(covered, covered + on_demand, coverage),
            spot_share=_ratio(row["spot_micros"], row["compute_micros"], spot),
            utilization=None,
        )
    return found


def _org_commitments(
    db: sqlite_utils.Database, period: Period, coverage: Target, spot: Target
) -> tuple[CommitmentFigures, ...]:
    found = []
    for summary in commitment_summaries(db, period.name):
        if not summary.has_data:
            continue
        found.append(_with_targets(summary, coverage, spot))
    return tuple(found)


def _with_targets(summary: CommitmentSummary, coverage: Target, spot: Target) -> CommitmentFigures:
    """The summary judged against the configured ranges (commitments.py has the defaults)."""
    return CommitmentFigures(
        currency=summary.currency,
        coverage=_ratio(summary.coverage.part_micros, summary.coverage.whole_micros, coverage),
        spot_share=_ratio(summary.spot_share.part_micros, summary.spot_share.whole_micros, spot),
        utilization=_ratio(
            summary.utilization.part_micros, summary.utilization.whole_micros, UTILIZATION_TARGET
        ),
        # Each currency is shown on its own: the note naming the others says nothing here.
        notes=tuple(n for n in summary.notes() if not n.startswith("Figures in ")),
    )


def monthly_report(
    db: sqlite_utils.Database,
    config: Config,
    now: date | datetime,
    teams: list[str] | None = None,
) -> MonthlyReport:
    """The report of the month before `now` for the organisation and for `teams` (default:
    every configured team)."""
    period = report_month(now)
    previous = previous_month(period)
    coverage_target = target_of(config.reports.savings_plans_target)
    spot_target = target_of(config.reports.spot_target)
    currency = config.currency
    wanted = [t.name for t in config.teams] if teams is None else teams

    trend_months = months_ending(period, TREND_MONTHS)
    by_month = [_team_costs(db, config, month) for month in trend_months]
    team_costs, previous_costs = by_month[-1], by_month[-2]

    # The chart leaves out months before the store's data begins: they are unknown, not $0.
    coverage = queries.data_range(db)
    charted = [
        (month, costs)
        for month, costs in zip(trend_months, by_month, strict=True)
        if coverage is not None and month.end >= coverage[0]
    ]

    def trend_of(team: str) -> tuple[tuple[Period, int], ...]:
        return tuple((month, costs.get(team, {}).get(currency, 0)) for month, costs in charted)

    charges = chargeback(db, config, period.name)
    charge_rows = {row.team: row for row in charges.rows}
    tagging = tagging_figures(db, config, period)
    idle = idle_opportunities(db, config, period)
    team_commitments = _team_commitments(db, config, period, coverage_target, spot_target)
    org_commitments = _org_commitments(db, period, coverage_target, spot_target)
    metric_scopes = {series.scope for series in queries.metric_catalog(db)}
    org_units = tuple(_unit_line(f) for f in unit_cost.monthly_unit_costs(db, config, period.start))

    loaded = queries.data_range(db)
    data_through = min(loaded[1], period.end) if loaded else None
    team_reports: dict[str, TeamMonth] = {}
    all_opportunities: list[Opportunity] = []
    # Teams with cost, and those with only idle instances or tagging figures (their
    # opportunities count in the organisation's list too).
    idle_teams = {team for team in idle if team is not None}
    tagged_teams = {value for kind, value in tagging if kind == "team"}
    for name in sorted(set(wanted) | set(team_costs) | idle_teams | tagged_teams):
        setting = config.team(name)
        budget_micros = setting.monthly_budget_micros if setting else None
        spent = team_costs.get(name, {})
        before = previous_costs.get(name, {})
        team_key = None if name == UNTAGGED else name
        tag = tagging.get(("team", name))
        opportunities = [
            o
            for o in (
                idle.get(team_key),
                untagged_opportunity(tag, team_key, currency, period) if team_key else None,
                coverage_opportunity(
                    team_commitments[team_key].coverage, currency, coverage_target, team_key
                )
                if team_key in team_commitments
                else None,
            )
            if o is not None
        ]
        if team_key is not None:
            all_opportunities.extend(o for o in opportunities if o.kind != LOW_COVERAGE)
        if name not in wanted:
            continue
        codes = sorted(set(spent) | set(before), key=lambda c: (c != currency, -spent.get(c, 0), c))
        team_reports[name] = TeamMonth(
            team=name,
            period=period,
            previous=previous,
            costs=tuple(Amount(c, spent.get(c, 0), before.get(c, 0)) for c in codes),
            budget=BudgetFigures(budget_micros, spent.get(currency, 0), currency)
            if budget_micros
            else None,
            units=_team_units(db, config, period, name, metric_scopes),
            commitments=team_commitments.get(team_key),
            tagging=tag,
            opportunities=tuple(ranked(opportunities)),
            chargeback=charge_rows.get(name),
            chargeback_currency=charges.currency,
            coverage_target=coverage_target,
            spot_target=spot_target,
            trend=trend_of(name),
            currency=currency,
            data_through=data_through,
        )

    # The organisation: idle instances of no team, untagged spend and coverage as a whole.
    org_tag = tagging.get(("org", "all"))
    if idle.get(None):
        all_opportunities.append(idle[None])
    if org_tag is not None and tagging.get(("team", UNTAGGED)):
        untagged_team = untagged_opportunity(tagging[("team", UNTAGGED)], None, currency, period)
        if untagged_team:
            all_opportunities.append(
                Opportunity(
                    UNTAGGED_SPEND,
                    None,
                    "Find owners for resources with no team tag",
                    untagged_team.monthly_micros,
                    currency,
                    untagged_team.basis,
                )
            )
    for figures in org_commitments:
        found = coverage_opportunity(figures.coverage, figures.currency, coverage_target, None)
        if found:
            all_opportunities.append(found)
    by_value = ranked(all_opportunities)

    lines = []
    for name in set(team_costs) | {t.name for t in config.teams}:
        setting = config.team(name)
        row = charge_rows.get(name)
        lines.append(
            TeamLine(
                team=name,
                micros=team_costs.get(name, {}).get(currency, 0),
                previous_micros=previous_costs.get(name, {}).get(currency, 0),
                budget_micros=setting.monthly_budget_micros if setting else None,
                chargeback_total=row.total if row else None,
            )
        )
    lines.sort(key=lambda t: (t.team == UNTAGGED, -t.micros, t.team))
    organisation = OrgMonth(
        period=period,
        previous=previous,
        currency=currency,
        costs=_amounts(db, config, period, previous, Scope()),
        teams=tuple(lines),
        chargeback=charges,
        units=org_units,
        commitments=org_commitments,
        tagging=org_tag,
        opportunities=tuple(by_value[:TOP_OPPORTUNITIES]),
        opportunity_count=len(by_value),
        coverage_target=coverage_target,
        spot_target=spot_target,
        data_through=data_through,
        notes=charges.notes,
        trend=tuple(
            (month, sum(costs.get(currency, 0) for costs in team_month.values()))
            for month, team_month in charted
        ),
        budget_total_micros=sum(
            (t.monthly_budget_micros for t in config.teams if t.monthly_budget_micros), 0
        )
        or None,
    )
    return MonthlyReport(organisation, team_reports)


def _team_units(
    db: sqlite_utils.Database, config: Config, period: Period, team: str, scopes: set[str | None]
) -> tuple[UnitLine, ...]:
    """The unit metrics with values for the team's scope: its cost over its own volume.
    `scopes`: the scopes with metric values (read once: most of 500 teams have none)."""
    if team == UNTAGGED or team not in scopes:
        return ()
    try:
        return tuple(_unit_line(f) for f in unit_cost.overview(db, config, period, team=team))
    except unit_cost.UnitCostError:
        return ()
