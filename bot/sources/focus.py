"""Reading FOCUS files (1.0, 1.1, 1.2; CSV, CSV.gz, Parquet) with DuckDB.

DuckDB streams the file and aggregates it to one row per day x account x service x ... x tag
set, summing costs as DECIMAL(38, 12), so a file of any size never sits in memory and no cost
is ever summed as a float. Bad input is located (file, row, column) only on the error path.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from bot.config import tag_key
from bot.errors import InputError

SUPPORTED_VERSIONS = ("1.0", "1.1", "1.2")

# Columns without which a file cannot be attributed or summed.
REQUIRED_COLUMNS = (
    "BilledCost",
    "EffectiveCost",
    "BillingAccountId",
    "BillingCurrency",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargePeriodStart",
    "ServiceName",
)
# What was used, most telling first: AWS's usage type ("USE1-BoxUsage:m5.large", in AWS's
# FOCUS exports), FOCUS 1.1's SkuMeter, the charge description, the opaque SkuId. The first one
# a charge has is its `sku` (root causes of anomalies read it).
SKU_COLUMNS = ("x_UsageType", "SkuMeter", "ChargeDescription", "SkuId")
# Read when present; a missing optional column reads as null.
OPTIONAL_COLUMNS = (
    "ListCost",
    "ProviderName",
    "BillingAccountName",
    "SubAccountId",
    "SubAccountName",
    "ServiceCategory",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "Tags",
    "ServiceProviderName",  # FOCUS 1.3's successor of ProviderName, for forward-compatible files
    "PricingCategory",
    "CommitmentDiscountCategory",
    "CommitmentDiscountType",
    "CommitmentDiscountStatus",
    *SKU_COLUMNS,
)
COST_COLUMNS = ("EffectiveCost", "BilledCost", "ListCost")
# Columns that only a later FOCUS version has: the newest one present names the version.
VERSION_MARKERS = {
    "1.2": ("InvoiceId", "PricingCurrency", "BillingAccountType", "SubAccountType"),
    "1.1": ("ServiceSubcategory", "SkuMeter", "SkuPriceDetails", "CapacityReservationId"),
}
# FOCUS 0.5 named these differently; their presence without the 1.0 names means an old file.
PRE_1_0_COLUMNS = ("ChargeType", "Provider", "AmortizedCost", "BilledCurrency")
VERSION_COLUMNS = ("FocusVersion", "x_FocusVersion")

NULL_STRINGS = ["NULL", ""]


class FocusError(InputError):
    """A FOCUS file that cannot be loaded."""


@dataclass(frozen=True)
class FocusSource:
    path: Path  # a local file (S3 objects are downloaded first)
    display_name: str  # what error messages call it: the local path or the s3:// URI

    @property
    def is_parquet(self) -> bool:
        return self.path.name.lower().endswith((".parquet", ".parq"))

    @property
    def is_gzip(self) -> bool:
        return self.path.name.lower().endswith(".gz")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def reader_sql(source: FocusSource) -> str:
    """A DuckDB table function over the file, every column read as text (CSV) so that a bad
    value can be reported instead of failing inside DuckDB's type sniffer."""
    path = _sql_string(str(source.path))
    if source.is_parquet:
        return f"read_parquet({path})"
    nulls = ", ".join(_sql_string(s) for s in NULL_STRINGS)
    return (
        f"read_csv({path}, header = true, all_varchar = true, nullstr = [{nulls}], "
        "quote = '\"', escape = '\"', auto_detect = true, strict_mode = true)"
    )


def read_columns(con: duckdb.DuckDBPyConnection, source: FocusSource) -> dict[str, str]:
    """The file's columns and their DuckDB types (all VARCHAR for CSV), in file order."""
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {reader_sql(source)}").fetchall()
    except duckdb.Error as exc:
        raise read_error(source, exc) from None
    return {row[0]: row[1] for row in rows}


