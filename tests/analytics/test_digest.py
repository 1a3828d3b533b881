"""The weekly digest's figures over FOCUS rows loaded through the real ingest, checked against
sums of the same rows computed by hand (digest_data.dollars): to the cent, per currency, for
complete and late weeks, across a month end, with anomalies, untagged and idle resources."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from digest_data import (
    DEV,
    EC2,
    HOSTILE,
    LAST_DAY,
    PROD,
    RDS,
    WEEK,
    add_episode,
    add_inventory,
    config,
    dollars,
    instance,
    load,
    rows,
)
from focus_rows import focus_row

from bot.analytics.digest import week_reported, weekly_digest, weekly_digests
from bot.money import cents
from bot.store import open_reader

BEFORE = WEEK - timedelta(days=7)


def _cents(micros: int) -> str:
    return str(cents(micros))


def _digest(tmp_path, team="payments", all_rows=None, week=WEEK, cfg=None):
    cfg = cfg or config()
    db_path = load(tmp_path, cfg, all_rows)
    db = open_reader(db_path)
    try:
        return weekly_digest(db, cfg, team, week)
    finally:
        db.close()


def test_week_reported_is_the_last_complete_week():
    assert week_reported(date(2026, 10, 26)).start == date(2026, 10, 19)  # Monday
    assert week_reported(date(2026, 10, 28)).start == date(2026, 10, 19)  # Wednesday
    assert week_reported(date(2026, 11, 1)).start == date(2026, 10, 19)  # Sunday after
    assert week_reported(date(2026, 10, 25)).start == date(2026, 10, 12)  # its own Sunday
    assert week_reported(date(2027, 1, 4)).end == date(2027, 1, 3)  # across a year
    with pytest.raises(ValueError):
        weekly_digest(None, config(), "payments", date(2026, 10, 20))  # not a Monday


def test_spend_and_top_changes_to_the_cent_per_currency(tmp_path):
    all_rows = rows()
    digest = _digest(tmp_path, all_rows=all_rows)
    assert digest.complete and digest.has_comparison
    assert digest.data_through == LAST_DAY
    usd, eur = digest.spend
    assert usd.currency == "USD" and eur.currency == "EUR"
    assert _cents(usd.this_week) == dollars(all_rows, WEEK, LAST_DAY, team="payments")
    assert _cents(usd.last_week) == dollars(all_rows, BEFORE, WEEK - timedelta(1), team="payments")
    # EUR is never added to USD: its own totals.
    assert _cents(eur.this_week) == dollars(all_rows, WEEK, LAST_DAY, "EUR", team="payments")
    assert eur.this_week == 7 * 7_125_000

    services = {c.name: c for c in usd.services}
    for service in (EC2, RDS, HOSTILE):
        this_week = dollars(all_rows, WEEK, LAST_DAY, team="payments", ServiceName=service)
        before = dollars(
            all_rows, BEFORE, WEEK - timedelta(1), team="payments", ServiceName=service
        )
        assert (_cents(services[service].current), _cents(services[service].previous)) == (
            this_week,
            before,
        )
    # Largest absolute change first: RDS +$77.50, then the new service, then EC2.
    assert [c.name for c in usd.services] == [RDS, HOSTILE, EC2]
    accounts = {c.name: c for c in usd.accounts}
    prod = accounts[f"{PROD[1]} ({PROD[0]})"]
    assert _cents(prod.current) == dollars(
        all_rows, WEEK, LAST_DAY, team="payments", SubAccountId=PROD[0]
    )
    assert _cents(accounts[f"{DEV[1]} ({DEV[0]})"].current) == "277.50"


def test_top_five_of_many_services_and_the_rest_counted(tmp_path):
    extra = [
        focus_row(day, f"{n}.01", team="payments", service=f"svc-{n:02d}")
        for n in range(1, 13)
        for day in (WEEK, WEEK + timedelta(days=2))
    ]
    digest = _digest(tmp_path, all_rows=rows() + extra)
    usd = digest.spend[0]
    assert len(usd.services) == 5 and usd.more_services == 3 + 12 - 5
    assert [c.name for c in usd.services][:1] == [RDS]  # +$77.50 beats svc-12's +$24.02


def test_budget_burn_and_forecast_as_of_the_weeks_end(tmp_path):
    all_rows = rows()
    digest = _digest(tmp_path, all_rows=all_rows)
    budget, forecast = digest.budget, digest.forecast
    assert budget.monthly_micros == 5_000_000_000 and budget.month_label == "October 2026"
    assert (budget.days_elapsed, budget.days_in_month) == (25, 31)
    month_to_date = dollars(all_rows, date(2026, 10, 1), LAST_DAY, team="payments")
    assert _cents(budget.spent_micros) == month_to_date
    assert _cents(forecast.month_to_date_micros) == month_to_date
    week = Decimal(dollars(all_rows, WEEK, LAST_DAY, team="payments"))
    assert abs(Decimal(_cents(forecast.daily_average_micros)) - week / 7) <= Decimal("0.01")
    assert forecast.remaining_days == 6
    assert forecast.projected_micros == forecast.month_to_date_micros + 6 * (
        forecast.daily_average_micros
    )
    # The chart: 8 weeks ending Sunday, the budget spread over each month's days.
    assert digest.daily[0][0] == LAST_DAY - timedelta(days=55) and digest.daily[-1][0] == LAST_DAY
    assert digest.budget_daily[-1] == 5_000_000_000 // 31
    assert digest.budget_daily[0] == 5_000_000_000 // 31  # 31 August
    assert digest.budget_daily[1] == 5_000_000_000 // 30  # 1 September
    assert _cents(sum(m for d, m in digest.daily if d >= WEEK)) == dollars(
        all_rows, WEEK, LAST_DAY, team="payments"
    )


def test_a_week_across_a_month_end(tmp_path):
    end = date(2026, 11, 1)
    all_rows = rows(last_day=end)
    digest = _digest(tmp_path, all_rows=all_rows, week=date(2026, 10, 26))
    usd = digest.spend[0]
    assert _cents(usd.this_week) == dollars(all_rows, date(2026, 10, 26), end, team="payments")
    assert digest.budget.month_label == "November 2026"
    assert (digest.budget.days_elapsed, digest.budget.days_in_month) == (1, 30)
    assert _cents(digest.budget.spent_micros) == dollars(all_rows, end, end, team="payments")
    assert digest.forecast.month_end == date(2026, 11, 30) and digest.forecast.remaining_days == 29


def test_late_data_compares_the_same_weekdays_and_says_so(tmp_path):
    all_rows = rows(last_day=date(2026, 10, 24))  # Sunday not in yet
    digest = _digest(tmp_path, all_rows=all_rows)
    assert not digest.complete and digest.compared_end == date(2026, 10, 24)
    usd = digest.spend[0]
    assert _cents(usd.this_week) == dollars(all_rows, WEEK, date(2026, 10, 24), team="payments")
    assert _cents(usd.last_week) == dollars(all_rows, BEFORE, date(2026, 10, 17), team="payments")


def test_no_data_before_the_week_no_comparison(tmp_path):
    all_rows = [r for r in rows() if r["ChargePeriodStart"][:10] >= WEEK.isoformat()]
    digest = _digest(tmp_path, all_rows=all_rows)
    assert not digest.has_comparison
    assert _cents(digest.spend[0].this_week) == dollars(all_rows, WEEK, LAST_DAY, team="payments")


def test_a_team_without_spend_gets_a_quiet_digest(tmp_path):
    digest = _digest(tmp_path, team="ml")
    assert digest.quiet and digest.spend == () and digest.budget is None


def test_anomalies_opened_resolved_and_open(tmp_path):
    cfg = config()
    db_path = load(tmp_path, cfg)
    episode = {"team": "payments", "service": EC2, "account_id": PROD[0]}
    # Opened and resolved in the week; opened the week before and resolved in this one;
    # opened in the week and still open; one of the week before only; one of another team.
    add_episode(db_path, **episode, start="2026-10-20", last_day="2026-10-21",
                detected_on="2026-10-20", status="closed")  # fmt: skip
    add_episode(db_path, **episode, start="2026-10-14", last_day="2026-10-18",
                detected_on="2026-10-15", status="closed", kind="shift")  # fmt: skip
    add_episode(db_path, team="payments", start="2026-10-24", last_day="2026-10-25",
                detected_on="2026-10-25", status="open", kind="drift")  # fmt: skip
    add_episode(db_path, **episode, start="2026-10-05", last_day="2026-10-08",
                detected_on="2026-10-06", status="closed", kind="new")  # fmt: skip
    add_episode(db_path, team="search", start="2026-10-20", last_day="2026-10-20",
                detected_on="2026-10-20", status="open")  # fmt: skip
    db = open_reader(db_path)
    try:
        digest = weekly_digest(db, cfg, "payments", WEEK)
    finally:
        db.close()
    assert sorted(n.kind for n in digest.anomalies_opened) == ["drift", "spike"]
    assert sorted(n.kind for n in digest.anomalies_resolved) == ["shift", "spike"]
    spike = next(n for n in digest.anomalies_opened if n.kind == "spike")
    assert spike.account == f"{PROD[1]} ({PROD[0]})" and spike.service == EC2
    assert digest.anomalies_open == 1


def test_untagged_and_idle_resources_of_the_team(tmp_path):
    cfg = config()
    idle_arn = "arn:aws:ec2:us-east-1:222222222222:instance/i-00000001"
    september = [focus_row(date(2026, 9, d), "10.10", team="payments", resource=idle_arn)
                 for d in (1, 2, 3)]  # fmt: skip
    db_path = load(tmp_path, cfg, rows() + september)
    add_inventory(
        db_path,
        [
            instance(1, "payments", idle=True),
            instance(2, "payments", idle=True, tags={"Team": "payments", "costbot:exempt": ""}),
            instance(3, "search", idle=True),
            instance(4, None),
        ],
    )
    db = open_reader(db_path)
    try:
        payments, search = weekly_digests(db, cfg, WEEK, ["payments", "search"])
    finally:
        db.close()
    # The idle job's run-rate: the instance's cost in September, the last whole month.
    assert (payments.idle.count, payments.idle.cost_micros) == (2, 30_300_000)
    assert search.idle.count == 1
    # /untagged's figure: resources missing a required tag, and their cost in October.
    assert payments.untagged.count >= 2 and payments.untagged.basis == (
        # Resource-level cost is kept by month: the month's as loaded, through its last day.
        "in October 2026 through Sun 25 Oct"
    )


def test_the_store_is_read_in_as_many_queries_for_500_teams_as_for_2(tmp_path):
    cfg = config()
    db_path = load(tmp_path, cfg)
    add_inventory(db_path, [instance(n, f"team-{n}", idle=False) for n in range(1, 40)])
    many = ["payments", "search", *[f"team-{n}" for n in range(498)]]

    def statements(teams):
        db = open_reader(db_path)
        seen = []
        db.conn.set_trace_callback(seen.append)
        try:
            digests = weekly_digests(db, cfg, WEEK, teams)
        finally:
            db.close()
        return digests, len(seen)

    few, few_statements = statements(["payments", "search"])
    digests, many_statements = statements(many)
    assert len(digests) == 500 and many_statements <= few_statements
    assert [d.spend for d in digests[:2]] == [d.spend for d in few]
    assert all(d.quiet for d in digests[2:])
