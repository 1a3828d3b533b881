"""Optimization opportunities for the monthly report, each with an estimated monthly amount,
and the tagging figures they read:
- idle EC2 instances (the inventory's idle flag): their cost in the month (their run-rate);
- untagged spend: the month's cost of resources lacking a required tag. Not a saving by
  itself: spend nobody can be asked about until it is tagged (shown as "to attribute");
- low Savings Plans coverage: the on-demand compute (at on-demand prices) that coverage at
  the low end of the target range would move onto a plan, times SAVINGS_PLAN_DISCOUNT.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import sqlite_utils

from bot.analytics.commitments import Ratio, Target
from bot.analytics.savings import monthly_run_rate
from bot.analytics.tag_compliance import compliance
from bot.config import Config
from bot.money import format_money
from bot.periods import Period
from bot.store import queries

# What a Savings Plan saves on the compute it covers, for the "low coverage" opportunity:
# a 1-year, no-upfront Compute Savings Plan is priced about 28% below on demand for the common
# general-purpose and compute-optimised EC2 families (AWS's Savings Plans pricing pages,
# us-east-1 Linux, m6i/c6i/m7g). An assumption to size the opportunity, not a quote: longer
# terms and upfront payment save more (AWS's "up to 66%" is 3 years, all upfront).
SAVINGS_PLAN_DISCOUNT = Decimal("0.28")
IDLE_NAMED = 3  # idle instances named in an opportunity, costliest first

IDLE = "idle"
UNTAGGED_SPEND = "untagged"
LOW_COVERAGE = "coverage"


def percent_text(fraction: Decimal | Fraction) -> str:
    """0.7 -> `70`, 0.725 -> `72.5`: a range bound as people write it."""
    if isinstance(fraction, Fraction):
        fraction = Decimal(fraction.numerator) / Decimal(fraction.denominator)
    value = fraction * 100
    text = f"{value.quantize(Decimal('0.1')):f}"
    return text[:-2] if text.endswith(".0") else text


@dataclass(frozen=True)
class TagFigures:
    target: Decimal
    resources: int
    compliant_resources: int
    cost_micros: int
    compliant_cost_micros: int
    as_of: date | None  # the stored day, None: computed for the report

    @property
    def share(self) -> Decimal | None:
        """Compliant share of cost (of resources when there is no cost)."""
        if self.cost_micros:
            return Decimal(self.compliant_cost_micros) / Decimal(self.cost_micros)
        if self.resources:
            return Decimal(self.compliant_resources) / Decimal(self.resources)
        return None

    @property
    def noncompliant_cost_micros(self) -> int:
        return self.cost_micros - self.compliant_cost_micros

    @property
    def noncompliant_resources(self) -> int:
        return self.resources - self.compliant_resources


@dataclass(frozen=True)
class Opportunity:
    kind: str  # IDLE | UNTAGGED_SPEND | LOW_COVERAGE
    team: str | None  # None: the organisation's
    what: str  # plain text, names unescaped: "Stop or resize 3 idle EC2 instances"
    monthly_micros: int
    currency: str
    basis: str  # how the amount was estimated

    @property
    def is_saving(self) -> bool:
        return self.kind != UNTAGGED_SPEND


def coverage_opportunity(
    coverage: Ratio, currency: str, target: Target, team: str | None
) -> Opportunity | None:
    """On-demand compute that coverage at the range's low end would put on a plan, times the
    assumed discount. None when coverage is within or above the range, or does not apply."""
    if not coverage.applies or coverage.verdict != "below":
        return None
    eligible, covered = coverage.whole_micros, coverage.part_micros
    to_cover = Fraction(target.low) * eligible - covered
    saving = to_cover * Fraction(SAVINGS_PLAN_DISCOUNT)
    micros = int(saving.numerator * 2 + saving.denominator) // (2 * saving.denominator)
    if micros <= 0:
        return None
    percent = percent_text(SAVINGS_PLAN_DISCOUNT)
    low = percent_text(target.low)
    return Opportunity(
        kind=LOW_COVERAGE,
        team=team,
        what=f"Raise Savings Plans coverage to {low}% of eligible compute",
        monthly_micros=micros,
        currency=currency,
        basis=(
            f"{format_money(int(to_cover), currency)} of on-demand compute (at on-demand"
            f" prices) moved onto a plan at an assumed {percent}% discount"
            " (1-year, no-upfront Compute Savings Plan)"
        ),
    )


def idle_opportunities(
    db: sqlite_utils.Database, config: Config, period: Period
) -> dict[str | None, Opportunity]:
    """Per team (None: resources with no team), the idle instances' cost in the month."""
    day = period.end + timedelta(days=1)  # the run-rate of "the last whole month": this one
    by_team: dict[str | None, list[tuple[int, str]]] = defaultdict(list)
    for resource in queries.idle_resources(db):
        rate = monthly_run_rate(
            db,
            config,
            arn=resource["arn"],
            resource_id=resource["resource_id"] or resource["arn"],
            account=resource["account_id"],
            day=day,
        )
        name = resource["name"] or resource["resource_id"] or resource["arn"]
        by_team[resource["team"]].append((rate.monthly_micros, name))
    found = {}
    month = period.start.strftime("%B %Y")
    for team, rates in by_team.items():
        rates.sort(key=lambda item: (-item[0], item[1]))
        count = len(rates)
        named = ", ".join(
            f"{name} {format_money(micros, config.currency)}" for micros, name in rates[:IDLE_NAMED]
        )
        more = f" and {count - IDLE_NAMED} more" if count > IDLE_NAMED else ""
        found[team] = Opportunity(
            kind=IDLE,
            team=team,
            what=f"Stop or resize {count} idle EC2 instance{'s' if count != 1 else ''}"
            f" ({named}{more})",
            monthly_micros=sum(micros for micros, _ in rates),
            currency=config.currency,
            basis=f"their cost in {month}, the run-rate a stop saves",
        )
    return found


