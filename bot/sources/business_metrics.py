"""Daily business metrics (API requests, active users, orders) for unit costs: a CSV with
columns `date,metric,scope,value`, loaded all or nothing."""

from __future__ import annotations

import csv
import math
import os
from datetime import date
from pathlib import Path

from bot.errors import InputError
from bot.sources.focus_ingest import file_checksum
from bot.store import open_store
from bot.store.writers import write_metric_values

REQUIRED = ("date", "metric", "scope", "value")


def read_metrics(path: Path) -> list[tuple[str, str, str, float]]:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    rows: list[tuple[str, str, str, float]] = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"{path}: missing required column {missing[0]}")
        for number, row in enumerate(reader, start=1):
            try:
                day = date.fromisoformat(row["date"].strip())
            except ValueError:
                raise InputError(
                    f"{path}: row {number}, column date: {row['date']!r} is not YYYY-MM-DD"
                ) from None
            try:
                value = float(row["value"])
            except (TypeError, ValueError):
                raise InputError(
                    f"{path}: row {number}, column value: {row['value']!r} is not a number"
                ) from None
            if not math.isfinite(value) or value < 0:
                raise InputError(f"{path}: row {number}, column value: must be a number >= 0")
            metric, scope = row["metric"].strip(), (row["scope"] or "all").strip().lower()
            if not metric:
                raise InputError(f"{path}: row {number}, column metric: empty")
            rows.append((day.isoformat(), metric, scope, value))
    return rows


def ingest_metrics(path: Path, db_path: str | os.PathLike) -> int:
    rows = read_metrics(path)
    db = open_store(db_path)
    try:
        write_metric_values(db, str(path), file_checksum(path), rows)
    finally:
        db.close()
    return len(rows)
