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

import itertools
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bot.config import Config
from bot.money import format_money, to_micros
from bot.sources.aws.commitments import commitment_rows, read_commitments
from bot.sources.aws.cost_explorer_api import PaidRequests, amount, pages
from bot.sources.aws.plan import SyncPlan, plan_sync, time_period
from bot.sources.aws.session import (
    COST_EXPLORER_REGION,
    AwsProblem,
    base_session,
    caller_account,
    describe_aws_error,
    make_client,
)
from bot.store import open_store, queries
from bot.store.schema import DAILY_COLUMNS, daily_row
from bot.store.writers import SourceLoad, record_sync_run, write_commitments, write_source_rows

SOURCE = "cost-explorer"
PROVIDER = "AWS"
# (grain stored with the rows, the dimension grouped with the team tag)
GROUPINGS = (("team,service", "SERVICE"), ("team,account", "LINKED_ACCOUNT"))
METRICS = ("AmortizedCost", "UnblendedCost")  # stored as effective_micros, billed_micros

Say = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


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
    first_start, last_end = _synced_days(Path(db_path), payer)
    try:
        plan = plan_sync(
            last_end, today, config.aws, days, check_earlier_days=True, first_start=first_start
        )
    except ValueError as error:
        raise AwsProblem(str(error)) from None
    result = CostExplorerSync(plan, payer, paid, dry_run=dry_run)
    say(f"Cost Explorer (payer {payer}): {plan.describe()}")
    months = len(plan.months())
    say(
        "  requests: GetCostAndUsage DAILY by team x service and by team x account (1 each,"
        " +1 per further page)"
        + (
            "; the earlier days' daily totals by team (1, +2 per run of changed days)"
            if plan.check
            else ""
        )
        + f"; spot share, Savings Plans coverage and utilization over {months} month(s), the"
        " month's forecast (1 each)"
    )
    if dry_run:
        say("  dry run: no request made")
        return result

    client = make_client(session, "ce", COST_EXPLORER_REGION)
    tag_key = config.tag_keys[0]
    try:
        spans = [(plan.start, plan.end)]
        if plan.check:
            changed = _changed_days(client, paid, plan.check, Path(db_path), payer, tag_key, config)
            say(f"  {plan.check[0]} .. {plan.check[1]}: {_describe_changed(changed)}")
            spans += changed
        rows, accounts = _read_cost(client, paid, spans, tag_key, config, payer)
    except (ClientError, BotoCoreError) as error:
        problem = describe_aws_error(error, "ce:GetCostAndUsage")
        _record_failure(db_path, result, started_at, problem)
        raise AwsProblem(problem) from None
    except AwsProblem as problem:
        _record_failure(db_path, result, started_at, str(problem))
        raise
    first_day = plan.first_day()
    figures = read_commitments(client, paid, first_day, plan.end, today, config, result.warnings)
    for line in result.warnings:
        warn(f"warning: {line}")

    db = open_store(db_path)
    try:
        write_source_rows(
            db,
            SourceLoad(
                source=SOURCE,
                description=f"Cost Explorer {_describe_spans(spans)} (payer {payer})",
                start=min(first for first, _ in spans),
                end=plan.end,
                rows=rows,
                billing_account_id=payer,
                accounts=accounts,
                spans=spans,
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
    for line in _month_totals(rows):
        say(line)
    say(f"Stored {result.rows:,} rows of daily cost ({_describe_spans(spans)})")
    return result


def _synced_days(db_path: Path, payer: str) -> tuple[date | None, date | None]:
    """The first and the last day read by this payer's successful syncs (None, None: never)."""
    if not db_path.exists():
        return None, None  # created when there is something to write, not before
    db = open_store(db_path)
    try:
        return (
            queries.first_sync_start(db, SOURCE, payer),
            queries.last_sync_end(db, SOURCE, payer),
        )
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


def _month_totals(rows: list[tuple]) -> list[str]:
    """Per month and currency, the amortized and unblended totals of the days read, to the
    cent (from the team x service rows: each dollar once), to check against the console."""
    month, currency = DAILY_COLUMNS.index("billing_period"), DAILY_COLUMNS.index("currency")
    effective, billed = (
        DAILY_COLUMNS.index("effective_micros"),
        DAILY_COLUMNS.index("billed_micros"),
    )
    totals: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        if row[-1] == "team,service":
            sums = totals.setdefault((row[month], row[currency]), [0, 0])
            sums[0] += row[effective]
            sums[1] += row[billed]
    return [
        f"  {period} (days read): {format_money(e, code)} amortized,"
        f" {format_money(b, code)} unblended"
        for (period, code), (e, b) in sorted(totals.items())
    ]


def _describe_spans(spans: list[tuple[date, date]]) -> str:
    return ", ".join(f"{first} .. {last}" if first != last else f"{first}" for first, last in spans)


def _describe_changed(changed: list[tuple[date, date]]) -> str:
    if not changed:
        return "daily totals by team unchanged, nothing more to re-read"
    days = sum((last - first).days + 1 for first, last in changed)
    return f"daily totals by team changed on {days} day(s): re-reading {_describe_spans(changed)}"


def _changed_days(
    client,
    paid: PaidRequests,
    check: tuple[date, date],
    db_path: Path,
    payer: str,
    tag_key: str,
    config: Config,
) -> list[tuple[date, date]]:
    """The days of `check` where Cost Explorer now reports a team's total (amortized or
    unblended) differently from what is stored, or reports nothing usable, as runs of
    consecutive days. One request (plus pages) grouped by the team tag alone: days x teams
    groups (a month of 40 teams is 2 pages), where re-reading the month by team x service and
    team x account would be tens of pages. Per team, not per day: AWS restates by moving cost
    between teams too (a cost allocation tag back-filled), which leaves a day's total as it
    was.

    The stored total of a (day, team) is the sum of its team x service rows, each rounded to
    the micro-dollar on its own; a difference within that rounding is no change."""
    first, last = check
    reported: dict[date, dict[str | None, list[Decimal]]] = {}
    unusable: set[date] = set()
    request = {
        "TimePeriod": time_period(first, last),
        "Granularity": "DAILY",
        "Metrics": list(METRICS),
        "GroupBy": [{"Type": "TAG", "Key": tag_key}],
    }
    for page in pages(client, paid, **request):
        for period in page.get("ResultsByTime", []):
            day = date.fromisoformat(period["TimePeriod"]["Start"])
            teams = reported.setdefault(day, {})
            for group in period.get("Groups", []):
                try:
                    team = config.canonical_team(_tag_value(group["Keys"][0], tag_key))
                    figures = [amount(group, metric)[0] for metric in METRICS]
                except (AwsProblem, KeyError, IndexError):
                    unusable.add(day)  # not understood: the day is re-read, not trusted
                    continue
                sums = teams.setdefault(team, [Decimal(0), Decimal(0)])
                sums[0] += figures[0]
                sums[1] += figures[1]
    stored = _stored_totals(db_path, payer, first, last)
    changed: list[tuple[date, date]] = []
    day = first
    while day <= last:
        if day in unusable or day not in reported or _day_differs(reported[day], stored, day):
            if changed and changed[-1][1] == day - timedelta(days=1):
                changed[-1] = (changed[-1][0], day)
            else:
                changed.append((day, day))
        day += timedelta(days=1)
    return changed


def _day_differs(
    reported: dict[str | None, list[Decimal]], stored: dict[tuple, tuple[int, int, int]], day: date
) -> bool:
    teams = set(reported) | {team for (stored_day, team) in stored if stored_day == day}
    for team in teams:
        effective, billed, rows = stored.get((day, team), (0, 0, 0))
        amortized, unblended = reported.get(team, [Decimal(0), Decimal(0)])
        tolerance = rows // 2 + 1
        if (
            abs(to_micros(amortized) - effective) > tolerance
            or abs(to_micros(unblended) - billed) > tolerance
        ):
            return True
    return False


def _stored_totals(db_path: Path, payer: str, first: date, last: date) -> dict:
    if not db_path.exists():
        return {}
    db = open_store(db_path)
    try:
        return queries.source_team_daily_totals(db, SOURCE, payer, first, last, "team,service")
    finally:
        db.close()


def _read_cost(
    client,
    paid: PaidRequests,
    spans: list[tuple[date, date]],
    tag_key: str,
    config: Config,
    payer: str,
) -> tuple[list[tuple], set[tuple[str, str, str, str]]]:
    """Both groupings over each span of days, every page: rows (DAILY_COLUMNS + grain) with
    amounts summed exactly per (day, team, service or account, currency), and the account
    names seen."""
    sums: dict[tuple, list[Decimal]] = {}
    accounts: set[tuple[str, str, str, str]] = set()
    for (first, last), (grain, dimension) in itertools.product(spans, GROUPINGS):
        request = {
            "TimePeriod": time_period(first, last),
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
