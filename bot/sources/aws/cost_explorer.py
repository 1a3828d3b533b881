"""AWS Cost Explorer as a cost source: `costbot sync aws` and the `sync` job.

Cost Explorer charges $0.01 for every request *page*, so the design is about reading every
dollar each `/cost` view needs, exactly, with the fewest pages.

Which groupings. A request may group by two keys. The `/cost` views are: a team (broken down
by service), a service (broken down by team), an account (broken down by team), and totals.
Every one of them is a two-way breakdown with the team on one side, so two groupings answer
them all exactly:

- [TAG <team tag>, DIMENSION SERVICE]          -> rows of grain 'team,service'
- [TAG <team tag>, DIMENSION LINKED_ACCOUNT]   -> rows of grain 'team,account'

A third grouping (service x account) would cost as many pages again for a view `/cost` does
not have; `queries.rows_that_count` answers service-and-account questions from full-grain
sources (FOCUS, Athena) only. Totals read the 'team,service' rows (each dollar once).

How many requests. One request per grouping over the whole range, DAILY granularity, both
AmortizedCost and UnblendedCost in the same request (metrics do not add requests or pages).
Cost Explorer pages by the number of groups in the answer, not by days, so the count of
pages depends on (days x groups) / page size whatever the split: cutting the range into
months or days would only add partly filled pages. The loop follows `NextPageToken` (boto3
has no paginator for GetCostAndUsage).

What is re-read (`plan_sync`): the first sync back-fills `aws.backfill_months` months (from
the 1st of the month `backfill_months - 1` months ago through yesterday: today is incomplete,
and Cost Explorer's End is exclusive); later syncs re-read only what can still change: the
last `restate_days` days (Cost Explorer restates recent days), any gap since the last sync,
and the whole previous month until its bill is final (day of month <= `bill_final_day`).

Commitments, spot and forecast (Savings Plans coverage and utilization, the spot share of EC2
compute, the current month's forecast) are read for the months in range and stored through
`write_commitments`; one of them failing is one warning line, and the cost data is still
written.

All-or-nothing: every page of both groupings is read before anything is written, then one
`write_source_rows` replaces the range. A failure on any page writes nothing. Every
successful response is counted as a paid request (a retried throttled attempt is not paid),
recorded in `sync_runs` and reported as `Cost Explorer: 7 paid requests ($0.07)`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bot.config import AwsSettings, Config
from bot.money import to_micros
from bot.sources.aws.commitments import commitment_rows, read_commitments
from bot.sources.aws.cost_explorer_api import PaidRequests, amount, pages
from bot.sources.aws.session import (
    COST_EXPLORER_REGION,
    AwsProblem,
    base_session,
    caller_account,
    describe_aws_error,
    make_client,
)
from bot.store import open_store, queries
from bot.store.schema import daily_row
from bot.store.writers import SourceLoad, record_sync_run, write_commitments, write_source_rows

SOURCE = "cost-explorer"
PROVIDER = "AWS"
# (grain stored with the rows, the dimension grouped with the team tag)
GROUPINGS = (("team,service", "SERVICE"), ("team,account", "LINKED_ACCOUNT"))
METRICS = ("AmortizedCost", "UnblendedCost")  # stored as effective_micros, billed_micros

Say = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


# --- the plan -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncPlan:
    """The days one sync reads, `start` to `end` inclusive, and why."""

    start: date
    end: date
    reasons: tuple[str, ...]

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def time_period(self) -> dict[str, str]:
        # Cost Explorer's End is exclusive.
        return {"Start": self.start.isoformat(), "End": (self.end + timedelta(days=1)).isoformat()}

    def months(self) -> list[str]:
        months, cursor = [], self.start.replace(day=1)
        while cursor <= self.end:
            months.append(cursor.strftime("%Y-%m"))
            cursor = _next_month(cursor)
        return months

    def describe(self) -> str:
        days = "1 day" if self.days == 1 else f"{self.days} days"
        return f"{self.start} .. {self.end} ({days}): {'; '.join(self.reasons)}"


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _months_back(day: date, months: int) -> date:
    """The 1st of the month `months` months before `day`'s month."""
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def plan_sync(
    last_end: date | None, today: date, settings: AwsSettings, days: int | None = None
) -> SyncPlan:
    """What to read, from the end of the last successful sync for this payer (None: never
    synced), today (never read: incomplete), the settings and `--days`."""
    end = today - timedelta(days=1)
    backfill_start = _months_back(today, settings.backfill_months - 1)
    if days is not None:
        if days < 1:
            raise ValueError("--days must be at least 1")
        return SyncPlan(today - timedelta(days=days), end, (f"--days {days}",))
    if last_end is None:
        months = settings.backfill_months
        return SyncPlan(backfill_start, end, (f"first sync: back-fill {months} months",))
    restate_start = today - timedelta(days=settings.restate_days)
    start, reasons = restate_start, [f"the last {settings.restate_days} days (restated)"]
    # A day read when it was under `restate_days` days old may have changed since: the last
    # sync (made the day after its end) left its last days open. Beyond them: a gap.
    still_open = last_end + timedelta(days=2 - settings.restate_days)
    if still_open < start:
        start = still_open
        reasons.append(f"the days since the last sync (through {last_end})")
    previous_month = _months_back(today, 1)
    if today.day <= settings.bill_final_day and previous_month < start:
        start = previous_month
        reasons.append(
            f"{previous_month:%Y-%m} until its bill is final (day {settings.bill_final_day})"
        )
    if start < backfill_start:
        start = backfill_start
        reasons.append(f"no further back than {settings.backfill_months} months")
    return SyncPlan(min(start, end), end, tuple(reasons))


