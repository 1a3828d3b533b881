"""Opening the store: where it lives, and connections with the schema up to date."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import sqlite_utils

from bot.store.schema import DEFAULT_DB_PATH, migrations


def db_path_from_env() -> Path:
    return Path(os.environ.get("COSTBOT_DB") or DEFAULT_DB_PATH)


def open_store(path: str | os.PathLike | None = None) -> sqlite_utils.Database:
    """Open (creating if needed) the store and bring its schema up to date.

    `":memory:"` gives a private in-memory store for tests.
    """
    target = str(path) if path is not None else str(db_path_from_env())
    if target == ":memory:":
        db = sqlite_utils.Database(memory=True)
    else:
        # check_same_thread=False: Bolt runs lazy listeners on worker threads; each call
        # still opens its own connection (see `connect_readonly`) for concurrent reads.
        db = sqlite_utils.Database(sqlite3.connect(target, check_same_thread=False))
    migrations.apply(db)
    return db


def store_is_empty(db: sqlite_utils.Database) -> bool:
    return db.execute("select not exists(select 1 from daily_cost)").fetchone()[0] == 1
