"""A small organisation for the monthly and quarterly report tests: FOCUS rows written by hand
(with pricing and commitment columns) loaded through the real ingest, an idle instance in the
inventory, business metrics, stopped resources and a stored forecast. Every figure the tests
expect is computed again from `ROWS` (Decimal sums), not read back from the store.

October 2026 (USD): payments $100.00 on demand (i-pay, idle), $60.00 Savings-Plan covered
(list $90.00), $40.00 spot, and EUR 70.00; search $80.00 on demand; shared-infra $30.00;
untagged $10.00. September: payments $150.00, search $20.00. Q3 2026 also has July $100.00
and August $200.00 of payments, a Savings Plan purchase in August, revenue in July and
August; June and November rows must not count.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from focus_rows import focus_row, write_rows
from unit_cost_data import load_metrics

from bot.config import Config, parse_config
from bot.sources.focus_ingest import ingest_focus
from bot.store import open_store
from bot.store.writers import (
    InventorySnapshot,
    record_saving,
    write_commitments,
    write_inventory_snapshot,
)

ACCOUNT = "222222222222"
SAVINGS_PLAN = {
    "CommitmentDiscountCategory": "Spend",
    "CommitmentDiscountId": "arn:aws:savingsplans::111111111111:savingsplan/sp-1",
    "CommitmentDiscountName": "compute-sp",
    "CommitmentDiscountType": "Savings Plan",
}
TEAMS = [
    {
        "name": "payments",
        "channel": "#team-payments",
        "leads_channel": "#payments-leads",
        "monthly_budget": 400,
    },
    {"name": "search", "channel": "#team-search", "monthly_budget": 50},
    {"name": "ml", "monthly_budget": 10},  # no channel: skipped
    {"name": "shared-infra", "channel": "#team-shared"},
]


def charge(
    day: date,
    cost: str,
    *,
    team: str | None = "payments",
    resource: str = "i-0",
    listed: str | None = None,
    pricing: str = "Standard",
    commitment: dict | None = None,
    status: str = "",
    currency: str = "USD",
    charge_category: str = "Usage",
    billed: str | None = None,
) -> dict[str, str]:
    row = focus_row(day, cost, team=team, resource=resource)
    return row | (commitment or {}) | {
        "BilledCost": cost if billed is None else billed,
        "ListCost": cost if listed is None else listed,
        "ChargeCategory": charge_category,
        "PricingCategory": pricing,
        "CommitmentDiscountStatus": status,
        "BillingCurrency": currency,
    }  # fmt: skip


def rows() -> list[dict[str, str]]:
    oct_ = date(2026, 10, 1)
    return [
        # October 2026
        charge(oct_, "100.00", resource="i-pay"),
        charge(date(2026, 10, 2), "60.00", listed="90.00", pricing="Committed",
               commitment=SAVINGS_PLAN, status="Used", resource="i-sp", billed="0"),
        charge(date(2026, 10, 3), "40.00", pricing="Dynamic", resource="i-spot"),
        charge(date(2026, 10, 4), "70.00", currency="EUR", resource="i-eur"),
        charge(date(2026, 10, 5), "80.00", team="search", resource="i-search"),
        charge(date(2026, 10, 6), "30.00", team="shared-infra", resource="eks"),
        charge(date(2026, 10, 7), "10.00", team=None, resource="i-nobody"),
        # September 2026
        charge(date(2026, 9, 10), "150.00", resource="i-pay"),
        charge(date(2026, 9, 11), "20.00", team="search", resource="i-search"),
        # The rest of Q3, and a purchase of a Savings Plan (its amortized cost is on the usage)
        charge(date(2026, 7, 15), "100.00", resource="i-old"),
        charge(date(2026, 8, 15), "200.00", resource="i-old"),
        charge(date(2026, 8, 1), "0", billed="500.00", charge_category="Purchase",
               commitment=SAVINGS_PLAN, team=None, resource="sp-1", pricing="Committed"),
        # Outside: June (Q2) and November
        charge(date(2026, 6, 30), "1000.00", resource="i-old"),
        charge(date(2026, 11, 1), "999.00", resource="i-pay"),
    ]  # fmt: skip


def dollars(
    month: str, *, team: str | object | None = ..., currency: str = "USD", **where: str
) -> Decimal:
    """Independent sum of EffectiveCost of the rows of `month` (YYYY-MM) that match."""
    total = Decimal(0)
    for row in rows():
        if row["ChargePeriodStart"][:7] != month or row["BillingCurrency"] != currency:
            continue
        row_team = json.loads(row["Tags"]).get("Team") if row["Tags"] else None
        if team is not ... and row_team != team:
            continue
        if all(row[column] == value for column, value in where.items()):
            total += Decimal(row["EffectiveCost"])
    return total


def config(**extra) -> Config:
    return parse_config({"teams": TEAMS, "shared_costs": {"teams": ["shared-infra"]}, **extra})


def build(folder: Path, cfg: Config | None = None) -> Path:
    cfg = cfg or config()
    db_path = folder / "costbot.db"
    ingest_focus([str(write_rows(folder / "focus.csv", rows()))], cfg, db_path)
    load_metrics(
        db_path,
        [
            ("2026-07-15", "revenue", "all", "1000"),
            ("2026-07-16", "revenue", "all", "1000"),
            ("2026-08-15", "revenue", "all", "1000"),
            ("2026-07-15", "orders", "all", "50"),
            ("2026-08-15", "orders", "all", "80"),
            ("2026-10-02", "orders", "payments", "4"),
            ("2026-09-10", "orders", "payments", "3"),
        ],
    )
    db = open_store(db_path)
    try:
        idle = {
            "arn": f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-pay",
            "resource_id": "i-pay",
            "resource_type": "ec2:instance",
            "account_id": ACCOUNT,
            "region": "us-east-1",
            "name": "payments-batch",
            "state": "running",
            "launched_at": "2026-01-01T00:00:00+00:00",
            "tags": {"Team": "payments"},
            "team": "payments",
            "idle": 1,
            "read_by": "ec2",
        }
        write_inventory_snapshot(
            db,
            InventorySnapshot(ACCOUNT, "us-east-1", "2026-10-31T06:00:00+00:00", {"ec2"}, [idle]),
        )
        saved = [
            (datetime(2026, 8, 10, 12, tzinfo=UTC), "arn:a", "idle-stop", 123_450_000, "payments"),
            # The same resource terminated later saves its run-rate once.
            (datetime(2026, 9, 1, 12, tzinfo=UTC), "arn:a", "enforcement-terminate", 123_450_000,
             "payments"),
            (datetime(2026, 9, 30, 23, tzinfo=UTC), "arn:b", "enforcement-stop", 10_000_000, None),
            (datetime(2026, 10, 1, 1, tzinfo=UTC), "arn:c", "idle-stop", 999_000_000, "search"),
        ]  # fmt: skip
        for at, arn, action, micros, team in saved:
            record_saving(
                db, at=at, arn=arn, action=action, monthly_micros=micros, currency="USD",
                basis="its cost in the month before", actor="costbot", team=team,
            )  # fmt: skip
        write_commitments(
            db,
            [
                {
                    "provider": "AWS",
                    "billing_account_id": "111111111111",
                    "month": "2026-09",
                    "source": "cost-explorer",
                    "currency": "USD",
                    "forecast_micros": 180_000_000,
                    "forecast_low_micros": 160_000_000,
                    "forecast_high_micros": 200_000_000,
                }
            ],
        )
    finally:
        db.close()
    return db_path