@dataclass
class CostExplorerSync:
    """What one sync read and wrote."""

    plan: SyncPlan
    billing_account_id: str
    paid: PaidRequests
    dry_run: bool = False
    rows: int = 0
    warnings: list[str] = field(default_factory=list)
    commitments: list[dict] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "paid_requests": self.paid.total,
            "cost": self.paid.cost_text(),
            "start": self.plan.start.isoformat(),
            "end": self.plan.end.isoformat(),
            "rows": self.rows,
            "billing_account_id": self.billing_account_id,
            "requests": dict(sorted(self.paid.by_operation.items())),
            "warnings": self.warnings,
            "dry_run": self.dry_run,
        }


# --- the sync -----------------------------------------------------------------------------


def sync_cost_explorer(
    db_path: str | Path,
    config: Config,
    today: date,
    *,
    days: int | None = None,
    dry_run: bool = False,
    paid: PaidRequests | None = None,
    say: Say = print,
    warn: Say = _stderr,
) -> CostExplorerSync:
    """Plan, read every page, then write the range in one transaction (and the commitments,
    and the record of the run). Raises `AwsProblem` (one line) when the cost data cannot be
    read; nothing is written then, except the record of a run that made paid requests."""
    paid = paid if paid is not None else PaidRequests()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    session = base_session()
    payer = caller_account(session)
    last_end = _last_sync_end(Path(db_path), payer)
    try:
        plan = plan_sync(last_end, today, config.aws, days)
    except ValueError as error:
        raise AwsProblem(str(error)) from None
    result = CostExplorerSync(plan, payer, paid, dry_run=dry_run)
    say(f"Cost Explorer (payer {payer}): {plan.describe()}")
    months = len(plan.months())
    say(
        "  requests: GetCostAndUsage DAILY by team x service and by team x account (1 each,"
        " +1 per further page); spot share, Savings Plans coverage and utilization over"
        f" {months} month(s), the month's forecast (1 each)"
    )
    if dry_run:
        say("  dry run: no request made")
        return result

    client = make_client(session, "ce", COST_EXPLORER_REGION)
    tag_key = config.tag_keys[0]
    try:
        rows, accounts = _read_cost(client, paid, plan, tag_key, config, payer)
    except (ClientError, BotoCoreError) as error:
        problem = describe_aws_error(error, "ce:GetCostAndUsage")
        _record_failure(db_path, result, started_at, problem)
        raise AwsProblem(problem) from None
    except AwsProblem as problem:
        _record_failure(db_path, result, started_at, str(problem))
        raise
    figures = read_commitments(client, paid, plan.start, plan.end, today, config, result.warnings)
    for line in result.warnings:
        warn(f"warning: {line}")

    db = open_store(db_path)
    try:
        write_source_rows(
            db,
            SourceLoad(
                source=SOURCE,
                description=f"Cost Explorer {plan.start}..{plan.end} (payer {payer})",
                start=plan.start,
                end=plan.end,
                rows=rows,
                billing_account_id=payer,
                accounts=accounts,
            ),
        )
        result.rows = len(rows)
        result.commitments = commitment_rows(db, figures, payer, today, config)
        if result.commitments:
            write_commitments(db, result.commitments)
        record_sync_run(
            db,
            **_run_fields(result, started_at, "partial" if result.warnings else "ok"),
        )
    finally:
        db.close()
    say(f"Stored {result.rows:,} rows of daily cost ({plan.start} .. {plan.end})")
    return result


