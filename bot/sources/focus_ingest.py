"""`costbot ingest focus PATH...`: FOCUS files (local or s3://) into the store, all or nothing.

Every file is read and checked in DuckDB before the store is touched; then one SQLite
transaction replaces each (provider, billing account, billing period) the files cover and
records the ingest. A bad file changes nothing, byte for byte.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import duckdb
import xxhash

from bot.config import Config
from bot.money import format_money
from bot.sources.focus import (
    FocusError,
    FocusSource,
    canonical_value_sql,
    check_counts_sql,
    detect_version,
    grouped_sql,
    locate_bad_row,
    read_columns,
    read_error,
    tag_dimensions,
    tag_sets_sql,
)
from bot.store import open_store
from bot.store.schema import COMMITMENT_DIMENSIONS, DAILY_COLUMNS, RESOURCE_COLUMNS
from bot.store.writers import write_focus_results

FOCUS_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".parq")
# DuckDB may use this much memory before spilling to disk (into a temporary directory of
# its own); keeps ingest of any file size well under 1 GiB of resident memory.
DUCKDB_MEMORY_LIMIT = os.environ.get("COSTBOT_DUCKDB_MEMORY", "512MB")
# Rows handed from DuckDB to SQLite at a time: large enough that the per-batch overhead
# vanishes, small enough that a batch of Python tuples stays a few tens of MiB.
WRITE_BATCH_ROWS = 50_000


class StagedRows:
    """Rows of one file for one store table, kept in DuckDB until written; iterating fetches
    them in batches, so the whole result never sits in Python."""

    def __init__(self, con: duckdb.DuckDBPyConnection, sql: str, count: int) -> None:
        self._con, self._sql, self.count = con, sql, count

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[tuple]:
        cursor = self._con.cursor()  # its own result: other statements may run meanwhile
        try:
            cursor.execute(self._sql)
            while batch := cursor.fetchmany(WRITE_BATCH_ROWS):
                yield from batch
        finally:
            cursor.close()


@dataclass
class FileResult:
    source: FocusSource
    focus_version: str
    checksum: str
    charge_rows: int
    billing_periods: list[str]
    replace_keys: set[tuple[str, str, str]]
    daily_rows: StagedRows  # in DAILY_COLUMNS order
    resource_rows: StagedRows  # in RESOURCE_COLUMNS order
    accounts: set[tuple[str, str, str, str]]
    # Amortized and billed micro-dollars per billing period: the sums of the stored cells.
    # (billing period, currency) -> amortized and billed micros: currencies never added.
    period_totals: dict[tuple[str, str], tuple[int, int]]

    @property
    def display_name(self) -> str:
        """What the ingest record and error messages call the file (path or s3:// URI)."""
        return self.source.display_name


@dataclass
class IngestReport:
    files: list[FileResult] = field(default_factory=list)

    @property
    def charge_rows(self) -> int:
        return sum(f.charge_rows for f in self.files)

    def period_totals(self) -> dict[tuple[str, str], tuple[int, int]]:
        """Amortized and billed micros loaded per billing period and currency."""
        totals: dict[tuple[str, str], tuple[int, int]] = {}
        for result in self.files:
            for key, (effective, billed) in result.period_totals.items():
                so_far = totals.get(key, (0, 0))
                totals[key] = (so_far[0] + effective, so_far[1] + billed)
        return dict(sorted(totals.items()))

    def summary(self) -> str:
        lines = [f"Loaded {len(self.files)} file(s), {self.charge_rows:,} charge rows"]
        for (period, currency), (effective, billed) in self.period_totals().items():
            lines.append(
                f"  billing period {period}: {format_money(effective, currency)} amortized,"
                f" {format_money(billed, currency)} billed"
            )
        return "\n".join(lines)


# --- finding the files -------------------------------------------------------------------


def _is_focus_file(name: str) -> bool:
    return name.lower().endswith(FOCUS_SUFFIXES)


@contextmanager
def resolve_sources(paths: list[str]) -> Iterator[list[FocusSource]]:
    """Expand directories and s3:// prefixes into files; S3 objects are downloaded to a
    temporary directory that lives as long as the context."""
    with tempfile.TemporaryDirectory(prefix="costbot-ingest-") as scratch:
        sources: list[FocusSource] = []
        for raw in paths:
            if raw.startswith("s3://"):
                sources.extend(_download_s3(raw, Path(scratch)))
                continue
            path = Path(raw)
            if path.is_dir():
                found = sorted(p for p in path.rglob("*") if p.is_file() and _is_focus_file(p.name))
                if not found:
                    raise FocusError(f"{raw}: no FOCUS files (.csv, .csv.gz, .parquet) in it")
                sources.extend(FocusSource(p, str(p)) for p in found)
            elif path.is_file():
                if not _is_focus_file(path.name):
                    raise FocusError(f"{raw}: not a FOCUS file (expected .csv, .csv.gz, .parquet)")
                sources.append(FocusSource(path, raw))
            else:
                raise FocusError(f"{raw}: no such file or directory")
        yield sources


def _download_s3(uri: str, scratch: Path) -> list[FocusSource]:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    parsed = urlparse(uri)
    bucket, prefix = parsed.netloc, parsed.path.lstrip("/")
    if not bucket:
        raise FocusError(f"{uri}: expected s3://bucket/prefix")
    s3 = boto3.client("s3")
    try:
        keys = [
            obj["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for obj in page.get("Contents", [])
            if _is_focus_file(obj["Key"])
        ]
        if not keys:
            raise FocusError(f"{uri}: no FOCUS files (.csv, .csv.gz, .parquet) under this prefix")
        sources = []
        for index, key in enumerate(sorted(keys)):
            local = scratch / f"{index:05d}-{Path(key).name}"
            s3.download_file(bucket, key, str(local))
            sources.append(FocusSource(local, f"s3://{bucket}/{key}"))
        return sources
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise FocusError(f"{uri}: S3 error {error.get('Code')}: {error.get('Message')}") from None
    except BotoCoreError as exc:
        raise FocusError(f"{uri}: cannot reach S3: {exc}") from None


# --- reading one file ---------------------------------------------------------------------


def file_checksum(path: Path) -> str:
    """A fingerprint of the file as loaded. XXH3-128 rather than SHA-256: it identifies a
    file just as well for the ingest record and hashes at memory speed, where SHA-256 took a
    whole core for 4 s of a 3 GB export, a core DuckDB needs for the scan."""
    digest = xxhash.xxh3_128()
    with path.open("rb") as handle:
        while chunk := handle.read(8 * 1024 * 1024):
            digest.update(chunk)
    return f"xxh3-128:{digest.hexdigest()}"


def _connect_duckdb(scratch: Path, show_progress: bool = False) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    # Typed Parquet timestamps (TIMESTAMPTZ) become text in the session's zone, which is the
    # machine's by default: billing days are UTC days.
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
    # What does not fit spills here, never into `.tmp` under the current directory.
    con.execute("SET temp_directory = ?", [str(scratch)])
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"SET enable_progress_bar = {'true' if show_progress else 'false'}")
    return con


def read_focus_file(
    con: duckdb.DuckDBPyConnection,
    index: int,
    source: FocusSource,
    config: Config,
    declared_version: str | None = None,
) -> FileResult:
    """Read, check and aggregate one file into DuckDB tables (`daily_<index>`,
    `resource_<index>`; not TEMP, so that a cursor can read them) on `con`, where its rows
    wait until every file has been checked."""
    # Hashing reads the whole file too: do it on a thread while DuckDB scans the file rather
    # than after (xxhash releases the GIL); it costs the CPU time DuckDB leaves idle.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="costbot-checksum") as pool:
        return _read_checked(
            con, index, source, config, declared_version, pool.submit(file_checksum, source.path)
        )


def _read_checked(
    con: duckdb.DuckDBPyConnection,
    index: int,
    source: FocusSource,
    config: Config,
    declared_version: str | None,
    checksum: Future[str],
) -> FileResult:
    columns = read_columns(con, source)
    version = detect_version(source, columns, declared_version)
    grouped, tag_map = f"grouped_{index}", f"tag_map_{index}"
    tag_sets = None
    try:
        if source.is_parquet:
            # Reading one column of a Parquet file is quick: group by a number per tag set.
            # (A CSV file would be parsed twice; its rows are grouped by the text.)
            tag_sets = f"tag_sets_{index}"
            con.execute(f"CREATE TEMP TABLE {tag_sets} AS {tag_sets_sql(source, columns)}")
        # Not TEMP: a cursor (another connection to the same in-memory database) reads the
        # tables while the rows are written to SQLite.
        con.execute(f"CREATE TABLE {grouped} AS {grouped_sql(source, columns, tag_sets)}")
    except duckdb.Error as exc:
        raise read_error(source, exc) from None

    bad_counts = con.execute(check_counts_sql(grouped)).fetchone()
    for check, count in enumerate(bad_counts or ()):
        if count:
            scratch = con.execute("SELECT current_setting('temp_directory')").fetchone()[0]
            raise FocusError(locate_bad_row(_connect_duckdb(Path(scratch)), source, columns, check))

    _map_tag_sets(con, grouped, tag_map, config)
    attributed = f"{grouped} g LEFT JOIN {tag_map} m ON g.tags IS NOT DISTINCT FROM m.tags"
    # The daily rows are few (tag sets that map to the same team are summed): kept as a
    # table. The resource rows are one per group of the resource set already: read straight
    # from the grouped table when they are written, never copied.
    daily = f"daily_{index}"
    con.execute(f"CREATE TABLE {daily} AS {_DAILY_SQL.format(attributed=attributed)}")
    charge_rows, resource_count = con.execute(
        "SELECT coalesce(sum(charge_rows) FILTER (is_daily), 0),"
        f" count(*) FILTER (NOT is_daily AND resource_id IS NOT NULL) FROM {grouped}"
    ).fetchone()
    totals = con.execute(
        f"SELECT billing_period, coalesce(currency, 'USD'), sum(effective_micros),"
        f" sum(billed_micros) FROM {daily} GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    return FileResult(
        source=source,
        focus_version=version,
        checksum=checksum.result(),
        charge_rows=int(charge_rows),
        billing_periods=sorted({period for period, _, _, _ in totals}),
        replace_keys={
            tuple(r)
            for r in con.execute(
                f"SELECT DISTINCT provider, billing_account_id, billing_period FROM {daily}"
            ).fetchall()
        },
        daily_rows=_staged(con, f"SELECT {', '.join(DAILY_COLUMNS)} FROM {daily}"),
        resource_rows=StagedRows(
            con,
            f"SELECT {', '.join(RESOURCE_COLUMNS)}"
            f" FROM ({_RESOURCE_SQL.format(attributed=attributed)})",
            int(resource_count),
        ),
        accounts=_accounts(con, grouped),
        period_totals={(period, cur): (int(e), int(b)) for period, cur, e, b in totals},
    )


def _staged(con: duckdb.DuckDBPyConnection, sql: str) -> StagedRows:
    count = con.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0]
    return StagedRows(con, sql, int(count))


