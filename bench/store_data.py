"""A cost store of daily aggregates the size of a large organisation, built once and cached.

13 months (395 days) x 200 teams x 20 services x 3 accounts = 4,740,000 rows in `daily_cost`,
created through `bot.store.open_store`, so the schema and indexes are the real ones. The rows
are loaded with the indexes dropped and the same indexes are created again afterwards, which
is several times quicker than inserting into them, and gives the same files an ingest would.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import duckdb
from focus_data import ACCOUNTS, BILLING_ACCOUNT, SERVICES, TEAMS

from bot.store import AMOUNT_COLUMNS, open_store
from bot.store.schema import BASE_DAILY_DIMENSIONS

# Bump when the generated data changes, so that cached stores are rebuilt.
STORE_VERSION = 1
LAST_DAY = date(2026, 10, 26)  # data runs through here: "today" is the day after
DAYS = 395  # 13 months
ROWS_PER_DAY = len(TEAMS) * len(SERVICES) * len(ACCOUNTS)
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2")
# The columns the rows below are generated for, in that order (the commitment dimensions stay
# NULL: no query this store is built for reads them).
COLUMNS = (*BASE_DAILY_DIMENSIONS, "billing_period", "ingest_id", *AMOUNT_COLUMNS)


def _first_day(days: int) -> date:
    return LAST_DAY - timedelta(days=days - 1)


def _rows_sql(days: int) -> str:
    def values(rows: list[tuple]) -> str:
        return ", ".join(
            "(" + ", ".join(f"'{v}'" if isinstance(v, str) else str(v) for v in row) + ")"
            for row in rows
        )

    teams = values([(i, name) for i, name in enumerate(TEAMS)])
    services = values([(i, name, category) for i, (name, category, *_) in enumerate(SERVICES)])
    accounts = values([(i, account_id, env) for i, (account_id, env) in enumerate(ACCOUNTS)])
    first = _first_day(days)
    # Amounts: up to $40 a day per row, scaled per team and service, with daily noise.
    return f"""
        WITH teams(t, team) AS (VALUES {teams}),
        services(s, service, category) AS (VALUES {services}),
        accounts(a, account_id, environment) AS (VALUES {accounts}),
        days AS (SELECT DATE '{first}' + d::INTEGER AS day FROM range({days}) r(d)),
        rows AS (
            SELECT day, t, team, s, service, category, a, account_id, environment,
                   (hash(t, s, a, 'base') % 40000000 * (50 + hash(day, t, s, a) % 50) // 100)
                       ::BIGINT AS micros
            FROM days, teams, services, accounts
        )
        SELECT strftime(day, '%Y-%m-%d'), 'AWS', '{BILLING_ACCOUNT[0]}', account_id, team,
               service, category, list_extract({list(REGIONS)}, (hash(t, s) % 4)::BIGINT + 1),
               'Usage', environment, 'app-' || (t % 50), 'cc-' || lpad((t % 40)::VARCHAR, 4, '0'),
               'USD', strftime(day, '%Y-%m'),
               (year(day) * 12 + month(day)) - {first.year * 12 + first.month} + 1,
               micros, micros, micros * 11 // 10
        FROM rows
        ORDER BY day, t, s, a
    """


def cost_store(directory: Path, days: int = DAYS) -> Path:
    """The path of the store with `days` days ending on LAST_DAY, built if not cached."""
    path = directory / f"store-v{STORE_VERSION}-{days}d.db"
    if path.exists():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    db = open_store(partial)
    try:
        _fill(db, days)
    finally:
        db.close()
    os.replace(partial, path)
    return path


def _fill(db, days: int) -> None:
    conn = db.conn
    conn.execute("PRAGMA journal_mode = OFF")  # a scratch file, built in one go
    conn.execute("PRAGMA synchronous = OFF")
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'daily_cost'"
        " AND sql IS NOT NULL"
    ).fetchall()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')

    first_month = _first_day(days).replace(day=1)
    months = []
    while first_month <= LAST_DAY:
        months.append(first_month)
        first_month = (first_month + timedelta(days=32)).replace(day=1)
    conn.executemany(
        "INSERT INTO ingests (id, source, file, focus_version, billing_periods, rows, checksum,"
        " loaded_at) VALUES (?, 'focus', ?, '1.0', ?, 0, 'xxh3-128:bench', '2026-10-27T00:00:00')",
        [(i + 1, f"bench/{m:%Y-%m}.parquet", f'["{m:%Y-%m}"]') for i, m in enumerate(months)],
    )
    conn.executemany(
        "INSERT INTO accounts (provider, account_id, name, kind) VALUES ('AWS', ?, ?, ?)",
        [(BILLING_ACCOUNT[0], BILLING_ACCOUNT[1], "billing")]
        + [(account_id, env, "sub") for account_id, env in ACCOUNTS],
    )

    source = duckdb.connect()
    source.execute("SET enable_progress_bar = false")
    result = source.execute(_rows_sql(days))
    insert = (
        f"INSERT INTO daily_cost ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    )
    while batch := result.fetchmany(200_000):
        conn.executemany(insert, batch)
    source.close()
    for _, sql in indexes:
        conn.execute(sql)
    conn.commit()
