"""What was used (`sku`, for the root causes of anomalies) comes from a FOCUS file's most telling
column: AWS's x_UsageType, else FOCUS 1.1's SkuMeter, else the ChargeDescription, else the
SkuId. It is one of the daily grouping's dimensions: charges that differ only by it stay apart,
and every amount still sums exactly."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from focus_factory import HEADER
from focus_rows import focus_row

from bot.config import Config
from bot.sources.focus_ingest import ingest_focus
from bot.store import open_store

DAY = date(2026, 10, 7)


def _write(path: Path, rows: list[dict[str, str]], extra: tuple[str, ...]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*HEADER, *extra])
        writer.writeheader()
        writer.writerows(rows)
    return path


def _row(cost: str, resource: str, **columns: str) -> dict[str, str]:
    return {**focus_row(DAY, cost, team="payments", resource=resource), **columns}


def _stored(tmp_path: Path, rows, extra=()) -> list[tuple[str | None, int]]:
    db_path = tmp_path / "costbot.db"
    ingest_focus([str(_write(tmp_path / "focus.csv", rows, extra))], Config(), db_path)
    db = open_store(db_path)
    try:
        return db.execute(
            "SELECT sku, effective_micros FROM daily_cost ORDER BY sku, effective_micros"
        ).fetchall()
    finally:
        db.close()


def test_an_aws_export_groups_by_usage_type(tmp_path):
    rows = [
        _row("1.000001", "i-1", x_UsageType="USE1-BoxUsage:m5.large", SkuId="ABC"),
        _row("2.000002", "i-2", x_UsageType="USE1-BoxUsage:m5.large", SkuId="ABC"),
        _row("0.333333", "vol-1", x_UsageType="USE1-EBS:VolumeUsage.gp3", SkuId="DEF"),
        # a blank usage type falls through to the next column
        _row("0.5", "i-3", x_UsageType="  ", ChargeDescription="$0.096 per On Demand Linux"),
    ]
    assert _stored(tmp_path, rows, ("x_UsageType",)) == [
        ("$0.096 per On Demand Linux", 500_000),
        ("USE1-BoxUsage:m5.large", 3_000_003),
        ("USE1-EBS:VolumeUsage.gp3", 333_333),
    ]


def test_without_a_usage_type_the_charge_description_then_the_sku_id(tmp_path):
    long_description = "Storage " + "x" * 200
    rows = [
        _row("1.25", "a", SkuId="SKU-1", ChargeDescription="Standard Storage US Multi-region"),
        _row("2.50", "b", SkuId="SKU-1", ChargeDescription="Standard Storage US Multi-region"),
        _row("0.125", "c", SkuId="SKU-2"),
        _row("0.000001", "d", SkuId="SKU-3", ChargeDescription=long_description),
        _row("4", "e"),
    ]
    stored = _stored(tmp_path, rows)
    assert stored == sorted(
        [
            (None, 4_000_000),
            ("SKU-2", 125_000),
            ("Standard Storage US Multi-region", 3_750_000),
            (long_description[:120], 1),
        ],
        key=lambda r: (r[0] is not None, r[0] or "", r[1]),
    )
    total = sum(Decimal(r["EffectiveCost"]) for r in rows)
    assert sum(micros for _, micros in stored) == int(total * 1_000_000)


@pytest.mark.parametrize(
    ("columns", "sku"),
    [
        (
            {"SkuMeter": "Compute Usage", "ChargeDescription": "a sentence", "SkuId": "S"},
            "Compute Usage",
        ),
        ({"SkuMeter": "", "ChargeDescription": "a sentence", "SkuId": "S"}, "a sentence"),
        ({"SkuMeter": "", "ChargeDescription": "", "SkuId": "S"}, "S"),
    ],
)
def test_focus_1_1_sku_meter_comes_before_the_description(tmp_path, columns, sku):
    rows = [_row("9.99", "r", **columns)]
    assert _stored(tmp_path, rows, ("SkuMeter",)) == [(sku, 9_990_000)]