def _last_sync_end(db_path: Path, payer: str) -> date | None:
    if not db_path.exists():
        return None  # created when there is something to write, not before
    db = open_store(db_path)
    try:
        return queries.last_sync_end(db, SOURCE, payer)
    finally:
        db.close()


def _run_fields(result: CostExplorerSync, started_at: str, status: str, **detail) -> dict:
    return {
        "source": SOURCE,
        "started_at": started_at,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "status": status,
        "period_start": result.plan.start.isoformat(),
        "period_end": result.plan.end.isoformat(),
        "rows": result.rows,
        "paid_requests": result.paid.total,
        "cost_micros": result.paid.cost_micros,
        "detail": {
            "billing_account_id": result.billing_account_id,
            "requests": dict(result.paid.by_operation),
            "warnings": result.warnings,
            **detail,
        },
    }


def _record_failure(
    db_path: str | Path, result: CostExplorerSync, started_at: str, problem: str
) -> None:
    """A failed run that was billed for requests is recorded (what it cost); one that made no
    paid request leaves the store exactly as it was."""
    if not result.paid.total:
        return
    db = open_store(db_path)
    try:
        record_sync_run(db, **_run_fields(result, started_at, "failed", error=problem))
    finally:
        db.close()


def _read_cost(
    client, paid: PaidRequests, plan: SyncPlan, tag_key: str, config: Config, payer: str
) -> tuple[list[tuple], set[tuple[str, str, str, str]]]:
    """Both groupings, every page: rows (DAILY_COLUMNS + grain) with amounts summed exactly
    per (day, team, service or account, currency), and the account names seen."""
    sums: dict[tuple, list[Decimal]] = {}
    accounts: set[tuple[str, str, str, str]] = set()
    for grain, dimension in GROUPINGS:
        request = {
            "TimePeriod": plan.time_period,
            "Granularity": "DAILY",
            "Metrics": list(METRICS),
            "GroupBy": [
                {"Type": "TAG", "Key": tag_key},
                {"Type": "DIMENSION", "Key": dimension},
            ],
        }
        for page in pages(client, paid, **request):
            for attribute in page.get("DimensionValueAttributes") or []:
                name = (attribute.get("Attributes") or {}).get("description")
                if dimension == "LINKED_ACCOUNT" and name and attribute.get("Value"):
                    accounts.add((PROVIDER, attribute["Value"], name, "sub"))
            for period in page.get("ResultsByTime", []):
                day = date.fromisoformat(period["TimePeriod"]["Start"])
                for group in period.get("Groups", []):
                    tag, value = group["Keys"]
                    amounts = [amount(group, metric) for metric in METRICS]
                    if all(figure == 0 for figure, _ in amounts):
                        continue
                    team = config.canonical_team(_tag_value(tag, tag_key))
                    key = (grain, day, team, value, amounts[0][1])
                    total = sums.setdefault(key, [Decimal(0), Decimal(0)])
                    total[0] += amounts[0][0]
                    total[1] += amounts[1][0]
    rows = []
    for (grain, day, team, value, currency), (amortized, unblended) in sorted(
        sums.items(), key=lambda item: tuple(str(part) for part in item[0])
    ):
        row = daily_row(
            date=day.isoformat(),
            provider=PROVIDER,
            billing_account_id=payer,
            account_id=value if grain == "team,account" else None,
            team=team,
            service=value if grain == "team,service" else None,
            currency=currency,
            billing_period=day.strftime("%Y-%m"),
            effective_micros=to_micros(amortized),
            billed_micros=to_micros(unblended),
            list_micros=None,
        )
        rows.append((*row, grain))
    return rows, accounts


def _tag_value(key: str, tag_key: str) -> str | None:
    """`Team$payments` -> `payments`; `Team$` (no such tag) -> None."""
    name, _, value = key.partition("$")
    if name.lower() != tag_key.lower():
        raise AwsProblem(f"ce:GetCostAndUsage: unexpected group key {key!r} (tag {tag_key!r})")
    return value or None
