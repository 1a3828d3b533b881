"""`costbot sync aws` against a fake Cost Explorer over HTTP that answers from its own rows:
the store and the `/cost` answers are checked, to the cent, against independent sums of those
rows, and the paid requests printed against the fake's own count. STS (the payer's account id)
is moto's: `AWS_ENDPOINT_URL` points at moto, `AWS_ENDPOINT_URL_COST_EXPLORER` at the fake."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
import sqlite_utils
from fake_cost_explorer import COMPUTE, CostRow, FakeCostExplorer
from focus_factory import money_text
from focus_rows import dollars_of, focus_row, write_rows

from bot.cli import main

PAYER = "123456789012"  # moto's account: what sts:GetCallerIdentity answers
TODAY = date(2026, 11, 20)
ACCOUNTS = {"111111111111": "shop-prod", "222222222222": "shop-dev", "333333333333": "data"}
SERVICES = (COMPUTE, "Amazon Simple Storage Service", "Amazon Relational Database Service")
# Tag values as engineers type them: "Payments" and "payments" are one team, "plat-eng" is an
# alias of platform, None is untagged.
TAG_VALUES = ("Payments", "payments", "search", "plat-eng", None)
CONFIG = """\
tag_keys: [Team]
teams:
  - name: payments
  - name: search
  - name: platform
    aliases: [plat-eng]
