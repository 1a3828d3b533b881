"""The `sync` job (daily; also `costbot sync aws` and `costbot run sync`): pull what can still
change from AWS into the store: Cost Explorer's cost, then the resource inventory of the
configured accounts and regions, then (`costbot run sync`, when `aws.athena` is configured) the
Athena aggregate, then (when `metrics.prometheus` is configured) the business metrics of the days
since the last read; then (`costbot run sync`) the anomaly alerts on what it brought in."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import ROUND_DOWN, Decimal
from typing import Any

from bot.analytics.tag_compliance import ComplianceReport, compliance
from bot.config import Config
from bot.context import AppContext
from bot.money import cents, format_usd
from bot.sources.aws.cost_explorer import (
    CostExplorerSync,
    PaidRequests,
    Say,
    sync_cost_explorer,
)
from bot.sources.aws.inventory import InventoryReport, sync_inventory
from bot.store import open_store, writers

log = logging.getLogger(__name__)


@dataclass
class SyncReport:
    """What the job did; `paid` is filled as requests are answered, so a caller can report
    what a run cost even when it fails half-way."""

    date: date
    paid: PaidRequests = field(default_factory=PaidRequests)
    cost_explorer: CostExplorerSync | None = None
    inventory: InventoryReport | None = None
    athena: dict[str, Any] | None = None
    anomalies: Any = None  # jobs.anomalies.AnomalyRun, when they were looked for
    tag_compliance: ComplianceReport | None = None  # stored for the day after the inventory
    prometheus: dict[str, Any] | None = None  # business metrics read, or the error

    def as_json(self) -> dict[str, Any]:
        cost_explorer = (
            self.cost_explorer.as_json()
            if self.cost_explorer
            else {"paid_requests": self.paid.total, "cost": self.paid.cost_text()}
        )
        return {
            "job": "sync",
            "date": self.date.isoformat(),
            "deliveries": self.anomalies.deliveries if self.anomalies else [],
            "cost_explorer": cost_explorer,
            "inventory": self.inventory.detail() if self.inventory else None,
            **({"athena": self.athena} if self.athena is not None else {}),
            **({"anomalies": self.anomalies.as_json()} if self.anomalies else {}),
            **(
                {"tag_compliance": _compliance_json(self.tag_compliance)}
                if self.tag_compliance
                else {}
            ),
            **({"prometheus": self.prometheus} if self.prometheus is not None else {}),
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
    athena: bool = True,
    anomalies: bool = False,
    delivery: Any = None,
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
    if dry_run:
        say("Inventory: dry run, nothing read")
        return report
    # After the cost data: a permission missing for one account or service is a warning line
    # in the report and the rest is read; the cost data is already stored either way.
    moment = now if isinstance(now, datetime) else datetime.combine(today, time(), UTC)
    db = open_store(context.db_path)
    try:
        report.inventory = sync_inventory(db, context.config, moment)
        # Tagging compliance of what the inventory now holds, stored for the day: the trend.
        report.tag_compliance = compliance(db, context.config, today)
        writers.write_compliance(db, today, report.tag_compliance)
    finally:
        db.close()
    for line in report.inventory.lines():
        say(line)
    say(_compliance_line(report.tag_compliance, context.config))
    if athena and context.config.aws.athena is not None:
        from bot.sources.aws.athena import sync_athena

        result = sync_athena(context.config, context.db_path, today, days=days, say=say)
        report.athena = {
            "query_id": result.query_id,
            "start": result.plan.start.isoformat(),
            "end": result.plan.end.isoformat(),
            "rows": result.rows,
            "bytes_scanned": result.bytes_scanned,
            "cost_micros": result.cost_micros,
        }
    if context.config.metrics.prometheus is not None:
        report.prometheus = _sync_business_metrics(context, today, say)
    if anomalies:
        report.anomalies = _alert_anomalies(context, today, delivery, say)
    return report


def run_without_aws(
    context: AppContext, now: datetime | date, *, say: Say = print, delivery: Any = None
) -> SyncReport:
    """The daily sync where there is no AWS account to read (no credentials, no Athena: the
    cost data comes from FOCUS exports loaded with `costbot ingest focus`): the business
    metrics of `metrics.prometheus` when configured, then the anomaly alerts on the store.
    The scheduler runs this instead of `run`, so that such a deployment is not an error
    every day."""
    today = now.date() if isinstance(now, datetime) else now
    report = SyncReport(today)
    if context.config.metrics.prometheus is not None:
        report.prometheus = _sync_business_metrics(context, today, say)
    report.anomalies = _alert_anomalies(context, today, delivery, say)
    return report


def _sync_business_metrics(context: AppContext, today: date, say: Say) -> dict[str, Any]:
    """The business metrics of `metrics.prometheus`, through yesterday. A failure is a line in
    the report (nothing of it stored): the cost data is stored either way, and the next run
    reads the days missed."""
    from bot.sources.prometheus import PrometheusProblem, sync_prometheus

    try:
        result = sync_prometheus(context.config, context.db_path, today, say=say)
    except PrometheusProblem as problem:
        say(f"Prometheus: not read: {problem}")
        return {"error": str(problem)}
    return result.as_json()


def _compliance_line(report: ComplianceReport, config: Config) -> str:
    org = report.organisation
    keys = ", ".join(report.required_tags)
    if not org.resources and not org.cost_micros:
        return f"Tagging: no resources or resource-level cost to judge (required: {keys})"
    # Rounded down, as /untagged shows it: 97.96% is not the 98% target.
    share = (
        f"{(org.cost_share * 100).quantize(Decimal('0.1'), rounding=ROUND_DOWN)}%"
        if org.cost_share is not None
        else "n/a"
    )
    return (
        f"Tagging: {org.compliant_resources:,} of {org.resources:,} resources and"
        f" {format_usd(org.compliant_cost_micros)} of {format_usd(org.cost_micros)} of"
        f" {report.month}'s resource cost ({share}) carry every required tag ({keys});"
        f" target {Decimal(str(config.tag_policy.target)):.0%}"
    )


def _compliance_json(report: ComplianceReport) -> dict[str, Any]:
    org = report.organisation
    return {
        "month": report.month,
        "required_tags": list(report.required_tags),
        "resources": org.resources,
        "compliant_resources": org.compliant_resources,
        "cost": str(cents(org.cost_micros)),
        "compliant_cost": str(cents(org.compliant_cost_micros)),
    }


def _alert_anomalies(context: AppContext, today: date, delivery: Any, say: Say) -> Any:
    """The anomaly job on the data just synced. Without a bot token the alerts are only
    listed (nothing recorded: the first run with a token posts them). A failure here is a
    line in the report: the cost data is stored either way."""
    from jobs import anomalies

    post = delivery is not None or bool(os.environ.get("SLACK_BOT_TOKEN"))
    try:
        result = anomalies.run(context, today, dry_run=not post, delivery=delivery, say=say)
    except Exception as error:
        log.debug("anomaly detection failed", exc_info=True)
        say(f"Anomalies: not looked for: {type(error).__name__}: {error}")
        return None
    if not post:
        say("Anomalies: not posted: SLACK_BOT_TOKEN is not set (the first run with it posts them)")
    return result
