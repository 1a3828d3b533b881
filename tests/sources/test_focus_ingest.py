"""FOCUS ingest against the real sample and variants of it: totals to the cent against an
independent sum of the raw rows, every format, re-loads, and every kind of bad file."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import sqlite_utils
import xxhash
from focus_factory import to_cent
from paths import FOCUS_SAMPLE

from bot.cli import main
from bot.config import Config, parse_config
from bot.sources.focus import FocusError
from bot.sources.focus_ingest import ingest_focus

SAMPLE = FOCUS_SAMPLE


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def write_rows(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def independent_totals(path: Path, column: str) -> dict[str, Decimal]:
    """Sum a cost column per provider straight from the CSV with Decimal: no code of ours."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in read_rows(path)[1]:
        value = row[column]
        if value not in ("", "NULL"):
            totals[row["ProviderName"]] += Decimal(value)
    return totals


def stored_totals(db_path: Path, column: str) -> dict[str, Decimal]:
    db = sqlite_utils.Database(db_path)
    rows = db.execute(f"SELECT provider, sum({column}) FROM daily_cost GROUP BY provider")
    return {provider: Decimal(micros) / 1_000_000 for provider, micros in rows}


def file_digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def test_real_sample_ingests_unchanged_to_the_cent(tmp_path):
    db_path = tmp_path / "costbot.db"
    report = ingest_focus([str(SAMPLE)], Config(), db_path)

    assert report.charge_rows == 1000
    assert report.files[0].focus_version == "1.0"
    for column, stored_column in (
        ("EffectiveCost", "effective_micros"),
        ("BilledCost", "billed_micros"),
    ):
        expected = independent_totals(SAMPLE, column)
        stored = stored_totals(db_path, stored_column)
        assert set(stored) == {"AWS", "Microsoft", "Oracle"}
        for provider, amount in expected.items():
            assert to_cent(stored[provider]) == to_cent(amount), (column, provider)

    db = sqlite_utils.Database(db_path)
    (ingest,) = list(db["ingests"].rows)
    assert ingest["file"] == str(SAMPLE)
    assert ingest["rows"] == 1000
    assert ingest["checksum"] == "xxh3-128:" + xxhash.xxh3_128(SAMPLE.read_bytes()).hexdigest()
    assert json.loads(ingest["billing_periods"]) == sorted(
        {r["BillingPeriodStart"][:7] for r in read_rows(SAMPLE)[1]}
    )
    charge_categories = {
        r[0] for r in db.execute("SELECT DISTINCT charge_category FROM daily_cost")
    }
    assert charge_categories == {"Usage", "Adjustment", "Credit"}


def test_reloading_a_billing_period_replaces_it(tmp_path):
    db_path = tmp_path / "costbot.db"
    ingest_focus([str(SAMPLE)], Config(), db_path)
    first = stored_totals(db_path, "billed_micros")
    ingest_focus([str(SAMPLE)], Config(), db_path)
    assert stored_totals(db_path, "billed_micros") == first
    db = sqlite_utils.Database(db_path)
    assert db["ingests"].count == 2


def test_gzip_and_parquet_give_the_same_totals(tmp_path):
    pyarrow_csv = pytest.importorskip("pyarrow.csv")
    import pyarrow.parquet as pq

    header, rows = read_rows(SAMPLE)
    gz = write_rows(tmp_path / "sample.csv.gz", header, rows)
    table = pyarrow_csv.read_csv(
        SAMPLE,
        convert_options=pyarrow_csv.ConvertOptions(
            null_values=["NULL"],
            strings_can_be_null=True,
            column_types={c: "string" for c in header if c.endswith("Cost") or c == "Tags"},
        ),
    )
    parquet = tmp_path / "sample.parquet"
    pq.write_table(table, parquet)

    expected = {p: to_cent(v) for p, v in independent_totals(SAMPLE, "BilledCost").items()}
    for path in (gz, parquet):
        db_path = tmp_path / f"{path.name}.db"
        ingest_focus([str(path)], Config(), db_path)
        stored = {p: to_cent(v) for p, v in stored_totals(db_path, "billed_micros").items()}
        assert stored == expected, path.name


