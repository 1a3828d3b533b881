"""`costbot ingest metrics FILE...` and `costbot metrics add|list`: business metrics in, exact,
scoped by team, all or nothing; what /unitcost reads back through the two store queries."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sqlite_utils
import time_machine

from bot.cli import main
from bot.store import open_store
from bot.store.queries import MetricSeries, metric_catalog, metric_daily_values
from bot.store.schema import migrations

CONFIG = """\
teams:
  - name: payments
    aliases: [pay, Payments Team]
  - name: checkout
"""
NOV_1, NOV_2, NOV_3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)
ALL_NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "costbot.yml"
    config.write_text(CONFIG, encoding="utf-8")
    monkeypatch.setenv("COSTBOT_CONFIG", str(config))
    db = tmp_path / "costbot.db"
    monkeypatch.setenv("COSTBOT_DB", str(db))
    return db


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def values(db_path: Path, metric: str, scope: str | None) -> dict[date, Decimal]:
    db = sqlite_utils.Database(db_path)
    try:
        return metric_daily_values(db, metric, scope, *ALL_NOVEMBER)
    finally:
        db.close()


def catalog(db_path: Path) -> list[MetricSeries]:
    db = sqlite_utils.Database(db_path)
    try:
        return metric_catalog(db)
    finally:
        db.close()


def fingerprint(db_path: Path) -> dict[str, str | None]:
    """The bytes of the store and its WAL companions, with no connection open."""
    return {
        suffix: hashlib.sha256(Path(f"{db_path}{suffix}").read_bytes()).hexdigest()
        if Path(f"{db_path}{suffix}").exists()
        else None
        for suffix in ("", "-wal", "-shm")
    }


def test_the_issues_header_without_scope_loads_the_organisations_values(store, tmp_path, capsys):
    csv = write(
        tmp_path, "m.csv", "date,metric,value\n2026-11-01,orders,1200\n2026-11-02,orders,1310\n"
    )
    assert main(["ingest", "metrics", str(csv)]) == 0
    out = capsys.readouterr().out
    assert out.strip() == (
        "Loaded 2 business metric values of 1 metric(s) (orders) from 1 file(s),"
        " 2026-11-01 to 2026-11-02"
    )
    assert values(store, "orders", None) == {NOV_1: Decimal(1200), NOV_2: Decimal(1310)}
    assert catalog(store) == [MetricSeries("orders", None, NOV_1, NOV_2, 2)]


def test_columns_in_any_order_any_case_with_a_byte_order_mark(store, tmp_path):
    text = (
        " Value ,SCOPE,Date,metric\r\n"
        "5,,2026-11-01,API_Requests\r\n"
        "7,checkout,2026-11-01,api_requests\r\n"
    )
    csv = write(tmp_path, "excel.csv", text, encoding="utf-8-sig")
    assert main(["ingest", "metrics", str(csv)]) == 0
    assert values(store, "api_requests", None) == {NOV_1: Decimal(5)}
    assert values(store, "api_requests", "checkout") == {NOV_1: Decimal(7)}


def test_a_scope_names_a_team_by_its_name_or_an_alias_and_empty_is_the_organisation(
    store, tmp_path, capsys
):
    csv = write(
        tmp_path,
        "teams.csv",
        "date,metric,value,scope\n"
        "2026-11-01,orders,100,\n"
        "2026-11-01,orders,40,Payments\n"
        "2026-11-02,orders,41,pay\n"
        "2026-11-03,orders,42,  payments   team \n",
    )
    assert main(["ingest", "metrics", str(csv)]) == 0
    assert "warning" not in capsys.readouterr().out
    assert values(store, "orders", None) == {NOV_1: Decimal(100)}
    assert values(store, "orders", "payments") == {
        NOV_1: Decimal(40),
        NOV_2: Decimal(41),
        NOV_3: Decimal(42),
    }
    assert [(s.metric, s.scope, s.days) for s in catalog(store)] == [
        ("orders", None, 1),
        ("orders", "payments", 3),
    ]


def test_a_scope_that_names_no_team_is_stored_with_a_warning(store, tmp_path, capsys):
    csv = write(
        tmp_path,
        "m.csv",
        "date,metric,value,scope\n2026-11-01,orders,3,paymnets\n2026-11-01,users,9,storefront\n",
    )
    assert main(["ingest", "metrics", str(csv)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:] == [
        "warning: scope 'paymnets' (1 value(s)) names no team of the config or the cost data"
        " (did you mean payments?); stored as given, it counts only where a unit metric names it",
        "warning: scope 'storefront' (1 value(s)) names no team of the config or the cost data;"
        " stored as given, it counts only where a unit metric names it",
    ]
    assert values(store, "users", "storefront") == {NOV_1: Decimal(9)}


def test_values_are_exact_decimals_and_sum_exactly(store, tmp_path):
    csv = write(
        tmp_path,
        "m.csv",
        "date,metric,value\n"
        "2026-11-01,revenue,0.1\n"
        "2026-11-02,revenue,0.2\n"
        "2026-11-01,requests,123456789012345678\n"
        "2026-11-02,requests,1.5e3\n"
        "2026-11-03,requests,0000.500000\n",
    )
    assert main(["ingest", "metrics", str(csv)]) == 0
    revenue = values(store, "revenue", None)
    assert sum(revenue.values()) == Decimal("0.3")  # a float sum would be 0.30000000000000004
    requests = values(store, "requests", None)
    assert requests == {
        NOV_1: Decimal("123456789012345678"),
        NOV_2: Decimal(1500),
        NOV_3: Decimal("0.5"),
    }
    stored = sqlite_utils.Database(store).execute(
        "SELECT value, typeof(value) FROM business_metrics WHERE metric = 'requests' ORDER BY date"
    )
    assert stored.fetchall() == [("123456789012345678", "text"), ("1500", "text"), ("0.5", "text")]


def test_loading_a_date_metric_and_scope_again_replaces_it(store, tmp_path, capsys):
    first = write(
        tmp_path, "a.csv", "date,metric,value\n2026-11-01,orders,10\n2026-11-02,orders,20\n"
    )
    again = write(tmp_path, "b.csv", "date,metric,value,scope\n2026-11-02,orders,25,\n")
    assert main(["ingest", "metrics", str(first)]) == 0
    assert main(["ingest", "metrics", str(again)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("; 1 replaced values stored before")
    assert values(store, "orders", None) == {NOV_1: Decimal(10), NOV_2: Decimal(25)}


GOOD = "date,metric,value,scope\n2026-11-01,orders,10,\n"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (GOOD + "2026-11-02,orders,abc,\n", "row 3, column value: 'abc' is not a number"),
        (
            GOOD + '2026-11-02,orders,"1,234",\n',
            "row 3, column value: '1,234' is not a number (write it without thousands separators)",
        ),
        (GOOD + "2026-11-02,orders,NaN,\n", "row 3, column value: 'NaN' is not a finite number"),
        (GOOD + "2026-11-02,orders,inf,\n", "row 3, column value: 'inf' is not a finite number"),
        (
            GOOD + "2026-11-02,orders,-5,\n",
            "row 3, column value: -5 is negative: a business volume is 0 or more",
        ),
        (GOOD + "2026-11-02,orders,,\n", "row 3, column value: empty"),
        (
            GOOD + "2026-11-02,orders,0.1234567,\n",
            "row 3, column value: 0.1234567 has more than 6 decimal places",
        ),
        (GOOD + "2026-13-01,orders,5,\n", "row 3, column date: '2026-13-01' is not a date of the"),
        (GOOD + "02/11/2026,orders,5,\n", "row 3, column date: '02/11/2026' is not a date YYYY-MM"),
        (GOOD + "2026-11-02,,5,\n", "row 3, column metric: empty"),
        (
            GOOD + "2026-11-02,cost per order,5,\n",
            "row 3, column metric: 'cost per order' is not a metric name",
        ),
        (GOOD + "2026-11-02,orders\n", "row 3, column value: missing"),
        (GOOD + "2026-11-02,orders,5,,extra\n", "row 3: 5 values for the header's 4 columns"),
        (
            GOOD + "2026-11-01,orders,11,\n",
            "row 3: orders for 2026-11-01 (the organisation) is already given at {file}: row 2",
        ),
        ("date,metric,scope\n2026-11-01,orders,\n", "row 1: missing column value"),
        (
            "date,metric,value,team\n2026-11-01,orders,5,payments\n",
            "row 1, column D: unknown column 'team'; the columns are date,metric,value[,scope]",
        ),
        ("", "empty; the first row must be the header date,metric,value[,scope]"),
    ],
)
def test_a_bad_row_exits_2_naming_file_row_and_column_and_changes_nothing(
    store, tmp_path, capsys, text, problem
):
    before = write(tmp_path, "before.csv", "date,metric,value\n2026-11-20,orders,7\n")
    assert main(["ingest", "metrics", str(before)]) == 0
    stored = fingerprint(store)
    bad = write(tmp_path, "bad.csv", text)
    capsys.readouterr()

    assert main(["ingest", "metrics", str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"costbot: {bad}: {problem.format(file=bad)}"), err
    assert len(err.splitlines()) == 1
    assert fingerprint(store) == stored


def test_a_bad_file_among_several_stores_none_of_them(store, tmp_path, capsys):
    good = write(tmp_path, "good.csv", "date,metric,value\n2026-11-01,orders,10\n")
    bad = write(tmp_path, "bad.csv", "date,metric,value\n2026-11-01,users,10\n2026-11-02,users,x\n")
    assert main(["ingest", "metrics", str(good), str(bad)]) == 2
    assert capsys.readouterr().err == (
        f"costbot: {bad}: row 3, column value: 'x' is not a number\n"
    )
    assert not store.exists()  # nothing written: not even an empty store

    assert main(["ingest", "metrics", str(good), str(tmp_path / "missing.csv")]) == 2
    assert capsys.readouterr().err == f"costbot: {tmp_path / 'missing.csv'}: no such file\n"
    assert not store.exists()


def test_the_same_value_in_two_files_of_one_load_is_refused(store, tmp_path, capsys):
    one = write(tmp_path, "one.csv", "date,metric,value,scope\n2026-11-01,orders,10,pay\n")
    two = write(tmp_path, "two.csv", "scope,date,metric,value\npayments,2026-11-01,orders,11\n")
    assert main(["ingest", "metrics", str(one), str(two)]) == 2
    assert capsys.readouterr().err == (
        f"costbot: {two}: row 2: orders for 2026-11-01 (payments) is already given at {one}:"
        " row 2; one value per date, metric and scope in a load\n"
    )
    assert not store.exists()


def test_several_files_load_in_one_go(store, tmp_path, capsys):
    one = write(tmp_path, "one.csv", "date,metric,value\n2026-11-01,orders,10\n")
    two = write(tmp_path, "two.csv", "date,metric,value,scope\n2026-11-03,users,4,checkout\n\n")
    assert main(["ingest", "metrics", str(one), str(two)]) == 0
    assert capsys.readouterr().out == (
        "Loaded 2 business metric values of 2 metric(s) (orders, users) from 2 file(s),"
        " 2026-11-01 to 2026-11-03\n"
    )
    assert values(store, "users", "checkout") == {NOV_3: Decimal(4)}
    ingests = sqlite_utils.Database(store).execute(
        "SELECT source, file, rows FROM ingests ORDER BY id"
    )
    assert ingests.fetchall() == [("metrics", str(one), 1), ("metrics", str(two), 1)]


def test_metrics_add_stores_one_value_and_replaces_it(store, capsys):
    assert main(["metrics", "add", "Orders", "1234.50", "--date", "2026-11-02"]) == 0
    assert capsys.readouterr().out == "Stored orders = 1234.50 for 2026-11-02 (the organisation)\n"
    assert main(["metrics", "add", "orders", "99", "--date", "2026-11-02", "--scope", "PAY"]) == 0
    assert main(["metrics", "add", "orders", "100", "--date", "2026-11-02", "--scope", "pay"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "Stored orders = 100 for 2026-11-02 (payments) (replacing the value stored before)"
    )
    assert values(store, "orders", None) == {NOV_2: Decimal("1234.5")}
    assert values(store, "orders", "payments") == {NOV_2: Decimal(100)}


def test_metrics_add_counts_for_today_in_utc_by_default(store, capsys):
    # 23:30 in New York on Nov 2 is already Nov 3 in UTC.
    with time_machine.travel(datetime(2026, 11, 3, 4, 30, tzinfo=UTC)):
        assert main(["metrics", "add", "orders", "5"]) == 0
    assert values(store, "orders", None) == {NOV_3: Decimal(5)}


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["orders", "abc"], "metrics add: VALUE: 'abc' is not a number"),
        (["orders", "-5"], "metrics add: VALUE: -5 is negative: a business volume is 0 or more"),
        (["orders", "nan"], "metrics add: VALUE: 'nan' is not a finite number"),
        (["orders", "5", "--date", "yesterday"], "metrics add: --date: 'yesterday' is not a date"),
        (["orders", "5", "--date", "2026-02-30"], "metrics add: --date: '2026-02-30' is not a"),
        (["cost per order", "5"], "metrics add: METRIC: 'cost per order' is not a metric name"),
    ],
)
def test_metrics_add_refuses_bad_input_with_one_line(store, capsys, args, problem):
    assert main(["metrics", "add", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"costbot: {problem}") and len(err.splitlines()) == 1
    assert not store.exists()


def test_metrics_list_shows_what_is_stored(store, tmp_path, capsys):
    csv = write(
        tmp_path,
        "m.csv",
        "date,metric,value,scope\n2026-11-01,orders,1,\n2026-11-03,orders,2,\n"
        "2026-11-02,orders,3,checkout\n2026-11-01,api_requests,4,\n",
    )
    assert main(["ingest", "metrics", str(csv)]) == 0
    capsys.readouterr()
    assert main(["metrics", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "metric        scope           first day   last day    days",
        "api_requests  (organisation)  2026-11-01  2026-11-01  1",
        "orders        (organisation)  2026-11-01  2026-11-03  2",
        "orders        checkout        2026-11-02  2026-11-02  1",
    ]


def test_m014_makes_stored_floats_exact_and_all_the_organisation(tmp_path):
    """A store loaded by the first ingest: REAL values, the organisation spelt "all"."""
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="m014_exact_business_metrics")
    db.conn.executemany(
        "INSERT INTO business_metrics (date, metric, scope, value, ingest_id) VALUES (?,?,?,?,1)",
        [
            ("2026-11-01", "revenue", "all", 0.1),
            ("2026-11-02", "revenue", "all", 0.2),
            ("2026-11-01", "orders", "payments", 1500.0),
        ],
    )
    db.conn.commit()
    db.close()

    db = open_store(path)
    assert sum(metric_daily_values(db, "revenue", None, *ALL_NOVEMBER).values()) == Decimal("0.3")
    assert metric_daily_values(db, "orders", "payments", *ALL_NOVEMBER) == {NOV_1: Decimal(1500)}
    assert [(s.metric, s.scope) for s in metric_catalog(db)] == [
        ("orders", "payments"),
        ("revenue", None),
    ]
    db.close()
