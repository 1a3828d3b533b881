"""What an anomaly's increase is made of: "78% from EC2 BoxUsage in us-east-1".

The series' cost is broken down by service, account, region and sku (AWS's usage type, FOCUS's
SkuMeter, the charge description or the SkuId: see `bot.sources.focus.SKU_COLUMNS`). Each part's
increase is its mean cost per day over the event's days minus its mean per day over the
baseline days before the event; the parts that grew are ranked by their share of the sum of
the increases. Sums are exact integers from the store, shares exact fractions rounded once.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import sqlite_utils

from bot.analytics.anomalies import Cause, SeriesKey
from bot.config import Config
from bot.store import queries

SHARE_PLACES = Decimal("0.01")


def root_cause(
    db: sqlite_utils.Database,
    config: Config,
    key: SeriesKey,
    start: date,
    day: date,
    *,
    baseline_days: int = 28,
    limit: int = 5,
) -> tuple[Cause, ...]:
    """The parts of the series `key` that grew from the `baseline_days` days before `start`
    to the event's days `start`..`day` (inclusive), largest share of the increase first, at
    most `limit` (parts under half a percent left out). Nothing dated after `day` is read,
    and the rows are the series' own (`bot.analytics.anomaly_series`). A series (team,
    service, account) is broken down within itself; a team's roll-up within the whole team
    (that currency).

    The baseline starts no earlier than the store's first day of cost, so a short history
    is not averaged with days that were never loaded; without any baseline day, all of the
    event's cost is increase (new spend).

    With Cost Explorer data only, region and sku are None (its groupings have neither), and
    so is the account: its team x service grouping is the one the series read.
    """
    if day < start:
        raise ValueError("an event cannot end before it starts")
    event_days = (day - start).days + 1
    known = queries.data_range(db)
    base_first = start - timedelta(days=baseline_days)
    if known is not None:
        base_first = max(base_first, known[0])
    base_last = start - timedelta(days=1)
    baseline = (base_first, base_last) if base_first <= base_last else None
    base_count = (base_last - base_first).days + 1 if baseline else 0

    totals = queries.series_cause_totals(
        db,
        key.team,
        key.service,
        key.account,
        key.currency,
        (start, day),
        baseline,
        rollup=key.is_rollup,
        metric=config.cost_metric,
    )
    increases = []
    for service, account, region, sku, event_micros, base_micros in totals:
        increase = Fraction(event_micros, event_days)
        if base_count:
            increase -= Fraction(base_micros, base_count)
        if increase > 0:
            increases.append(((service, account, region, sku), increase))
    whole = sum((increase for _, increase in increases), Fraction(0))
    if not whole:
        return ()
    # Largest first; ties in a stable order (None before names).
    increases.sort(key=lambda part: (-part[1], tuple((v is not None, v or "") for v in part[0])))
    causes = (
        Cause(
            service=service,
            account=account,
            region=region,
            sku=sku,
            share=_rounded(increase / whole, SHARE_PLACES),
            increase_micros=int(_rounded(increase, Decimal(1))),
        )
        for (service, account, region, sku), increase in increases[:limit]
    )
    # A part whose share rounds to 0% explains nothing worth a line.
    return tuple(cause for cause in causes if cause.share > 0)


def _rounded(value: Fraction, places: Decimal) -> Decimal:
    """An exact fraction rounded half up to `places`."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(places, rounding=ROUND_HALF_UP)