def detect_version(source: FocusSource, columns: dict[str, str], declared: str | None) -> str:
    present = set(columns)
    missing = [c for c in REQUIRED_COLUMNS if c not in present]
    if missing and any(c in present for c in PRE_1_0_COLUMNS):
        raise FocusError(
            f"{source.display_name}: unknown FOCUS version: the columns look like FOCUS 0.5 "
            f"(has {', '.join(c for c in PRE_1_0_COLUMNS if c in present)}); "
            f"Costbot reads FOCUS {', '.join(SUPPORTED_VERSIONS)}"
        )
    if missing:
        raise FocusError(
            f"{source.display_name}: missing required column {missing[0]}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    if declared:
        if declared not in SUPPORTED_VERSIONS:
            raise FocusError(
                f"{source.display_name}: unknown FOCUS version {declared!r}; "
                f"Costbot reads FOCUS {', '.join(SUPPORTED_VERSIONS)}"
            )
        return declared
    for version, markers in VERSION_MARKERS.items():
        if any(m in present for m in markers):
            return version
    return "1.0"


def _column_or_null(name: str, columns: dict[str, str]) -> str:
    """The column as text. Parquet exports may type Tags as a MAP or STRUCT: as JSON text it
    reads like the JSON object CSV exports carry."""
    if name not in columns:
        return "CAST(NULL AS VARCHAR)"
    if columns[name].startswith(("MAP", "STRUCT")):
        return f"CAST(to_json({_quote(name)}) AS VARCHAR)"
    return f"CAST({_quote(name)} AS VARCHAR)"


# The file's columns the dimensions of a charge come from (read as `<column>_text`).
DIMENSION_COLUMNS = (
    "ProviderName",
    "ServiceProviderName",
    "BillingAccountId",
    "BillingAccountName",
    "SubAccountId",
    "SubAccountName",
    "ServiceName",
    "ServiceCategory",
    "RegionId",
    "RegionName",
    "ChargeCategory",
    "BillingCurrency",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "Tags",
    "PricingCategory",
    "CommitmentDiscountCategory",
    "CommitmentDiscountType",
    "CommitmentDiscountStatus",
    *SKU_COLUMNS,
)
# The dimensions of a charge, parsed from the text of its columns, once per row.
DIMENSIONS_SQL = """
    TRY_CAST(charge_day_text AS DATE) AS day,
    TRY_CAST(billing_day_text AS DATE) AS billing_start,
    coalesce(ProviderName_text, ServiceProviderName_text, 'Unknown') AS provider,
    BillingAccountId_text AS billing_account_id,
    BillingAccountName_text AS billing_account_name,
    coalesce(SubAccountId_text, BillingAccountId_text) AS account_id,
    coalesce(SubAccountName_text, BillingAccountName_text) AS account_name,
    coalesce(ServiceName_text, 'Unknown') AS service,
    ServiceCategory_text AS service_category,
    coalesce(RegionId_text, RegionName_text) AS region,
    ChargeCategory_text AS charge_category,
    BillingCurrency_text AS currency,
    ResourceId_text AS resource_id,
    ResourceName_text AS resource_name,
    ResourceType_text AS resource_type,
    nullif(trim(Tags_text), '') AS tags,
    FocusVersion_text AS focus_version,
    PricingCategory_text AS pricing_category,
    CommitmentDiscountCategory_text AS commitment_discount_category,
    CommitmentDiscountType_text AS commitment_discount_type,
    CommitmentDiscountStatus_text AS commitment_discount_status,
    -- a charge description can be a sentence: stored cut to 120 characters
    left(coalesce(nullif(trim(x_UsageType_text), ''), nullif(trim(SkuMeter_text), ''),
                  nullif(trim(ChargeDescription_text), ''), nullif(trim(SkuId_text), '')),
         120) AS sku
"""
# Known values of the pricing and commitment columns, by their lower-case text, in the spelling
# of FOCUS 1.0-1.2 (which agree). FOCUS 1.0-preview wrote "On-Demand" and "Commitment-Based"
# for what 1.0 calls "Standard" and "Committed". Other values are kept as exported.
CANONICAL_VALUES = {
    "pricing_category": {
        "standard": "Standard",
        "on-demand": "Standard",
        "dynamic": "Dynamic",
        "committed": "Committed",
        "commitment-based": "Committed",
        "other": "Other",
    },
    "commitment_discount_category": {"spend": "Spend", "usage": "Usage"},
    "commitment_discount_type": {},
    "commitment_discount_status": {"used": "Used", "unused": "Unused"},
}


def canonical_value_sql(column: str) -> str:
    """`column` trimmed, empty as NULL, a known value in its FOCUS spelling. Applied to the
    grouped daily rows, not to every charge: the daily grouping re-sums what it merges."""
    known = " ".join(
        f"WHEN {_sql_string(raw)} THEN {_sql_string(value)}"
        for raw, value in CANONICAL_VALUES[column].items()
    )
    cases = f"CASE lower(trim({column})) {known} ELSE nullif(trim({column}), '') END"
    return cases if known else f"nullif(trim({column}), '')"


def _cost(text: str) -> str:
    # The cast alone skips ASCII white space; `trim` (a copy of every value) is only needed for
    # the Unicode spaces it also strips, so it runs only for values the cast rejects.
    return (
        f"coalesce(TRY_CAST({text} AS DECIMAL(38, 12)), TRY_CAST(trim({text}) AS DECIMAL(38, 12)))"
    )


_NUMERIC_TYPES = ("DECIMAL", "DOUBLE", "FLOAT", "REAL", "BIGINT", "INTEGER", "SMALLINT", "HUGEINT")


def _cost_columns_sql(name: str, columns: dict[str, str]) -> str:
    """`<name>_text` (the value as exported, for checks and error messages) and `<name>`,
    the cost as DECIMAL(38, 12), NULL if it is not a number. A typed Parquet cost (DECIMAL,
    DOUBLE, ...) is cast straight to DECIMAL, without a detour through text."""
    if columns.get(name, "").upper().startswith(_NUMERIC_TYPES):
        raw = _quote(name)
        return f"{raw} AS {name}_text, TRY_CAST({raw} AS DECIMAL(38, 12)) AS {name}"
    text = _column_or_null(name, columns)
    return f"{text} AS {name}_text, {_cost(text)} AS {name}"


def _text_rows_sql(source: FocusSource, columns: dict[str, str]) -> str:
    """One row per charge: the costs parsed (`<cost>_text` keeps their value as exported),
    the date-times' text and their day part, and the text of every dimension column."""
    col = {name: _column_or_null(name, columns) for name in REQUIRED_COLUMNS + OPTIONAL_COLUMNS}
    version_col = next((c for c in VERSION_COLUMNS if c in columns), None)
    version = _column_or_null(version_col, columns) if version_col else "CAST(NULL AS VARCHAR)"
    costs = ", ".join(_cost_columns_sql(c, columns) for c in COST_COLUMNS)
    dimensions = ", ".join(f"{col[c]} AS {c}_text" for c in DIMENSION_COLUMNS)
    return f"""
        SELECT
            {costs},
            {col["ChargePeriodStart"]} AS ChargePeriodStart_text,
            left(trim({col["ChargePeriodStart"]}), 10) AS charge_day_text,
            {col["BillingPeriodStart"]} AS BillingPeriodStart_text,
            left(trim({col["BillingPeriodStart"]}), 10) AS billing_day_text,
            {dimensions},
            {version} AS FocusVersion_text
        FROM {reader_sql(source)}
    """


def typed_rows_sql(source: FocusSource, columns: dict[str, str]) -> str:
    """One row per charge with parsed values; `*_text` keep the raw text for error checks."""
    return f"SELECT *, {DIMENSIONS_SQL} FROM ({_text_rows_sql(source, columns)})"


# Each check: the column users know, a SQL predicate true for a bad row, what is wrong.
ROW_CHECKS = (
    *((c, f"{c} IS NULL AND {c}_text IS NOT NULL", "is not a number") for c in COST_COLUMNS),
    ("EffectiveCost", "EffectiveCost_text IS NULL", "is empty (required)"),
    ("BilledCost", "BilledCost_text IS NULL", "is empty (required)"),
    ("ChargePeriodStart", "day IS NULL", "is not a date-time"),
    ("BillingPeriodStart", "billing_start IS NULL", "is not a date-time"),
    ("BillingAccountId", "billing_account_id IS NULL", "is empty (required)"),
    ("Tags", "tags IS NOT NULL AND NOT coalesce(json_valid(tags), false)", "is not valid JSON"),
    (
        "Tags",
        "tags IS NOT NULL AND coalesce(json_valid(tags), false) AND left(ltrim(tags), 1) <> '{'",
        "is not a JSON object",
    ),
    (
        "FocusVersion",
        "focus_version IS NOT NULL AND focus_version NOT IN "
        + "("
        + ", ".join(_sql_string(v) for v in SUPPORTED_VERSIONS)
        + ")",
        "names an unknown FOCUS version",
    ),
)


# The two aggregates the store needs, computed in one pass over the file (GROUPING SETS):
# per day x dimensions x tag set (the daily rows, and every check that reads dimensions), and
# per month x resource x tag set (the resource-month rows).
DAILY_SET = (
    "day",
    "billing_start",
    "provider",
    "billing_account_id",
    "account_id",
    "service",
    "service_category",
    "region",
    "charge_category",
    "currency",
    "tags",
    "focus_version",
    "pricing_category",
    "commitment_discount_category",
    "commitment_discount_type",
    "commitment_discount_status",
    "sku",
)
RESOURCE_SET = (
    "month",
    "billing_start",
    "provider",
    "billing_account_id",
    "account_id",
    "resource_id",
    "service",
    "region",
    "currency",
    "tags",
)


def tag_sets_sql(source: FocusSource, columns: dict[str, str]) -> str:
    """The file's distinct Tags as exported (`Tags_text`), each with its tag set as parsed
    (`tags`) and a small number for it (`tag_id`, the same for texts that parse the same)."""
    return f"""
        SELECT Tags_text, tags, dense_rank() OVER (ORDER BY tags) AS tag_id
        FROM (
            SELECT Tags_text, nullif(trim(Tags_text), '') AS tags
            FROM (SELECT DISTINCT {_column_or_null("Tags", columns)} AS Tags_text
                  FROM {reader_sql(source)})
        )
    """


def grouped_sql(source: FocusSource, columns: dict[str, str], tag_sets: str | None = None) -> str:
    """Both aggregates of the file in one scan, with each kind of bad row counted.

    A row `is_daily` belongs to the daily set, otherwise to the resource set. Costs are summed
    as DECIMAL(38, 12). Checks of a cost look at every row; the other checks read only the
    daily set's keys, so they count the rows of the failing groups (`check_counts_sql`).

    `tag_sets`: a table of `tag_sets_sql`. Each row's tag set is then looked up there and the
    rows grouped by its number rather than by its text (about a hundred bytes of JSON): the
    aggregation's state is smaller, so it spills less under DuckDB's memory limit (measured
    on 6M resource-level Parquet rows; at 2M rows the gain is within the machine's noise).
    """
    per_row = [i for i, (column, _, _) in enumerate(ROW_CHECKS) if column in COST_COLUMNS]
    row_checks = ", ".join(f"count_if({ROW_CHECKS[i][1]}) AS bad_{i}" for i in per_row)
    tag_key = "tag_id" if tag_sets else "tags"
    daily_set = tuple(tag_key if k == "tags" else k for k in DAILY_SET)
    resource_set = tuple(tag_key if k == "tags" else k for k in RESOURCE_SET)
    daily, resources = ", ".join(daily_set), ", ".join(resource_set)
    rows = f"SELECT *, date_trunc('month', day) AS month FROM ({typed_rows_sql(source, columns)})"
    if tag_sets:
        rows = (
            f"SELECT r.* EXCLUDE (tags), t.tag_id FROM ({rows}) r"
            f" JOIN {tag_sets} t ON r.Tags_text IS NOT DISTINCT FROM t.Tags_text"
        )
    grouped = f"""
        SELECT
            GROUPING(resource_id) = 1 AS is_daily,
            {", ".join(dict.fromkeys(daily_set + resource_set))},
            any_value(billing_account_name) AS billing_account_name,
            any_value(account_name) AS account_name,
            any_value(resource_name) AS resource_name,
            any_value(resource_type) AS resource_type,
            sum(EffectiveCost) AS effective, sum(BilledCost) AS billed,
            sum(coalesce(ListCost, EffectiveCost)) AS list,
            count(*) AS charge_rows,
            {row_checks}
        FROM ({rows})
        GROUP BY GROUPING SETS (({daily}), ({resources}))
    """
    if not tag_sets:
        return grouped
    return f"""
        SELECT g.* EXCLUDE (tag_id), t.tags
        FROM ({grouped}) g
        LEFT JOIN (SELECT DISTINCT tag_id, tags FROM {tag_sets}) t ON g.tag_id = t.tag_id
    """


def check_counts_sql(table: str) -> str:
    """Rows failing each check (`bad_<index of ROW_CHECKS>`), from the table of
    `grouped_sql`."""
    counts = ", ".join(
        f"sum(bad_{i})"
        if column in COST_COLUMNS
        else f"sum(CASE WHEN {predicate} THEN charge_rows ELSE 0 END)"
        for i, (column, predicate, _) in enumerate(ROW_CHECKS)
    )
    return f"SELECT {counts} FROM {table} WHERE is_daily"


def locate_bad_row(
    con: duckdb.DuckDBPyConnection, source: FocusSource, columns: dict[str, str], check_index: int
) -> str:
    """Error path only: find the first row failing a check and describe it in one line."""
    column, predicate, problem = ROW_CHECKS[check_index]
    # One thread keeps the scan in file order, so row_number() is the row's position.
    con.execute("SET threads = 1")
    raw = "tags" if column == "Tags" else f"{column}_text"
    found = con.execute(
        f"""SELECT row_number, value FROM (
                SELECT row_number() OVER () AS row_number, {raw} AS value, *
                FROM ({typed_rows_sql(source, columns)})
            ) WHERE {predicate} ORDER BY row_number LIMIT 1"""
    ).fetchone()
    row, value = found if found else ("?", None)
    shown = "" if value is None else f" ({_short(str(value))!r})"
    return f"{source.display_name}: row {row}, column {column}: value{shown} {problem}"


def _short(value: str, limit: int = 60) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def read_error(source: FocusSource, exc: duckdb.Error) -> FocusError:
    """The FocusError for a file DuckDB could not read, as one line naming the file."""
    return FocusError(f"{source.display_name}: {_read_failure(source, exc)}")


def _read_failure(source: FocusSource, exc: duckdb.Error) -> str:
    """Turn a DuckDB read error into one line a user can act on."""
    message = str(exc).strip().splitlines()[0]
    if source.is_gzip and re.search(r"gzip|GZIP|compress|inflate|truncat", message):
        rows = _rows_before_gzip_end(source.path)
        return f"truncated or corrupt gzip file (stream ends after row {rows})"
    if source.is_parquet:
        return f"not a readable Parquet file ({message})"
    line = re.search(r"[Ll]ine:? (\d+)", message)
    where = f" near line {line.group(1)}" if line else ""
    return f"malformed CSV{where}: {message}"


def _rows_before_gzip_end(path: Path) -> int:
    """Count complete data rows before a gzip stream breaks off (error path only)."""
    rows = 0
    try:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            next(reader, None)
            for rows, _ in enumerate(reader, start=1):  # noqa: B007
                pass
    except (EOFError, OSError, gzip.BadGzipFile, csv.Error):
        pass
    return max(rows - 1, 0)  # the last row read may itself be cut short


# The tag keys (in priority order) each tag dimension other than the team is read from.
ENVIRONMENT_TAG_KEYS = ("environment", "env", "stage")
PRODUCT_TAG_KEYS = ("product", "application", "app")
COST_CENTER_TAG_KEYS = ("cost-center", "costcenter", "business-unit")


def tag_dimensions(tags_json: str | None, tag_keys: tuple[str, ...]) -> dict[str, str | None]:
    """The raw team tag value and the environment / product / cost-center of a tag set.

    Keys match case-insensitively and ignore AWS's `user:` prefix and `-`/`_`/space
    differences, because exports spell the same tag many ways.
    """
    tags = json.loads(tags_json) if tags_json else {}
    normalised: dict[str, str] = {}
    for key, value in tags.items():
        if value is None or str(value).strip() == "":
            continue
        normalised.setdefault(_normalise_key(key), str(value).strip())

    def first(keys: tuple[str, ...]) -> str | None:
        return next((normalised[k] for k in map(_normalise_key, keys) if k in normalised), None)

    return {
        "team": first(tag_keys),
        "environment": first(ENVIRONMENT_TAG_KEYS),
        "product": first(PRODUCT_TAG_KEYS),
        "cost_center": first(COST_CENTER_TAG_KEYS),
    }


def _normalise_key(key: str) -> str:
    return tag_key(key)
