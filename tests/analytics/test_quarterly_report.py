"""The quarterly report's figures over the rows of tests/report_data.py, checked to the cent
against Decimal sums of those rows."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from report_data import build, config, dollars

from bot.analytics.quarterly_report import quarterly_report, report_quarter
from bot.money import to_micros
from bot.store import open_reader


@pytest.mark.parametrize(
    ("day", "name", "first", "last"),
    [
        (date(2026, 10, 1), "2026-Q3", date(2026, 7, 1), date(2026, 9, 30)),
        (date(2026, 12, 31), "2026-Q3", date(2026, 7, 1), date(2026, 9, 30)),
        (date(2027, 1, 1), "2026-Q4", date(2026, 10, 1), date(2026, 12, 31)),
        (date(2026, 4, 1), "2026-Q1", date(2026, 1, 1), date(2026, 3, 31)),
        (date(2026, 7, 1), "2026-Q2", date(2026, 4, 1), date(2026, 6, 30)),
    ],
)
def test_the_quarter_reported_is_the_last_complete_one(day, name, first, last):
    quarter = report_quarter(day)
    assert (quarter.name, quarter.start, quarter.end) == (name, first, last)
    assert [m.start.month for m in quarter.months] == [first.month, first.month + 1, last.month]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    db = open_reader(build(tmp_path_factory.mktemp("quarterly")))
    try:
        yield quarterly_report(db, config(), date(2026, 10, 1))
    finally:
        db.close()


def test_spend_per_month_and_for_the_quarter(report):
    months = [m.by_currency.get("USD", 0) for m in report.spend]
    assert months == [to_micros(dollars(m)) for m in ("2026-07", "2026-08", "2026-09")]
    assert months == [100_000_000, 200_000_000, 170_000_000]
    assert report.totals == {"USD": 470_000_000}  # June and October are not in Q3
    assert report.previous_totals == {"USD": 1_000_000_000}  # June 30, in Q2


def test_spend_against_revenue(report):
    assert report.revenue_metric == "revenue"
    july, august, september = report.spend
    assert july.revenue == Decimal(2000) and july.cost_share("USD") == Fraction(1, 20)
    assert august.revenue == Decimal(1000) and august.cost_share("USD") == Fraction(1, 5)
    assert september.revenue is None and september.cost_share("USD") is None
    # Only the months with revenue: $300 over $3,000, not $470.
    assert report.quarter_cost_share() == Fraction(1, 10)


def test_unit_cost_trend_leaves_revenue_out(report):
    titles = [u.title for u in report.units]
    assert "Cost per revenue" not in titles
    orders = next(u for u in report.units if u.unit == "order")
    assert orders.values == (Fraction(2), Fraction(200, 80), None)


def test_commitment_purchases(report):
    [purchase] = report.purchases
    assert (purchase.month, purchase.kind, purchase.billed_micros) == (
        "2026-08",
        "Savings Plan",
        500_000_000,
    )


def test_waste_eliminated_per_team_once_per_resource(report):
    lines = [(w.team, w.monthly_micros, w.resources, w.stops, w.terminations) for w in report.waste]
    # arn:a stopped then terminated: its $123.45 once; arn:c (October 1) is not in Q3.
    assert lines == [("payments", 123_450_000, 1, 1, 1), ("(untagged)", 10_000_000, 1, 1, 0)]
    assert report.waste_totals() == {"USD": 133_450_000}


def test_forecast_against_actuals(report):
    checks = {c.month.name: c for c in report.forecasts if c.currency == "USD"}
    assert checks["2026-07"].forecast_micros is None
    september = checks["2026-09"]
    assert (september.forecast_micros, september.actual_micros) == (180_000_000, 170_000_000)
    assert september.error_fraction == Fraction(-1, 18)


def test_a_quarter_without_data(tmp_path):
    db = open_reader(build(tmp_path))
    try:
        report = quarterly_report(db, config(), date(2026, 4, 1))
    finally:
        db.close()
    assert report.totals == {} and report.purchases == () and report.waste == ()
