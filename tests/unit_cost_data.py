"""A small organisation for unit-cost tests: FOCUS rows written by hand (teams, products,
services) loaded through the real ingest, and business metrics with known gaps, with
independent Decimal sums of both to check answers against (no Costbot code involved).

Cost: Sep 25 - Nov 12, 2026, every day. api_requests (organisation): Sep 25 - Nov 14, except
Nov 4-6 (3 days with cost but no volume); Nov 13-14 have volume but no cost.
api_requests (payments): every cost day. revenue (organisation): every cost day.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

from focus_rows import focus_row, write_rows

from bot.config import Config, parse_config
from bot.sources.focus_ingest import ingest_focus
from bot.store import open_store
from bot.store.writers import write_metric_values

COST_START, COST_END = date(2026, 9, 25), date(2026, 11, 12)
METRIC_END = date(2026, 11, 14)
NO_VOLUME = (date(2026, 11, 4), date(2026, 11, 5), date(2026, 11, 6))
EC2 = "Amazon Elastic Compute Cloud"
RDS = "Amazon Relational Database Service"
S3 = "Amazon Simple Storage Service"
# (team, service, product tag) of each daily row.
LINES = (
    ("payments", EC2, "api-gateway"),
    ("payments", RDS, "ledger"),
    ("search", EC2, None),
    (None, S3, None),
)
CONFIG_DATA = {
    "teams": [{"name": "payments", "channel": "#team-payments"}, {"name": "search"}],
    "unit_metrics": [
        {"name": "cost_per_api_request", "cost": {"product": "api-gateway"}, "per": "api_requests"},
        {"name": "ec2_per_request", "cost": {"service": "ec2"}, "per": "api_requests"},
        {"name": "cloud_share_of_revenue", "cost": "all", "per": "revenue", "as": "percent"},
    ],
}
CONFIG: Config = parse_config(CONFIG_DATA)


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


class UnitStore(NamedTuple):
    db_path: Path
    rows: list[dict[str, str]]  # the FOCUS rows
    metrics: list[tuple[str, str, str, str]]  # (date, metric, scope, value)


def load_metrics(db_path: Path, rows: list[tuple[str, str, str, str]]) -> None:
    """The one place tests load business metrics (rows: date, metric, scope, value; the
    organisation's scope spelt "all" here, None for the writer)."""
    rows = [(d, m, None if s == "all" else s, v) for d, m, s, v in rows]
    db = open_store(db_path)
    try:
        write_metric_values(db, "test-metrics.csv", "test", rows)
    finally:
        db.close()


def build(folder: Path, seed: int = 3) -> UnitStore:
    rng = random.Random(seed)
    rows = []
    for day in days(COST_START, COST_END):
        for index, (team, service, product) in enumerate(LINES):
            cost = f"{rng.randint(20_000_000, 90_000_000) / 1_000_000:.6f}"
            row = focus_row(day, cost, service=service, team=team, resource=f"r-{index}")
            tags = {"Team": team} if team else {}
            if product:
                tags["product"] = product
            row["Tags"] = json.dumps(tags) if tags else ""
            rows.append(row)
    focus_file = write_rows(folder / "focus.csv", rows)
    db_path = folder / "costbot.db"
    ingest_focus([str(focus_file)], CONFIG, db_path)
    metrics = []
    for day in days(COST_START, METRIC_END):
        if day not in NO_VOLUME:
            metrics.append(
                (day.isoformat(), "api_requests", "all", str(rng.randint(30_000, 60_000)))
            )
        if day <= COST_END:
            metrics.append(
                (day.isoformat(), "api_requests", "payments", str(rng.randint(10_000, 20_000)))
            )
            metrics.append((day.isoformat(), "revenue", "all", f"{rng.randint(600, 900)}.25"))
    load_metrics(db_path, metrics)
    return UnitStore(db_path, rows, metrics)


def cost_of(store: UnitStore, on: list[date], **where: str | None) -> Decimal:
    """Sum of EffectiveCost of the rows on those days whose team / service / product match."""
    wanted = {d.isoformat() for d in on}
    total = Decimal(0)
    for row in store.rows:
        tags = json.loads(row["Tags"]) if row["Tags"] else {}
        facts = {
            "team": tags.get("Team"),
            "service": row["ServiceName"],
            "product": tags.get("product"),
        }
        if row["ChargePeriodStart"][:10] in wanted and all(facts[k] == v for k, v in where.items()):
            total += Decimal(row["EffectiveCost"])
    return total


def volume_of(store: UnitStore, metric: str, scope: str, on: list[date]) -> Decimal:
    wanted = {d.isoformat() for d in on}
    return sum(
        (Decimal(v) for d, m, s, v in store.metrics if m == metric and s == scope and d in wanted),
        Decimal(0),
    )


def volume_days(store: UnitStore, metric: str, scope: str) -> set[date]:
    return {date.fromisoformat(d) for d, m, s, _ in store.metrics if m == metric and s == scope}


def cents_text(amount: Decimal) -> str:
    return f"${amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,.2f}"


def exact(cost: Decimal, volume: Decimal) -> Fraction:
    return Fraction(cost) / Fraction(volume)


def three_figures(value: Fraction) -> str:
    """`$0.00312`: three significant figures of a value under $1, written independently of
    bot.money (Decimal with 40 digits, rounded half up)."""
    decimal_value = Decimal(value.numerator) / Decimal(value.denominator)
    digits = 2 - decimal_value.adjusted()
    return f"${decimal_value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)}"
