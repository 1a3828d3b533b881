"""One store, several sources: FOCUS files, Athena aggregates and Cost Explorer's grouped
totals side by side. Each source replaces only its own rows, and when two cover the same billing
account and month the answers read the one of higher precedence (FOCUS, then Athena, then Cost
Explorer) and never both."""

from __future__ import annotations

from datetime import date

import pytest
from focus_rows import focus_row, write_rows

from bot.config import Config
from bot.periods import Period
from bot.sources.focus_ingest import ingest_focus
from bot.store import open_store, queries
from bot.store.queries import Scope
from bot.store.schema import daily_row
from bot.store.writers import SourceLoad, write_source_rows

PAYER = "111111111111"
MEMBER = "222222222222"
OCTOBER = Period(date(2026, 10, 1), date(2026, 10, 31), "month", "2026-10")
SEPTEMBER = Period(date(2026, 9, 1), date(2026, 9, 30), "month", "2026-09")
EC2 = "Amazon Elastic Compute Cloud - Compute"
RDS = "Amazon Relational Database Service"


def _grouped_rows(day: date, cost_by_team_service_account: dict, *, source_payer=PAYER):
    """What Cost Explorer answers for one day, from the three-way truth: the team x service
    sums (grain team,service) and the team x account sums (grain team,account)."""
    by_team_service: dict[tuple, int] = {}
    by_team_account: dict[tuple, int] = {}
    for (team, service, account), micros in cost_by_team_service_account.items():
        by_team_service[team, service] = by_team_service.get((team, service), 0) + micros
        by_team_account[team, account] = by_team_account.get((team, account), 0) + micros
    common = {
        "date": day.isoformat(),
        "provider": "AWS",
        "billing_account_id": source_payer,
        "currency": "USD",
        "billing_period": day.isoformat()[:7],
    }
    rows = [
        (
            *daily_row(**common, team=t, service=s, effective_micros=m, billed_micros=m),
            "team,service",
        )
        for (t, s), m in by_team_service.items()
    ]
    rows += [
        (
            *daily_row(**common, team=t, account_id=a, effective_micros=m, billed_micros=m),
            "team,account",
        )
        for (t, a), m in by_team_account.items()
    ]
    return rows


# Per day: payments spends $10.00 on EC2 in the member account and $2.50 on RDS in the
# payer; search spends $4.25 on EC2 in the member account; $1.00 is untagged.
TRUTH = {
    ("payments", EC2, MEMBER): 10_000_000,
    ("payments", RDS, PAYER): 2_500_000,
    ("search", EC2, MEMBER): 4_250_000,
    (None, EC2, PAYER): 1_000_000,
}


def _cost_explorer_load(start: date, end: date, truth=TRUTH, source="cost-explorer") -> SourceLoad:
    rows = []
    for day in Period(start, end, "rolling", "").dates():
        rows += _grouped_rows(day, truth)
    return SourceLoad(
        source=source,
        description=f"test {start}..{end}",
        start=start,
        end=end,
        rows=rows,
        billing_account_id=PAYER,
    )


@pytest.fixture
def store(tmp_path):
    db = open_store(tmp_path / "costbot.db")
    yield db
    db.close()


def test_grouped_rows_answer_every_cost_view_once(store):
    write_source_rows(store, _cost_explorer_load(date(2026, 9, 1), date(2026, 9, 30)))
    days = 30
    assert queries.total(store, SEPTEMBER) == days * 17_750_000
    assert queries.total(store, SEPTEMBER, Scope(team="payments")) == days * 12_500_000
    assert queries.total(store, SEPTEMBER, Scope(service=EC2)) == days * 15_250_000
    assert queries.total(store, SEPTEMBER, Scope(account=MEMBER)) == days * 14_250_000
    by_service = {
        s.name: s.micros
        for s in queries.breakdown(store, SEPTEMBER, "service", Scope(team="payments"))
    }
    assert by_service == {EC2: days * 10_000_000, RDS: days * 2_500_000}
    by_team = {
        s.name: s.micros for s in queries.breakdown(store, SEPTEMBER, "team", Scope(account=MEMBER))
    }
    assert by_team == {"payments": days * 10_000_000, "search": days * 4_250_000}
    by_team = {
        s.name: s.micros for s in queries.breakdown(store, SEPTEMBER, "team", Scope(service=EC2))
    }
    assert by_team == {
        "payments": days * 10_000_000,
        "search": days * 4_250_000,
        "(untagged)": days * 1_000_000,
    }
    assert queries.daily_series(store, SEPTEMBER)[0] == (date(2026, 9, 1), 17_750_000)
    # Service within account has no exact Cost Explorer grouping: not answered from it.
    assert queries.total(store, SEPTEMBER, Scope(service=EC2, account=MEMBER)) == 0


