"""The anomaly detector's series, read from stores built through the real ingest (FOCUS files)
and the real source writer (Cost Explorer's grouped rows): every cell checked to the micro
against sums of the charges made here, nothing after the run's day, each dollar once."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pytest
from anomaly_bills import (
    CONFIG,
    EC2,
    EUR_PAYER,
    HOSTILE_TEAM,
    PROD,
    RDS,
    S3,
    STAGING,
    USD_PAYER,
    Charge,
    bill,
    truth,
    write_bill,
)

from bot.analytics.anomalies import SeriesKey
from bot.analytics.anomaly_series import load_series, load_series_micros
from bot.sources.focus_ingest import ingest_focus
from bot.store import open_store
from bot.store.schema import daily_row
from bot.store.writers import SourceLoad, write_source_rows

START, UNTIL, DATA_END = date(2026, 8, 20), date(2026, 11, 5), date(2026, 11, 12)
DAYS = 60
FIRST = UNTIL - timedelta(days=DAYS - 1)


def _ingest(tmp_path, charges, name="bill.csv", config=CONFIG):
    db_path = tmp_path / "costbot.db"
    ingest_focus([str(write_bill(tmp_path / name, charges))], config, db_path)
    return db_path


@pytest.fixture
def focus(tmp_path):
    charges = bill(START, DATA_END)
    db = open_store(_ingest(tmp_path, charges))
    yield db, charges
    db.close()


def _as_truth(series) -> dict:
    """What the loaded series hold, keyed like `anomaly_bills.truth`: {day: micros}, zeros
    left out."""
    held = {}
    for row, key in enumerate(series.keys):
        cells = {
            series.first_day + timedelta(days=int(col)): int(series.micros[row, col])
            for col in np.flatnonzero(series.micros[row])
        }
        held[key.team, key.service, key.account, key.currency] = cells
    return held


def test_every_series_and_roll_up_is_exact_to_the_micro(focus):
    db, charges = focus
    series = load_series_micros(db, CONFIG, UNTIL, DAYS)

    assert series.first_day == FIRST and series.last_day == UNTIL
    assert series.micros.shape == (len(series.keys), DAYS)
    assert _as_truth(series) == truth(charges, FIRST, UNTIL)
    # Tag spellings and aliases are one team; untagged spend ("" or no tag) is its own team;
    # a hostile tag value is a team like any other.
    teams = {key.team for key in series.keys}
    assert teams == {"payments", "search", None, HOSTILE_TEAM}
    assert SeriesKey("payments", EC2, PROD, "USD") in series.keys
    assert SeriesKey(None, S3, STAGING, "USD") in series.keys
    # Two currencies never add up: a roll-up per team and currency.
    rollups = [key for key in series.keys if key.is_rollup]
    assert sorted(rollups, key=lambda k: (k.team or "", k.currency)) == sorted(
        [
            SeriesKey(None, None, None, "EUR"),
            SeriesKey(None, None, None, "USD"),
            SeriesKey(HOSTILE_TEAM, None, None, "USD"),
            SeriesKey("payments", None, None, "EUR"),
            SeriesKey("payments", None, None, "USD"),
            SeriesKey("search", None, None, "USD"),
        ],
        key=lambda k: (k.team or "", k.currency),
    )


def test_each_row_points_to_its_team_roll_up(focus):
    db, _ = focus
    series = load_series_micros(db, CONFIG, UNTIL, DAYS)
    for row, key in enumerate(series.keys):
        rollup = series.keys[series.team_row[row]]
        assert rollup == SeriesKey(key.team, None, None, key.currency)
    for row, key in enumerate(series.keys):
        if key.is_rollup:
            members = [r for r in range(len(series.keys)) if series.team_row[r] == row and r != row]
            assert members
            assert (series.micros[members].sum(axis=0) == series.micros[row]).all()


def test_nothing_after_the_run_day_is_read(focus):
    db, charges = focus
    assert max(charge.day for charge in charges) > UNTIL  # the store holds a week more
    series = load_series_micros(db, CONFIG, UNTIL, DAYS)
    assert series.micros.shape[1] == DAYS and series.last_day == UNTIL
    assert _as_truth(series) == truth(charges, FIRST, UNTIL)
    # A live run a week later sees the week; the backtest on UNTIL saw none of it.
    later = load_series_micros(db, CONFIG, DATA_END, DAYS)
    assert _as_truth(later) == truth(charges, DATA_END - timedelta(days=DAYS - 1), DATA_END)


def test_spend_that_starts_after_the_run_day_is_not_a_series(tmp_path):
    charges = bill(START, UNTIL)
    late = Charge(UNTIL + timedelta(days=2), "search", S3, PROD, 9_000_000, 9_000_000, "x")
    db = open_store(_ingest(tmp_path, [*charges, late]))
    series = load_series_micros(db, CONFIG, UNTIL, DAYS)
    assert SeriesKey("search", S3, PROD, "USD") not in series.keys
    later = load_series_micros(db, CONFIG, late.day, DAYS)
    row = later.row_of(SeriesKey("search", S3, PROD, "USD"))
    assert later.micros[row, -1] == 9_000_000 and later.micros[row, :-1].sum() == 0


def test_the_detector_gets_float_dollars_of_the_same_cells(focus):
    db, _ = focus
    exact = load_series_micros(db, CONFIG, UNTIL, DAYS)
    dollars = load_series(db, CONFIG, UNTIL, DAYS)
    assert dollars.keys == exact.keys and dollars.first_day == FIRST
    assert dollars.cost.dtype == np.float64
    assert np.allclose(dollars.cost * 1_000_000, exact.micros, rtol=0, atol=1e-3)
    assert (dollars.team_row == exact.team_row).all()
    assert dollars.last_day == UNTIL


def test_the_configured_cost_metric_is_summed(tmp_path):
    charges = bill(START, UNTIL)
    billed = replace(CONFIG, cost_metric="billed")
    db = open_store(_ingest(tmp_path, charges, config=billed))
    series = load_series_micros(db, billed, UNTIL, DAYS)
    assert _as_truth(series) == truth(charges, FIRST, UNTIL, metric="billed")


def test_the_exact_sum_of_any_day_range(focus):
    db, charges = focus
    series = load_series_micros(db, CONFIG, UNTIL, DAYS)
    expected = truth(charges, START, DATA_END)
    first, last = UNTIL - timedelta(days=6), UNTIL
    week = [first + timedelta(days=n) for n in range(7)]
    for row, key in enumerate(series.keys):
        days = expected[key.team, key.service, key.account, key.currency]
        want = sum(micros for day, micros in days.items() if first <= day <= last)
        assert series.total(row, first, last) == want, key
        assert series.total_on(row, week) == want, key


def test_late_data_and_a_restated_month_are_read_once(tmp_path):
    """The EUR bill arrives late (a later ingest, days well before the run's day), and the
    USD bill for November is exported again with a corrected day: the series hold the
    restated amount, once, and the late days."""
    usd = [c for c in bill(START, UNTIL) if c.currency == "USD"]
    eur = [c for c in bill(START, UNTIL) if c.currency == "EUR"]
    db_path = _ingest(tmp_path, usd, "usd.csv")
    db = open_store(db_path)
    before = load_series_micros(db, CONFIG, UNTIL, DAYS)
    assert {key.currency for key in before.keys} == {"USD"}

    ingest_focus([str(write_bill(tmp_path / "eur.csv", eur))], CONFIG, db_path)
    corrected_day = date(2026, 11, 2)
    november = [
        replace(c, effective_micros=c.effective_micros * 3)
        if c.day == corrected_day and c.service == EC2 and c.team == "payments"
        else c
        for c in usd
        if c.day >= date(2026, 11, 1)
    ]
    ingest_focus([str(write_bill(tmp_path / "usd-nov.csv", november))], CONFIG, db_path)
    restated = [c for c in usd if c.day < date(2026, 11, 1)] + november + eur
    after = load_series_micros(db, CONFIG, UNTIL, DAYS)
    assert _as_truth(after) == truth(restated, FIRST, UNTIL)
    row = after.row_of(SeriesKey("payments", EC2, PROD, "USD"))
    assert after.micros[row, (corrected_day - FIRST).days] == sum(
        c.effective_micros
        for c in november
        if c.day == corrected_day
        and c.service == EC2
        and c.team == "payments"
        and c.account == PROD
    )
    db.close()


def test_a_window_before_any_data_is_empty(focus):
    db, _ = focus
    series = load_series_micros(db, CONFIG, START - timedelta(days=1), 30)
    assert series.keys == [] and series.micros.shape == (0, 30) and len(series.team_row) == 0
    assert load_series(db, CONFIG, START - timedelta(days=1), 30).cost.shape == (0, 30)


# --- Cost Explorer: two groupings of the same dollars, read once -------------------------

# Per day: (team, service, account) -> micros, the three-way truth Cost Explorer only shows
# two ways at a time.
CE_TRUTH = {
    ("payments", EC2, PROD): 41_250_000,
    ("payments", RDS, STAGING): 12_500_000,
    ("search", EC2, STAGING): 7_125_000,
    (None, S3, PROD): 3_000_001,
}


def _cost_explorer_rows(day: date, truth_by_day: dict, payer: str) -> list[tuple]:
    common = {
        "date": day.isoformat(),
        "provider": "AWS",
        "billing_account_id": payer,
        "currency": "USD",
        "billing_period": day.isoformat()[:7],
    }
    by_service: dict = {}
    by_account: dict = {}
    for (team, service, account), micros in truth_by_day.items():
        by_service[team, service] = by_service.get((team, service), 0) + micros
        by_account[team, account] = by_account.get((team, account), 0) + micros
    rows = [
        (*daily_row(**common, team=t, service=s, effective_micros=m, billed_micros=m), grain)
        for (t, s), m in by_service.items()
        for grain in ["team,service"]
    ]
    rows += [
        (*daily_row(**common, team=t, account_id=a, effective_micros=m, billed_micros=m), grain)
        for (t, a), m in by_account.items()
        for grain in ["team,account"]
    ]
    return rows


def _day_truth(day: date) -> dict:
    """The truth scaled by the day, so that every day differs."""
    return {key: micros + day.day * 1_000 for key, micros in CE_TRUTH.items()}


def _write_cost_explorer(db, start: date, end: date, payer: str = USD_PAYER) -> None:
    rows, day = [], start
    while day <= end:
        rows += _cost_explorer_rows(day, _day_truth(day), payer)
        day += timedelta(days=1)
    write_source_rows(
        db,
        SourceLoad(
            source="cost-explorer",
            description=f"test {start}..{end}",
            start=start,
            end=end,
            rows=rows,
            billing_account_id=payer,
        ),
    )


def test_cost_explorer_series_are_team_by_service_and_counted_once(tmp_path):
    db = open_store(tmp_path / "costbot.db")
    _write_cost_explorer(db, date(2026, 9, 1), DATA_END)
    series = load_series_micros(db, CONFIG, UNTIL, DAYS)

    expected = {}
    for day in (FIRST + timedelta(days=n) for n in range(DAYS)):
        for (team, service, _account), micros in _day_truth(day).items():
            for key in ((team, service, None, "USD"), (team, None, None, "USD")):
                expected.setdefault(key, {}).setdefault(day, 0)
                expected[key][day] += micros
    assert _as_truth(series) == expected
    assert SeriesKey("payments", EC2, None, "USD") in series.keys
    assert all(key.account is None for key in series.keys)
    row = series.row_of(SeriesKey("payments", RDS, None, "USD"))
    assert series.total(row, UNTIL, UNTIL) == _day_truth(UNTIL)["payments", RDS, STAGING]
    db.close()


def test_focus_files_win_over_cost_explorer_and_other_payers_add_up(tmp_path):
    """The USD payer has both Cost Explorer rows and FOCUS files: FOCUS counts. The EUR payer's
    FOCUS rows and a third payer known only to Cost Explorer are series beside them."""
    charges = bill(START, DATA_END)
    db_path = _ingest(tmp_path, charges)
    db = open_store(db_path)
    _write_cost_explorer(db, date(2026, 9, 1), DATA_END, payer=USD_PAYER)  # superseded
    _write_cost_explorer(db, date(2026, 9, 1), DATA_END, payer="999999999999")
    series = load_series_micros(db, CONFIG, UNTIL, DAYS)

    expected = truth(charges, FIRST, UNTIL)
    for day in (FIRST + timedelta(days=n) for n in range(DAYS)):
        for (team, service, _account), micros in _day_truth(day).items():
            for key in ((team, service, None, "USD"), (team, None, None, "USD")):
                expected.setdefault(key, {}).setdefault(day, 0)
                expected[key][day] += micros
    assert _as_truth(series) == expected
    db.close()


def test_a_eur_payer_alone_is_its_own_currency(tmp_path):
    charges = [c for c in bill(START, UNTIL) if c.billing_account == EUR_PAYER]
    db = open_store(_ingest(tmp_path, charges))
    series = load_series_micros(db, CONFIG, UNTIL, DAYS)
    assert {key.currency for key in series.keys} == {"EUR"}
    assert _as_truth(series) == truth(charges, FIRST, UNTIL)


@pytest.mark.parametrize("days", [1, 7, 20, 85, 120])
def test_short_and_long_windows_read_the_same_cells(focus, days):
    """A short window of the store is read through the date index, a long one in a scan of
    the table: the same sums either way."""
    db, charges = focus
    series = load_series_micros(db, CONFIG, UNTIL, days)
    assert _as_truth(series) == truth(charges, UNTIL - timedelta(days=days - 1), UNTIL)


def test_athena_rows_are_full_series_and_win_over_cost_explorer(tmp_path):
    """An Athena aggregate knows every dimension: its series have accounts. Where Cost
    Explorer holds the same payer and months, Athena's rows count and Cost Explorer's don't."""
    payer = "999999999999"
    db = open_store(tmp_path / "costbot.db")
    _write_cost_explorer(db, date(2026, 9, 1), DATA_END, payer=payer)
    rows, day = [], date(2026, 9, 1)
    while day <= DATA_END:
        for (team, service, account), micros in _day_truth(day).items():
            rows.append(
                (
                    *daily_row(
                        date=day.isoformat(),
                        provider="AWS",
                        billing_account_id=payer,
                        account_id=account,
                        team=team,
                        service=service,
                        region="us-east-1",
                        sku="USE1-BoxUsage:m5.large",
                        currency="USD",
                        billing_period=day.isoformat()[:7],
                        effective_micros=micros,
                        billed_micros=micros,
                    ),
                    None,
                )
            )
        day += timedelta(days=1)
    write_source_rows(
        db,
        SourceLoad("athena", "test", date(2026, 9, 1), DATA_END, rows, billing_account_id=payer),
    )
    series = load_series_micros(db, CONFIG, UNTIL, DAYS)
    expected = {}
    for day in (FIRST + timedelta(days=n) for n in range(DAYS)):
        for (team, service, account), micros in _day_truth(day).items():
            for key in ((team, service, account, "USD"), (team, None, None, "USD")):
                expected.setdefault(key, {}).setdefault(day, 0)
                expected[key][day] += micros
    assert _as_truth(series) == expected
    db.close()
