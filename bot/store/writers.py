"""Every write to the store: one module, so each table's columns and each transaction's shape
exist once. Sources read and check their input, then hand rows here."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import chain, islice
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
            _insert_rows(db.conn, "daily_cost", DAILY_COLUMNS, int(ingest_id), result.daily_rows)
            _insert_rows(
                db.conn, "resource_cost", RESOURCE_COLUMNS, int(ingest_id), result.resource_rows
            )
            db.conn.executemany(
                "INSERT OR REPLACE INTO accounts (provider, account_id, name, kind)"
                " VALUES (?, ?, ?, ?)",
                sorted(result.accounts),
            )


# Rows per INSERT statement when loading cost rows: one statement per row spends about a third
# of the write in SQLite's per-statement work (reset, step); 50 rows x 16 columns of
# parameters stays far below SQLite's limit of bound parameters.
ROWS_PER_INSERT = 50
# Rows taken from the source at a time (then flattened into one list of parameters).
INSERT_BATCH_ROWS = 50_000


def _insert_rows(
    conn: sqlite3.Connection,
    table: str,
    columns: Sequence[str],
    ingest_id: int,
    rows: Iterable[Sequence[object]],
) -> None:
    """Append `rows` (in `columns` order) to `table` with `ingest_id`, ROWS_PER_INSERT rows
    per statement: the parameters of a batch are one flat list, cut into statement-sized
    slices (C-level work, no Python loop per row)."""
    width = len(columns)
    one = f"({', '.join('?' * width)}, {ingest_id})"
    head = f"INSERT INTO {table} ({', '.join(columns)}, ingest_id) VALUES "
    many_sql = head + ", ".join([one] * ROWS_PER_INSERT)
    step = ROWS_PER_INSERT * width
    iterator = iter(rows)
    while batch := list(islice(iterator, INSERT_BATCH_ROWS)):
        flat = list(chain.from_iterable(batch))
        if len(flat) != len(batch) * width:
            raise ValueError(f"{table}: rows must have {width} values each")
        full = len(batch) // ROWS_PER_INSERT * step
        conn.executemany(many_sql, (flat[i : i + step] for i in range(0, full, step)))
        conn.executemany(head + one, (flat[i : i + width] for i in range(full, len(flat), width)))


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
