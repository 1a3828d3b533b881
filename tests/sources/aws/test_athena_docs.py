"""The Athena section of docs/aws.md (linked from the README's "Connect AWS") shows the exact
queries `costbot sync athena` runs: keep it true."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from athena_tables import CUR2_COLUMNS, FOCUS_COLUMNS

from bot.config import AthenaSettings
from bot.sources.aws.athena_query import TableShape, build_query
from bot.sources.aws.plan import SyncPlan

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "aws.md"
# The documented sync: tag_keys [Team], a daily sync on 2026-11-20 (November re-read).
PLAN = SyncPlan(date(2026, 11, 1), date(2026, 11, 19), ())


def documented_queries() -> list[str]:
    return [block.strip() for block in re.findall(r"```sql\n(.*?)```", DOC.read_text(), re.S)]


def query(table: str, columns: dict[str, str], table_format: str) -> str:
    shape = TableShape({**columns, "billing_period": "string"}, ("billing_period",))
    settings = AthenaSettings(database="cur", table=table, output="s3://results/")
    return build_query(shape, table_format, settings, PLAN, ("Team",))


def test_the_readme_shows_the_queries_the_sync_runs():
    assert documented_queries() == [
        query("cur2", CUR2_COLUMNS, "cur2"),
        query("focus", FOCUS_COLUMNS, "focus"),
    ]
