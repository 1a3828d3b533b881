"""What handlers and jobs need from the outside world, passed in rather than read globally."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import sqlite_utils

from bot.config import Config
from bot.store import open_reader, open_writer


def utc_today() -> date:
    return datetime.now(UTC).date()


@dataclass
class AppContext:
    config: Config
    db_path: str
    # Handlers ask for "today" instead of reading the clock, so tests and demos pin it.
    today: Callable[[], date] = field(default=utc_today)

    def open_db(self) -> sqlite_utils.Database:
        """A read-only connection per call, for answers: Bolt answers on worker threads,
        SQLite connections are cheap to open, and a reader never waits for an ingest in
        another process. The schema is migrated once, at start (`migrate_store`)."""
        return open_reader(self.db_path)

    def open_writer(self) -> sqlite_utils.Database:
        """A read-write connection, for writes through `bot.store.writers` (no migration)."""
        return open_writer(self.db_path)