def _map_tag_sets(
    con: duckdb.DuckDBPyConnection, grouped: str, tag_map: str, config: Config
) -> None:
    """Map each distinct tag set to team / environment / product / cost center once, in
    Python (tag keys are matched case-insensitively, aliases mapped), into `tag_map`."""
    distinct = [r[0] for r in con.execute(f"SELECT DISTINCT tags FROM {grouped}").fetchall()]
    rows = []
    for tags in distinct:
        dims = tag_dimensions(tags, config.tag_keys)
        rows.append(
            (
                tags,
                config.canonical_team(dims["team"]),
                dims["environment"],
                dims["product"],
                dims["cost_center"],
            )
        )
    # One statement, a list per column: executemany would be one statement per tag set.
    columns = ("tags", "team", "environment", "product", "cost_center")
    con.execute(
        f"CREATE TABLE {tag_map} AS SELECT "
        + ", ".join(f"unnest(${i}::VARCHAR[]) AS {name}" for i, name in enumerate(columns, 1)),
        [list(values) for values in zip(*rows, strict=True)] if rows else [[]] * len(columns),
    )


def _micros(expression: str) -> str:
    # Rounded once per stored cell, from an exact DECIMAL sum.
    return f"CAST(round({expression} * 1000000, 0) AS BIGINT)"