def _load_focus(tmp_path, db_path, rows):
    ingest_focus([str(write_rows(tmp_path / "focus.csv", rows))], Config(), db_path)


def _focus_october(payments_cost: str = "7.00"):
    return [
        focus_row(
            date(2026, 10, day),
            payments_cost,
            team="payments",
            service=EC2,
            billing_account=(PAYER, "Acme"),
            sub_account=(MEMBER, "acme-prod"),
        )
        for day in range(1, 32)
    ]


def test_focus_wins_where_both_cover_a_billing_account_and_month(store, tmp_path):
    write_source_rows(store, _cost_explorer_load(date(2026, 9, 1), date(2026, 10, 31)))
    _load_focus(
        tmp_path, store.conn.execute("PRAGMA database_list").fetchone()[2], _focus_october()
    )
    # October: FOCUS alone ($7.00 a day for payments), never FOCUS + Cost Explorer.
    assert queries.total(store, OCTOBER) == 31 * 7_000_000
    assert queries.total(store, OCTOBER, Scope(team="payments")) == 31 * 7_000_000
    assert queries.total(store, OCTOBER, Scope(account=MEMBER)) == 31 * 7_000_000
    # September: only Cost Explorer covers it, and it still counts.
    assert queries.total(store, SEPTEMBER) == 30 * 17_750_000
    # The FOCUS load replaced FOCUS rows only: Cost Explorer's October is kept, set aside.
    kept = store.execute(
        "SELECT count(*), min(superseded) FROM daily_cost"
        " WHERE source = 'cost-explorer' AND date >= '2026-10-01'"
    ).fetchone()
    assert kept == (31 * 8, 1)  # 4 team x service + 4 team x account rows a day


def test_cost_explorer_loaded_after_focus_is_superseded_too(store, tmp_path):
    _load_focus(
        tmp_path, store.conn.execute("PRAGMA database_list").fetchone()[2], _focus_october()
    )
    write_source_rows(store, _cost_explorer_load(date(2026, 10, 1), date(2026, 10, 31)))
    assert queries.total(store, OCTOBER) == 31 * 7_000_000


def test_reloading_a_source_replaces_only_its_own_rows_in_its_days(store, tmp_path):
    db_file = store.conn.execute("PRAGMA database_list").fetchone()[2]
    _load_focus(tmp_path, db_file, _focus_october())
    write_source_rows(store, _cost_explorer_load(date(2026, 9, 1), date(2026, 9, 30)))
    # Cost Explorer restates the last three days of September: only those are re-read.
    restated = {key: micros * 2 for key, micros in TRUTH.items()}
    write_source_rows(store, _cost_explorer_load(date(2026, 9, 28), date(2026, 9, 30), restated))
    assert queries.total(store, SEPTEMBER) == 27 * 17_750_000 + 3 * 35_500_000
    assert queries.total(store, OCTOBER) == 31 * 7_000_000
    focus_rows = store.execute("SELECT count(*) FROM daily_cost WHERE source = 'focus'").fetchone()[
        0
    ]
    assert focus_rows == 31


def test_athena_wins_over_cost_explorer_and_focus_over_athena(store, tmp_path):
    write_source_rows(store, _cost_explorer_load(date(2026, 9, 1), date(2026, 10, 31)))
    athena_rows = [
        (
            *daily_row(
                date=f"2026-09-{day:02d}",
                provider="AWS",
                billing_account_id=PAYER,
                account_id=MEMBER,
                team="payments",
                service=EC2,
                currency="USD",
                billing_period="2026-09",
                effective_micros=3_000_000,
                billed_micros=3_000_000,
            ),
            None,
        )
        for day in range(1, 31)
    ]
    write_source_rows(
        store,
        SourceLoad(
            "athena",
            "athena test",
            date(2026, 9, 1),
            date(2026, 9, 30),
            athena_rows,
            billing_account_id=PAYER,
        ),
    )
    assert queries.total(store, SEPTEMBER) == 30 * 3_000_000
    assert queries.total(store, SEPTEMBER, Scope(service=EC2, account=MEMBER)) == 30 * 3_000_000
    # October is Cost Explorer's alone.
    assert queries.total(store, OCTOBER) == 31 * 17_750_000


def test_a_bad_row_writes_nothing(store):
    write_source_rows(store, _cost_explorer_load(date(2026, 9, 1), date(2026, 9, 30)))
    before = store.execute("SELECT count(*), sum(effective_micros) FROM daily_cost").fetchone()
    load = _cost_explorer_load(date(2026, 9, 1), date(2026, 9, 30))
    load.rows.append((*load.rows[0][:-1], "service,region"))
    with pytest.raises(ValueError, match="grain"):
        write_source_rows(store, load)
    assert (
        store.execute("SELECT count(*), sum(effective_micros) FROM daily_cost").fetchone() == before
    )