def test_focus_1_1_and_1_2_columns_are_recognised(tmp_path):
    header, rows = read_rows(SAMPLE)
    v11 = write_rows(tmp_path / "v11.csv", [*header, "ServiceSubcategory", "SkuMeter"], rows)
    v12 = write_rows(tmp_path / "v12.csv", [*header, "InvoiceId", "PricingCurrency"], rows)
    report = ingest_focus([str(v11), str(v12)], Config(), tmp_path / "db.sqlite")
    assert [f.focus_version for f in report.files] == ["1.1", "1.2"]


def test_team_tag_keys_are_case_insensitive_and_aliases_map(tmp_path):
    header, rows = read_rows(SAMPLE)
    rows = rows[:4]
    tags = [
        {"TEAM": "Platform Engineering"},
        {"user:team": "plat-eng"},
        {"owner": "payments", "Team": ""},
        {"Owner": "Payments"},
    ]
    for row, tag in zip(rows, tags, strict=True):
        row["Tags"] = json.dumps(tag)
        row["BilledCost"] = "10.005"
    config = parse_config(
        {
            "tag_keys": ["Team", "owner"],
            "teams": [{"name": "platform", "aliases": ["plat-eng", "Platform Engineering"]}],
        }
    )
    db_path = tmp_path / "db.sqlite"
    ingest_focus([str(write_rows(tmp_path / "t.csv", header, rows))], config, db_path)
    db = sqlite_utils.Database(db_path)
    teams = dict(db.execute("SELECT team, sum(billed_micros) FROM daily_cost GROUP BY team"))
    assert teams == {"platform": 20_010_000, "payments": 20_010_000}


BAD_CASES = {
    "missing column": (
        lambda h, rows: ([c for c in h if c != "EffectiveCost"], rows),
        "missing required column EffectiveCost",
    ),
    "non-numeric cost": (
        lambda h, rows: (h, _set(rows, 41, "BilledCost", "12.3.4")),
        "row 42, column BilledCost: value ('12.3.4') is not a number",
    ),
    "invalid JSON tags": (
        lambda h, rows: (h, _set(rows, 9, "Tags", '{"team": "payments"')),
        "row 10, column Tags:",
    ),
    "focus 0.5 columns": (
        lambda h, rows: (
            [c for c in h if c not in ("EffectiveCost", "ChargeCategory")] + ["ChargeType"],
            rows,
        ),
        "unknown FOCUS version",
    ),
    "unknown version column": (
        lambda h, rows: ([*h, "FocusVersion"], _set_all(rows, "FocusVersion", "2.0")),
        "row 1, column FocusVersion: value ('2.0') names an unknown FOCUS version",
    ),
}


def _set(rows, index, column, value):
    rows[index][column] = value
    return rows


