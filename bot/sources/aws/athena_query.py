"""The one aggregation query of `costbot sync athena`, for a CUR 2.0 or a FOCUS table.

Every value put into the SQL is checked or quoted here: database and table names must be Glue
names (then double-quoted), tag keys are reduced to letters and digits (then single-quoted),
months and days are dates. Column names come from the table's own catalog entry and from
this module's constants only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from bot.config import AthenaSettings, ConfigError
from bot.sources.aws.plan import SyncPlan
from bot.sources.focus import (
    COST_CENTER_TAG_KEYS,
    ENVIRONMENT_TAG_KEYS,
    PRODUCT_TAG_KEYS,
    SKU_COLUMNS,
)
from bot.store.schema import COMMITMENT_DIMENSIONS

COST_TYPE = "DECIMAL(38, 12)"

# Columns without which a table is not of the format (Glue stores names lower case).
CUR2_REQUIRED = (
    "line_item_usage_start_date",
    "line_item_line_item_type",
    "line_item_unblended_cost",
    "bill_payer_account_id",
)
FOCUS_REQUIRED = (
    "chargeperiodstart",
    "billingaccountid",
    "effectivecost",
    "billedcost",
    "chargecategory",
    "servicename",
)
# CUR 2.0 columns the amortized cost reads; a table exported without them is summed at its
# unblended cost instead (and the sync says so).
CUR2_COMMITMENT_COLUMNS = (
    "savings_plan_savings_plan_effective_cost",
    "savings_plan_total_commitment_to_date",
    "savings_plan_used_commitment",
    "reservation_effective_cost",
    "reservation_unused_amortized_upfront_fee_for_billing_period",
    "reservation_unused_recurring_fee",
    "reservation_reservation_a_r_n",
)
# CUR line item types as FOCUS charge categories (the store's `charge_category`, so that an
# Athena row reads like a FOCUS row); every other type (usage, covered usage, negations) is
# Usage.
CUR2_CHARGE_CATEGORIES = {
    "Tax": "Tax",
    "Credit": "Credit",
    "Refund": "Credit",
    "BundledDiscount": "Credit",
    "Discount": "Credit",
    "EdpDiscount": "Credit",
    "PrivateRateDiscount": "Credit",
    "DistributorDiscount": "Credit",
    "SppDiscount": "Credit",
    "Fee": "Purchase",
    "RIFee": "Purchase",
    "SavingsPlanRecurringFee": "Purchase",
    "SavingsPlanUpfrontFee": "Purchase",
}
# The partition AWS Data Exports writes (BILLING_PERIOD=YYYY-MM/) and crawlers catalog.
BILLING_PERIOD_PARTITION = "billing_period"
_NUMERIC_TYPES = ("double", "float", "real", "decimal", "bigint", "int", "smallint", "tinyint")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,254}$")


@dataclass(frozen=True)
class TableShape:
    """The table as the Glue Data Catalog describes it: column name -> type (lower case),
    partition keys included."""

    columns: dict[str, str]
    partitions: tuple[str, ...]

    def has(self, column: str) -> bool:
        return column in self.columns

    def is_text(self, column: str) -> bool:
        return self.columns.get(column, "").startswith(("string", "varchar", "char"))

    def is_map(self, column: str) -> bool:
        return self.columns.get(column, "").startswith("map")

    def is_numeric(self, column: str) -> bool:
        return self.columns.get(column, "").startswith(_NUMERIC_TYPES)


# --- the query ----------------------------------------------------------------------------


def quote_name(name: str) -> str:
    """A Glue database or table name as a quoted SQL identifier; anything else is refused."""
    if not _NAME.match(name):
        raise ConfigError(f"aws.athena: {name!r} is not a Glue database or table name")
    return f'"{name}"'


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def normalise_tag_key(key: str) -> str:
    """A tag key as the query compares it: lower case, without the `resourceTags/`, `user:`
    or `user_` prefix, letters and digits only (`user:Cost-Center` -> `costcenter`). The SQL
    twin is `_NORMALISED_TAGS_SQL`."""
    key = re.sub(r"^(resourcetags/)?(user[_:])?", "", key.strip().lower())
    return re.sub(r"[^a-z0-9]", "", key)


# Each line item's tags, keyed by the normalised key (`normalise_tag_key`'s SQL twin), every
# value a key's spellings carry kept: one map per line, looked up once per tag dimension.
TAGS_COLUMN = "costbot_tags"
_NORMALISED_TAGS_SQL = (
    "multimap_from_entries(zip_with(map_keys({tags}), map_values({tags}), (k, v) -> ROW("
    "regexp_replace(regexp_replace(lower(trim(k)), '^(resourcetags/)?(user[_:])?', ''),"
    " '[^a-z0-9]', ''), nullif(trim(v), ''))))"
)


def _tag_value_sql(keys: tuple[str, ...]) -> str:
    """The value of the first of `keys` (priority order) that the line carries with a
    non-blank value. Two spellings of one key on the same line (`Team` and `team`): the
    smallest value, so that the answer does not depend on the map's order."""
    wanted = [k for k in dict.fromkeys(normalise_tag_key(k) for k in keys) if k]
    picks = [
        f"array_min(filter(element_at({TAGS_COLUMN}, {sql_string(key)}), v -> v IS NOT NULL))"
        for key in wanted
    ]
    if not picks:
        return "CAST(NULL AS VARCHAR)"
    return picks[0] if len(picks) == 1 else f"coalesce({', '.join(picks)})"


