"""Every write to the store: one module, so each table's columns and each transaction's shape
exist once. Sources read and check their input, then hand rows here."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

import sqlite_utils

from bot.store.schema import DAILY_COLUMNS, RESOURCE_COLUMNS


class LoadedCostFile(Protocol):
    """What a source hands over for one checked file of cost data (the FOCUS reader's
    `FileResult`): rows in DAILY_COLUMNS / RESOURCE_COLUMNS order, and what to replace."""

    @property
    def display_name(self) -> str: ...

    focus_version: str
    checksum: str
    charge_rows: int
    billing_periods: list[str]
    # (provider, billing account, billing period): each is replaced whole by this load.
    replace_keys: set[tuple[str, str, str]]
    daily_rows: Iterable[Sequence[object]]
    resource_rows: Iterable[Sequence[object]]
    accounts: set[tuple[str, str, str, str]]


def write_focus_results(db: sqlite_utils.Database, results: Sequence[LoadedCostFile]) -> None:
    """One transaction: replace every billing period the files cover, record the ingests."""
    loaded_at = datetime.now(UTC).isoformat(timespec="seconds")
    daily_placeholders = ", ".join("?" * len(DAILY_COLUMNS))
    resource_placeholders = ", ".join("?" * len(RESOURCE_COLUMNS))
    with db.atomic():
        for key in {k for result in results for k in result.replace_keys}:
            for table in ("daily_cost", "resource_cost"):
                db.execute(
                    f"DELETE FROM {table} WHERE provider = ? AND billing_account_id IS ?"
                    " AND billing_period = ?",
                    key,
                )
        for result in results:
            ingest_id = (
                db["ingests"]
                .insert(
                    {
                        "source": "focus",
                        "file": result.display_name,
                        "focus_version": result.focus_version,
                        "billing_periods": json.dumps(result.billing_periods),
                        "rows": result.charge_rows,
                        "checksum": result.checksum,
                        "loaded_at": loaded_at,
                    }
                )
                .last_pk
            )
            db.conn.executemany(
                f"INSERT INTO daily_cost ({', '.join(DAILY_COLUMNS)}, ingest_id)"
                f" VALUES ({daily_placeholders}, {int(ingest_id)})",
                result.daily_rows,
            )
            db.conn.executemany(
                f"INSERT INTO resource_cost ({', '.join(RESOURCE_COLUMNS)}, ingest_id)"
                f" VALUES ({resource_placeholders}, {int(ingest_id)})",
                result.resource_rows,
            )
            db.conn.executemany(
                "INSERT OR REPLACE INTO accounts (provider, account_id, name, kind)"
                " VALUES (?, ?, ?, ?)",
                sorted(result.accounts),
            )


def write_metric_values(
    db: sqlite_utils.Database, file: str, checksum: str, rows: list[tuple[str, str, str, float]]
) -> None:
    """Business metric values (date, metric, scope, value); one transaction, and a value
    loaded again for the same (date, metric, scope) replaces the old one."""
    with db.atomic():
        ingest_id = (
            db["ingests"]
            .insert(
                {
                    "source": "metrics",
                    "file": file,
                    "billing_periods": json.dumps(sorted({r[0][:7] for r in rows})),
                    "rows": len(rows),
                    "checksum": checksum,
                    "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
                }
            )
            .last_pk
        )
        db.conn.executemany(
            "INSERT OR REPLACE INTO business_metrics (date, metric, scope, value, ingest_id)"
            " VALUES (?, ?, ?, ?, ?)",
            [(*row, ingest_id) for row in rows],
        )


# ---- deliveries: what Costbot posted to Slack (bot.slack.delivery writes through these)

# A delivery pending this long was left by a process that stopped mid-way: it may be retried.
STALE_PENDING = timedelta(minutes=10)


def claim_delivery(db: sqlite_utils.Database, key: str, **fields: object) -> bool:
    """Record a delivery about to happen as `pending`. False if `key` is already sent, or being
    sent (pending for under STALE_PENDING): the caller must not deliver it again. A failed
    delivery, or one left pending by a process that died, may be claimed again."""
    now = datetime.now(UTC)
    stale_before = (now - STALE_PENDING).isoformat(timespec="seconds")
    stamp = now.isoformat(timespec="seconds")
    row = {**fields, "key": key, "status": "pending", "created_at": stamp, "updated_at": stamp}
    columns = ", ".join(row)
    placeholders = ", ".join("?" for _ in row)
    updates = ", ".join(f"{name} = excluded.{name}" for name in row if name != "key")
    with db.atomic():
        cursor = db.execute(
            f"INSERT INTO deliveries ({columns}) VALUES ({placeholders})"
            f" ON CONFLICT(key) DO UPDATE SET {updates}"
            " WHERE deliveries.status = 'failed'"
            " OR (deliveries.status = 'pending' AND deliveries.updated_at < ?)",
            [*row.values(), stale_before],
        )
    return cursor.rowcount == 1


def update_delivery(db: sqlite_utils.Database, key: str, **fields: object) -> None:
    """Set `fields` (status, ts, file_id, chart, payload, error) of a recorded delivery."""
    fields["updated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    assignments = ", ".join(f"{name} = ?" for name in fields)
    with db.atomic():
        db.execute(f"UPDATE deliveries SET {assignments} WHERE key = ?", [*fields.values(), key])
