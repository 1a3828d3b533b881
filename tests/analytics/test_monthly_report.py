"""The monthly report's figures over FOCUS rows loaded through the real ingest (see
tests/report_data.py), checked to the cent against Decimal sums of those rows."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from report_data import build, config, dollars

from bot.analytics.chargeback import chargeback
from bot.analytics.monthly_report import monthly_report, report_month
from bot.analytics.opportunities import IDLE, LOW_COVERAGE, SAVINGS_PLAN_DISCOUNT, UNTAGGED_SPEND
from bot.money import to_micros
from bot.store import open_reader


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("monthly")
    return build(folder)


@pytest.fixture(scope="module")
def report(store):
    db = open_reader(store)
    try:
        yield monthly_report(db, config(), date(2026, 11, 1))
    finally:
        db.close()


@pytest.mark.parametrize(
    ("day", "month", "first", "last"),
    [
        (date(2026, 11, 1), "2026-10", date(2026, 10, 1), date(2026, 10, 31)),
        (date(2026, 11, 30), "2026-10", date(2026, 10, 1), date(2026, 10, 31)),
        (date(2027, 1, 1), "2026-12", date(2026, 12, 1), date(2026, 12, 31)),
        (date(2026, 3, 1), "2026-02", date(2026, 2, 1), date(2026, 2, 28)),
        (datetime(2026, 11, 1, 0, 30, tzinfo=UTC), "2026-10", date(2026, 10, 1), None),
    ],
)
def test_the_month_reported_is_the_calendar_month_before_the_day(day, month, first, last):
    period = report_month(day)
    assert (period.name, period.start) == (month, first)
    assert last is None or period.end == last


def test_team_cost_against_the_month_before_and_its_budget(report):
    payments = report.teams["payments"]
    usd, eur = payments.costs
    assert usd.currency == "USD" and to_micros(dollars("2026-10", team="payments")) == usd.micros
    assert usd.micros == 200_000_000  # $100 on demand + $60 covered + $40 spot
    assert usd.previous_micros == to_micros(dollars("2026-09", team="payments"))
    # EUR is kept apart, never added to the dollars.
    assert (eur.currency, eur.micros) == ("EUR", to_micros(dollars("2026-10", currency="EUR")))
    assert payments.budget.budget_micros == 400_000_000 and not payments.budget.over
    search = report.teams["search"]
    assert search.budget.over
    assert search.budget.spent_micros - search.budget.budget_micros == 30_000_000


def test_a_teams_own_coverage_and_spot_share_with_the_low_coverage_opportunity(report):
    payments = report.teams["payments"]
    figures = payments.commitments
    # Covered at on-demand prices $90, on demand $100 (ListCost): 90 / 190.
    assert figures.coverage.part_micros == 90_000_000
    assert figures.coverage.whole_micros == 190_000_000
    assert figures.coverage.percent == Decimal("47.4") and figures.coverage.verdict == "below"
    # Spot $40 of $200 compute.
    assert figures.spot_share.percent == Decimal("20.0") and figures.spot_share.verdict == "below"
    [coverage] = [o for o in payments.opportunities if o.kind == LOW_COVERAGE]
    expected = (Decimal("0.70") * 190 - 90) * SAVINGS_PLAN_DISCOUNT  # $12.04 a month
    assert coverage.monthly_micros == to_micros(expected) == 12_040_000


def test_idle_and_untagged_opportunities_of_a_team(report):
    payments = report.teams["payments"]
    [idle] = [o for o in payments.opportunities if o.kind == IDLE]
    # i-pay cost $100.00 in October: its monthly run-rate.
    assert idle.monthly_micros == 100_000_000
    assert idle.what == "Stop or resize 1 idle EC2 instance (payments-batch $100.00)"
    untagged = [o for o in payments.opportunities if o.kind == UNTAGGED_SPEND]
    # Every payments row lacks Product, Environment and CostCenter: all its USD resource cost.
    assert untagged and not untagged[0].is_saving
    assert payments.opportunities[0].is_saving  # savings are listed before spend to attribute


def test_the_organisation_summary_and_its_chargeback_totals(store, report):
    organisation = report.organisation
    [usd, eur] = organisation.costs
    assert usd.micros == to_micros(dollars("2026-10")) == 320_000_000
    assert (eur.currency, eur.micros) == ("EUR", 70_000_000)
    db = open_reader(store)
    try:
        charges = chargeback(db, config(), "2026-10")
    finally:
        db.close()
    totals = {line.team: line.chargeback_total for line in organisation.teams}
    for row in charges.rows:
        if row.team in totals:
            assert totals[row.team] == row.total
    assert totals["payments"] == Decimal("221.43") and totals["search"] == Decimal("88.57")
    assert [t.team for t in organisation.over_budget] == ["search"]
    # Coverage of the organisation in USD: $90 covered of $90 + $220 on demand. The EUR
    # billing account's compute is judged on its own.
    figures, eur_figures = organisation.commitments
    assert (figures.currency, eur_figures.currency) == ("USD", "EUR")
    assert (eur_figures.coverage.part_micros, eur_figures.coverage.whole_micros) == (0, 70_000_000)
    assert figures.coverage.percent == Decimal("29.0")
    assert figures.utilization.percent == Decimal("100.0")
    [coverage] = [
        o for o in organisation.opportunities if o.kind == LOW_COVERAGE and o.currency == "USD"
    ]
    assert coverage.monthly_micros == to_micros((Decimal("0.7") * 310 - 90) * Decimal("0.28"))


def test_configured_targets_are_used(store):
    db = open_reader(store)
    try:
        cfg = config(reports={"savings_plans_target": [0.4, 0.5], "spot_target": [0.1, 0.2]})
        report = monthly_report(db, cfg, date(2026, 11, 1))
    finally:
        db.close()
    figures = report.teams["payments"].commitments
    assert figures.coverage.verdict == "within" and figures.spot_share.verdict == "within"
    assert not [o for o in report.teams["payments"].opportunities if o.kind == LOW_COVERAGE]


def test_unit_costs_against_the_month_before(store):
    db = open_reader(store)
    try:
        report = monthly_report(db, config(), date(2026, 9, 1))  # August
    finally:
        db.close()
    orders = next(u for u in report.organisation.units if u.unit == "order")
    # August: $200 on Aug 15 over 80 orders; July: $100 on Jul 15 over 50 orders.
    assert orders.current == Fraction(200, 80) and orders.previous == Fraction(100, 50)
    assert orders.change_percent == 25


def test_a_teams_unit_costs_over_its_own_volume(report):
    [orders] = report.teams["payments"].units
    # October: $60.00 on Oct 2 (the only day with both) over 4 orders; September: $150 / 3.
    assert orders.current == Fraction(60, 4) and orders.previous == Fraction(150, 3)
    assert orders.change_percent == -70
    assert report.teams["search"].units == ()  # no values for its scope


def test_the_trend_starts_with_the_stores_first_month_not_with_zeros(store, report):
    """Six months are charted, but only those the store has data for: months before its
    first day are unknown, not $0.00."""
    from bot.store import queries

    db = open_reader(store)
    try:
        first = queries.data_range(db)[0]
    finally:
        db.close()
    months = [month for month, _ in report.organisation.trend]
    assert months and months[0].end >= first
    assert all(month.end >= first for month in months)
    assert months[-1].name == "2026-10"