class _Columns:
    """SQL for the table's columns by type: costs as exact decimals, days, months, text."""

    def __init__(self, shape: TableShape) -> None:
        self.shape = shape

    def text(self, name: str, default: str = "CAST(NULL AS VARCHAR)") -> str:
        if not self.shape.has(name):
            return default
        return f"nullif(trim(CAST({name} AS VARCHAR)), '')"

    def cost(self, name: str) -> str:
        if not self.shape.has(name):
            return f"CAST(0 AS {COST_TYPE})"
        if self.shape.is_numeric(name):
            return f"CAST({name} AS {COST_TYPE})"
        return f"TRY_CAST(nullif(trim({name}), '') AS {COST_TYPE})"

    def day(self, name: str) -> str:
        if self.shape.is_text(name):
            return f"CAST(substr(trim({name}), 1, 10) AS DATE)"
        return f"CAST({name} AS DATE)"

    def month(self, name: str) -> str:
        if self.shape.is_text(name):
            return f"substr(trim({name}), 1, 7)"
        return f"date_format({name}, '%Y-%m')"

    def in_days(self, name: str, start: date, end: date) -> str:
        """The days start..end: typed timestamps are compared as they are (Parquet row-group
        statistics can then skip data), text through its day."""
        if self.shape.is_text(name):
            return f"{self.day(name)} BETWEEN DATE '{start}' AND DATE '{end}'"
        after = end + timedelta(days=1)
        return f"{name} >= TIMESTAMP '{start} 00:00:00' AND {name} < TIMESTAMP '{after} 00:00:00'"

    def tags(self, *names: str) -> str:
        """The line's tags, normalised (see TAGS_COLUMN), from the first of `names` that is
        a tag map (JSON text is parsed into one)."""
        for name in names:
            if self.shape.is_map(name):
                return _NORMALISED_TAGS_SQL.format(tags=name)
            if self.shape.is_text(name):
                parsed = f"TRY_CAST(json_parse(nullif(trim({name}), '')) AS MAP(VARCHAR, VARCHAR))"
                return _NORMALISED_TAGS_SQL.format(tags=parsed)
        return "CAST(NULL AS MAP(VARCHAR, ARRAY(VARCHAR)))"


def _tag_columns(tag_keys: tuple[str, ...]) -> dict[str, str]:
    return {
        "team": _tag_value_sql(tag_keys),
        "environment": _tag_value_sql(ENVIRONMENT_TAG_KEYS),
        "product": _tag_value_sql(PRODUCT_TAG_KEYS),
        "cost_center": _tag_value_sql(COST_CENTER_TAG_KEYS),
    }


Select = tuple[dict[str, str], dict[str, str], dict[str, str]]


