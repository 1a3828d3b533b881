"""Which days an AWS cost sync re-reads (`plan_sync`, shared by Cost Explorer and Athena)."""

from __future__ import annotations

from datetime import date

import pytest

from bot.config import AwsSettings
from bot.sources.aws.plan import plan_sync

SETTINGS = AwsSettings(restate_days=3, bill_final_day=5, backfill_months=13)


def span(plan) -> tuple[str, str]:
    return plan.start.isoformat(), plan.end.isoformat()


def test_the_first_sync_backfills_whole_months_through_yesterday():
    plan = plan_sync(None, date(2026, 11, 20), SETTINGS)
    assert span(plan) == ("2025-11-01", "2026-11-19")
    assert len(plan.months()) == 13
    assert plan.reasons == ("first sync: back-fill 13 months",)
    assert plan.time_period == {"Start": "2025-11-01", "End": "2026-11-20"}  # End exclusive


def test_a_daily_sync_rereads_the_restated_days_only():
    plan = plan_sync(date(2026, 11, 19), date(2026, 11, 20), SETTINGS)
    assert span(plan) == ("2026-11-17", "2026-11-19")


def test_a_source_read_by_the_month_rereads_the_whole_current_month():
    plan = plan_sync(date(2026, 11, 19), date(2026, 11, 20), SETTINGS, whole_current_month=True)
    assert span(plan) == ("2026-11-01", "2026-11-19")
    assert plan.months() == ["2026-11"]


def test_the_previous_month_is_reread_until_its_bill_is_final():
    early = plan_sync(date(2026, 12, 4), date(2026, 12, 5), SETTINGS, whole_current_month=True)
    assert span(early) == ("2026-11-01", "2026-12-04")
    assert "2026-11 until its bill is final (day 5)" in early.describe()
    later = plan_sync(date(2026, 12, 5), date(2026, 12, 6), SETTINGS, whole_current_month=True)
    assert span(later) == ("2026-12-01", "2026-12-05")


def test_on_the_first_of_a_month_the_month_just_ended_is_read_whole():
    plan = plan_sync(date(2026, 11, 30), date(2026, 12, 1), SETTINGS, whole_current_month=True)
    assert span(plan) == ("2026-11-01", "2026-11-30")


def test_a_gap_since_the_last_sync_is_filled_but_never_past_the_backfill():
    plan = plan_sync(date(2026, 9, 10), date(2026, 11, 20), SETTINGS)
    assert span(plan) == ("2026-09-09", "2026-11-19")
    old = plan_sync(date(2024, 1, 10), date(2026, 11, 20), SETTINGS)
    assert span(old) == ("2025-11-01", "2026-11-19")


def test_days_overrides_the_plan():
    plan = plan_sync(date(2026, 11, 19), date(2026, 11, 20), SETTINGS, 7, whole_current_month=True)
    assert span(plan) == ("2026-11-13", "2026-11-19")
    with pytest.raises(ValueError, match="at least 1"):
        plan_sync(None, date(2026, 11, 20), SETTINGS, 0)
