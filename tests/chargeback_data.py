"""A small month of FOCUS rows for chargeback tests, loaded through the real ingest.

October 2026 (USD): payments $300.00 of EC2 and $40.00 of AWS Support (a shared service),
search $100.00, shared-infra (a shared team) $60.00, untagged $20.00; ml is configured and
spends nothing. Total $520.00, shared pool $100.00. September and November rows and a EUR
row must not count.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from focus_rows import focus_row, write_rows
from unit_cost_data import load_metrics

from bot.config import Config, parse_config
from bot.sources.focus_ingest import ingest_focus
from bot.store import open_reader

SUPPORT = "AWS Support (Business)"
TEAMS = [
    {"name": "payments", "channel": "#team-payments"},
    {"name": "search"},
    {"name": "ml"},
    {"name": "shared-infra", "aliases": ["Shared"]},
]


def october_rows() -> list[dict[str, str]]:
    eur = focus_row(date(2026, 10, 3), "999.00", team="payments", resource="i-eur")
    eur["BillingCurrency"] = "EUR"
    return [
        focus_row(date(2026, 10, 1), "200.00", team="payments", resource="i-1"),
        focus_row(date(2026, 10, 2), "100.00", team="payments", resource="i-1"),
        focus_row(date(2026, 10, 9), "40.00", team="payments", service=SUPPORT, resource="s"),
        focus_row(date(2026, 10, 1), "100.00", team="search", resource="i-2"),
        focus_row(date(2026, 10, 31), "60.00", team="Shared", resource="eks"),
        focus_row(date(2026, 10, 5), "20.00", resource="bucket"),
        focus_row(date(2026, 9, 30), "1000.00", team="search", resource="i-2"),
        focus_row(date(2026, 11, 1), "1000.00", team="search", resource="i-2"),
        eur,
    ]


def config_of(shared: dict | None = None, teams: list[dict] | None = None) -> Config:
    data: dict = {"teams": TEAMS if teams is None else teams}
    if shared is not None:
        data["shared_costs"] = shared
    return parse_config(data)


def shared(**extra) -> dict:
    return {"teams": ["shared-infra"], "services": [SUPPORT], **extra}


def load(folder: Path, rows: list[dict[str, str]], config: Config, metrics=()):
    """The store (a reader) with `rows` ingested and `metrics` (date, metric, scope, value)."""
    db_path = folder / "costbot.db"
    ingest_focus([str(write_rows(folder / "focus.csv", rows))], config, db_path)
    if metrics:
        load_metrics(db_path, list(metrics))
    return open_reader(db_path)
