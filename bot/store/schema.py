"""The cost store: one SQLite file (sqlite-utils 4) of daily aggregates, resource-month costs,
business metrics and the record of every ingest. Every amount is integer micro-dollars."""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

DEFAULT_DB_PATH = "costbot.db"

# The dimensions a daily aggregate is keyed by, in the order of the unique index.
DAILY_DIMENSIONS = (
    "date",
    "provider",
    "billing_account_id",
    "account_id",
    "team",
    "service",
    "service_category",
    "region",
    "charge_category",
    "environment",
    "product",
    "cost_center",
    "currency",
)
AMOUNT_COLUMNS = ("effective_micros", "billed_micros", "list_micros")

# Daily aggregate columns in the order the FOCUS reader returns them and writers insert them.
DAILY_COLUMNS = (
    *DAILY_DIMENSIONS,
    "billing_period",
    "effective_micros",
    "billed_micros",
    "list_micros",
)
RESOURCE_COLUMNS = (
    "month",
    "billing_period",
    "provider",
    "billing_account_id",
    "account_id",
    "resource_id",
    "resource_name",
    "resource_type",
    "service",
    "region",
    "team",
    "tags",
    "effective_micros",
    "billed_micros",
    "list_micros",
)

migrations = Migrations("costbot")


@migrations()
def m001_cost_store(db: sqlite_utils.Database) -> None:
    db["ingests"].create(
        {
            "id": int,
            "source": str,  # focus | metrics | ...
            "file": str,
            "focus_version": str,
            "billing_periods": str,  # JSON list of YYYY-MM
            "rows": int,
            "checksum": str,  # xxh3-128 of the file as read
            "loaded_at": str,  # ISO 8601 UTC
        },
        pk="id",
    )
    daily_columns: dict[str, type] = {name: str for name in DAILY_DIMENSIONS}
    daily_columns |= {"billing_period": str, "ingest_id": int}
    daily_columns |= {name: int for name in AMOUNT_COLUMNS}
    db["daily_cost"].create(daily_columns, not_null={"date", "provider", "billing_period"})
    # The queries behind every answer filter by one dimension and a date range.
    db["daily_cost"].create_index(["team", "date"])
    db["daily_cost"].create_index(["service", "date"])
    db["daily_cost"].create_index(["account_id", "date"])
    db["daily_cost"].create_index(["date"])
    db["daily_cost"].create_index(["provider", "billing_account_id", "billing_period"])

    db["resource_cost"].create(
        {
            "month": str,  # YYYY-MM of the charge
            "billing_period": str,
            "provider": str,
            "billing_account_id": str,
            "account_id": str,
            "resource_id": str,
            "resource_name": str,
            "resource_type": str,
            "service": str,
            "region": str,
            "team": str,
            "tags": str,  # JSON object as exported
            "effective_micros": int,
            "billed_micros": int,
            "list_micros": int,
            "ingest_id": int,
        },
        not_null={"month", "resource_id"},
    )
    db["resource_cost"].create_index(["month", "team"])
    db["resource_cost"].create_index(["provider", "billing_account_id", "billing_period"])

    db["accounts"].create(
        {"provider": str, "account_id": str, "name": str, "kind": str},
        pk=("provider", "account_id"),
    )
    db["business_metrics"].create(
        {"date": str, "metric": str, "scope": str, "value": float, "ingest_id": int},
        pk=("date", "metric", "scope"),
    )


@migrations()
def m002_drop_unread_resource_index(db: sqlite_utils.Database) -> None:
    # No query reads resource_cost by (month, team), and maintaining that index was half of
    # writing 830,000 resource-month rows (4.3 s of 8 s). The index on (provider,
    # billing_account_id, billing_period) stays: re-loading a billing period deletes by it.
    db.execute("DROP INDEX IF EXISTS idx_resource_cost_month_team")


@migrations()
def m003_deliveries(db: sqlite_utils.Database) -> None:
    # One row per message Costbot delivered (or tried to): answers, shares, later digests and
    # alerts. `key` makes a delivery happen once: a job that restarts finds its key already sent.
    db["deliveries"].create(
        {
            "key": str,  # e.g. answer:<uuid>, share:answer:<uuid>, weekly-digest:payments:2026-W48
            "kind": str,  # answer | share | digest | alert | ...
            "channel": str,  # channel id; answers through a response_url: the asker's channel
            "user_id": str,  # who asked (answers): only they may share it
            "status": str,  # pending | sent | failed
            "ts": str,  # the Slack message ts, when Slack says it
            "file_id": str,  # the chart, uploaded privately
            "chart": str,  # inline | refused | failed | none: how the chart reached Slack
            "payload": str,  # JSON of the message as delivered (Share posts the same)
            "error": str,  # Slack's error code or the exception type when it failed
            "created_at": str,  # ISO 8601 UTC
            "updated_at": str,
        },
        pk="key",
    )
    db["deliveries"].create_index(["kind", "created_at"])
