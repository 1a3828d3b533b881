"""Chargeback over FOCUS rows loaded through the real ingest: amounts checked against
hand-computed dollars and an independent exact computation, rows summing to the cent."""

from __future__ import annotations

import json
import random
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from chargeback_data import SUPPORT, config_of, load, october_rows, shared
from focus_rows import focus_row

from bot.analytics.chargeback import chargeback, month_period
from bot.periods import PeriodError
from bot.render.chargeback import chargeback_csv, chargeback_json

CENT = Decimal("0.01")


def table(report) -> list[tuple[str, str, str, str]]:
    return [(r.team, str(r.direct), str(r.shared), str(r.total)) for r in report.rows]


def assert_sums(report) -> None:
    assert sum(r.total for r in report.rows) == report.total
    for row in report.rows:
        assert row.direct == row.direct.quantize(CENT) and row.shared == row.shared.quantize(CENT)


def report_of(tmp_path, config, rows=None, metrics=()):
    db = load(tmp_path, october_rows() if rows is None else rows, config, metrics)
    try:
        return chargeback(db, config, "2026-10")
    finally:
        db.close()


def test_proportional_by_default_untagged_on_its_own_row(tmp_path):
    report = report_of(tmp_path, config_of(shared()))
    # Pool: shared-infra $60 + payments' support $40 = $100, split 300:100 (ml spent nothing).
    assert table(report) == [
        ("payments", "300.00", "75.00", "375.00"),
        ("search", "100.00", "25.00", "125.00"),
        ("ml", "0.00", "0.00", "0.00"),
        ("untagged", "20.00", "0.00", "20.00"),
    ]
    assert report.total == Decimal("520.00") and report.pool == Decimal("100.00")
    assert report.currency == "USD" and report.allocation == "proportional"
    assert_sums(report)
    # Only USD counts, as in /cost; the EUR charge is reported as not counted.
    assert report.other_currencies == (("EUR", 999_000_000),)


def test_untagged_allocated_like_the_pool(tmp_path):
    report = report_of(tmp_path, config_of(shared(untagged="allocate")))
    assert table(report) == [
        ("payments", "300.00", "90.00", "390.00"),
        ("search", "100.00", "30.00", "130.00"),
        ("ml", "0.00", "0.00", "0.00"),
    ]
    assert report.total == Decimal("520.00")


def test_even_split_among_teams_that_spent(tmp_path):
    report = report_of(tmp_path, config_of(shared(allocation="even")))
    assert table(report) == [
        ("payments", "300.00", "50.00", "350.00"),
        ("search", "100.00", "50.00", "150.00"),
        ("ml", "0.00", "0.00", "0.00"),
        ("untagged", "20.00", "0.00", "20.00"),
    ]


def test_usage_metric_of_the_month_per_team(tmp_path):
    metrics = [
        ("2026-10-01", "api_requests", "payments", "1000"),
        ("2026-10-20", "api_requests", "payments", "2000"),
        ("2026-10-01", "api_requests", "search", "1000"),
        ("2026-11-01", "api_requests", "search", "100000"),  # another month: not counted
    ]
    config = config_of(shared(allocation="usage", usage_metric="api_requests"))
    report = report_of(tmp_path, config, metrics=metrics)
    assert table(report)[:2] == [
        ("payments", "300.00", "75.00", "375.00"),
        ("search", "100.00", "25.00", "125.00"),
    ]
    assert report.notes == ()


def test_usage_metric_missing_for_a_team_gives_it_nothing_and_says_so(tmp_path):
    metrics = [("2026-10-02", "api_requests", "payments", "5")]
    config = config_of(shared(allocation="usage", usage_metric="api_requests"))
    report = report_of(tmp_path, config, metrics=metrics)
    assert table(report)[:2] == [
        ("payments", "300.00", "100.00", "400.00"),
        ("search", "100.00", "0.00", "100.00"),
    ]
    assert report.notes == ("search has no api_requests values in 2026-10: no shared cost",)
    assert_sums(report)


def test_no_shared_pool_everything_is_direct(tmp_path):
    report = report_of(tmp_path, config_of())
    assert table(report) == [
        ("payments", "340.00", "0.00", "340.00"),
        ("search", "100.00", "0.00", "100.00"),
        ("shared-infra", "60.00", "0.00", "60.00"),
        ("ml", "0.00", "0.00", "0.00"),
        ("untagged", "20.00", "0.00", "20.00"),
    ]


THIRDS_TEAMS = [{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "infra"}]


