"""The `sync` job (daily, before anomaly detection; also `costbot sync aws` and `costbot run
sync`): pull what can still change from AWS into the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from bot.context import AppContext
from bot.sources.aws.cost_explorer import (
    CostExplorerSync,
    PaidRequests,
    Say,
    sync_cost_explorer,
)


@dataclass
class SyncReport:
    """What the job did; `paid` is filled as requests are answered, so a caller can report
    what a run cost even when it fails half-way."""

    date: date
    paid: PaidRequests = field(default_factory=PaidRequests)
    cost_explorer: CostExplorerSync | None = None

    def as_json(self) -> dict[str, Any]:
        cost_explorer = (
            self.cost_explorer.as_json()
            if self.cost_explorer
            else {"paid_requests": self.paid.total, "cost": self.paid.cost_text()}
        )
        return {
            "job": "sync",
            "date": self.date.isoformat(),
            "deliveries": [],
            "cost_explorer": cost_explorer,
        }


def run(
    context: AppContext,
    now: datetime | date,
    *,
    days: int | None = None,
    dry_run: bool = False,
    report: SyncReport | None = None,
    say: Say = print,
    warn: Say | None = None,
) -> SyncReport:
    """Cost Explorer for the days that can still change (see `plan_sync`); `now` is the job's
    today: the days before it are read. Raises `AwsProblem` when the cost data cannot be read
    (nothing written); `report.paid` still says what the run cost."""
    today = now.date() if isinstance(now, datetime) else now
    report = report or SyncReport(today)
    extra = {"warn": warn} if warn else {}
    report.cost_explorer = sync_cost_explorer(
        context.db_path,
        context.config,
        today,
        days=days,
        dry_run=dry_run,
        paid=report.paid,
        say=say,
        **extra,
    )
    # The resource inventory (bot.sources.aws.inventory: EC2, RDS, ElastiCache, S3, tags,
    # CloudWatch CPU) runs here, after the cost data, and adds its own part to the report.
    return report
