"""Chargeback / showback for one month: each team's direct cost, the shared-infrastructure
pool (config `shared_costs`) allocated to the teams, and untagged cost on its own row (or
allocated like the pool). The rows sum exactly to the month's total rounded to the cent.

What counts is what `/cost` counts: the config's cost metric, rows that count (no superseded
source, no double-counted Cost Explorer grouping), and only amounts billed in the config's
currency (other currencies are reported in `other_currencies`, never converted or added).

The pool is the cost of
- every team in `shared_costs.teams` (their whole spend),
- plus, for the other teams and untagged cost, the cost of `shared_costs.services` and of
  `shared_costs.accounts` (a charge that is both is taken once).

Allocation (`shared_costs.allocation`) among the recipient teams (teams that are not shared):
- proportional (default): to each team's direct cost in the month; a team with no (or a
  negative) direct cost gets nothing;
- even: split evenly among the teams with positive direct cost in the month (a configured
  team that spent nothing is not charged for infrastructure it did not use);
- usage: to each team's total of `usage_metric` in the month (business metrics scoped to the
  team); a team without values gets nothing and is named in `notes`.
When every weight is zero (nothing to be proportional to) the pool is split evenly; when there
is no recipient at all, it stays on an `unallocated` row so the rows still add up.

Arithmetic is exact (integer micro-units and fractions) until the end; each row is rounded to
the cent by largest remainder, so the rows sum to the month's total rounded to the cent.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import sqlite_utils

from bot.config import Config
from bot.periods import Period, PeriodError
from bot.store import queries
from bot.store.queries import UNTAGGED, Scope

UNTAGGED_ROW = "untagged"
UNALLOCATED_ROW = "unallocated"
MICROS_PER_CENT = 10_000
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class ChargebackRow:
    team: str
    direct: Decimal  # to the cent
    shared: Decimal  # to the cent: allocated pool (and untagged cost when allocated)

    @property
    def total(self) -> Decimal:
        return self.direct + self.shared


@dataclass(frozen=True)
class Chargeback:
    month: str  # YYYY-MM
    period: Period
    currency: str
    total: Decimal  # the month's total in the currency, to the cent; the rows sum to it
    pool: Decimal  # the shared pool before allocation, to the cent
    allocation: str  # proportional | even | usage
    untagged: str  # row | allocate
    rows: tuple[ChargebackRow, ...]
    notes: tuple[str, ...] = ()
    other_currencies: tuple[tuple[str, int], ...] = ()  # (code, micros) not counted


def month_period(text: str) -> Period:
    """The calendar month `YYYY-MM` as a Period; anything else is a PeriodError."""
    match = _MONTH.match((text or "").strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        shown = " ".join((text or "").split())[:40]
        raise PeriodError(f"'{shown}' is not a month (use YYYY-MM, e.g. 2026-10)")
    year, month = int(match.group(1)), int(match.group(2))
    last = calendar.monthrange(year, month)[1]
    return Period(date(year, month, 1), date(year, month, last), "month", match.group(0))


def chargeback(db: sqlite_utils.Database, config: Config, month: str) -> Chargeback:
    """The chargeback of `month` (YYYY-MM) from the store, by the config's `shared_costs`."""
    period = month_period(month)
    currency, metric = config.currency, config.cost_metric
    settings = config.shared
    shared_teams = {config.canonical_team(t) for t in settings.teams}

    def by_team(**scope: str) -> dict[str, int]:
        shares = queries.breakdown(db, period, "team", Scope(currency=currency, **scope), metric)
        return {s.name: s.micros for s in shares}

    team_totals = by_team()
    service_shared = [by_team(service=s) for s in settings.services]
    account_shared = [by_team(account=a) for a in settings.accounts]
    # A charge of a shared service in a shared account is taken once (full-grain rows only:
    # Cost Explorer has no service x account grouping).
    both_shared = [
        by_team(service=s, account=a) for s in settings.services for a in settings.accounts
    ]

    pool = 0
    direct: dict[str, int] = {}
    for team, micros in team_totals.items():
        if team in shared_teams:
            pool += micros
            continue
        taken = sum(part.get(team, 0) for part in service_shared + account_shared)
        taken -= sum(part.get(team, 0) for part in both_shared)
        pool += taken
        direct[team] = micros - taken

    untagged_micros = direct.pop(UNTAGGED, 0)
    for team in config.teams:
        if team.name not in shared_teams:
            direct.setdefault(team.name, 0)

    to_allocate = pool + (untagged_micros if settings.untagged == "allocate" else 0)
    notes: list[str] = []
    allocated = _allocate(db, config, period, direct, to_allocate, notes)

    exact_rows: list[tuple[str, Fraction, Fraction]] = [
        (team, Fraction(direct[team]), allocated.get(team, Fraction(0))) for team in direct
    ]
    if settings.untagged == "row":
        exact_rows.append((UNTAGGED_ROW, Fraction(untagged_micros), Fraction(0)))
    if UNALLOCATED_ROW in allocated:
        exact_rows.append((UNALLOCATED_ROW, Fraction(0), allocated[UNALLOCATED_ROW]))

    grand_total = sum(team_totals.values())
    total_cents = _round_cents(Fraction(grand_total))
    row_cents = _largest_remainder([d + s for _, d, s in exact_rows], Fraction(grand_total))
    rows = []
    for (team, exact_direct, exact_shared), cents in zip(exact_rows, row_cents, strict=True):
        # The row's total is what sums; its direct part is rounded on its own, kept on the
        # same side of the total as the exact amounts so that shared is never -$0.01.
        direct_cents = _round_cents(exact_direct)
        if exact_shared >= 0:
            direct_cents = min(direct_cents, cents)
        if exact_shared <= 0:
            direct_cents = max(direct_cents, cents) if exact_shared < 0 else cents
        rows.append(ChargebackRow(team, _dollars(direct_cents), _dollars(cents - direct_cents)))
    rows.sort(key=lambda r: (r.team in (UNTAGGED_ROW, UNALLOCATED_ROW), -r.total, r.team))
    others = queries.currencies(db, period, metric=metric)
    return Chargeback(
        month=period.name,
        period=period,
        currency=currency,
        total=_dollars(total_cents),
        pool=_dollars(_round_cents(Fraction(pool))),
        allocation=settings.allocation,
        untagged=settings.untagged,
        rows=tuple(rows),
        notes=tuple(notes),
        other_currencies=tuple((c, m) for c, m in others.items() if c != currency),
    )


