"""The query module over a small hand-made store: totals, previous period, breakdowns,
daily series, and name resolution over them."""

from datetime import date

import pytest

from bot.analytics import names
from bot.periods import parse_period
from bot.store import open_store, queries
from bot.store.queries import UNTAGGED, Scope

TODAY = date(2026, 11, 27)


@pytest.fixture
def db():
    store = open_store(":memory:")
    rows = [
        # date, team, service, account, micros
        ("2026-11-02", "payments", "Amazon EC2", "222", 10_000_000),
        ("2026-11-02", "payments", "Amazon RDS", "222", 5_250_000),
        ("2026-11-03", "search", "Amazon EC2", "333", 7_005_000),
        ("2026-11-03", None, "Amazon S3", "333", 1_000_001),
        ("2026-10-02", "payments", "Amazon EC2", "222", 8_000_000),
        ("2026-10-30", "payments", "Amazon EC2", "222", 99_000_000),  # outside Oct 1-26
    ]
    store["daily_cost"].insert_all(
        {
            "date": d,
            "provider": "AWS",
            "billing_account_id": "111",
            "account_id": acct,
            "team": team,
            "service": svc,
            "billing_period": d[:7],
            "effective_micros": micros,
            "billed_micros": micros + 1,
            "list_micros": micros + 2,
        }
        for d, team, svc, acct, micros in rows
    )
    store["accounts"].insert(
        {"provider": "AWS", "account_id": "222", "name": "acme-prod", "kind": "sub"}
    )
    return store


def test_totals_by_scope_and_metric(db):
    mtd = parse_period("mtd", TODAY)
    assert queries.total(db, mtd) == 23_255_001
    assert queries.total(db, mtd, Scope(team="payments")) == 15_250_000
    assert queries.total(db, mtd, Scope(team=UNTAGGED)) == 1_000_001
    assert queries.total(db, mtd, Scope(service="Amazon EC2")) == 17_005_000
    assert queries.total(db, mtd, Scope(account="222"), metric="billed") == 15_250_002
    assert queries.total(db, mtd.previous(), Scope(team="payments")) == 8_000_000


def test_breakdown_and_compare(db):
    mtd = parse_period("mtd", TODAY)
    assert [(s.name, s.micros) for s in queries.breakdown(db, mtd, "team")] == [
        ("payments", 15_250_000),
        ("search", 7_005_000),
        (UNTAGGED, 1_000_001),
    ]
    assert len(queries.breakdown(db, mtd, "team", limit=1)) == 1
    changes = {c.name: (c.current, c.previous) for c in queries.compare(db, mtd, "team")}
    assert changes["payments"] == (15_250_000, 8_000_000)
    assert changes["search"] == (7_005_000, 0)


def test_daily_series_fills_every_day(db):
    period = parse_period("7d", date(2026, 11, 5))
    series = queries.daily_series(db, period, Scope(team="payments"))
    assert [d for d, _ in series] == period.dates()
    assert dict(series)[date(2026, 11, 2)] == 15_250_000
    assert sum(a for _, a in series) == 15_250_000 + 99_000_000  # Oct 30 is in Oct 29 - Nov 4


def test_amounts_are_summed_per_billing_currency(db):
    db["daily_cost"].insert_all(
        {
            "date": "2026-11-04",
            "provider": "Azure",
            "billing_account_id": "eu",
            "account_id": "sub-eu",
            "team": "payments",
            "service": "Virtual Machines",
            "billing_period": "2026-11",
            "currency": code,
            "effective_micros": micros,
            "billed_micros": micros,
            "list_micros": micros,
        }
        for code, micros in (("EUR", 4_000_000), ("eur", 500_000), (None, 2))
    )
    mtd = parse_period("mtd", TODAY)
    # The hand-made rows above have no currency: taken as USD; `eur` is EUR.
    assert queries.currencies(db, mtd) == {"USD": 23_255_003, "EUR": 4_500_000}
    assert queries.currencies(db, mtd, Scope(team="payments")) == {
        "USD": 15_250_002,
        "EUR": 4_500_000,
    }
    euros = Scope(team="payments", currency="eur")
    assert queries.total(db, mtd, euros) == 4_500_000
    assert [(c.name, c.current) for c in queries.compare(db, mtd, "service", euros)] == [
        ("Virtual Machines", 4_500_000)
    ]
    assert dict(queries.daily_series(db, mtd, euros))[date(2026, 11, 4)] == 4_500_000
    assert queries.currencies(db, parse_period("2026-01", TODAY)) == {}


def test_compare_without_a_previous_period(db):
    mtd = parse_period("mtd", TODAY)
    changes = queries.compare(db, mtd, "team", with_previous=False)
    assert [(c.name, c.current, c.previous) for c in changes] == [
        ("payments", 15_250_000, 0),
        ("search", 7_005_000, 0),
        (UNTAGGED, 1_000_001, 0),
    ]


def test_name_resolution(db):
    def scope(text):
        match = names.resolve_account(db, text)
        return match.account.scope if match.account else None

    assert scope("ACME-PROD") == Scope(account="222")
    assert scope("333") == Scope(account="333")
    assert scope("111") == Scope(billing_account="111")  # known only from the cost rows
    assert scope("nope") is None
    assert names.resolve_service(db, "amazon rds").service == "Amazon RDS"
    ambiguous = names.resolve_service(db, "Amazon")
    assert ambiguous.service is None and set(ambiguous.candidates) == {
        "Amazon EC2",
        "Amazon RDS",
        "Amazon S3",
    }
    assert names.closest("paymnts", ["payments", "search"]) == ["payments"]