# Tag sets that differ only in keys other than the team's map to the same daily row: sum them.
_DAILY_SQL = f"""
    SELECT strftime(day, '%Y-%m-%d') AS date, provider, billing_account_id, account_id, team,
           service, service_category, region, charge_category, environment, product,
           cost_center, currency, strftime(billing_start, '%Y-%m') AS billing_period,
           {", ".join(f"{canonical_value_sql(c)} AS {c}" for c in COMMITMENT_DIMENSIONS)}, sku,
           {_micros("sum(effective)")} AS effective_micros,
           {_micros("sum(billed)")} AS billed_micros,
           {_micros("sum(list)")} AS list_micros
    FROM {{attributed}} WHERE is_daily GROUP BY ALL
    ORDER BY date  -- the store's date-led indexes then grow at one end: quicker to write
"""
# One row per group of the resource set already: month x resource x tag set.
_RESOURCE_SQL = f"""
    SELECT strftime(month, '%Y-%m') AS month, strftime(billing_start, '%Y-%m') AS billing_period,
           provider, billing_account_id, account_id, resource_id, resource_name, resource_type,
           service, region, team, g.tags AS tags,
           {_micros("effective")} AS effective_micros,
           {_micros("billed")} AS billed_micros,
           {_micros("list")} AS list_micros,
           currency
    FROM {{attributed}} WHERE NOT is_daily AND resource_id IS NOT NULL
"""


