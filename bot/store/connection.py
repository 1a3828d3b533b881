"""Opening the store. One process writes at a time; many read at once.

- The store is in WAL mode, so readers never wait for a writer and a writer never waits
  for readers: an answer reads the last committed state while an ingest is writing.
- Answers open read-only connections (`open_reader`), which never migrate: the schema is
  brought up to date once, by `migrate_store`, when a process that writes starts (`costbot
  serve`, `costbot migrate`, `costbot ingest ...`, the demo).
- Writes go through `bot.store.writers`, on connections from `open_writer`.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import sqlite_utils

from bot.errors import InputError
from bot.store.schema import DEFAULT_DB_PATH, migrations

# How long a connection waits for a lock before SQLITE_BUSY. Readers in WAL mode wait only
# in rare moments (another connection recovering the WAL index); a second writer waits for
# the first one's transaction.
BUSY_TIMEOUT_MS = 10_000
# A writer's page cache: index pages of a large store stay in memory during an ingest
# instead of being read again for every insert (SQLite's default is 2 MiB).
WRITER_CACHE_KIB = 64 * 1024


class StoreNotReady(InputError):
    """The store is missing, or its schema is older than this version of Costbot."""


def db_path_from_env() -> Path:
    return Path(os.environ.get("COSTBOT_DB") or DEFAULT_DB_PATH)


def _target(path: str | os.PathLike | None) -> str:
    return str(path) if path is not None else str(db_path_from_env())


def open_writer(path: str | os.PathLike | None = None) -> sqlite_utils.Database:
    """A read-write connection (creating the file if needed), in WAL mode; no migration.

    `":memory:"` gives a private in-memory store for tests.
    """
    target = _target(path)
    if target == ":memory:":
        return sqlite_utils.Database(memory=True)
    # check_same_thread=False: Bolt runs lazy listeners on worker threads; each call still
    # opens its own connection.
    conn = sqlite3.connect(target, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    # Persistent in the file: once set, every later connection reads it in WAL mode.
    conn.execute("PRAGMA journal_mode = WAL")
    # In WAL mode NORMAL is durable at every checkpoint and never corrupts the store; FULL
    # would add an fsync per transaction for nothing an ingest needs (a lost last ingest is
    # simply loaded again).
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
    return sqlite_utils.Database(conn)


def migrate_store(path: str | os.PathLike | None = None) -> list[str]:
    """Bring the schema up to date (creating the store if needed); the names of the
    migrations applied, none if it was already up to date."""
    db = open_writer(path)
    try:
        pending = [m.name for m in migrations.pending(db)]
        migrations.apply(db)
        return pending
    finally:
        db.close()


def open_store(path: str | os.PathLike | None = None) -> sqlite_utils.Database:
    """A writer connection with the schema brought up to date first: for entry points that
    write (ingest, the demo, tests). Answers use `open_reader`."""
    db = open_writer(path)
    migrations.apply(db)
    return db


def open_reader(path: str | os.PathLike | None = None) -> sqlite_utils.Database:
    """A read-only connection for answers: it cannot write, never migrates, and, the store
    being in WAL mode, reads the last committed state while another process writes.

    Raises `StoreNotReady` with what to do if the store does not exist or is not migrated.
    """
    target = _target(path)
    if target == ":memory:":
        raise ValueError("an in-memory store has no readers: use open_store(':memory:')")
    file = Path(target)
    if not file.is_file():
        raise StoreNotReady(
            f"{file}: no cost store yet; load data with `costbot ingest focus PATH`"
            " (or create an empty one with `costbot migrate`)"
        )
    uri = f"{file.resolve().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    db = sqlite_utils.Database(conn)
    try:
        pending = [m.name for m in migrations.pending(db)]
    except sqlite3.OperationalError:
        db.close()
        raise  # locked, I/O error, ...: not a problem of the file's contents
    except sqlite3.DatabaseError as error:
        db.close()
        raise StoreNotReady(f"{file}: not a Costbot store ({error})") from None
    if pending:
        db.close()
        raise StoreNotReady(
            f"{file}: the store's schema is not up to date (pending: {', '.join(pending)});"
            " run `costbot migrate`"
        )
    return db


def store_is_empty(db: sqlite_utils.Database) -> bool:
    return db.execute("select not exists(select 1 from daily_cost)").fetchone()[0] == 1