@pytest.mark.parametrize("method", ["proportional", "even"])
def test_a_hundred_dollars_three_ways(tmp_path, method):
    day = date(2026, 10, 7)
    rows = [focus_row(day, "100.00", team=t, resource=t) for t in ("a", "b", "c", "infra")]
    config = config_of({"teams": ["infra"], "allocation": method}, teams=THIRDS_TEAMS)
    report = report_of(tmp_path, config, rows=rows)
    teams = [r for r in report.rows if r.team != "untagged"]
    assert sorted(str(r.shared) for r in teams) == ["33.33", "33.33", "33.34"]
    assert sorted(str(r.total) for r in teams) == ["133.33", "133.33", "133.34"]
    assert table(report)[-1] == ("untagged", "0.00", "0.00", "0.00")
    assert report.total == Decimal("400.00") and "infra" not in [r.team for r in report.rows]
    assert_sums(report)


def _random_month(seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows = []
    for n in range(60):
        team = rng.choice(["a", "b", "c", "infra", None])
        service = rng.choice(["Amazon Elastic Compute Cloud", SUPPORT])
        cost = f"{rng.randint(1, 99_999_999) / 1_000_000:.6f}"
        day = date(2026, 10, 1 + n % 31)
        rows.append(focus_row(day, cost, team=team, service=service, resource=f"r{n}"))
    return rows


def _expected(rows, method, untagged, usage) -> tuple[Decimal, dict[str, Fraction]]:
    """The exact dollars per row computed here from the FOCUS rows, not by Costbot."""
    direct: dict[str, Fraction] = {"a": Fraction(0), "b": Fraction(0), "c": Fraction(0)}
    pool, untagged_cost, total = Fraction(0), Fraction(0), Decimal(0)
    for row in rows:
        cost = Decimal(row["EffectiveCost"])
        total += cost
        team = json.loads(row["Tags"])["Team"] if row["Tags"] else None
        if team == "infra" or row["ServiceName"] == SUPPORT:
            pool += Fraction(cost)
        elif team is None:
            untagged_cost += Fraction(cost)
        else:
            direct[team] += Fraction(cost)
    if untagged == "allocate":
        pool += untagged_cost
    if method == "usage":
        weights = {t: Fraction(usage.get(t, 0)) for t in direct}
    elif method == "even":
        weights = {t: Fraction(1) for t in direct if direct[t] > 0}
    else:
        weights = {t: direct[t] for t in direct if direct[t] > 0}
    exact = {t: direct[t] + pool * weights.get(t, 0) / sum(weights.values()) for t in direct}
    if untagged == "row":
        exact["untagged"] = untagged_cost
    return total.quantize(CENT, rounding=ROUND_HALF_UP), exact


@pytest.mark.parametrize("method", ["proportional", "even", "usage"])
@pytest.mark.parametrize("untagged", ["row", "allocate"])
@pytest.mark.parametrize("seed", [1, 2])
def test_rows_sum_exactly_to_the_month_for_every_method(tmp_path, method, untagged, seed):
    rows = _random_month(seed)
    usage = {"a": Decimal("3.5"), "b": Decimal("1"), "c": Decimal("7.25")}
    metrics = [("2026-10-04", "api_requests", t, str(v)) for t, v in usage.items()]
    settings = {"teams": ["infra"], "services": [SUPPORT], "allocation": method}
    settings |= {"untagged": untagged, "usage_metric": "api_requests"}
    report = report_of(tmp_path, config_of(settings, teams=THIRDS_TEAMS), rows, metrics)
    total, exact = _expected(rows, method, untagged, usage)
    assert report.total == total
    assert sum(r.total for r in report.rows) == total
    assert {r.team for r in report.rows} == set(exact)
    for row in report.rows:
        assert abs(Fraction(row.total) - exact[row.team]) < Fraction(1, 100)
    assert_sums(report)


def test_json_and_csv_shapes(tmp_path):
    report = report_of(tmp_path, config_of(shared()))
    assert chargeback_json(report) == {
        "month": "2026-10",
        "currency": "USD",
        "total": "520.00",
        "rows": [
            {"team": "payments", "direct": "300.00", "shared": "75.00", "total": "375.00"},
            {"team": "search", "direct": "100.00", "shared": "25.00", "total": "125.00"},
            {"team": "ml", "direct": "0.00", "shared": "0.00", "total": "0.00"},
            {"team": "untagged", "direct": "20.00", "shared": "0.00", "total": "20.00"},
        ],
    }
    assert chargeback_csv(report) == (
        "team,direct,shared,total\n"
        "payments,300.00,75.00,375.00\n"
        "search,100.00,25.00,125.00\n"
        "ml,0.00,0.00,0.00\n"
        "untagged,20.00,0.00,20.00\n"
        "(total),420.00,100.00,520.00\n"
    )


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "last-month", "", "2026-10-01"])
def test_only_a_calendar_month_is_accepted(text):
    with pytest.raises(PeriodError):
        month_period(text)
    assert month_period("2026-02").end == date(2026, 2, 28)