def _allocate(
    db: sqlite_utils.Database,
    config: Config,
    period: Period,
    direct: dict[str, int],
    pool: int,
    notes: list[str],
) -> dict[str, Fraction]:
    """Each recipient's exact share (micro-units) of `pool`."""
    if pool == 0:
        return {}
    method = config.shared.allocation
    spending = [team for team, micros in direct.items() if micros > 0]
    if method == "usage":
        metric = config.shared.usage_metric or ""
        weights: dict[str, Fraction] = {}
        for team in direct:
            values = queries.metric_daily_values(db, metric, team, period.start, period.end)
            weights[team] = Fraction(sum(values.values(), Decimal(0)))
            if not values and team in spending:
                notes.append(f"{team} has no {metric} values in {period.name}: no shared cost")
    elif method == "even":
        weights = {team: Fraction(1) for team in spending}
    else:
        weights = {team: Fraction(direct[team]) for team in spending}
    weight_total = sum(weights.values(), Fraction(0))
    if weight_total <= 0:
        recipients = spending or [t for t in direct]
        if not recipients:
            notes.append("no team to allocate the shared cost to: it stays unallocated")
            return {UNALLOCATED_ROW: Fraction(pool)}
        if method != "even":
            notes.append(f"nothing to allocate by ({method}): the shared cost is split evenly")
        weights = {team: Fraction(1) for team in recipients}
        weight_total = Fraction(len(recipients))
    return {team: Fraction(pool) * w / weight_total for team, w in weights.items() if w > 0}


def _round_cents(micros: Fraction) -> int:
    """Micro-units to whole cents, half away from zero as people round money."""
    exact = Decimal(micros.numerator) / Decimal(micros.denominator) / MICROS_PER_CENT
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _largest_remainder(amounts: list[Fraction], total: Fraction) -> list[int]:
    """Cents for each amount (micro-units) summing exactly to `total` rounded to the cent:
    each floored, the missing cents to the largest remainders (earlier rows on a tie)."""
    in_cents = [a / MICROS_PER_CENT for a in amounts]
    floors = [a.numerator // a.denominator for a in in_cents]
    missing = _round_cents(total) - sum(floors)
    order = sorted(range(len(in_cents)), key=lambda i: (-(in_cents[i] - floors[i]), i))
    for i in order[:missing]:
        floors[i] += 1
    return floors


def _dollars(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)
