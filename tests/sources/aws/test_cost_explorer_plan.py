"""What a Cost Explorer sync reads: a pure function of the last sync, today and the
settings."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.config import AwsSettings
from bot.sources.aws.cost_explorer import PaidRequests, plan_sync

SETTINGS = AwsSettings()  # restate_days 3, bill_final_day 5, backfill_months 13


def span(plan) -> tuple[str, str]:
    return plan.start.isoformat(), plan.end.isoformat()


def test_the_first_sync_backfills_13_months_through_yesterday():
    plan = plan_sync(None, date(2026, 11, 20), SETTINGS)
    assert span(plan) == ("2025-11-01", "2026-11-19")
    assert plan.time_period == {"Start": "2025-11-01", "End": "2026-11-20"}
    assert len(plan.months()) == 13
    assert plan.reasons == ("first sync: back-fill 13 months",)


def test_backfill_months_is_a_setting():
    plan = plan_sync(None, date(2026, 1, 10), AwsSettings(backfill_months=3))
    assert span(plan) == ("2025-11-01", "2026-01-09")


def test_a_daily_sync_rereads_the_last_restate_days():
    plan = plan_sync(date(2026, 11, 19), date(2026, 11, 20), SETTINGS)
    assert span(plan) == ("2026-11-17", "2026-11-19")
    # the same the next day: each day is read at 1, 2 and 3 days old
    plan = plan_sync(date(2026, 11, 19), date(2026, 11, 21), SETTINGS)
    assert span(plan) == ("2026-11-18", "2026-11-20")


def test_a_gap_since_the_last_sync_is_read_with_the_days_it_left_open():
    plan = plan_sync(date(2026, 11, 9), date(2026, 11, 20), SETTINGS)
    # the last sync (on the 10th) read the 8th and 9th when they could still change
    assert span(plan) == ("2026-11-08", "2026-11-19")
    assert "the days since the last sync (through 2026-11-09)" in plan.reasons


def test_the_previous_month_is_reread_until_its_bill_is_final():
    for today in (date(2026, 11, 1), date(2026, 11, 5)):
        plan = plan_sync(today - timedelta(days=2), today, SETTINGS)
        assert span(plan) == ("2026-10-01", (today - timedelta(days=1)).isoformat())
    plan = plan_sync(date(2026, 11, 5), date(2026, 11, 6), SETTINGS)
    assert span(plan) == ("2026-11-03", "2026-11-05")
    plan = plan_sync(date(2026, 12, 31), date(2027, 1, 2), AwsSettings(bill_final_day=2))
    assert span(plan) == ("2026-12-01", "2027-01-01")


def test_a_very_old_last_sync_reads_no_further_back_than_the_backfill():
    plan = plan_sync(date(2023, 1, 31), date(2026, 11, 20), SETTINGS)
    assert span(plan) == ("2025-11-01", "2026-11-19")


def test_days_rereads_the_last_n_days():
    plan = plan_sync(date(2026, 11, 19), date(2026, 11, 20), SETTINGS, days=7)
    assert span(plan) == ("2026-11-13", "2026-11-19")
    assert plan.describe() == "2026-11-13 .. 2026-11-19 (7 days): --days 7"
    with pytest.raises(ValueError):
        plan_sync(None, date(2026, 11, 20), SETTINGS, days=0)


def test_the_paid_request_line():
    paid = PaidRequests()
    assert paid.line() == "Cost Explorer: 0 paid requests ($0.00)"
    paid.count("GetCostAndUsage")
    assert paid.line() == "Cost Explorer: 1 paid request ($0.01)"
    for _ in range(6):
        paid.count("GetCostForecast")
    assert paid.line() == "Cost Explorer: 7 paid requests ($0.07)"
    assert paid.cost_text() == "0.07"
