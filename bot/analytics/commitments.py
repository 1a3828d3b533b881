"""Savings Plans coverage and utilization, spot share of compute and the month's forecast, for
the monthly report: plain functions of the store, plain values out (rendering is elsewhere).

The figures follow the FOCUS specification's columns (1.0-1.2, which agree on them) and, where
the data comes from Cost Explorer, the definitions of its Savings Plans calls, which match:

- **Charges considered**: usage only (FOCUS `ChargeCategory` "Usage"). Purchases of a
  commitment (its fee: EffectiveCost 0 by the spec, the cost lives on the usage), credits,
  adjustments and taxes are not usage of anything.
- **Savings Plans coverage** = covered / (covered + on demand), both at on-demand-equivalent
  prices (FOCUS `ListCost`; Cost Explorer's `SpendCoveredBySavingsPlans` and `OnDemandCost`),
  so that a dollar of usage weighs the same whichever way it was paid:
  - *covered*: usage a Savings Plan paid for: `CommitmentDiscountStatus` "Used" with a
    `CommitmentDiscountType` naming a Savings Plan (AWS and Azure write "Savings Plan"), in
    any `ServiceCategory` (AWS's plans also cover Fargate and Lambda, which some exports file
    under other categories);
  - *on demand* (eligible but not covered): usage of `ServiceCategory` "Compute" at
    `PricingCategory` "Standard". Spot ("Dynamic") is not eligible; usage covered by another
    kind of commitment (Reserved Instances, committed use discounts) is neither covered by a
    Savings Plan nor on demand, so it is in neither figure, as in Cost Explorer's coverage.
    The FOCUS columns of 1.0-1.2 do not say which usage a plan *could* cover; compute at the
    standard rate is the nearest they come (EKS control planes, say, count though no plan
    covers them).
- **Savings Plans utilization** = used / commitment, in amortized cost (FOCUS
  `EffectiveCost`; Cost Explorer's `UsedCommitment` and `TotalCommitment`): *used* is the
  EffectiveCost of the "Used" rows of Savings Plans, *commitment* that plus the EffectiveCost
  of their "Unused" rows, which FOCUS 1.1 defines as the part of the commitment for the
  charge period that no usage consumed.
- **Spot share of compute** = spot / compute, in amortized cost: *spot* is usage of
  `ServiceCategory` "Compute" at `PricingCategory` "Dynamic" (FOCUS's name for prices the
  provider may change at any time: spot, preemptible, low priority), *compute* all usage of
  `ServiceCategory` "Compute" except unused commitment (no compute ran for it).
- **Forecast**: the month's forecast total, stored by the Cost Explorer sync
  (`GetCostForecast`) with its prediction interval; None where none is stored.

Where the figures come from, per billing account: its FOCUS rows (or any full-grain source's,
such as Athena's) when those carry `PricingCategory` for the month, otherwise the
`commitments` rows the Cost Explorer sync wrote. Never both, so no dollar counts twice. FOCUS
rows loaded before Costbot kept these columns say nothing about pricing; they are named in
`unpriced_billing_accounts` (load the files again). Amounts in different currencies are never
added: a summary is of one currency, and names the others.

Targets are the ranges FinOps practitioners commonly aim for: Savings Plans coverage 70-80% of
eligible compute (more commits to usage that may go away), spot 30-50% of compute; utilization
should stay near 100% (95% or more: unused commitment is money spent on nothing).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import sqlite_utils

from bot.store import queries

MONTH_PATTERN = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
COST_EXPLORER = "cost-explorer"


@dataclass(frozen=True)
class Target:
    """A range a ratio should stay in, as fractions (0.7 = 70%)."""

    low: Decimal
    high: Decimal

    def verdict(self, fraction: Decimal) -> str:
        """ "below", "within" or "above" the range."""
        if fraction < self.low:
            return "below"
        return "above" if fraction > self.high else "within"


COVERAGE_TARGET = Target(Decimal("0.70"), Decimal("0.80"))
UTILIZATION_TARGET = Target(Decimal("0.95"), Decimal("1"))
SPOT_SHARE_TARGET = Target(Decimal("0.30"), Decimal("0.50"))


@dataclass(frozen=True)
class Ratio:
    """`part_micros` out of `whole_micros`, with the target range it is judged against."""

    part_micros: int
    whole_micros: int
    target: Target

    @property
    def applies(self) -> bool:
        """False when there is nothing to divide by (no eligible spend, no commitment)."""
        return self.whole_micros > 0

    @property
    def fraction(self) -> Decimal | None:
        """Exact quotient of the two amounts; None when the ratio does not apply."""
        if not self.applies:
            return None
        return Decimal(self.part_micros) / Decimal(self.whole_micros)

    @property
    def percent(self) -> Decimal | None:
        """The fraction in percent, to one decimal place (half up): 73.4."""
        fraction = self.fraction
        if fraction is None:
            return None
        return (fraction * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    @property
    def verdict(self) -> str | None:
        """ "below", "within" or "above" the target; None when the ratio does not apply."""
        fraction = self.fraction
        return None if fraction is None else self.target.verdict(fraction)


@dataclass(frozen=True)
class MonthForecast:
    """The month's total as forecast, with its prediction interval where stored, summed over
    the billing accounts that have one."""

    micros: int
    low_micros: int | None
    high_micros: int | None
    billing_accounts: tuple[str, ...]


@dataclass(frozen=True)
class CommitmentSummary:
    month: str  # YYYY-MM
    billing_account: str | None  # None: every billing account
    currency: str
    # Where each billing account's figures came from, by billing account id: the source of
    # its full-grain daily rows ("focus", "athena") or "cost-explorer" (the commitments table).
    sources: dict[str, str]
    coverage: Ratio  # covered / (covered + on demand), on-demand-equivalent prices
    utilization: Ratio  # used / commitment, amortized
    spot_share: Ratio  # spot / compute, amortized
    forecast: MonthForecast | None
    other_currencies: tuple[str, ...] = ()  # figures in these currencies are left out
    unpriced_billing_accounts: tuple[str, ...] = ()  # FOCUS rows without PricingCategory

    @property
    def has_data(self) -> bool:
        return bool(self.sources)

    @property
    def covered_micros(self) -> int:
        return self.coverage.part_micros

    @property
    def on_demand_micros(self) -> int:
        return self.coverage.whole_micros - self.coverage.part_micros

    @property
    def used_micros(self) -> int:
        return self.utilization.part_micros

    @property
    def commitment_micros(self) -> int:
        return self.utilization.whole_micros

    @property
    def unused_micros(self) -> int:
        return self.utilization.whole_micros - self.utilization.part_micros

    @property
    def spot_micros(self) -> int:
        return self.spot_share.part_micros

    @property
    def compute_micros(self) -> int:
        return self.spot_share.whole_micros

    def notes(self) -> list[str]:
        """Plain sentences for what the figures cannot say, so a report says it too."""
        month, notes = self.month, []
        if not self.has_data:
            notes.append(
                f"No commitment or spot figures for {month}: no FOCUS data with pricing"
                " columns and no Cost Explorer sync cover it."
            )
        else:
            if not self.coverage.applies:
                notes.append(
                    f"No Savings Plans-eligible compute spend in {month}: coverage does not apply."
                )
            if not self.utilization.applies:
                notes.append(f"No Savings Plans commitment in {month}: utilization does not apply.")
            if not self.spot_share.applies:
                notes.append(f"No compute spend in {month}: spot share does not apply.")
        if self.unpriced_billing_accounts:
            notes.append(
                f"FOCUS data of billing account(s) {', '.join(self.unpriced_billing_accounts)}"
                f" for {month} was loaded without its PricingCategory column: load it again"
                " (costbot ingest focus) to include it."
            )
        if self.other_currencies:
            notes.append(
                f"Figures in {self.currency} only; billing accounts in"
                f" {', '.join(self.other_currencies)} are summarised on their own."
            )
        return notes


_FIGURES = (
    "sp_covered_micros",
    "sp_on_demand_micros",
    "sp_used_micros",
    "sp_unused_micros",
    "spot_micros",
    "compute_micros",
)


def commitment_summaries(
    db: sqlite_utils.Database, month: str, billing_account: str | None = None
) -> list[CommitmentSummary]:
    """One summary per billing currency, the currency with the most compute spend first
    (a currency code orders equal ones); one empty summary (in USD) when nothing covers the
    month."""
    if not MONTH_PATTERN.fullmatch(month):
        raise ValueError(f"month must be YYYY-MM, not {month!r}")
    figures: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_FIGURES, 0))
    sources: dict[str, dict[str, str]] = defaultdict(dict)
    unpriced: set[str] = set()
    from_rows = queries.commitment_figures_from_rows(db, month, billing_account)
    priced = {row["billing_account_id"] for row in from_rows if row["priced_rows"]}
    for row in from_rows:
        account = row["billing_account_id"]
        if account not in priced:
            unpriced.add(account)
            continue
        for name in _FIGURES:
            figures[row["currency"]][name] += row[name]
        sources[row["currency"]][account] = row["source"]
    stored = queries.commitment_rows(db, month, billing_account)
    for row in stored:
        account = row["billing_account_id"]
        if row["source"] != COST_EXPLORER or account in priced:
            continue  # FOCUS covers this account's month: its own rows say more
        total = figures[row["currency"]]
        commitment, used = row["sp_commitment_micros"] or 0, row["sp_used_micros"] or 0
        total["sp_covered_micros"] += row["sp_covered_micros"] or 0
        total["sp_on_demand_micros"] += row["sp_on_demand_micros"] or 0
        total["sp_used_micros"] += used
        total["sp_unused_micros"] += max(commitment - used, 0)
        total["spot_micros"] += row["spot_micros"] or 0
        total["compute_micros"] += row["compute_micros"] or 0
        sources[row["currency"]][account] = COST_EXPLORER
        unpriced.discard(account)
    currencies = sorted(figures, key=lambda code: (-figures[code]["compute_micros"], code))
    if not currencies:
        currencies = ["USD"]
    summaries = []
    for code in currencies:
        amounts = figures[code] if code in figures else dict.fromkeys(_FIGURES, 0)
        covered, on_demand = amounts["sp_covered_micros"], amounts["sp_on_demand_micros"]
        used, unused = amounts["sp_used_micros"], amounts["sp_unused_micros"]
        summaries.append(
            CommitmentSummary(
                month=month,
                billing_account=billing_account,
                currency=code,
                sources=dict(sorted(sources[code].items())),
                coverage=Ratio(covered, covered + on_demand, COVERAGE_TARGET),
                utilization=Ratio(used, used + unused, UTILIZATION_TARGET),
                spot_share=Ratio(
                    amounts["spot_micros"], amounts["compute_micros"], SPOT_SHARE_TARGET
                ),
                forecast=_forecast(stored, code),
                other_currencies=tuple(c for c in currencies if c != code),
                unpriced_billing_accounts=tuple(sorted(unpriced)),
            )
        )
    return summaries


def commitment_summary(
    db: sqlite_utils.Database,
    month: str,
    billing_account: str | None = None,
    currency: str | None = None,
) -> CommitmentSummary:
    """The month's Savings Plans coverage and utilization, spot share of compute and forecast
    (see the module's docstring for what each counts), for one billing account or all of
    them. `currency`: the billing currency to summarise; by default the one with the most
    compute spend (the others are named in `other_currencies`)."""
    summaries = commitment_summaries(db, month, billing_account)
    if currency is None:
        return summaries[0]
    wanted = currency.strip().upper()
    for summary in summaries:
        if summary.currency == wanted:
            return summary
    empty = Ratio(0, 0, COVERAGE_TARGET)
    return CommitmentSummary(
        month=month,
        billing_account=billing_account,
        currency=wanted,
        sources={},
        coverage=empty,
        utilization=Ratio(0, 0, UTILIZATION_TARGET),
        spot_share=Ratio(0, 0, SPOT_SHARE_TARGET),
        forecast=None,
        other_currencies=tuple(s.currency for s in summaries if s.has_data),
    )


def _forecast(stored: list[dict], currency: str) -> MonthForecast | None:
    """The stored forecasts of the month in `currency`, summed over billing accounts (one per
    account: the Cost Explorer sync's, or another source's when it is the only one)."""
    by_account: dict[str, dict] = {}
    for row in stored:
        if row["currency"] != currency or row["forecast_micros"] is None:
            continue
        account = row["billing_account_id"]
        if account not in by_account or row["source"] == COST_EXPLORER:
            by_account[account] = row
    if not by_account:
        return None
    rows = list(by_account.values())

    def interval(name: str) -> int | None:
        values = [row[name] for row in rows]
        return None if any(v is None for v in values) else sum(values)

    return MonthForecast(
        micros=sum(row["forecast_micros"] for row in rows),
        low_micros=interval("forecast_low_micros"),
        high_micros=interval("forecast_high_micros"),
        billing_accounts=tuple(sorted(by_account)),
    )
