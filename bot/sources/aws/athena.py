"""`costbot sync athena`: daily cost from a CUR 2.0 or FOCUS table in Athena.

The aggregation runs in Athena: one query per sync groups the table's line items into the
store's daily rows (day x billing account x account x team x service x region x charge
category x currency x billing period, plus the environment / product / cost-center tags), so
only daily aggregates come back, however many billions of line items the table holds.

- The table's columns and partitions come from the Glue Data Catalog (`glue:GetTable`, free):
  they decide the format when `aws.athena.format` is not set, which optional columns the
  query may read, how dates and costs are typed, and whether the `billing_period` partition
  can prune the scan to the months re-read.
- Costs are cast to DECIMAL(38, 12) line by line before they are summed, so that the sums
  are exact (CUR 2.0 and AWS FOCUS export costs as DOUBLE); they come back as text and are
  turned into micro-dollars through Decimal.
- Amortized cost of CUR 2.0 as AWS computes it: Savings Plans covered usage at its effective
  cost, reserved usage at its effective cost, unused commitment from the recurring fees,
  negations, upfront fees and RI fee lines zeroed (they are amortized into usage).
- Team tags are read in SQL: the configured keys in priority order, matched
  case-insensitively and ignoring `user:` / `user_` prefixes and punctuation (CUR 2.0
  rewrites `user:Team` as `user_team`); aliases are then mapped in Python.
- All or nothing: the query must succeed and every result page be read before one
  `write_source_rows` replaces the range. A failed, cancelled or timed-out query writes no
  cost (the run is recorded as failed in `sync_runs`).
- Athena charges $5 per TB scanned, at least 10 MB a query, rounded up to the MB: each run
  records and prints what it scanned and cost.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from bot.config import AthenaSettings, Config, ConfigError
from bot.money import format_money, format_usd, to_micros
from bot.sources.aws.athena_query import (
    BILLING_PERIOD_PARTITION,
    CUR2_COMMITMENT_COLUMNS,
    CUR2_REQUIRED,
    DIMENSION_COLUMNS,
    FOCUS_REQUIRED,
    TableShape,
    build_query,
    quote_name,
)
from bot.sources.aws.plan import SyncPlan, plan_sync
from bot.sources.aws.session import AwsProblem, base_session, describe_aws_error, make_client
from bot.sources.focus import CANONICAL_VALUES
from bot.store import open_store, queries
from bot.store.schema import daily_row
from bot.store.writers import SourceLoad, record_sync_run, write_source_rows

SOURCE = "athena"
FORMAT_NAMES = {"cur2": "CUR 2.0", "focus": "FOCUS"}
# Athena's price (us-east-1 and most regions): $5 per TB scanned, every query billed at least
# 10 MB, rounded up to the next MB. AWS bills data in binary units (1 TB = 2^40 bytes).
PRICE_PER_TB_MICROS = 5_000_000
BYTES_PER_MB = 1 << 20
BYTES_PER_TB = 1 << 40
MINIMUM_BILLED_MB = 10
# Polling GetQueryExecution: soon at first (small queries finish in a second or two), then
# backing off so that a long scan costs few calls.
FIRST_POLL_DELAY = 0.25
POLL_BACKOFF = 1.5
MAX_POLL_DELAY = 5.0
RESULT_PAGE_ROWS = 1000  # GetQueryResults' maximum
Say = Callable[[str], None]


@dataclass
class AthenaSync:
    """What one sync read and stored."""

    table: str
    format: str
    format_source: str  # "aws.athena.format" or "detected from the table's columns"
    plan: SyncPlan
    query_id: str = ""
    rows: int = 0
    result_pages: int = 0
    line_items: int = 0
    bytes_scanned: int = 0
    warnings: list[str] = field(default_factory=list)
    # (billing period, currency) -> (amortized, billed) micro-units
    period_totals: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)

    @property
    def cost_micros(self) -> int:
        return athena_cost_micros(self.bytes_scanned)

    def cost_line(self) -> str:
        return (
            f"Athena: 1 query, {format_bytes(self.bytes_scanned)} scanned"
            f" ({format_usd(self.cost_micros)})"
        )


class QueryFailed(AwsProblem):
    """The Athena query ended FAILED or CANCELLED, or ran past the timeout; what it scanned
    until then (Athena charges cancelled queries for it)."""

    def __init__(self, message: str, execution: dict) -> None:
        super().__init__(message)
        self.bytes_scanned = scanned_bytes(execution)


# --- what a query costs -------------------------------------------------------------------


def athena_cost_micros(bytes_scanned: int) -> int:
    """What Athena charges for one query that scanned `bytes_scanned` bytes, in micro-dollars:
    $5 per TB, rounded up to the next MB, at least 10 MB."""
    billed_mb = max(math.ceil(bytes_scanned / BYTES_PER_MB), MINIMUM_BILLED_MB)
    return to_micros(Decimal(billed_mb * BYTES_PER_MB * PRICE_PER_TB_MICROS) / BYTES_PER_TB / 10**6)


def format_bytes(count: int) -> str:
    """`1.2 GB`, `350.0 MB`, `0 B`: binary units, as AWS bills data."""
    for unit, size in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if count >= size:
            return f"{count / size:,.1f} {unit}"
    return f"{count} B"


# --- the table ----------------------------------------------------------------------------


def describe_table(glue, settings: AthenaSettings, config_source: str) -> TableShape:
    """The table's columns and partition keys from the Glue Data Catalog."""
    try:
        table = glue.get_table(DatabaseName=settings.database, Name=settings.table)["Table"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "EntityNotFoundException":
            raise ConfigError(
                f"{config_source}: aws.athena: no table {settings.database}.{settings.table}"
                " in the Glue Data Catalog of this account and region"
            ) from None
        raise AwsProblem(describe_aws_error(error, "glue:GetTable")) from None
    except BotoCoreError as error:
        raise AwsProblem(describe_aws_error(error, "glue:GetTable")) from None
    storage = table.get("StorageDescriptor", {})
    columns = {c["Name"].lower(): c.get("Type", "string").lower() for c in storage["Columns"]}
    partitions = tuple(c["Name"].lower() for c in table.get("PartitionKeys", []))
    for name in partitions:
        columns.setdefault(name, "string")
    return TableShape(columns, partitions)


def usable_partitions(glue, settings: AthenaSettings, shape: TableShape) -> tuple[TableShape, str]:
    """The shape whose `billing_period` partition the query may filter by `'YYYY-MM'`
    values, and a warning when it may not: a partition of other values (`2026-11-01`) would
    match no month, and the sync would replace the days read with nothing. One cataloged
    partition is looked at (a table with partition projection lists none: trusted)."""
    if BILLING_PERIOD_PARTITION not in shape.partitions:
        return shape, ""
    try:
        found = glue.get_partitions(
            DatabaseName=settings.database, TableName=settings.table, MaxResults=1
        ).get("Partitions", [])
    except (ClientError, BotoCoreError):
        return shape, ""  # no glue:GetPartitions: Athena reports a bad partition itself
    if not found:
        return shape, ""
    value = str(found[0]["Values"][shape.partitions.index(BILLING_PERIOD_PARTITION)])
    if re.fullmatch(r"\d{4}-\d{2}", value):
        return shape, ""
    others = tuple(name for name in shape.partitions if name != BILLING_PERIOD_PARTITION)
    return TableShape(shape.columns, others), (
        f"the {BILLING_PERIOD_PARTITION} partition holds values like {value[:20]!r}, not"
        " YYYY-MM: the query does not filter by it and Athena scans every month"
    )


def detect_format(shape: TableShape, settings: AthenaSettings, config_source: str) -> str:
    """`cur2` or `focus`: as configured (checked against the columns), else from them."""
    required = {"cur2": CUR2_REQUIRED, "focus": FOCUS_REQUIRED}
    table = f"{settings.database}.{settings.table}"
    if settings.format:
        missing = [c for c in required[settings.format] if not shape.has(c)]
        if missing:
            raise ConfigError(
                f"{config_source}: aws.athena.format is {settings.format} but {table} has no"
                f" column {missing[0]}" + (f" (and {len(missing) - 1} more)" if missing[1:] else "")
            )
        return settings.format
    found = [name for name, columns in required.items() if all(shape.has(c) for c in columns)]
    if len(found) != 1:
        raise ConfigError(
            f"{config_source}: aws.athena: {table} is neither a CUR 2.0 table (columns"
            f" {', '.join(CUR2_REQUIRED)}) nor a FOCUS table (columns"
            f" {', '.join(FOCUS_REQUIRED)}); set aws.athena.format if it is one"
        )
    return found[0]


# --- running it ---------------------------------------------------------------------------


def _call(action: str, function, **kwargs) -> dict:
    try:
        return function(**kwargs)
    except (ClientError, BotoCoreError) as error:
        raise AwsProblem(describe_aws_error(error, action)) from None


def start_query(athena, sql: str, settings: AthenaSettings) -> str:
    response = _call(
        "athena:StartQueryExecution",
        athena.start_query_execution,
        QueryString=sql,
        # The same token on botocore's retries: a retried start never runs the query twice.
        ClientRequestToken=uuid.uuid4().hex,
        QueryExecutionContext={"Database": settings.database},
        ResultConfiguration={"OutputLocation": settings.output},
        WorkGroup=settings.workgroup,
    )
    return response["QueryExecutionId"]


def wait_for_query(
    athena,
    query_id: str,
    timeout_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict:
    """Poll until the query SUCCEEDED (its QueryExecution) or raise QueryFailed with Athena's
    reason; a query still running after `timeout_seconds` is stopped (it would go on
    scanning, and charging, for nobody)."""
    deadline = clock() + timeout_seconds
    delay = FIRST_POLL_DELAY
    while True:
        execution = _call(
            "athena:GetQueryExecution", athena.get_query_execution, QueryExecutionId=query_id
        )["QueryExecution"]
        status = execution.get("Status", {})
        state = status.get("State")
        if state == "SUCCEEDED":
            return execution
        if state in ("FAILED", "CANCELLED"):
            reason = str(status.get("StateChangeReason") or "no reason given").splitlines()[0]
            raise QueryFailed(f"Athena query {query_id} {state.lower()}: {reason[:300]}", execution)
        remaining = deadline - clock()
        if remaining <= 0:
            raise QueryFailed(
                f"Athena query {query_id} still {str(state).lower()} after {timeout_seconds:g} s:"
                f" {_stop(athena, query_id)} (raise aws.athena.timeout_seconds for a larger"
                " table)",
                execution,
            )
        sleep(min(delay, remaining))
        delay = min(delay * POLL_BACKOFF, MAX_POLL_DELAY)


def _stop(athena, query_id: str) -> str:
    """Stop a query (best effort: the sync fails either way); what happened, for the message."""
    try:
        athena.stop_query_execution(QueryExecutionId=query_id)
    except (ClientError, BotoCoreError) as error:
        return f"could not stop it ({describe_aws_error(error, 'athena:StopQueryExecution')})"
    return "stopped it"


def result_rows(athena, query_id: str, counter: list[int] | None = None) -> Iterator[dict]:
    """The query's result rows as {column: text or None}, every page (the first row of the
    first page is the header)."""
    paginator = athena.get_paginator("get_query_results")
    pages = paginator.paginate(
        QueryExecutionId=query_id, PaginationConfig={"PageSize": RESULT_PAGE_ROWS}
    )
    header: list[str] | None = None
    try:
        for page in pages:
            if counter is not None:
                counter[0] += 1
            for row in page["ResultSet"]["Rows"]:
                values = [cell.get("VarCharValue") for cell in row.get("Data", [])]
                if header is None:
                    header = [str(v) for v in values]
                    continue
                yield dict(zip(header, values, strict=True))
    except (ClientError, BotoCoreError) as error:
        raise AwsProblem(describe_aws_error(error, "athena:GetQueryResults")) from None


def _amount(record: dict, column: str) -> Decimal:
    text = record.get(column)
    if text is None:
        return Decimal(0)
    try:
        return Decimal(text)
    except InvalidOperation:
        raise AwsProblem(f"Athena returned {text!r} as {column}, not a number") from None


@dataclass
class DailyRows:
    rows: list[tuple]
    accounts: set[tuple[str, str, str, str]]
    line_items: int
    period_totals: dict[tuple[str, str], tuple[int, int]]


def daily_rows(records: Iterator[dict], config: Config) -> DailyRows:
    """The store's rows from the query's: team tag values mapped to teams (aliases, case),
    rows that then share every dimension summed exactly, rounded to micro-units once."""
    sums: dict[tuple, list[Decimal]] = {}
    names: dict[tuple[str, str], tuple[str, str]] = {}
    line_items = 0
    for record in records:
        if not record.get("usage_date") or not record.get("billing_account_id"):
            raise AwsProblem("Athena returned a row without a day or billing account")
        record = {**record, "team": config.canonical_team(record.get("team"))}
        key = tuple(record.get(name) for name in DIMENSION_COLUMNS)
        amounts = sums.setdefault(key, [Decimal(0), Decimal(0), Decimal(0)])
        for index, column in enumerate(("effective_cost", "billed_cost", "list_cost")):
            amounts[index] += _amount(record, column)
        line_items += int(record.get("line_items") or 0)
        provider, billing, account = (
            record["provider"],
            record["billing_account_id"],
            record.get("account_id") or record["billing_account_id"],
        )
        names[(provider, billing)] = (record.get("billing_account_name") or billing, "billing")
        if account != billing:
            names[(provider, account)] = (record.get("account_name") or account, "sub")
    rows, totals = [], {}
    for key, (effective, billed, listed) in sorted(sums.items(), key=lambda kv: kv[0][0]):
        values = dict(zip(DIMENSION_COLUMNS, key, strict=True))
        values["date"] = values.pop("usage_date")
        values["currency"] = (values["currency"] or "USD").upper()
        for column, spellings in CANONICAL_VALUES.items():  # as the FOCUS file ingest does
            if values[column]:
                values[column] = spellings.get(values[column].lower(), values[column])
        micros = to_micros(effective), to_micros(billed), to_micros(listed)
        rows.append(
            (
                *daily_row(
                    **values,
                    effective_micros=micros[0],
                    billed_micros=micros[1],
                    list_micros=micros[2],
                ),
                None,  # grain: every dimension exact
            )
        )
        period = (values["billing_period"], values["currency"])
        before = totals.get(period, (0, 0))
        totals[period] = (before[0] + micros[0], before[1] + micros[1])
    accounts = {(p, a, name, kind) for (p, a), (name, kind) in names.items()}
    return DailyRows(rows, accounts, line_items, dict(sorted(totals.items())))


# --- the sync -----------------------------------------------------------------------------


def athena_settings(config: Config) -> AthenaSettings:
    settings = config.aws.athena
    if settings is None:
        where = (
            "no config file (costbot.yml or $COSTBOT_CONFIG)"
            if config.source == "defaults"
            else f"{config.source}: no aws.athena section"
        )
        raise ConfigError(
            f"{where}: add aws: {{athena: {{database: ..., table: ...,"
            " output: s3://bucket/prefix/}} (see costbot.example.yml)"
        )
    return settings


def sync_athena(
    config: Config,
    db_path: str | Path,
    today: date,
    *,
    days: int | None = None,
    say: Say = print,
    sleep: Callable[[float], None] = time.sleep,
) -> AthenaSync:
    """Run the sync: read the table's shape, plan the days, run the one query, load its
    rows in one transaction, record the run. Raises ConfigError (bad config), AwsProblem
    (AWS refused, the query failed); nothing is written to the cost tables then."""
    settings = athena_settings(config)
    for name in (settings.database, settings.table):
        quote_name(name)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    session = base_session(settings.region)
    glue = make_client(session, "glue", settings.region)
    athena = make_client(session, "athena", settings.region)
    shape, partition_warning = usable_partitions(
        glue, settings, describe_table(glue, settings, config.source)
    )
    table_format = detect_format(shape, settings, config.source)
    db = open_store(db_path)
    try:
        plan = plan_sync(
            queries.last_sync_end(db, SOURCE),
            today,
            config.aws,
            days,
            whole_current_month=True,
        )
        result = AthenaSync(
            table=f"{settings.database}.{settings.table}",
            format=table_format,
            format_source="aws.athena.format"
            if settings.format
            else "detected from the table's columns",
            plan=plan,
        )
        say(f"Athena table {result.table}: {FORMAT_NAMES[table_format]} ({result.format_source})")
        say(f"Reading {plan.describe()}")
        result.warnings.extend(_table_warnings(shape, table_format, partition_warning))
        for warning in result.warnings:
            say(f"  warning: {warning}")
        try:
            _run(athena, shape, settings, config, plan, result, db, sleep)
        except AwsProblem as problem:
            _record(db, result, started_at, "failed", error=str(problem))
            raise
        _record(db, result, started_at, "ok")
    finally:
        db.close()
    pages = "1 page" if result.result_pages == 1 else f"{result.result_pages:,} pages"
    say(
        f"  query {result.query_id}: {result.line_items:,} line items summed into"
        f" {result.rows:,} daily rows ({pages} of results)"
    )
    if not result.rows:
        say("  warning: the table has no line items for these days")
    for (period, currency), (effective, billed) in result.period_totals.items():
        say(
            f"  billing period {period}: {format_money(effective, currency)} amortized,"
            f" {format_money(billed, currency)} billed"
        )
    say(f"Stored {result.rows:,} rows of daily cost ({plan.start} .. {plan.end})")
    say(result.cost_line())
    return result


def _run(athena, shape, settings, config, plan, result: AthenaSync, db, sleep) -> None:
    sql = build_query(shape, result.format, settings, plan, config.tag_keys)
    result.query_id = start_query(athena, sql, settings)
    try:
        execution = wait_for_query(athena, result.query_id, settings.timeout_seconds, sleep)
    except QueryFailed as failure:
        result.bytes_scanned = failure.bytes_scanned
        raise
    result.bytes_scanned = scanned_bytes(execution)
    pages = [0]
    loaded = daily_rows(result_rows(athena, result.query_id, pages), config)
    result.result_pages, result.line_items = pages[0], loaded.line_items
    result.rows, result.period_totals = len(loaded.rows), loaded.period_totals
    read = f"Athena {result.format} {result.table}, query {result.query_id}"
    write_source_rows(
        db,
        SourceLoad(
            source=SOURCE,
            description=f"{read}: {plan.start} .. {plan.end}",
            start=plan.start,
            end=plan.end,
            rows=loaded.rows,
            accounts=loaded.accounts,
        ),
    )


def scanned_bytes(execution: dict) -> int:
    """DataScannedInBytes of a QueryExecution (0 when Athena has not said yet)."""
    return int(execution.get("Statistics", {}).get("DataScannedInBytes") or 0)


def _table_warnings(shape: TableShape, table_format: str, partition_warning: str) -> list[str]:
    warnings = []
    if partition_warning:
        warnings.append(partition_warning)
    elif BILLING_PERIOD_PARTITION not in shape.partitions:
        warnings.append(
            f"the table has no {BILLING_PERIOD_PARTITION} partition: Athena scans every"
            " month it holds, whatever the days read (see README 'Connect AWS')"
        )
    if table_format == "cur2":
        missing = [c for c in CUR2_COMMITMENT_COLUMNS if not shape.has(c)]
        if missing:
            warnings.append(
                f"no column {missing[0]}"
                + (f" (and {len(missing) - 1} more)" if missing[1:] else "")
                + ": the amortized cost is the unblended cost (no Savings Plans or"
                " reservation amortization)"
            )
    return warnings


def _record(db, result: AthenaSync, started_at: str, status: str, **detail) -> None:
    record_sync_run(
        db,
        source=SOURCE,
        started_at=started_at,
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        status=status,
        period_start=result.plan.start.isoformat(),
        period_end=result.plan.end.isoformat(),
        rows=result.rows if status == "ok" else 0,
        paid_requests=0,
        cost_micros=result.cost_micros if result.query_id else 0,
        bytes_scanned=result.bytes_scanned,
        detail={
            "query_execution_id": result.query_id,
            "table": result.table,
            "format": result.format,
            "result_pages": result.result_pages,
            "line_items": result.line_items,
            "warnings": result.warnings,
            **detail,
        },
    )
