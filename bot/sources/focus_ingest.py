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
from bot.money import format_usd
from bot.sources.focus import (
    ROW_CHECKS,
    FocusError,
    FocusSource,
    detect_version,
    locate_bad_row,
    read_columns,
    read_error,
    staged_sql,
    tag_dimensions,
)
from bot.store import open_store
from bot.store.schema import DAILY_COLUMNS
from bot.store.writers import write_focus_results

FOCUS_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".parq")
# DuckDB may use this much memory before spilling to disk; keeps ingest of any file size
# well under 1 GiB of resident memory.
DUCKDB_MEMORY_LIMIT = os.environ.get("COSTBOT_DUCKDB_MEMORY", "512MB")


@dataclass
class FileResult:
    source: FocusSource
    focus_version: str
    checksum: str
    charge_rows: int
    billing_periods: list[str]
    replace_keys: set[tuple[str, str, str]]
    daily_rows: list[tuple]
    resource_rows: list[tuple]
    accounts: set[tuple[str, str, str, str]]


@dataclass
class IngestReport:
    files: list[FileResult] = field(default_factory=list)

    @property
    def charge_rows(self) -> int:
        return sum(f.charge_rows for f in self.files)

    def period_totals(self) -> dict[str, tuple[int, int]]:
        """Amortized and billed micro-dollars loaded per billing period."""
        period_at = DAILY_COLUMNS.index("billing_period")
        effective_at = DAILY_COLUMNS.index("effective_micros")
        billed_at = DAILY_COLUMNS.index("billed_micros")
        totals: dict[str, tuple[int, int]] = {}
        for result in self.files:
            for row in result.daily_rows:
                effective, billed = totals.get(row[period_at], (0, 0))
                totals[row[period_at]] = (effective + row[effective_at], billed + row[billed_at])
        return dict(sorted(totals.items()))

    def summary(self) -> str:
        lines = [f"Loaded {len(self.files)} file(s), {self.charge_rows:,} charge rows"]
        for period, (effective, billed) in self.period_totals().items():
            lines.append(
                f"  billing period {period}: {format_usd(effective)} amortized,"
                f" {format_usd(billed)} billed"
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


def _connect_duckdb() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    # Typed Parquet timestamps (TIMESTAMPTZ) become text in the session's zone, which is the
    # machine's by default: billing days are UTC days.
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
    con.execute("SET preserve_insertion_order = false")
    if sys.stderr.isatty():
        con.execute("SET enable_progress_bar = true")
    return con


def read_focus_file(
    source: FocusSource, config: Config, declared_version: str | None = None
) -> FileResult:
    # Hashing reads the whole file too: do it on a thread while DuckDB scans the file rather
    # than after (hashlib releases the GIL); it costs the CPU time DuckDB leaves idle.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="costbot-checksum") as pool:
        return _read_checked(
            source, config, declared_version, pool.submit(file_checksum, source.path)
        )


def _read_checked(
    source: FocusSource, config: Config, declared_version: str | None, checksum: Future[str]
) -> FileResult:
    con = _connect_duckdb()
    try:
        columns = read_columns(con, source)
        version = detect_version(source, columns, declared_version)
        try:
            con.execute(f"CREATE TEMP TABLE staged AS {staged_sql(source, columns)}")
        except duckdb.Error as exc:
            raise read_error(source, exc) from None

        bad_counts = con.execute(
            "SELECT " + ", ".join(f"sum(bad_{i})" for i in range(len(ROW_CHECKS))) + " FROM staged"
        ).fetchone()
        for index, count in enumerate(bad_counts or ()):
            if count:
                raise FocusError(locate_bad_row(_connect_duckdb(), source, columns, index))

        charge_rows = con.execute("SELECT coalesce(sum(charge_rows), 0) FROM staged").fetchone()[0]
        _attach_tag_dimensions(con, source, config)
        return FileResult(
            source=source,
            focus_version=version,
            checksum=checksum.result(),
            charge_rows=int(charge_rows),
            billing_periods=[
                r[0]
                for r in con.execute(
                    "SELECT DISTINCT billing_period FROM staged ORDER BY 1"
                ).fetchall()
            ],
            replace_keys={
                tuple(r)
                for r in con.execute(
                    "SELECT DISTINCT provider, billing_account_id, billing_period FROM staged"
                ).fetchall()
            },
            daily_rows=con.execute(_DAILY_SQL).fetchall(),
            resource_rows=con.execute(_RESOURCE_SQL).fetchall(),
            accounts=_accounts(con),
        )
    finally:
        con.close()


def _attach_tag_dimensions(
    con: duckdb.DuckDBPyConnection, source: FocusSource, config: Config
) -> None:
    """Map each distinct tag set to team / environment / product / cost center once, in
    Python (tag keys are matched case-insensitively, aliases mapped), then join it back."""
    distinct = [r[0] for r in con.execute("SELECT DISTINCT tags FROM staged").fetchall()]
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
        "CREATE TEMP TABLE tag_map AS SELECT "
        + ", ".join(f"unnest(${i}::VARCHAR[]) AS {name}" for i, name in enumerate(columns, 1)),
        [list(values) for values in zip(*rows, strict=True)] if rows else [[]] * len(columns),
    )
    # A view: the two queries reading it are cheaper than materialising the join once.
    con.execute(
        """CREATE TEMP VIEW attributed AS
           SELECT s.*, m.team, m.environment, m.product, m.cost_center
           FROM staged s LEFT JOIN tag_map m ON s.tags IS NOT DISTINCT FROM m.tags"""
    )