def _accounts(con: duckdb.DuckDBPyConnection, grouped: str) -> set[tuple[str, str, str, str]]:
    billing = con.execute(
        "SELECT provider, billing_account_id, coalesce(any_value(billing_account_name),"
        f" billing_account_id), 'billing' FROM {grouped} WHERE is_daily"
        " GROUP BY provider, billing_account_id"
    ).fetchall()
    subs = con.execute(
        "SELECT provider, account_id, coalesce(any_value(account_name), account_id), 'sub'"
        f" FROM {grouped} WHERE is_daily AND account_id <> billing_account_id"
        " GROUP BY provider, account_id"
    ).fetchall()
    return {tuple(r) for r in billing + subs}


def ingest_focus(
    paths: list[str],
    config: Config,
    db_path: str | os.PathLike,
    *,
    declared_version: str | None = None,
    show_progress: bool | None = None,
) -> IngestReport:
    """Read and check every file, then write them all in one transaction.

    The files' rows wait in DuckDB (in memory, spilling to a temporary directory) until
    every file has been checked, then stream into SQLite in batches.
    `show_progress`: DuckDB's progress bar on stderr (default: when stderr is a terminal).
    """
    if show_progress is None:
        show_progress = sys.stderr.isatty()
    report = IngestReport()
    with (
        tempfile.TemporaryDirectory(prefix="costbot-duckdb-") as scratch,
        resolve_sources(paths) as sources,
    ):
        con = _connect_duckdb(Path(scratch), show_progress)
        try:
            for index, source in enumerate(sources):
                report.files.append(read_focus_file(con, index, source, config, declared_version))
            # Only now, with every file read and checked, is the store opened (and created if
            # new).
            db = open_store(db_path)
            try:
                write_focus_results(db, report.files)
            finally:
                db.close()
        finally:
            con.close()
    return report