def tagging_figures(
    db: sqlite_utils.Database, config: Config, period: Period
) -> dict[tuple[str, str], TagFigures]:
    """(kind, value) -> the month's compliance: the stored figures of the month's last day
    computed, else computed now from the month's resource-level cost."""
    target = Decimal(str(config.tag_policy.target))
    stored = queries.tag_compliance_of_month(db, period.name)
    if stored:
        return {
            (row["kind"], row["value"]): TagFigures(
                target=target,
                resources=row["resources"],
                compliant_resources=row["compliant_resources"],
                cost_micros=row["cost_micros"],
                compliant_cost_micros=row["compliant_cost_micros"],
                as_of=date.fromisoformat(row["day"]),
            )
            for row in stored
        }
    report = compliance(db, config, period.end)
    if report.organisation.resources == 0 and report.organisation.cost_micros == 0:
        return {}
    return {
        (scope.kind, scope.value): TagFigures(
            target=target,
            resources=scope.resources,
            compliant_resources=scope.compliant_resources,
            cost_micros=scope.cost_micros,
            compliant_cost_micros=scope.compliant_cost_micros,
            as_of=None,
        )
        for scope in (report.organisation, *report.teams)
    }


def untagged_opportunity(
    figures: TagFigures | None, team: str | None, currency: str, period: Period
) -> Opportunity | None:
    if figures is None or figures.noncompliant_cost_micros <= 0:
        return None
    count = figures.noncompliant_resources
    resources = f" on {count} resource{'s' if count != 1 else ''}" if count else ""
    return Opportunity(
        kind=UNTAGGED_SPEND,
        team=team,
        what=f"Tag the spend that lacks required tags{resources}",
        monthly_micros=figures.noncompliant_cost_micros,
        currency=currency,
        basis=(
            f"resource-level cost of {period.start:%B %Y} missing a required tag: to attribute,"
            " not a saving by itself"
        ),
    )


def ranked(opportunities: list[Opportunity]) -> list[Opportunity]:
    """Savings first (largest first), then spend to attribute: the list is what to do."""
    return sorted(opportunities, key=lambda o: (not o.is_saving, -o.monthly_micros, o.team or ""))


# ---- the report