"""
CANONICAL = {"Payments": "payments", "payments": "payments", "plat-eng": "platform"}


def known_rows(start: date, end: date) -> list[CostRow]:
    """Every day: each tag value spends on each service in two accounts, with the long
    decimals Cost Explorer returns; amounts vary by day so that a wrong day shows."""
    rows = []
    day = start
    while day <= end:
        n = (day - start).days
        for t, tag in enumerate(TAG_VALUES):
            for s, service in enumerate(SERVICES):
                for a, account in enumerate(list(ACCOUNTS)[t % 2 : t % 2 + 2]):
                    amount = Decimal(1 + (n * 7 + t * 13 + s * 5 + a * 3) % 97) + Decimal(
                        f"0.{(n * 31 + t * 7 + s) % 9973:04d}123456"
                    )
                    rows.append(CostRow(day, account, tag, service, str(amount), str(amount * 2)))
        day += timedelta(days=1)
    return rows


def truth(fake: FakeCostExplorer, start: date, end: date, **where) -> str:
    """The independent sum (AmortizedCost) of the fake's rows, `$1,234.57`."""
    total = Decimal(0)
    for row in fake.rows:
        if not start <= row.day <= end:
            continue
        team = CANONICAL.get(row.team, row.team) if row.team else None
        values = {"team": team, "service": row.service, "account": row.account}
        if all(values[name] == value for name, value in where.items()):
            total += Decimal(row.amortized)
    return money_text(total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


@pytest.fixture
def fake_ce(aws, monkeypatch, tmp_path):
    """A fake Cost Explorer holding Oct 2025 .. Nov 2026, the environment pointed at it (and
    at moto for everything else), a config and an empty store path."""
    rows = known_rows(date(2025, 10, 1), date(2026, 11, 30))
    with FakeCostExplorer(rows, page_size=500, account_names=ACCOUNTS) as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_COST_EXPLORER", fake.url)
        config = tmp_path / "costbot.yml"
        config.write_text(CONFIG)
        monkeypatch.setenv("COSTBOT_CONFIG", str(config))
        monkeypatch.setenv("COSTBOT_DB", str(tmp_path / "costbot.db"))
        yield fake


def sync(capsys, today: date = TODAY, *extra: str) -> tuple[int, list[str], str]:
    code = main(["sync", "aws", "--today", today.isoformat(), *extra])
    captured = capsys.readouterr()
    return code, captured.out.strip().splitlines(), captured.err


def ask(capsys, text: str, today: date = TODAY) -> str:
    assert main(["ask", "--today", today.isoformat(), text]) == 0
    return capsys.readouterr().out


def paid_line(count: int) -> str:
    noun = "paid request" if count == 1 else "paid requests"
    return f"Cost Explorer: {count} {noun} (${count / 100:.2f})"


def cost_requests(fake: FakeCostExplorer, granularity: str = "DAILY") -> list[dict]:
    return [
        body
        for operation, body in fake.requests
        if operation == "GetCostAndUsage" and body["Granularity"] == granularity
    ]


def test_first_sync_backfills_13_months_and_stores_every_dollar(fake_ce, capsys, tmp_path):
    code, out, err = sync(capsys)

    assert code == 0, err
    assert out[-1] == paid_line(fake_ce.paid_requests)
    daily = cost_requests(fake_ce)
    # Two groupings, each over the whole range (today excluded: End is exclusive).
    assert {json.dumps(r["GroupBy"]) for r in daily} == {
        json.dumps([{"Type": "TAG", "Key": "Team"}, {"Type": "DIMENSION", "Key": k}])
        for k in ("SERVICE", "LINKED_ACCOUNT")
    }
    assert {(r["TimePeriod"]["Start"], r["TimePeriod"]["End"]) for r in daily} == {
        ("2025-11-01", "2026-11-20")
    }
    assert sorted(r["Metrics"] for r in daily)[0] == ["AmortizedCost", "UnblendedCost"]

    db = sqlite_utils.Database(tmp_path / "costbot.db")
    stored = db.execute(
        "SELECT min(date), max(date), count(DISTINCT grain) FROM daily_cost"
        " WHERE source = 'cost-explorer' AND billing_account_id = ?",
        [PAYER],
    ).fetchone()
    assert stored == ("2025-11-01", "2026-11-19", 2)
    # The inventory ran after the cost data, and has a run of its own.
    (run,) = list(db["sync_runs"].rows_where("source = 'cost-explorer'"))
    assert [r["source"] for r in db["sync_runs"].rows] == ["cost-explorer", "inventory"]
    assert run["paid_requests"] == fake_ce.paid_requests
    assert run["cost_micros"] == fake_ce.paid_requests * 10_000
    assert (run["period_start"], run["period_end"], run["status"]) == (
        "2025-11-01",
        "2026-11-19",
        "ok",
    )
    assert json.loads(run["detail"])["requests"] == dict(fake_ce.answered)
    # What was read, per month, to the cent: to check against the Cost Explorer console.
    october = truth(fake_ce, date(2026, 10, 1), date(2026, 10, 31))
    assert any(line.startswith(f"  2026-10 (days read): {october} amortized") for line in out)

    start, end = date(2025, 11, 1), date(2026, 11, 19)

    def stored_sum(grain: str, column: str, value) -> str:
        where = f"{column} IS ?" if value is None else f"{column} = ?"
        micros = db.execute(
            f"SELECT sum(effective_micros) FROM daily_cost WHERE grain = ? AND {where}",
            [grain, value],
        ).fetchone()[0]
        cents = (Decimal(micros) / 1_000_000).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        return money_text(cents)

    for team in ("payments", "search", "platform", None):
        assert stored_sum("team,service", "team", team) == truth(fake_ce, start, end, team=team)
        assert stored_sum("team,account", "team", team) == truth(fake_ce, start, end, team=team)
    for service in SERVICES:
        assert stored_sum("team,service", "service", service) == truth(
            fake_ce, start, end, service=service
        )
    for account in ACCOUNTS:
        assert stored_sum("team,account", "account_id", account) == truth(
            fake_ce, start, end, account=account
        )


def test_cost_answers_after_a_sync_are_the_known_totals(fake_ce, capsys):
    assert sync(capsys)[0] == 0
    october = (date(2026, 10, 1), date(2026, 10, 31))

    answer = ask(capsys, "/cost team payments 2026-10")
    assert truth(fake_ce, *october, team="payments") in answer

    answer = ask(capsys, "/cost account 222222222222 2026-10")
    assert truth(fake_ce, *october, account="222222222222") in answer
    # split by team, from the team x account rows
    assert truth(fake_ce, *october, account="222222222222", team="search") in answer

    # by the name Cost Explorer gave the account
    answer = ask(capsys, "/cost account shop-dev 2026-10")
    assert truth(fake_ce, *october, account="222222222222") in answer

    answer = ask(capsys, "/cost service ec2 2026-10")
    assert truth(fake_ce, *october, service=COMPUTE) in answer
    assert truth(fake_ce, *october, service=COMPUTE, team="platform") in answer

    # Totals count each dollar once: the team x service rows only.
    answer = ask(capsys, "/cost top teams 2026-10")
    assert truth(fake_ce, *october, team="platform") in answer


def test_a_daily_sync_rereads_only_the_days_that_can_change(fake_ce, capsys):
    assert sync(capsys)[0] == 0
    fake_ce.reset_counts()
    # Cost Explorer restates the last days; the next day, the sync must pick that up.
    fake_ce.restate(date(2026, 11, 18), factor="1.5")
    fake_ce.restate(date(2026, 11, 19), factor="0.5", team="payments")
    next_day = TODAY + timedelta(days=1)

    code, out, _ = sync(capsys, next_day)

    assert code == 0
    assert out[-1] == paid_line(fake_ce.paid_requests)
    requests = cost_requests(fake_ce)
    assert _periods(requests, grouped=True) == {("2026-11-18", "2026-11-21")}
    # The month's earlier days: one request of daily totals, unchanged, so not re-read.
    assert _periods(requests, grouped=False) == {("2026-11-01", "2026-11-18")}
    november = (date(2026, 11, 1), date(2026, 11, 20))
    answer = ask(capsys, "/cost team payments 2026-11", next_day)
    assert truth(fake_ce, *november, team="payments") in answer
    answer = ask(capsys, "/cost account 111111111111 2026-11", next_day)
    assert truth(fake_ce, *november, account="111111111111") in answer


def _periods(requests: list[dict], grouped: bool) -> set[tuple[str, str]]:
    """The days of the requests by team x service / account (`grouped`), or of the checks
    of daily totals by team (not `grouped`)."""
    return {
        (r["TimePeriod"]["Start"], r["TimePeriod"]["End"])
        for r in requests
        if (len(r.get("GroupBy") or []) == 2) == grouped
    }


def test_a_restatement_older_than_the_restated_days_is_caught_by_the_daily_totals(fake_ce, capsys):
    assert sync(capsys)[0] == 0
    fake_ce.reset_counts()
    fake_ce.restate(date(2026, 11, 9), factor="3", team="search")
    next_day = TODAY + timedelta(days=1)

    assert sync(capsys, next_day)[0] == 0

    assert _periods(cost_requests(fake_ce), grouped=True) == {
        ("2026-11-09", "2026-11-10"),
        ("2026-11-18", "2026-11-21"),
    }
    november = (date(2026, 11, 1), date(2026, 11, 20))
    answer = ask(capsys, "/cost team search 2026-11", next_day)
    assert truth(fake_ce, *november, team="search") in answer


def test_cost_moved_between_teams_is_caught_though_the_day_total_is_the_same(fake_ce, capsys):
    assert sync(capsys)[0] == 0
    # A cost allocation tag back-filled: Nov 10's untagged cost now belongs to search.
    fake_ce.retag(date(2026, 11, 10), None, "search")
    next_day = TODAY + timedelta(days=1)

    assert sync(capsys, next_day)[0] == 0

    november = (date(2026, 11, 1), date(2026, 11, 20))
    answer = ask(capsys, "/cost team search 2026-11", next_day)
    assert truth(fake_ce, *november, team="search") in answer
    # Early next month, the same happens to a day of November: caught by the month's check.
    fake_ce.retag(date(2026, 11, 12), None, "platform")
    assert sync(capsys, date(2026, 12, 2))[0] == 0
    answer = ask(capsys, "/cost team platform 2026-11", date(2026, 12, 2))
    assert truth(fake_ce, date(2026, 11, 1), date(2026, 11, 30), team="platform") in answer


def test_early_in_the_month_the_previous_month_is_reread_where_it_changed(fake_ce, capsys):
    assert sync(capsys, date(2026, 11, 2))[0] == 0
    fake_ce.reset_counts()
    fake_ce.restate(date(2026, 10, 10), factor="2")

    code, out, _ = sync(capsys, date(2026, 11, 3))

    assert code == 0
    requests = cost_requests(fake_ce)
    # One request of daily totals for October until the restated days; by team only the
    # day that changed (Oct 10) and the last 3 days.
    assert _periods(requests, grouped=False) == {("2026-10-01", "2026-10-31")}
    assert _periods(requests, grouped=True) == {
        ("2026-10-10", "2026-10-11"),
        ("2026-10-31", "2026-11-03"),
    }
    assert out[-1] == paid_line(fake_ce.paid_requests)
    october = (date(2026, 10, 1), date(2026, 10, 31))
    answer = ask(capsys, "/cost team search 2026-10", date(2026, 11, 3))
    assert truth(fake_ce, *october, team="search") in answer
    answer = ask(capsys, "/cost account 111111111111 2026-10", date(2026, 11, 3))
    assert truth(fake_ce, *october, account="111111111111") in answer


def test_an_unchanged_previous_month_costs_one_request_of_totals(fake_ce, capsys):
    assert sync(capsys, date(2026, 11, 2))[0] == 0
    fake_ce.reset_counts()

    assert sync(capsys, date(2026, 11, 3))[0] == 0

    requests = cost_requests(fake_ce)
    assert _periods(requests, grouped=False) == {("2026-10-01", "2026-10-31")}
    assert _periods(requests, grouped=True) == {("2026-10-31", "2026-11-03")}


def test_paged_answers_are_read_to_the_last_page(fake_ce, capsys, tmp_path):
    fake_ce.page_size = 23

    code, out, _ = sync(capsys, TODAY, "--days", "20")

    assert code == 0
    assert fake_ce.answered["GetCostAndUsage"] > 20
    assert out[-1] == paid_line(fake_ce.paid_requests)
    window = (TODAY - timedelta(days=20), TODAY - timedelta(days=1))
    answer = ask(capsys, "/cost team platform 7d")
    assert truth(fake_ce, TODAY - timedelta(days=7), window[1], team="platform") in answer
    answer = ask(capsys, "/cost account 333333333333 7d")
    assert truth(fake_ce, TODAY - timedelta(days=7), window[1], account="333333333333") in answer


def test_throttled_requests_are_retried_and_not_counted_as_paid(fake_ce, capsys):
    fake_ce.fail_next(1, "ThrottlingException")

    code, out, _ = sync(capsys, TODAY, "--days", "3")

    assert code == 0
    assert fake_ce.received["GetCostAndUsage"] == fake_ce.answered["GetCostAndUsage"] + 1
    assert out[-1] == paid_line(fake_ce.paid_requests)
    answer = ask(capsys, "/cost team payments 7d")
    stored_days = (TODAY - timedelta(days=3), TODAY - timedelta(days=1))
    assert truth(fake_ce, *stored_days, team="payments") in answer


def test_expired_credentials_are_one_line_and_change_nothing(fake_ce, capsys, tmp_path):
    assert sync(capsys)[0] == 0
    store = tmp_path / "costbot.db"
    before = store.read_bytes()
    fake_ce.expire_credentials()

    code, out, err = sync(capsys, TODAY + timedelta(days=1))

    assert code == 1
    assert err.strip().splitlines() == [
        "costbot: AWS credentials expired or invalid (ExpiredTokenException) calling"
        " ce:GetCostAndUsage: refresh them"
    ]
    assert out[-1] == "Cost Explorer: 0 paid requests ($0.00)"
    assert store.read_bytes() == before


def test_a_failure_on_a_later_page_writes_no_cost(fake_ce, capsys, tmp_path):
    assert sync(capsys, TODAY, "--days", "5")[0] == 0
    db = sqlite_utils.Database(tmp_path / "costbot.db")
    cost_before = list(db.execute("SELECT * FROM daily_cost ORDER BY rowid"))
    fake_ce.reset_counts()
    fake_ce.page_size = 10
    # Not retried (unlike throttling or a 5xx): the answer changed while it was paged.
    fake_ce.fail_from(3, "RequestChangedException", 400)

    code, out, err = sync(capsys, TODAY + timedelta(days=1))

    assert code == 1
    assert err.startswith("costbot: ce:GetCostAndUsage failed: RequestChangedException")
    assert out[-1] == paid_line(3)
    assert list(db.execute("SELECT * FROM daily_cost ORDER BY rowid")) == cost_before
    failed = list(db.query("SELECT * FROM sync_runs WHERE status = 'failed'"))
    assert [(r["paid_requests"], r["cost_micros"]) for r in failed] == [(3, 30_000)]


def test_a_missing_permission_for_the_forecast_is_a_warning(fake_ce, capsys, tmp_path):
    fake_ce.deny("GetCostForecast")
    fake_ce.savings_plans["2026-11"] = {
        "covered": "812.5",
        "on_demand": "187.5",
        "commitment": "900",
        "used": "810.25",
    }

    code, out, err = sync(capsys, TODAY, "--days", "3")

    assert code == 0
    assert err.strip().splitlines() == [
        "warning: access denied: ce:GetCostForecast (see the IAM policy in README"
        " 'Connect AWS'); skipped"
    ]
    assert out[-1] == paid_line(fake_ce.paid_requests)
    db = sqlite_utils.Database(tmp_path / "costbot.db")
    (row,) = list(db["commitments"].rows)
    assert (row["month"], row["sp_covered_micros"], row["sp_on_demand_micros"]) == (
        "2026-11",
        812_500_000,
        187_500_000,
    )
    assert (row["sp_commitment_micros"], row["sp_used_micros"]) == (900_000_000, 810_250_000)
    assert row["forecast_micros"] is None
    assert db.execute("SELECT count(*) FROM daily_cost").fetchone()[0] > 0


def test_spot_share_and_forecast_are_stored_for_the_month(fake_ce, capsys, tmp_path):
    fake_ce.add(
        CostRow(
            date(2026, 11, 5), "111111111111", "search", COMPUTE, "40.5", "41", "Spot Instances"
        )
    )

    assert sync(capsys, TODAY, "--days", "19")[0] == 0

    db = sqlite_utils.Database(tmp_path / "costbot.db")
    (row,) = list(db["commitments"].rows)
    compute = Decimal(
        truth(fake_ce, date(2026, 11, 1), date(2026, 11, 19), service=COMPUTE)[1:].replace(",", "")
    )
    assert row["spot_micros"] == 40_500_000
    assert abs(Decimal(row["compute_micros"]) / 1_000_000 - compute) < Decimal("0.01")
    # month to date (from the store) + the fake's forecast of the 11 days left
    to_date = Decimal(truth(fake_ce, date(2026, 11, 1), date(2026, 11, 19))[1:].replace(",", ""))
    last_week = sum(
        (
            Decimal(r.amortized)
            for r in fake_ce.rows
            if date(2026, 11, 13) <= r.day <= TODAY - timedelta(days=1)
        ),
        Decimal(0),
    )
    expected = to_date + last_week / 7 * 11
    assert abs(Decimal(row["forecast_micros"]) / 1_000_000 - expected) < Decimal("0.01")
    assert row["forecast_low_micros"] < row["forecast_micros"] < row["forecast_high_micros"]


def test_run_sync_json_and_dry_run(fake_ce, capsys, tmp_path):
    code = main(["run", "sync", "--date", "2026-11-20", "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    assert sum(fake_ce.received.values()) == 0
    assert "2025-11-01 .. 2026-11-19 (384 days): first sync: back-fill 13 months" in out
    assert out.strip().splitlines()[-1] == "Cost Explorer: 0 paid requests ($0.00)"
    assert not (tmp_path / "costbot.db").exists()

    code = main(["run", "sync", "--date", "2026-11-20", "--json"])
    captured = capsys.readouterr()
    assert code == 0
    payload = json.loads(captured.out)
    assert payload["job"] == "sync" and payload["date"] == "2026-11-20"
    assert payload["deliveries"] == []
    ce = payload["cost_explorer"]
    assert ce["paid_requests"] == fake_ce.paid_requests
    assert ce["cost"] == f"{fake_ce.paid_requests / 100:.2f}"
    assert (ce["start"], ce["end"]) == ("2025-11-01", "2026-11-19")
    assert ce["rows"] > 0
    assert captured.err.strip().splitlines()[-1] == paid_line(fake_ce.paid_requests)


def test_run_rejects_an_unknown_job(capsys):
    assert main(["run", "nightly-magic"]) == 2
    expected = (
        "costbot: unknown job 'nightly-magic'; jobs: anomalies, champions, idle,"
        " monthly-report, quarterly-report, sync, tag-policy, weekly-digest"
    )
    assert capsys.readouterr().err.strip() == expected


def test_focus_and_cost_explorer_never_count_the_same_month_twice(fake_ce, capsys, tmp_path):
    # FOCUS data for October 2026 of the same payer (resource-level: it wins that month).
    october_days = [date(2026, 10, 1) + timedelta(days=n) for n in range(31)]
    focus = [
        focus_row(
            day,
            f"{10 + n % 7}.25",
            service=COMPUTE,
            team="payments",
            billing_account=(PAYER, "Acme payer"),
            sub_account=("111111111111", "shop-prod"),
            resource=f"i-{n}",
        )
        for n, day in enumerate(october_days)
    ]
    assert main(["ingest", "focus", str(write_rows(tmp_path / "focus.csv", focus))]) == 0
    capsys.readouterr()
    db = sqlite_utils.Database(tmp_path / "costbot.db")

    def focus_rows_now():
        return list(db.execute("SELECT * FROM daily_cost WHERE source = 'focus' ORDER BY rowid"))

    focus_before = focus_rows_now()

    assert sync(capsys)[0] == 0

    answer = ask(capsys, "/cost team payments 2026-10")
    assert dollars_of(focus) in answer  # FOCUS alone
    assert truth(fake_ce, date(2026, 10, 1), date(2026, 10, 31), team="payments") not in answer
    answer = ask(capsys, "/cost account 111111111111 2026-10")
    assert dollars_of(focus) in answer
    # A month only Cost Explorer covers still counts.
    september = (date(2026, 9, 1), date(2026, 9, 30))
    answer = ask(capsys, "/cost team payments 2026-09")
    assert truth(fake_ce, *september, team="payments") in answer

    # Re-syncing Cost Explorer over October replaces its own rows, never FOCUS's.
    fake_ce.restate(date(2026, 10, 20), factor="3")
    assert sync(capsys, TODAY, "--days", "45")[0] == 0
    assert focus_rows_now() == focus_before
    answer = ask(capsys, "/cost team payments 2026-10")
    assert dollars_of(focus) in answer
    superseded = db.execute(
        "SELECT DISTINCT substr(date, 1, 7), superseded FROM daily_cost"
        " WHERE source = 'cost-explorer' AND date BETWEEN '2026-09-01' AND '2026-11-30'"
        " ORDER BY 1"
    ).fetchall()
    assert superseded == [("2026-09", 0), ("2026-10", 1), ("2026-11", 0)]


def test_a_failed_run_still_prints_one_json_object(fake_ce, capsys):
    fake_ce.deny("GetCostAndUsage")

    code = main(["run", "sync", "--date", "2026-11-20", "--json"])

    captured = capsys.readouterr()
    assert code == 1
    payload = json.loads(captured.out)
    assert payload["error"] == (
        "access denied: ce:GetCostAndUsage (see the IAM policy in README 'Connect AWS')"
    )
    assert payload["cost_explorer"]["paid_requests"] == 0
    assert captured.err.strip().splitlines()[-1] == "Cost Explorer: 0 paid requests ($0.00)"


def test_days_must_be_a_positive_whole_number(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["sync", "aws", "--days", "0"])
    assert exit_info.value.code == 2
    assert "--days: 0 must be at least 1" in capsys.readouterr().err
