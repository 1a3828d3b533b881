"""What a Cost Explorer sync reads beyond the plan every AWS source shares (tests/sources/aws/
test_plan.py): the previous month is checked by its daily totals rather than re-read by team,
and what the paid requests cost."""

from __future__ import annotations

from datetime import date

from bot.config import AwsSettings
from bot.sources.aws.cost_explorer import PaidRequests
from bot.sources.aws.plan import plan_sync

SETTINGS = AwsSettings()  # restate_days 3, bill_final_day 5, backfill_months 13


def span(plan) -> tuple[str, str]:
    return plan.start.isoformat(), plan.end.isoformat()


def test_until_the_bill_is_final_the_previous_month_is_checked_not_reread():
    plan = plan_sync(date(2026, 11, 2), date(2026, 11, 3), SETTINGS, check_earlier_days=True)
    assert span(plan) == ("2026-10-31", "2026-11-02")
    assert plan.check == (date(2026, 10, 1), date(2026, 10, 30))
    assert plan.first_day() == date(2026, 10, 1)
    assert "where Cost Explorer's daily totals by team changed" in plan.describe()
    # On the 1st the restated days reach back into the previous month: the check stops there.
    plan = plan_sync(date(2026, 10, 31), date(2026, 11, 1), SETTINGS, check_earlier_days=True)
    assert span(plan) == ("2026-10-29", "2026-10-31")
    assert plan.check == (date(2026, 10, 1), date(2026, 10, 28))


def test_once_the_bill_is_final_the_current_month_is_checked():
    plan = plan_sync(date(2026, 11, 5), date(2026, 11, 6), SETTINGS, check_earlier_days=True)
    assert span(plan) == ("2026-11-03", "2026-11-05")
    assert plan.check == (date(2026, 11, 1), date(2026, 11, 2))
    plan = plan_sync(date(2026, 11, 19), date(2026, 11, 20), SETTINGS, check_earlier_days=True)
    assert plan.check == (date(2026, 11, 1), date(2026, 11, 16))
    # Nothing before the restated days in this month: nothing to check.
    settings = AwsSettings(restate_days=7)
    plan = plan_sync(date(2026, 11, 6), date(2026, 11, 7), settings, check_earlier_days=True)
    assert plan.check is None


def test_the_check_crosses_a_year_and_respects_bill_final_day():
    settings = AwsSettings(bill_final_day=2)
    plan = plan_sync(date(2027, 1, 1), date(2027, 1, 2), settings, check_earlier_days=True)
    assert span(plan) == ("2026-12-30", "2027-01-01")
    assert plan.check == (date(2026, 12, 1), date(2026, 12, 29))
    later = plan_sync(date(2027, 1, 2), date(2027, 1, 3), settings, check_earlier_days=True)
    assert later.check is None  # the restated days (Dec 31 .. Jan 2) start before January


def test_a_first_sync_and_days_have_nothing_to_check():
    assert plan_sync(None, date(2026, 11, 3), SETTINGS, check_earlier_days=True).check is None
    plan = plan_sync(date(2026, 11, 2), date(2026, 11, 3), SETTINGS, 7, check_earlier_days=True)
    assert (span(plan), plan.check) == (("2026-10-27", "2026-11-02"), None)


def test_a_store_synced_only_with_days_is_still_backfilled():
    # `costbot sync aws --days 10` on an empty store, then the daily sync: back-fill then.
    plan = plan_sync(
        date(2026, 11, 19), date(2026, 11, 20), SETTINGS, first_start=date(2026, 11, 10)
    )
    assert span(plan) == ("2025-11-01", "2026-11-19")
    # Back-filled once: later months' syncs are daily ones (the window moves on).
    plan = plan_sync(date(2026, 12, 9), date(2026, 12, 10), SETTINGS, first_start=date(2025, 11, 1))
    assert span(plan) == ("2026-12-07", "2026-12-09")


def test_backfill_months_is_a_setting():
    plan = plan_sync(None, date(2026, 1, 10), AwsSettings(backfill_months=3))
    assert span(plan) == ("2025-11-01", "2026-01-09")


def test_the_paid_request_line():
    paid = PaidRequests()
    assert paid.line() == "Cost Explorer: 0 paid requests ($0.00)"
    paid.count("GetCostAndUsage")
    assert paid.line() == "Cost Explorer: 1 paid request ($0.01)"
    for _ in range(6):
        paid.count("GetCostForecast")
    assert paid.line() == "Cost Explorer: 7 paid requests ($0.07)"
    assert paid.cost_text() == "0.07"
