"""Unit-cost arithmetic against independent Decimal sums of the FOCUS rows and the metric
values: sums over the days with both, gaps both ways, team and product scopes, configured
definitions, the previous period, weekly and monthly trends."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from unit_cost_data import (
    CONFIG,
    COST_END,
    COST_START,
    EC2,
    NO_VOLUME,
    build,
    cost_of,
    days,
    exact,
    load_metrics,
    volume_days,
    volume_of,
)

from bot.analytics import unit_cost
from bot.analytics.unit_cost import UnitCostError
from bot.money import to_micros
from bot.periods import Period
from bot.store import open_reader

NOVEMBER = Period(date(2026, 11, 1), date(2026, 11, 30), "month", "2026-11")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return build(tmp_path_factory.mktemp("unit"))


@pytest.fixture
def db(store):
    connection = open_reader(store.db_path)
    yield connection
    connection.close()


def named(db, name):
    definition, _ = unit_cost.find_definition(unit_cost.definitions(db, CONFIG), name)
    assert definition is not None
    return definition


def both_days(store, start, end, metric="api_requests", scope="all"):
    with_volume = volume_days(store, metric, scope)
    return [d for d in days(start, end) if COST_START <= d <= COST_END and d in with_volume]


def test_every_metric_is_a_unit_metric_without_config_and_config_adds_more(db):
    found = unit_cost.definitions(db, CONFIG)
    assert [d.name for d in found] == [
        "cost_per_api_request",
        "ec2_per_request",
        "cloud_share_of_revenue",
        "cost_per_api_requests",
        "cost_per_revenue",
    ]
    ec2 = found[1]
    assert ec2.cost.kind == "service" and ec2.cost.value == EC2  # `ec2` resolved as /cost does
    assert found[2].as_percent and found[2].reference == "saas"
    assert found[0].reference == "api"


def test_unit_cost_is_the_ratio_of_sums_over_days_with_both_and_gaps_both_ways(store, db):
    figures = unit_cost.unit_figures(db, CONFIG, named(db, "api_requests"), NOVEMBER)
    # Clipped to the days with cost or volume: Nov 1 - Nov 14.
    assert (figures.period.start, figures.period.end) == (date(2026, 11, 1), date(2026, 11, 14))
    counted = both_days(store, date(2026, 11, 1), date(2026, 11, 14))
    cost = cost_of(store, counted)
    volume = volume_of(store, "api_requests", "all", counted)
    current = figures.current
    assert current.cost_micros == to_micros(cost)
    assert current.volume == volume
    assert current.unit_cost == exact(cost, volume)
    assert current.days_with_both == len(counted) == 9
    assert current.cost_only == NO_VOLUME
    assert current.cost_left_out_micros == to_micros(cost_of(store, list(NO_VOLUME)))
    assert current.volume_only == (date(2026, 11, 13), date(2026, 11, 14))
    # Not the average of daily ratios (which differs for these numbers).
    daily = [
        exact(cost_of(store, [d]), volume_of(store, "api_requests", "all", [d])) for d in counted
    ]
    assert sum(daily) / len(daily) != current.unit_cost


def test_change_against_the_same_days_of_the_previous_month(store, db):
    figures = unit_cost.unit_figures(db, CONFIG, named(db, "api_requests"), NOVEMBER)
    assert (figures.previous_period.start, figures.previous_period.end) == (
        date(2026, 10, 1),
        date(2026, 10, 14),
    )
    october = both_days(store, date(2026, 10, 1), date(2026, 10, 14))
    before = exact(cost_of(store, october), volume_of(store, "api_requests", "all", october))
    assert figures.previous.unit_cost == before
    assert figures.change_percent == (figures.current.unit_cost - before) / before * 100


def test_no_comparison_before_the_stored_data(db):
    october = Period(date(2026, 10, 1), date(2026, 10, 31), "month", "2026-10")
    figures = unit_cost.unit_figures(db, CONFIG, named(db, "api_requests"), october)
    assert figures.previous is None and figures.change_percent is None


def test_team_scope_divides_the_teams_cost_by_its_own_values(store, db):
    definition = named(db, "api_requests")
    subject = unit_cost.subject_of(definition, team="payments")
    figures = unit_cost.unit_figures(db, CONFIG, definition, NOVEMBER, subject)
    counted = both_days(store, date(2026, 11, 1), date(2026, 11, 30), scope="payments")
    cost = cost_of(store, counted, team="payments")
    volume = volume_of(store, "api_requests", "payments", counted)
    assert figures.current.unit_cost == exact(cost, volume)
    assert figures.current.cost_micros == to_micros(cost)
    assert not figures.current.has_gaps


def test_configured_product_and_service_definitions(store, db):
    counted = both_days(store, date(2026, 11, 1), date(2026, 11, 14))
    volume = volume_of(store, "api_requests", "all", counted)
    product = unit_cost.unit_figures(db, CONFIG, named(db, "cost_per_api_request"), NOVEMBER)
    assert product.current.unit_cost == exact(
        cost_of(store, counted, product="api-gateway"), volume
    )
    service = unit_cost.unit_figures(db, CONFIG, named(db, "ec2_per_request"), NOVEMBER)
    assert service.current.unit_cost == exact(cost_of(store, counted, service=EC2), volume)


def test_revenue_percent_and_its_reference_range(store, db):
    figures = unit_cost.unit_figures(db, CONFIG, named(db, "cloud_share_of_revenue"), NOVEMBER)
    counted = both_days(store, date(2026, 11, 1), date(2026, 11, 14), metric="revenue")
    share = exact(cost_of(store, counted), volume_of(store, "revenue", "all", counted)) * 100
    assert figures.reference.value == share
    expected = "below" if share < 15 else "above" if share > 25 else "within"
    assert figures.reference.position == expected


def test_weekly_trend_uses_iso_weeks_across_a_month_boundary(store, db):
    definition = named(db, "api_requests")
    weeks = unit_cost.weekly_trend(db, CONFIG, definition, date(2026, 11, 8), weeks=3)
    assert [(w.start, w.end) for w in weeks] == [
        (date(2026, 10, 19), date(2026, 10, 25)),
        (date(2026, 10, 26), date(2026, 11, 1)),  # Monday to Sunday, October into November
        (date(2026, 11, 2), date(2026, 11, 8)),
    ]
    boundary = days(date(2026, 10, 26), date(2026, 11, 1))
    assert weeks[1].unit_cost == exact(
        cost_of(store, boundary), volume_of(store, "api_requests", "all", boundary)
    )
    gap_week = both_days(store, date(2026, 11, 2), date(2026, 11, 8))
    assert weeks[2].cost_micros == to_micros(cost_of(store, gap_week))
    assert weeks[2].cost_only == NO_VOLUME


def test_monthly_trend_and_monthly_unit_costs(store, db):
    definition = named(db, "api_requests")
    months = unit_cost.unit_cost_trend(db, CONFIG, definition, months=3, end=date(2026, 11, 14))
    assert [(m.start, m.end) for m in months] == [
        (date(2026, 9, 1), date(2026, 9, 30)),
        (date(2026, 10, 1), date(2026, 10, 31)),
        (date(2026, 11, 1), date(2026, 11, 14)),
    ]
    october = both_days(store, date(2026, 10, 1), date(2026, 10, 31))
    assert months[1].unit_cost == exact(
        cost_of(store, october), volume_of(store, "api_requests", "all", october)
    )
    report = unit_cost.monthly_unit_costs(db, CONFIG, date(2026, 10, 15))
    by_name = {f.definition.name: f for f in report}
    assert by_name["cost_per_api_requests"].current.unit_cost == months[1].unit_cost
    assert set(by_name) == {d.name for d in unit_cost.definitions(db, CONFIG)}


def test_zero_volume_gives_no_unit_cost_not_a_division_by_zero(tmp_path):
    store = build(tmp_path)
    load_metrics(
        store.db_path, [(d.isoformat(), "signups", "all", "0") for d in days(COST_START, COST_END)]
    )
    db = open_reader(store.db_path)
    try:
        figures = unit_cost.unit_figures(db, CONFIG, named(db, "signups"), NOVEMBER)
    finally:
        db.close()
    assert figures.current.volume == 0 and figures.current.unit_cost is None
    assert figures.current.cost_micros > 0 and figures.change_percent is None


def test_configured_definitions_take_no_team(db):
    with pytest.raises(UnitCostError, match="takes no team"):
        unit_cost.subject_of(named(db, "cost_per_api_request"), team="payments")


def test_prefixes_pick_one_definition_or_list_the_candidates(db):
    found = unit_cost.definitions(db, CONFIG)
    assert unit_cost.find_definition(found, "ec2")[0].name == "ec2_per_request"
    assert unit_cost.find_definition(found, "rev")[0].name == "cost_per_revenue"
    definition, candidates = unit_cost.find_definition(found, "cost_per_")
    assert definition is None and len(candidates) == 3
    assert unit_cost.find_definition(found, "nothing") == (None, [])


def test_sums_of_counts_each_day_once():
    day = date(2026, 1, 5)
    sums = unit_cost.sums_of(
        {day: 3_000_000, day + timedelta(days=1): 1_000_000},
        {day: Decimal(1000), day + timedelta(days=2): Decimal(7)},
        day,
        day + timedelta(days=2),
    )
    assert sums.unit_cost == Fraction(3, 1000)
    assert sums.cost_left_out_micros == 1_000_000 and sums.volume_left_out == 7
