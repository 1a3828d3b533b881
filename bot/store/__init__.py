"""The store: one SQLite file of daily cost aggregates, resource-month costs, business metrics
and the record of every load. `schema` defines it, `connection` opens it, `writers` hold every
write, `queries` every read that answers and jobs ask."""

from bot.store.connection import (
    StoreNotReady,
    db_path_from_env,
    migrate_store,
    open_reader,
    open_store,
    open_writer,
    store_is_empty,
)
from bot.store.schema import AMOUNT_COLUMNS, DAILY_DIMENSIONS, DEFAULT_DB_PATH

__all__ = [
    "AMOUNT_COLUMNS",
    "DAILY_DIMENSIONS",
    "DEFAULT_DB_PATH",
    "StoreNotReady",
    "db_path_from_env",
    "migrate_store",
    "open_reader",
    "open_store",
    "open_writer",
    "store_is_empty",
]
