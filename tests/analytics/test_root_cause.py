"""Root causes of an anomaly's increase, from FOCUS bills through the real ingest and Cost
Explorer rows through the real source writer. The expected breakdown is computed here from the
charges with exact fractions: mean per day over the event minus mean per day over the baseline,
per (service, account, region, usage type), shares of the sum of the increases."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from anomaly_bills import (
    CONFIG,
    EC2,
    EU,
    PROD,
    RDS,
    S3,
    STAGING,
    USD_PAYER,
    Charge,
    bill,
    write_bill,
)

from bot.analytics.anomalies import Cause, SeriesKey
from bot.analytics.root_cause import root_cause
from bot.sources.focus_ingest import ingest_focus
from bot.store import open_store
from bot.store.schema import daily_row
from bot.store.writers import SourceLoad, write_source_rows

START = date(2026, 8, 1)
EVENT, DAY = date(2026, 11, 3), date(2026, 11, 4)  # a two-day event, the run on its 2nd day
NAT = "USE1-NatGateway-Bytes"


def _spike(charges: list[Charge]) -> list[Charge]:
    """During the event: payments' m5.large fleet in prod triples, its RDS grows a little,
    and search's us-west-2 fleet doubles; after the run's day a NAT gateway bill explodes."""
    extra = []
    for charge in charges:
        if not EVENT <= charge.day <= DAY:
            continue
        if charge.usage_type == "USE1-BoxUsage:m5.large":
            extra.append(replace(charge, effective_micros=charge.effective_micros * 2))
        elif charge.service == RDS and charge.team == "payments":
            extra.append(replace(charge, effective_micros=charge.effective_micros // 10))
        elif charge.usage_type == "USW2-BoxUsage:c6i.xlarge":
            extra.append(charge)
    after = [
        Charge(DAY + timedelta(days=n), "payments", EC2, PROD, 5_000_000_000, 5_000_000_000, NAT)
        for n in (1, 2)
    ]
    return charges + extra + after


@pytest.fixture(scope="module")
def spiked(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bill")
    charges = _spike(bill(START, DAY + timedelta(days=5)))
    db_path = folder / "costbot.db"
    ingest_focus([str(write_bill(folder / "bill.csv", charges))], CONFIG, db_path)
    db = open_store(db_path)
    yield db, charges
    db.close()


def _sku(charge: Charge) -> str:
    return charge.usage_type or f"{charge.service} usage"  # else the ChargeDescription


def expected_causes(
    charges: list[Charge],
    key: SeriesKey,
    start: date,
    day: date,
    baseline_days: int = 28,
    limit: int = 5,
) -> tuple[Cause, ...]:
    first_data = min(c.day for c in charges)
    base_first = max(start - timedelta(days=baseline_days), first_data)
    base_days = (start - base_first).days
    event_days = (day - start).days + 1
    event: dict[tuple, int] = defaultdict(int)
    base: dict[tuple, int] = defaultdict(int)
    for c in charges:
        if c.team != key.team or c.currency != key.currency:
            continue
        if not key.is_rollup and (c.service, c.account) != (key.service, key.account):
            continue
        part = (c.service, c.account, c.region, _sku(c))
        if start <= c.day <= day:
            event[part] += c.effective_micros
        elif base_first <= c.day < start:
            base[part] += c.effective_micros
    increases = {}
    for part in set(event) | set(base):
        increase = Fraction(event[part], event_days)
        if base_days:
            increase -= Fraction(base[part], base_days)
        if increase > 0:
            increases[part] = increase
    whole = sum(increases.values())
    ranked = sorted(increases.items(), key=lambda item: -item[1])[:limit]

    def rounded(value: Fraction, places: str) -> Decimal:
        exact = Decimal(value.numerator) / Decimal(value.denominator)
        return exact.quantize(Decimal(places), rounding=ROUND_HALF_UP)

    causes = [
        Cause(*part, share=rounded(inc / whole, "0.01"), increase_micros=int(rounded(inc, "1")))
        for part, inc in ranked
    ]
    return tuple(c for c in causes if c.share > 0)


def test_a_team_spike_is_named_by_service_account_region_and_usage_type(spiked):
    db, charges = spiked
    key = SeriesKey("payments", None, None, "USD")
    causes = root_cause(db, CONFIG, key, EVENT, DAY)
    assert causes == expected_causes(charges, key, EVENT, DAY)
    top = causes[0]
    assert (top.service, top.account, top.region, top.sku) == (
        EC2,
        PROD,
        "us-east-1",
        "USE1-BoxUsage:m5.large",
    )
    assert top.share >= Decimal("0.80")
    assert causes[1].service == RDS
    # Shares are of the whole increase: together they make (about) all of it.
    assert abs(sum(c.share for c in causes) - 1) <= Decimal("0.01") * len(causes)
    assert [c.share for c in causes] == sorted((c.share for c in causes), reverse=True)
    assert causes[0].as_json() == {
        "service": EC2,
        "account": PROD,
        "region": "us-east-1",
        "sku": "USE1-BoxUsage:m5.large",
        "share": str(top.share),
    }


def test_days_after_the_run_day_are_not_read(spiked):
    db, charges = spiked
    key = SeriesKey("payments", None, None, "USD")
    assert all(cause.sku != NAT for cause in root_cause(db, CONFIG, key, EVENT, DAY))
    # The run two days later sees the NAT gateway bill as the cause.
    later = root_cause(db, CONFIG, key, EVENT, DAY + timedelta(days=2))
    assert later[0].sku == NAT
    assert later == expected_causes(charges, key, EVENT, DAY + timedelta(days=2))


def test_a_series_is_broken_down_within_itself(spiked):
    db, charges = spiked
    key = SeriesKey("search", EC2, STAGING, "USD")
    causes = root_cause(db, CONFIG, key, EVENT, DAY)
    assert causes == expected_causes(charges, key, EVENT, DAY)
    assert (causes[0].region, causes[0].sku) == ("us-west-2", "USW2-BoxUsage:c6i.xlarge")
    assert {(c.service, c.account) for c in causes} == {(EC2, STAGING)}


def test_the_limit_keeps_the_largest_parts(spiked):
    db, charges = spiked
    key = SeriesKey("payments", None, None, "USD")
    (only,) = root_cause(db, CONFIG, key, EVENT, DAY, limit=1)
    assert only == expected_causes(charges, key, EVENT, DAY)[0]
    week = root_cause(db, CONFIG, key, EVENT, DAY, baseline_days=7)
    assert week == expected_causes(charges, key, EVENT, DAY, baseline_days=7)


def test_untagged_spend_and_another_currency_are_their_own_roll_ups(spiked):
    db, charges = spiked
    for key in (SeriesKey(None, None, None, "USD"), SeriesKey("payments", None, None, "EUR")):
        assert root_cause(db, CONFIG, key, EVENT, DAY) == expected_causes(
            charges, key, EVENT, DAY
        ), key
    eur = root_cause(db, CONFIG, SeriesKey("payments", None, None, "EUR"), EVENT, DAY)
    assert all(cause.account == EU for cause in eur)


def test_new_spend_on_a_short_history_is_all_increase(tmp_path):
    """Ten days of history before the event: the baseline is those ten days, not 28 days of
    which 18 were never loaded. A service the team never used before is new spend."""
    first = EVENT - timedelta(days=10)
    charges = bill(first, DAY)
    new = [
        Charge(day, "payments", S3, PROD, 80_000_000, 80_000_000, "USE1-TimedStorage-ByteHrs")
        for day in (EVENT, DAY)
    ]
    db_path = tmp_path / "costbot.db"
    ingest_focus([str(write_bill(tmp_path / "b.csv", charges + new))], CONFIG, db_path)
    db = open_store(db_path)
    key = SeriesKey("payments", None, None, "USD")
    causes = root_cause(db, CONFIG, key, EVENT, DAY)
    assert causes == expected_causes(charges + new, key, EVENT, DAY)
    assert causes[0].sku == "USE1-TimedStorage-ByteHrs"
    # The new series alone: its whole cost is the increase.
    alone = root_cause(db, CONFIG, SeriesKey("payments", S3, PROD, "USD"), EVENT, DAY)
    assert alone == (
        Cause(S3, PROD, "us-east-1", "USE1-TimedStorage-ByteHrs", Decimal("1.00"), 80_000_000),
    )
    db.close()


def test_no_increase_no_cause(spiked):
    db, _ = spiked
    quiet = date(2026, 10, 14)
    assert root_cause(db, CONFIG, SeriesKey("search", S3, PROD, "USD"), quiet, quiet) == ()
    with pytest.raises(ValueError):
        root_cause(db, CONFIG, SeriesKey("payments", None, None, "USD"), DAY, EVENT)


def _cost_explorer_load(start: date, end: date) -> SourceLoad:
    """Cost Explorer's two groupings of payments' EC2 (prod) and RDS (staging) spend; EC2
    doubles on EVENT..DAY."""
    rows, day = [], start
    while day <= end:
        ec2 = 40_000_000 * (2 if EVENT <= day <= DAY else 1)
        truth = {(EC2, PROD): ec2, (RDS, STAGING): 12_000_000}
        common = {
            "date": day.isoformat(),
            "provider": "AWS",
            "billing_account_id": USD_PAYER,
            "currency": "USD",
            "billing_period": day.isoformat()[:7],
            "team": "payments",
        }
        for (service, account), micros in truth.items():
            rows.append(
                (*daily_row(**common, service=service, effective_micros=micros), "team,service")
            )
            rows.append(
                (*daily_row(**common, account_id=account, effective_micros=micros), "team,account")
            )
        day += timedelta(days=1)
    return SourceLoad(
        source="cost-explorer",
        description="test",
        start=start,
        end=end,
        rows=rows,
        billing_account_id=USD_PAYER,
    )


def test_cost_explorer_data_names_the_service_only(tmp_path):
    db = open_store(tmp_path / "costbot.db")
    write_source_rows(db, _cost_explorer_load(date(2026, 9, 1), DAY + timedelta(days=3)))
    causes = root_cause(db, CONFIG, SeriesKey("payments", None, None, "USD"), EVENT, DAY)
    assert causes == (Cause(EC2, None, None, None, Decimal("1.00"), 40_000_000),)
    series = root_cause(db, CONFIG, SeriesKey("payments", EC2, None, "USD"), EVENT, DAY)
    assert series == causes
    db.close()
