"""The run-rate a stop saves, from resource-level cost loaded through the real FOCUS ingest:
the last whole month when there is one, else the month to date scaled to the whole month,
else nothing measurable. Each figure is checked against a Decimal sum of the rows."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest
from focus_rows import focus_row, write_rows

from bot.analytics.savings import monthly_run_rate
from bot.config import Config
from bot.sources.focus_ingest import ingest_focus
from bot.store import open_store, queries, writers

CONFIG = Config()
ACCOUNT = "222222222222"
ARN = f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0old"
OCTOBER = [(f"2026-10-{d:02d}", "12.345678") for d in range(1, 32)]
NOVEMBER = [(f"2026-11-{d:02d}", "20.000001") for d in range(1, 11)]
YOUNG = [(f"2026-11-{d:02d}", "3.333333") for d in range(4, 11)]


def _row(day: str, cost: str, resource: str) -> dict:
    return focus_row(
        date.fromisoformat(day), cost, sub_account=(ACCOUNT, "prod"), resource=resource
    )


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    folder = tmp_path_factory.mktemp("savings")
    rows = [_row(day, cost, ARN) for day, cost in OCTOBER + NOVEMBER]
    # A resource younger than a month, billed under its bare id (as the CUR writes it).
    rows += [_row(day, cost, "i-0young") for day, cost in YOUNG]
    path = folder / "costbot.db"
    ingest_focus([str(write_rows(folder / "focus.csv", rows))], CONFIG, path)
    store = open_store(path)
    yield store
    store.close()


def micros(dollars: Decimal) -> int:
    return int((dollars * 1_000_000).to_integral_value(rounding=ROUND_HALF_UP))


def test_the_last_whole_month_is_the_run_rate(db) -> None:
    rate = monthly_run_rate(
        db, CONFIG, arn=ARN, resource_id="i-0old", account=ACCOUNT, day=date(2026, 11, 11)
    )
    assert rate.monthly_micros == micros(sum(Decimal(c) for _, c in OCTOBER))  # $382.72
    assert rate.basis == "its cost in October 2026"


def test_a_young_resource_is_scaled_from_its_month_to_date(db) -> None:
    rate = monthly_run_rate(
        db,
        CONFIG,
        arn=f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0young",
        resource_id="i-0young",
        account=ACCOUNT,
        day=date(2026, 11, 11),
    )
    to_date = sum(Decimal(c) for _, c in YOUNG)
    assert rate.monthly_micros == micros(to_date * 30 / 10)
    assert "1 to 10 November 2026" in rate.basis


def test_no_cost_and_the_wrong_account_measure_nothing(db) -> None:
    for account in ("999999999999", None):
        rate = monthly_run_rate(
            db,
            CONFIG,
            arn=f"arn:aws:ec2:us-east-1:{account}:instance/i-0young",
            resource_id="i-0young",
            account=account,
            day=date(2026, 11, 11),
        )
        assert rate.monthly_micros == 0 and "nothing measurable" in rate.basis
    # On the 1st, nothing of the month has been billed yet and October is whole.
    assert calendar.monthrange(2026, 10)[1] == 31
    first = monthly_run_rate(
        db, CONFIG, arn=ARN, resource_id="i-0old", account=ACCOUNT, day=date(2026, 11, 1)
    )
    assert first.basis == "its cost in October 2026"


def test_a_saving_is_recorded_once_per_resource_action_and_day(db) -> None:
    at = datetime(2026, 11, 11, 9, 30, tzinfo=UTC)
    saving = dict(
        arn=ARN,
        action="idle-stop",
        monthly_micros=382_716_018,
        currency="USD",
        basis="its cost in October 2026",
        actor="U0ALICE",
        team="payments",
    )
    assert writers.record_saving(db, at=at, **saving) is True
    assert writers.record_saving(db, at=at.replace(hour=15), **saving) is False
    assert writers.record_saving(db, at=at, **(saving | {"action": "enforcement-stop"}))
    with pytest.raises(ValueError, match="unknown saving action"):
        writers.record_saving(db, at=at, **(saving | {"action": "deleted-by-hand"}))
    found = queries.verified_savings(db, date(2026, 11, 1), date(2026, 11, 30))
    assert [(s["action"], s["monthly_micros"], s["actor"]) for s in found] == [
        ("idle-stop", 382_716_018, "U0ALICE"),
        ("enforcement-stop", 382_716_018, "U0ALICE"),
    ]
    assert queries.verified_savings(db, date(2026, 12, 1), date(2026, 12, 31)) == []


def test_an_audit_row_for_a_claim_and_bad_steps_refused(db) -> None:
    at = datetime(2026, 11, 11, 9, 30, tzinfo=UTC)
    before = db["enforcement_audit"].count
    writers.record_audit(
        db,
        at=at,
        arn=ARN,
        step="claim",
        outcome="done",
        reason="Tagged Team=payments.",
        actor="U0BOB",
    )
    (row,) = queries.enforcement_audit(db, ARN)
    assert (row["step"], row["actor"], row["run_date"], row["dry"]) == (
        "claim",
        "U0BOB",
        "2026-11-11",
        0,
    )
    for bad in ({"step": "delete"}, {"outcome": "maybe"}):
        fields = dict(arn=ARN, step="claim", outcome="done", reason="r", actor="U0BOB") | bad
        with pytest.raises(ValueError):
            writers.record_audit(db, at=at, **fields)
    assert db["enforcement_audit"].count == before + 1
