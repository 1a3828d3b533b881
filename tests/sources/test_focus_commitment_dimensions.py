"""The FOCUS reader keeps PricingCategory and the CommitmentDiscount{Category,Type,Status}
columns as dimensions of the daily rows: in the real FOCUS 1.0 sample, and in FOCUS 1.0, 1.1
and 1.2 files, with the values of FOCUS 1.0-preview and odd letter case in FOCUS spelling.
Amounts are checked against Decimal sums of the raw rows."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import sqlite_utils
from focus_factory import HEADER, to_cent
from focus_rows import focus_row
from paths import FOCUS_SAMPLE

from bot.config import Config
from bot.periods import Period
from bot.sources.focus_ingest import ingest_focus
from bot.store import queries
from bot.store.queries import Scope

DIMENSIONS = (
    "PricingCategory",
    "CommitmentDiscountCategory",
    "CommitmentDiscountType",
    "CommitmentDiscountStatus",
)
STORED = (
    "pricing_category",
    "commitment_discount_category",
    "commitment_discount_type",
    "commitment_discount_status",
)
# Columns only a later FOCUS version has (FOCUS 1.1: SkuMeter; 1.2: InvoiceId).
VERSION_COLUMNS = {"1.0": [], "1.1": ["SkuMeter"], "1.2": ["SkuMeter", "InvoiceId"]}
DAY = date(2026, 10, 14)
SAVINGS_PLAN = {
    "CommitmentDiscountCategory": "Spend",
    "CommitmentDiscountId": "arn:aws:savingsplans::111111111111:savingsplan/sp-1",
    "CommitmentDiscountName": "compute-sp",
    "CommitmentDiscountType": "Savings Plan",
}


def stored_by_dimensions(db_path: Path) -> dict[tuple, tuple[Decimal, Decimal]]:
    db = sqlite_utils.Database(db_path)
    rows = db.execute(
        f"SELECT provider, {', '.join(STORED)}, sum(effective_micros), sum(billed_micros)"
        f" FROM daily_cost GROUP BY provider, {', '.join(STORED)}"
    )
    return {
        tuple(key): (to_cent(Decimal(e) / 1_000_000), to_cent(Decimal(b) / 1_000_000))
        for *key, e, b in rows
    }


def test_the_real_sample_keeps_its_pricing_and_commitment_columns(tmp_path: Path) -> None:
    db_path = tmp_path / "costbot.db"
    ingest_focus([str(FOCUS_SAMPLE)], Config(), db_path)

    expected: dict[tuple, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    with FOCUS_SAMPLE.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            # The sample writes null as NULL; Oracle's rows leave PricingCategory empty.
            values = (None if row[c] in ("NULL", "") else row[c] for c in DIMENSIONS)
            key = (row["ProviderName"], *values)
            expected[key][0] += Decimal(row["EffectiveCost"])
            expected[key][1] += Decimal(row["BilledCost"])
    assert stored_by_dimensions(db_path) == {
        key: (to_cent(e), to_cent(b)) for key, (e, b) in expected.items()
    }
    # What the sample holds: AWS's Savings Plan usage as AWS writes it, and a credit priced Other.
    assert ("AWS", "Committed", "Spend", "Savings Plan", "Used") in expected
    assert ("AWS", "Other", None, None, None) in expected


def _file(path: Path, version: str, rows: list[dict[str, str]]) -> Path:
    header = HEADER + VERSION_COLUMNS[version]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _rows(account: str) -> list[dict[str, str]]:
    """Same day, team, service and account: only the pricing and commitment columns differ."""
    billing = (account, "Acme Corp")

    def row(cost: str, **columns: str) -> dict[str, str]:
        return focus_row(DAY, cost, team="payments", billing_account=billing) | columns

    return [
        row("10.0000000001", PricingCategory="Standard"),
        row("2.5", PricingCategory="Standard"),  # the same daily row as the first
        row("7.25", PricingCategory="Committed", CommitmentDiscountStatus="Used", **SAVINGS_PLAN)
        | {"BilledCost": "0"},
        row("1.125", PricingCategory="Committed", CommitmentDiscountStatus="Unused", **SAVINGS_PLAN)
        | {"BilledCost": "0", "ResourceId": ""},
        row("3.3333333333", PricingCategory="Dynamic"),
        row("0.5"),  # a provider that does not say: NULL, not "Standard"
    ]


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2"])
def test_each_focus_version_groups_daily_rows_by_the_four_columns(
    tmp_path: Path, version: str
) -> None:
    db_path = tmp_path / "costbot.db"
    focus_file = _file(tmp_path / "f.csv", version, _rows("111"))
    report = ingest_focus([str(focus_file)], Config(), db_path)
    assert report.files[0].focus_version == version

    stored = stored_by_dimensions(db_path)
    assert stored == {
        ("AWS", "Standard", None, None, None): (Decimal("12.50"), Decimal("12.50")),
        ("AWS", "Committed", "Spend", "Savings Plan", "Used"): (Decimal("7.25"), Decimal(0)),
        ("AWS", "Committed", "Spend", "Savings Plan", "Unused"): (Decimal("1.13"), Decimal(0)),
        ("AWS", "Dynamic", None, None, None): (Decimal("3.33"), Decimal("3.33")),
        ("AWS", None, None, None, None): (Decimal("0.50"), Decimal("0.50")),
    }
    # Five daily rows where the dimensions before them would have made one.
    assert sqlite_utils.Database(db_path)["daily_cost"].count == 5


def test_preview_spellings_and_letter_case_are_stored_in_focus_spelling(tmp_path: Path) -> None:
    """FOCUS 1.0-preview wrote "On-Demand" and "Commitment-Based"; exports do not always keep
    the spec's letter case. Each is stored as FOCUS 1.0-1.2 spell it, and summed together."""
    rows = _rows("111")
    rows[0]["PricingCategory"] = "On-Demand"
    rows[1]["PricingCategory"] = " standard "
    rows[2] |= {
        "PricingCategory": "Commitment-Based",
        "CommitmentDiscountCategory": "spend",
        "CommitmentDiscountStatus": "USED",
    }
    rows[4]["PricingCategory"] = "DYNAMIC"
    db_path = tmp_path / "costbot.db"
    ingest_focus([str(_file(tmp_path / "f.csv", "1.0", rows))], Config(), db_path)

    stored = stored_by_dimensions(db_path)
    assert stored[("AWS", "Standard", None, None, None)] == (Decimal("12.50"), Decimal("12.50"))
    assert ("AWS", "Committed", "Spend", "Savings Plan", "Used") in stored
    assert ("AWS", "Dynamic", None, None, None) in stored
    assert len(stored) == 5


def test_cost_can_be_broken_down_by_pricing_and_commitment_type(tmp_path: Path) -> None:
    db_path = tmp_path / "costbot.db"
    ingest_focus([str(_file(tmp_path / "f.csv", "1.2", _rows("111")))], Config(), db_path)
    db = sqlite_utils.Database(db_path)
    period = Period(DAY, DAY, "rolling", "1d")

    by_pricing = queries.breakdown(db, period, "pricing", Scope(currency="USD"))
    assert [(s.name, s.micros) for s in by_pricing] == [
        ("Standard", 12_500_000),
        ("Committed", 8_375_000),
        ("Dynamic", 3_333_333),
        ("(none)", 500_000),
    ]
    by_commitment = queries.breakdown(db, period, "commitment", Scope(currency="USD"))
    assert [(s.name, s.micros) for s in by_commitment] == [
        ("(none)", 16_333_333),
        ("Savings Plan", 8_375_000),
    ]
