"""A store shaped like a real bill with two billing currencies, for the tests that check
that resource-level cost is never added across currencies: a billing account invoiced in USD
(payer 111111111111, sub-account 222222222222) and one invoiced in EUR (payer 999999999999,
sub-account 888888888888), resources of team payments in both, some lacking required tags,
a resource of no team, and a EUR resource billed but not in the inventory. The cost is
loaded from FOCUS rows through the real ingest and the inventory through its writer.

The expected figures are written out by hand below (3 days of November at the daily cost
of each resource, one day of October), so that the tests compare the answers with numbers
no Costbot code computed."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from focus_rows import focus_row, write_rows

from bot.config import Config, parse_config
from bot.sources.aws.inventory import team_of
from bot.sources.focus_ingest import ingest_focus
from bot.store import open_store
from bot.store.writers import InventorySnapshot, write_inventory_snapshot

TODAY = date(2026, 11, 21)  # month to date: November 1 - 20
ALICE = "U0ALICE"  # a member of payments, for App Home
US_PAYER, US = ("111111111111", "Acme Corp"), ("222222222222", "acme-prod")
EU_PAYER, EU = ("999999999999", "Acme GmbH"), ("888888888888", "acme-eu")
CONFIG_DATA = {
    "teams": [
        {"name": "payments", "channel": "#team-payments", "members": [ALICE]},
        {"name": "search", "channel": "#team-search"},
    ],
}
FULL = {"Team": "payments", "Product": "checkout", "Environment": "prod", "CostCenter": "cc-1"}
PARTIAL = {"Team": "payments"}  # lacks Product, Environment and CostCenter

# id -> (billing account, sub-account, currency, tags, daily cost in November)
INVENTORY = {
    "i-us-full": (US_PAYER, US, "USD", FULL, "100.10"),
    "i-us-partial": (US_PAYER, US, "USD", PARTIAL, "40.05"),
    "i-us-bare": (US_PAYER, US, "USD", {}, "12.35"),
    "i-eu-partial": (EU_PAYER, EU, "EUR", PARTIAL, "77.77"),
    "i-eu-full": (EU_PAYER, EU, "EUR", FULL, "50.00"),
}
BILLED_ONLY = {"nat-eu": (EU_PAYER, EU, "EUR", PARTIAL, "9.99")}
NOVEMBER_DAYS = (1, 7, 19)
OCTOBER = {"i-us-partial": "200.00", "i-eu-partial": "300.00"}  # one day each, Oct 30

# By hand, November (3 days of each daily cost):
# USD: i-us-full 300.30 (compliant), i-us-partial 120.15, i-us-bare 37.05 (no team).
# EUR: i-eu-partial 233.31, i-eu-full 150.00 (compliant), nat-eu 29.97 (billed only).
PAYMENTS_USD = ("$120.15", "$420.45")  # non-compliant, all resource cost of payments
ORG_USD = ("$157.20", "$457.50")
EUR_NONCOMPLIANT, EUR_COST = "EUR 263.28", "EUR 413.28"  # payments = the organisation
# What adding the currencies (the bug) would have shown: none of these may appear.
ADDED = (
    "$263.28",  # EUR amounts shown as dollars
    "$413.28",
    "$233.31",
    "$29.97",
    "$383.43",  # payments: non-compliant USD + EUR
    "$833.73",  # payments: all USD + EUR
    "$420.48",  # the organisation: non-compliant USD + EUR
    "$870.78",  # the organisation: all USD + EUR
)


def config() -> Config:
    return parse_config(CONFIG_DATA)


def arn_of(resource_id: str) -> str:
    account = INVENTORY[resource_id][1][0]
    return f"arn:aws:ec2:us-east-1:{account}:instance/{resource_id}"


def _row(day: date, spec: tuple, resource: str) -> dict[str, str]:
    payer, sub, currency, tags, cost = spec
    row = focus_row(day, cost, billing_account=payer, sub_account=sub, resource=resource)
    row["BillingCurrency"] = currency
    row["Tags"] = json.dumps(tags) if tags else ""
    return row


def rows() -> list[dict[str, str]]:
    out = []
    for resource_id, spec in {**INVENTORY, **BILLED_ONLY}.items():
        # Half billed by ARN, half by bare id: both are matched to the inventory.
        billed_as = (
            arn_of(resource_id) if resource_id in ("i-us-full", "i-eu-full") else resource_id
        )
        out.extend(_row(date(2026, 11, day), spec, billed_as) for day in NOVEMBER_DAYS)
    for resource_id, cost in OCTOBER.items():
        payer, sub, currency, tags, _ = INVENTORY[resource_id]
        out.append(_row(date(2026, 10, 30), (payer, sub, currency, tags, cost), resource_id))
    return out


def build_store(folder: Path, cfg: Config | None = None) -> Path:
    cfg = cfg or config()
    db_path = folder / "costbot.db"
    ingest_focus([str(write_rows(folder / "focus.csv", rows()))], cfg, db_path)
    db = open_store(db_path)
    try:
        by_account: dict[str, list[dict]] = {}
        for resource_id, (_, sub, _, tags, _) in INVENTORY.items():
            by_account.setdefault(sub[0], []).append(
                {
                    "arn": arn_of(resource_id),
                    "resource_id": resource_id,
                    "resource_type": "ec2:instance",
                    "account_id": sub[0],
                    "region": "us-east-1",
                    "name": resource_id,
                    "state": "running",
                    "launched_at": "2026-09-01T00:00:00+00:00",
                    "tags": tags,
                    "team": team_of(tags, cfg),
                    "idle": 0,
                    "read_by": "ec2",
                }
            )
        for account, resources in by_account.items():
            write_inventory_snapshot(
                db,
                InventorySnapshot(
                    account, "us-east-1", "2026-11-15T06:00:00+00:00", {"ec2"}, resources
                ),
            )
    finally:
        db.close()
    return db_path