# The FOCUS file ingest's SKU_COLUMNS as Athena names them (lower case): AWS's usage type,
# FOCUS 1.1's SkuMeter, the charge description, the SkuId; the first a charge has is its sku.
FOCUS_SKU_COLUMNS = tuple(name.lower() for name in SKU_COLUMNS)
# As the file ingest stores it: a charge description can be a sentence.
SKU_MAX_CHARS = 120


def _sku_sql(c: _Columns, columns: tuple[str, ...]) -> str:
    """The first of `columns` (those the table has) with a value, cut to SKU_MAX_CHARS."""
    present = [c.text(name) for name in columns if c.shape.has(name)]
    if not present:
        return "CAST(NULL AS VARCHAR)"
    first = present[0] if len(present) == 1 else f"coalesce({', '.join(present)})"
    return f"substr({first}, 1, {SKU_MAX_CHARS})"


def _cur2_select(c: _Columns, tag_keys: tuple[str, ...]) -> Select:
    """The dimensions, the account names and the sums of a CUR 2.0 table."""
    line_type = "line_item_line_item_type"
    categories = " ".join(
        f"WHEN {sql_string(t)} THEN {sql_string(cat)}" for t, cat in CUR2_CHARGE_CATEGORIES.items()
    )
    service = "element_at(product, 'product_name')" if c.shape.is_map("product") else "NULL"
    dimensions = {
        "usage_date": c.day("line_item_usage_start_date"),
        "provider": "'AWS'",
        "billing_account_id": c.text("bill_payer_account_id"),
        "account_id": c.text("line_item_usage_account_id", default=c.text("bill_payer_account_id")),
        **_tag_columns(tag_keys),
        "service": f"coalesce(nullif(trim({service}), ''),"
        f" {c.text('line_item_product_code', default='NULL')}, 'Unknown')",
        "service_category": "CAST(NULL AS VARCHAR)",
        "region": c.text("product_region_code"),
        "charge_category": f"CASE {line_type} {categories} ELSE 'Usage' END",
        "currency": c.text("line_item_currency_code", default="'USD'"),
        "billing_period": (
            c.month("bill_billing_period_start_date")
            if c.shape.has("bill_billing_period_start_date")
            else c.month("line_item_usage_start_date")
        ),
        # CUR 2.0 has no FOCUS pricing / commitment columns: the commitment summary reads
        # these rows as "says nothing about commitments" (Cost Explorer's figures, if synced).
        **{column: "CAST(NULL AS VARCHAR)" for column in COMMITMENT_DIMENSIONS},
        # What was used ("USE1-BoxUsage:m5.large"): the root cause of an anomaly names it.
        "sku": _sku_sql(c, ("line_item_usage_type",)),
    }
    unblended = c.cost("line_item_unblended_cost")
    ri_arn = c.text("reservation_reservation_a_r_n", default="NULL")
    ri_unused = c.cost("reservation_unused_amortized_upfront_fee_for_billing_period")
    amortized = f"""CASE {line_type}
            WHEN 'SavingsPlanCoveredUsage' THEN {c.cost("savings_plan_savings_plan_effective_cost")}
            WHEN 'SavingsPlanRecurringFee' THEN {c.cost("savings_plan_total_commitment_to_date")}
                - {c.cost("savings_plan_used_commitment")}
            WHEN 'SavingsPlanNegation' THEN 0
            WHEN 'SavingsPlanUpfrontFee' THEN 0
            WHEN 'DiscountedUsage' THEN {c.cost("reservation_effective_cost")}
            WHEN 'RIFee' THEN {ri_unused} + {c.cost("reservation_unused_recurring_fee")}
            ELSE CASE WHEN {line_type} = 'Fee' AND {ri_arn} IS NOT NULL THEN 0
                      ELSE {unblended} END
        END"""
    public = (
        f"coalesce({c.cost('pricing_public_on_demand_cost')}, {amortized})"
        if c.shape.has("pricing_public_on_demand_cost")
        else amortized
    )
    if not all(c.shape.has(column) for column in CUR2_COMMITMENT_COLUMNS):
        # Without them covered usage has no effective cost: the unblended view (usage on
        # demand, negations cancelling covered usage, the fees as billed) is the honest sum.
        amortized = public = unblended
    sums = {"effective_cost": amortized, "billed_cost": unblended, "list_cost": public}
    names = {
        "billing_account_name": c.text("bill_payer_account_name"),
        "account_name": c.text("line_item_usage_account_name"),
    }
    return dimensions, names, sums


