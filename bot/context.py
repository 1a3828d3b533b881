"""What handlers and jobs need from the outside world, passed in rather than read globally."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import sqlite_utils

from bot.config import Config
from bot.store import open_store


def utc_today() -> date:
    return datetime.now(UTC).date()


@dataclass
class AppContext:
    config: Config
    db_path: str
    # Handlers ask for "today" instead of reading the clock, so tests and demos pin it.
    today: Callable[[], date] = field(default=utc_today)

    def open_db(self) -> sqlite_utils.Database:
        """A connection per call: Bolt answers on worker threads and SQLite connections are
        cheap to open."""
        return open_store(self.db_path)

    def open_writer(self) -> sqlite_utils.Database:
        """A connection for writes (deliveries). For now the same kind of connection as
        `open_db`; the store's one-writer connection replaces it."""
        return open_store(self.db_path)