def _set_all(rows, column, value):
    for row in rows:
        row[column] = value
    return rows


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_files_exit_2_with_one_line_and_leave_the_store_unchanged(
    case, tmp_path, capsys, monkeypatch
):
    db_path = tmp_path / "costbot.db"
    monkeypatch.setenv("COSTBOT_DB", str(db_path))
    monkeypatch.delenv("COSTBOT_CONFIG", raising=False)
    assert main(["ingest", "focus", str(SAMPLE)]) == 0
    before = file_digest(db_path)

    make, expected = BAD_CASES[case]
    header, rows = read_rows(SAMPLE)
    header, rows = make(header, rows)
    bad = write_rows(tmp_path / "bad.csv", header, rows)
    capsys.readouterr()
    assert main(["ingest", "focus", str(SAMPLE), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert str(bad) in err and expected in err
    assert file_digest(db_path) == before


def test_truncated_gzip_is_reported_and_creates_no_store(tmp_path, capsys, monkeypatch):
    db_path = tmp_path / "never-created.db"
    monkeypatch.setenv("COSTBOT_DB", str(db_path))
    header, rows = read_rows(SAMPLE)
    whole = write_rows(tmp_path / "whole.csv.gz", header, rows).read_bytes()
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    assert main(["ingest", "focus", str(cut)]) == 2
    err = capsys.readouterr().err
    assert f"{cut}: truncated or corrupt gzip file" in err and err.count("\n") == 1
    assert not db_path.exists()


def test_unknown_declared_version_and_missing_path_are_usage_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COSTBOT_DB", str(tmp_path / "x.db"))
    assert main(["ingest", "focus", "--focus-version", "0.9", str(SAMPLE)]) == 2
    assert "unknown FOCUS version" in capsys.readouterr().err
    assert main(["ingest", "focus", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(FocusError, match="not a FOCUS file"):
        ingest_focus([str(Path(__file__))], Config(), tmp_path / "x.db")


def test_typed_parquet_with_map_tags_and_utc_timestamps(tmp_path, monkeypatch):
    """Parquet exports type their columns: DOUBLE or DECIMAL costs, TIMESTAMPTZ periods and
    Tags as a MAP. Billing days are UTC days whatever the machine's zone."""
    import datetime as dt
    import time

    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    early_utc = dt.datetime(2024, 9, 2, 2, 0, tzinfo=dt.UTC)  # still Sep 1 in Los Angeles
    table = pa.table(
        {
            "BilledCost": pa.array([12.25, 3.5, 0.01], pa.float64()),
            "EffectiveCost": pa.array(
                [Decimal("12.2500000001"), Decimal("3.4999999999"), Decimal("0.01")],
                pa.decimal128(38, 10),
            ),
            "BillingAccountId": ["1"] * 3,
            "BillingCurrency": ["USD"] * 3,
            "BillingPeriodStart": pa.array(
                [dt.datetime(2024, 9, 1, tzinfo=dt.UTC)] * 3, pa.timestamp("us", tz="UTC")
            ),
            "ChargePeriodStart": pa.array([early_utc] * 3, pa.timestamp("us", tz="UTC")),
            "ChargeCategory": ["Usage"] * 3,
            "ServiceName": ["Amazon EC2"] * 3,
            "ProviderName": ["AWS"] * 3,
            "Tags": pa.array([[("Team", "Payments")], [], None], pa.map_(pa.string(), pa.string())),
        }
    )
    path = tmp_path / "typed.parquet"
    pq.write_table(table, path)
    try:
        db_path = tmp_path / "db.sqlite"
        ingest_focus([str(path)], Config(), db_path)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    db = sqlite_utils.Database(db_path)
    rows = db.execute(
        "SELECT date, billing_period, team, effective_micros, billed_micros FROM daily_cost"
        " ORDER BY team"
    ).fetchall()
    assert rows == [
        ("2024-09-02", "2024-09", None, 3_510_000, 3_510_000),
        ("2024-09-02", "2024-09", "payments", 12_250_000, 12_250_000),
    ]


def test_ingest_prints_each_billing_period_total_to_the_cent(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COSTBOT_DB", str(tmp_path / "costbot.db"))
    monkeypatch.delenv("COSTBOT_CONFIG", raising=False)
    assert main(["ingest", "focus", str(SAMPLE)]) == 0
    out = capsys.readouterr().out
    billed: dict[str, Decimal] = defaultdict(Decimal)
    for row in read_rows(SAMPLE)[1]:
        billed[row["BillingPeriodStart"][:7]] += Decimal(row["BilledCost"])
    for period, amount in billed.items():
        assert f"billing period {period}: " in out
        assert f"${to_cent(amount):,.2f} billed" in out


def test_the_ingest_summary_gives_each_currency_its_own_total(tmp_path, monkeypatch, capsys):
    """A period billed in USD and EUR: two lines, never one sum of dollars and euros."""
    from focus_rows import focus_row, write_rows

    usd = focus_row(date(2026, 9, 3), "100.25")
    eur = {
        **focus_row(date(2026, 9, 3), "40.10", billing_account=("333333333333", "Acme GmbH")),
        "BillingCurrency": "EUR",
    }
    write_rows(tmp_path / "bill.csv", [usd, eur])
    monkeypatch.setenv("COSTBOT_DB", str(tmp_path / "costbot.db"))
    monkeypatch.delenv("COSTBOT_CONFIG", raising=False)
    assert main(["ingest", "focus", str(tmp_path / "bill.csv")]) == 0
    out = capsys.readouterr().out
    assert "billing period 2026-09: $100.25 amortized, $100.25 billed" in out
    assert "billing period 2026-09: EUR 40.10 amortized, EUR 40.10 billed" in out
    assert "$140.35" not in out