def _focus_select(c: _Columns, tag_keys: tuple[str, ...]) -> Select:
    """The dimensions, the account names and the sums of a FOCUS table, read as the FOCUS
    file ingest reads the same columns."""
    effective = c.cost("effectivecost")
    dimensions = {
        "usage_date": c.day("chargeperiodstart"),
        "provider": f"coalesce({c.text('providername')}, {c.text('serviceprovidername')}, 'AWS')",
        "billing_account_id": c.text("billingaccountid"),
        "account_id": f"coalesce({c.text('subaccountid')}, {c.text('billingaccountid')})",
        **_tag_columns(tag_keys),
        "service": f"coalesce({c.text('servicename')}, 'Unknown')",
        "service_category": c.text("servicecategory"),
        "region": f"coalesce({c.text('regionid')}, {c.text('regionname')})",
        "charge_category": c.text("chargecategory"),
        "currency": c.text("billingcurrency", default="'USD'"),
        "billing_period": (
            c.month("billingperiodstart")
            if c.shape.has("billingperiodstart")
            else c.month("chargeperiodstart")
        ),
        # Kept as FOCUS files keep them (spellings made canonical when the rows are stored).
        "pricing_category": c.text("pricingcategory"),
        "commitment_discount_category": c.text("commitmentdiscountcategory"),
        "commitment_discount_type": c.text("commitmentdiscounttype"),
        "commitment_discount_status": c.text("commitmentdiscountstatus"),
        "sku": _sku_sql(c, FOCUS_SKU_COLUMNS),
    }
    listed = effective
    if c.shape.has("listcost"):
        listed = f"coalesce({c.cost('listcost')}, {effective})"
    sums = {"effective_cost": effective, "billed_cost": c.cost("billedcost"), "list_cost": listed}
    names = {
        "billing_account_name": c.text("billingaccountname"),
        "account_name": c.text("subaccountname"),
    }
    return dimensions, names, sums


# The result's columns, in the order the query returns them.
DIMENSION_COLUMNS = (
    "usage_date",
    "provider",
    "billing_account_id",
    "account_id",
    "team",
    "environment",
    "product",
    "cost_center",
    "service",
    "service_category",
    "region",
    "charge_category",
    "currency",
    "billing_period",
    *COMMITMENT_DIMENSIONS,
    "sku",
)


def build_query(
    shape: TableShape, table_format: str, settings: AthenaSettings, plan: SyncPlan, tag_keys
) -> str:
    """The one aggregation query of a sync: daily rows of the plan's days."""
    c = _Columns(shape)
    select = _cur2_select if table_format == "cur2" else _focus_select
    dimensions, names, sums = select(c, tuple(tag_keys))
    date_column = "line_item_usage_start_date" if table_format == "cur2" else "chargeperiodstart"
    tag_sources = ("resource_tags", "tags") if table_format == "cur2" else ("tags",)
    where = []
    if BILLING_PERIOD_PARTITION in shape.partitions:
        months = ", ".join(sql_string(m) for m in plan.months())
        where.append(f"{BILLING_PERIOD_PARTITION} IN ({months})")
    where.append(c.in_days(date_column, plan.start, plan.end))
    select_list = ",\n    ".join(
        [f"{dimensions[name]} AS {name}" for name in DIMENSION_COLUMNS]
        + [f"max({expression}) AS {name}" for name, expression in names.items()]
        + [f"sum({expression}) AS {name}" for name, expression in sums.items()]
        + ["count(*) AS line_items"]
    )
    group_by = ", ".join(str(i) for i in range(1, len(DIMENSION_COLUMNS) + 1))
    table = f"{quote_name(settings.database)}.{quote_name(settings.table)}"
    return (
        "WITH tagged_lines AS (\n"
        f"  SELECT *, {c.tags(*tag_sources)} AS {TAGS_COLUMN}\n"
        f"  FROM {table}\n"
        f"  WHERE {' AND '.join(where)}\n"
        ")\n"
        f"SELECT\n    {select_list}\nFROM tagged_lines\nGROUP BY {group_by}"
    )
