"""A store for /untagged and Claim tests: an inventory written by the inventory's writer and
resource-level cost loaded from FOCUS rows through the real ingest, over three accounts,
with hostile tag values, an exempt resource, an empty-value tag, a billed-only resource and
a month before the current one. `expected_figures` sums the same rows by hand, with no
Costbot code, for the tests to compare the answer with."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

from focus_rows import focus_row, write_rows

from bot.config import Config, parse_config
from bot.sources.aws.inventory import team_of
from bot.sources.focus_ingest import ingest_focus
from bot.store import open_store
from bot.store.writers import InventorySnapshot, write_inventory_snapshot

TODAY = date(2026, 11, 21)  # month to date: Nov 1 - Nov 20
A, B, C = "222222222222", "333333333333", "444444444444"
ACCOUNT_NAMES = {A: "acme-prod", B: "acme-dev", C: "acme-data"}
REQUIRED = ("Team", "Product", "Environment", "CostCenter")
HOSTILE = "<!channel> *bold* & `tick`"
CONFIG_DATA = {
    "teams": [
        {"name": "payments", "channel": "#team-payments", "aliases": ["pay"]},
        {"name": "search", "channel": "#team-search"},
    ],
}
FULL = {"Team": "payments", "Product": "checkout", "Environment": "dev", "CostCenter": "cc-1"}

# id -> (account, type, tags now, launched_at)
INVENTORY: dict[str, tuple[str, str, dict[str, str], str | None]] = {
    "i-full": (A, "ec2:instance", FULL, "2026-10-01T08:00:00+00:00"),
    "i-noproduct": (
        A,
        "ec2:instance",
        {"Team": "payments", "Environment": "dev", "CostCenter": "cc-1"},
        "2026-11-11T00:00:00+00:00",
    ),
    # an empty value counts as missing
    "i-emptycc": (
        A,
        "ec2:instance",
        {"Team": "pay", "Product": "checkout", "Environment": "dev", "CostCenter": "  "},
        "2026-11-01T00:00:00+00:00",
    ),
    "db-exempt": (A, "rds:db", {"Team": "search", "costbot:exempt": "true"}, None),
    "i-bare": (B, "ec2:instance", {}, "2026-11-20T00:00:00+00:00"),
    "i-hostile": (
        B,
        "ec2:instance",
        {"Team": HOSTILE, "Product": "a&b <x>", "Name": "<@U999> *x*"},
        "2026-06-01T00:00:00+00:00",
    ),
    "i-search": (C, "ec2:instance", {"Team": "search", "Product": "idx"}, None),
    "i-c-full": (C, "ec2:instance", {**FULL, "Team": "search"}, None),
}
# billed, not in the inventory: (account, id) -> tags on the bill
BILLED_ONLY = {(B, "nat-0abc"): {"Team": "payments", "Product": ""}}
# FOCUS cost per resource and day (November), dollars as text
NOVEMBER = {
    "i-full": "10.123456",
    "i-noproduct": "3.333333",
    "i-emptycc": "7.000001",
    "db-exempt": "20.25",
    "i-bare": "0.01",
    "i-hostile": "1.99",
    "i-search": "4.04",
    "i-c-full": "2.2",
    (B, "nat-0abc"): "32.4",
}
NOVEMBER_DAYS = (1, 7, 19)
OCTOBER = {"i-bare": "100", "i-full": "55.55"}  # counted only by periods touching October


def config() -> Config:
    return parse_config(CONFIG_DATA)


def arn_of(resource_id: str) -> str:
    account, kind, _, _ = INVENTORY[resource_id]
    service, what = kind.split(":")
    separator = ":" if service == "rds" else "/"
    return f"arn:aws:{service}:us-east-1:{account}:{what}{separator}{resource_id}"


def _row(day: date, cost: str, account: str, resource: str, tags: dict | None) -> dict:
    row = focus_row(day, cost, sub_account=(account, ACCOUNT_NAMES[account]), resource=resource)
    row["Tags"] = json.dumps(tags) if tags is not None else ""
    return row


def charges() -> list[tuple[object, dict]]:
    """(resource, FOCUS row); half the inventory billed by ARN, half by bare id."""
    out = []
    for key, cost in NOVEMBER.items():
        for day in NOVEMBER_DAYS:
            if isinstance(key, tuple):
                account, resource_id = key
                out.append(
                    (key, _row(date(2026, 11, day), cost, account, resource_id, BILLED_ONLY[key]))
                )
                continue
            account, _, tags, _ = INVENTORY[key]
            billed_as = arn_of(key) if key in ("i-full", "db-exempt", "i-hostile") else key
            out.append((key, _row(date(2026, 11, day), cost, account, billed_as, tags)))
    for key, cost in OCTOBER.items():
        out.append((key, _row(date(2026, 10, 30), cost, INVENTORY[key][0], key, None)))
    return out


def inventory_rows(cfg: Config) -> dict[str, list[dict]]:
    by_account: dict[str, list[dict]] = {}
    for resource_id, (account, kind, tags, launched) in INVENTORY.items():
        by_account.setdefault(account, []).append(
            {
                "arn": arn_of(resource_id),
                "resource_id": resource_id,
                "resource_type": kind,
                "account_id": account,
                "region": "us-east-1",
                "name": tags.get("Name", resource_id),
                "state": "running",
                "launched_at": launched,
                "tags": tags,
                "team": team_of(tags, cfg),
                "idle": 0,
                "read_by": kind.split(":")[0],
            }
        )
    return by_account


def build_store(folder: Path, cfg: Config | None = None) -> Path:
    cfg = cfg or config()
    db_path = folder / "costbot.db"
    rows = [row for _, row in charges()]
    ingest_focus([str(write_rows(folder / "focus.csv", rows))], cfg, db_path)
    db = open_store(db_path)
    try:
        for account, resources in inventory_rows(cfg).items():
            reads = {r["read_by"] for r in resources}
            write_inventory_snapshot(
                db,
                InventorySnapshot(
                    account, "us-east-1", "2026-11-15T06:00:00+00:00", reads, resources
                ),
            )
    finally:
        db.close()
    return db_path


def _missing(tags: dict[str, str]) -> tuple[str, ...]:
    """Required keys lacking, by hand: keys compared lower-case, blank values missing."""
    lowered = {k.lower(): v for k, v in tags.items()}
    return tuple(k for k in REQUIRED if not (lowered.get(k.lower()) or "").strip())


def expected_figures(months: tuple[str, ...], belongs=lambda resource, account: True) -> dict:
    """Cost (micros, Decimal sums of the FOCUS rows) and compliance of the resources for
    which `belongs(resource, account)` holds."""
    cost: dict[object, Decimal] = {}
    for resource, row in charges():
        if row["ChargePeriodStart"][:7] in months:
            cost[resource] = cost.get(resource, Decimal(0)) + Decimal(row["EffectiveCost"])
    figures = {"cost": 0, "compliant_cost": 0, "resources": 0, "compliant": 0, "exempt": 0}
    figures["noncompliant"] = {}
    everything = [(r, INVENTORY[r][0], INVENTORY[r][2], True) for r in INVENTORY] + [
        (key, key[0], tags, False) for key, tags in BILLED_ONLY.items()
    ]
    for resource, account, tags, listed in everything:
        if not belongs(resource, account):
            continue
        micros = int(cost.get(resource, Decimal(0)) * 1_000_000)
        missing = _missing(tags)
        figures["cost"] += micros
        figures["resources"] += listed
        if missing:
            resource_id = resource[1] if isinstance(resource, tuple) else resource
            figures["noncompliant"][resource] = (micros, missing, account, resource_id)
            figures["exempt"] += listed and "costbot:exempt" in tags
        else:
            figures["compliant_cost"] += micros
            figures["compliant"] += listed
    return figures