def _micros(expression: str) -> str:
    # Rounded once per stored cell, from an exact DECIMAL sum.
    return f"CAST(round(sum({expression}) * 1000000, 0) AS BIGINT)"


_DAILY_SQL = f"""
    SELECT strftime(day, '%Y-%m-%d') AS date, provider, billing_account_id, account_id, team,
           service, service_category, region, charge_category, environment, product,
           cost_center, currency, billing_period,
           {_micros("effective")}, {_micros("billed")}, {_micros("list")}
    FROM attributed GROUP BY ALL
    ORDER BY date  -- the store's date-led indexes then grow at one end: quicker to write
"""
_RESOURCE_SQL = f"""
    SELECT strftime(day, '%Y-%m') AS month, billing_period, provider, billing_account_id,
           account_id, resource_id, any_value(resource_name), any_value(resource_type),
           service, region, team, tags,
           {_micros("effective")}, {_micros("billed")}, {_micros("list")}
    FROM attributed WHERE resource_id IS NOT NULL GROUP BY ALL
"""


def _accounts(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str, str, str]]:
    billing = con.execute(
        "SELECT DISTINCT provider, billing_account_id, coalesce(any_value(billing_account_name),"
        " billing_account_id), 'billing' FROM staged GROUP BY provider, billing_account_id"
    ).fetchall()
    subs = con.execute(
        "SELECT DISTINCT provider, account_id, coalesce(any_value(account_name), account_id),"
        " 'sub' FROM staged WHERE account_id <> billing_account_id GROUP BY provider, account_id"
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
    """Read and check every file, then write them all in one transaction."""
    if show_progress is None:
        show_progress = sys.stderr.isatty()
    report = IngestReport()
    with resolve_sources(paths) as sources:
        progress = _progress_bar(sources, show_progress)
        for source in sources:
            if progress is not None:
                progress.set_postfix_str(source.path.name, refresh=False)
            report.files.append(read_focus_file(source, config, declared_version))
            if progress is not None:
                progress.update(source.path.stat().st_size)
        if progress is not None:
            progress.close()
    # Only now, with every file read and checked, is the store opened (and created if new).
    db = open_store(db_path)
    try:
        write_focus_results(db, report.files)
    finally:
        db.close()
    return report


def _progress_bar(sources: list[FocusSource], enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    total = sum(s.path.stat().st_size for s in sources)
    return tqdm(total=total, unit="B", unit_scale=True, desc="Reading FOCUS", file=sys.stderr)
