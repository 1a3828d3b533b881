"""Eight weeks of FOCUS rows for the weekly digest tests, loaded through the real ingest, with
an inventory written by the inventory's writer and anomaly episodes as the anomalies job
records them. `dollars` sums the same rows by hand (Decimal, no Costbot code), so the tests
compare the digest with an independent computation.

The week reported is Monday 19 to Sunday 25 October 2026; the week before is 12-18 October.
payments: EC2 in acme-prod every day (amounts with 10 decimals), RDS in acme-dev on weekdays,
a service with a hostile name from 19 October, a EUR charge every day (never added to USD);
search: EC2 every day; untagged S3 every day.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from focus_rows import focus_row, write_rows

from bot.config import Config, parse_config
from bot.sources.focus_ingest import ingest_focus
from bot.store import open_store, writers
from bot.store.writers import InventorySnapshot, write_inventory_snapshot

WEEK = date(2026, 10, 19)  # Monday
FIRST_DAY = date(2026, 8, 31)  # eight weeks before the week reported, and one more
LAST_DAY = date(2026, 10, 25)
SEEN_AT = "2026-10-25T06:00:00+00:00"
EC2 = "Amazon Elastic Compute Cloud"
RDS = "Amazon Relational Database Service"
S3 = "Amazon Simple Storage Service"
HOSTILE = "<!channel> *x* & <@U1>"
PROD = ("222222222222", "acme-prod")
DEV = ("333333333333", "acme-dev")
CONFIG_DATA = {
    "currency": "USD",
    "teams": [
        {"name": "payments", "channel": "#team-payments", "monthly_budget": 5000},
        {"name": "search", "channel": "#team-search", "timezone": "Asia/Tokyo"},
        {"name": "ml"},  # no channel, no spend
    ],
}


def config(**changes) -> Config:
    return parse_config({**CONFIG_DATA, **changes})


def _ec2_amount(day: date) -> str:
    """A different amount each day, with 10 decimals: 100 + day-of-year/7 + a fraction."""
    number = day.toordinal()
    return f"{100 + (number % 53) / 7:.4f}{number % 97:02d}3791"


def rows(last_day: date = LAST_DAY) -> list[dict[str, str]]:
    found = []
    day = FIRST_DAY
    while day <= last_day:
        found.append(focus_row(day, _ec2_amount(day), team="payments", sub_account=PROD))
        if day.weekday() < 5:
            rds = "40.0000000001" if day < WEEK else "55.4999999999"
            found.append(focus_row(day, rds, team="payments", service=RDS, sub_account=DEV))
        if day >= WEEK:
            found.append(focus_row(day, "3.333333", team="payments", service=HOSTILE))
        eur = focus_row(day, "7.125", team="payments", resource="i-eur")
        eur["BillingCurrency"] = "EUR"
        found.append(eur)
        found.append(focus_row(day, "20.2", team="search", resource="i-search"))
        found.append(focus_row(day, "5.55", service=S3, resource="bucket"))
        day += timedelta(days=1)
    return found


def dollars(all_rows, start: date, end: date, currency: str = "USD", **where: str) -> str:
    """The rows' EffectiveCost from start to end (inclusive) whose columns match, summed
    exactly and rounded half up to the cent: `1234.56`."""
    total = sum(
        (
            Decimal(r["EffectiveCost"])
            for r in all_rows
            if start <= date.fromisoformat(r["ChargePeriodStart"][:10]) <= end
            and r["BillingCurrency"] == currency
            and all(_column(r, column) == value for column, value in where.items())
        ),
        Decimal(0),
    )
    return str(total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _column(row: dict[str, str], column: str) -> str | None:
    if column == "team":
        return json.loads(row["Tags"])["Team"] if row["Tags"] else None
    return row[column]


def load(folder: Path, cfg: Config, all_rows: list[dict[str, str]] | None = None) -> Path:
    db_path = folder / "costbot.db"
    all_rows = rows() if all_rows is None else all_rows
    ingest_focus([str(write_rows(folder / "focus.csv", all_rows))], cfg, db_path)
    return db_path


def add_inventory(db_path: Path, resources: list[dict]) -> None:
    db = open_store(db_path)
    try:
        by_account: dict[str, list[dict]] = {}
        for resource in resources:
            by_account.setdefault(resource["account_id"], []).append(resource)
        for account, found in by_account.items():
            reads = {r["read_by"] for r in found}
            snapshot = InventorySnapshot(account, "us-east-1", SEEN_AT, reads, found)
            write_inventory_snapshot(db, snapshot)
    finally:
        db.close()


def instance(
    number: int, team: str | None, *, idle: bool = False, tags: dict | None = None
) -> dict:
    resource_id = f"i-{number:08x}"
    tags = {"Team": team} if tags is None and team else (tags or {})
    return {
        "arn": f"arn:aws:ec2:us-east-1:{PROD[0]}:instance/{resource_id}",
        "resource_id": resource_id,
        "resource_type": "ec2:instance",
        "account_id": PROD[0],
        "region": "us-east-1",
        "name": resource_id,
        "state": "running",
        "launched_at": "2026-01-01T00:00:00+00:00",
        "tags": tags,
        "team": team,
        "idle": 1 if idle else 0,
        "read_by": "ec2",
    }


def add_episode(db_path: Path, **fields) -> int:
    db = open_store(db_path)
    try:
        team = fields.get("team")
        service = fields.get("service")
        series = json.dumps([team, service, fields.get("account_id"), "USD"])
        return writers.open_episode(
            db,
            **{
                "series": series,
                "currency": "USD",
                "kind": "spike",
                "status": "open",
                "expected_micros": 100_000_000,
                "actual_micros": 400_000_000,
                "alerts": 1,
                **fields,
            },
        )
    finally:
        db.close()
