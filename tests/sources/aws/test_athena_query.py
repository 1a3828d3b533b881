"""The Athena aggregation query as text: what it reads for each format and column type, and
that nothing from the config reaches it unchecked. (What it returns is tested through moto
in test_athena.py.)"""

from __future__ import annotations

from datetime import date

import pytest
import sqlglot
from athena_tables import CUR2_COLUMNS, FOCUS_COLUMNS

from bot.config import AthenaSettings, ConfigError, parse_config
from bot.sources.aws.athena import athena_cost_micros, format_bytes
from bot.sources.aws.athena_query import (
    DIMENSION_COLUMNS,
    TableShape,
    build_query,
    normalise_tag_key,
    quote_name,
)
from bot.sources.aws.plan import SyncPlan

SETTINGS = AthenaSettings(database="cur", table="cur2", output="s3://results/")
PLAN = SyncPlan(date(2026, 10, 1), date(2026, 11, 19), ())
CUR2_MINIMAL = {
    "line_item_usage_start_date": "timestamp",
    "line_item_line_item_type": "string",
    "line_item_unblended_cost": "double",
    "bill_payer_account_id": "string",
    "resource_tags": "map<string,string>",
}
# A FOCUS table over CSV files: every column text, tags as JSON, no partition.
FOCUS_CSV = {
    name: "string"
    for name in (
        "chargeperiodstart",
        "billingperiodstart",
        "billingaccountid",
        "effectivecost",
        "billedcost",
        "chargecategory",
        "servicename",
        "tags",
    )
}


@pytest.mark.parametrize(
    ("key", "normalised"),
    [
        ("Team", "team"),
        ("user:Team", "team"),
        ("user_team", "team"),  # CUR 2.0's spelling of user:Team
        ("resourceTags/user:Team", "team"),  # CUR 2.0's `tags` column
        ("Cost Center", "costcenter"),
        ("user_cost_center", "costcenter"),
        ("cost-center", "costcenter"),
        ("team'; DROP TABLE x; --", "teamdroptablex"),
    ],
)
def test_tag_keys_are_compared_as_letters_and_digits(key, normalised):
    assert normalise_tag_key(key) == normalised


def test_tag_keys_from_the_config_reach_the_query_only_normalised():
    shape = TableShape(CUR2_MINIMAL, ("billing_period",))
    query = build_query(shape, "cur2", SETTINGS, PLAN, ("Owner's Team", "Team"))
    assert "element_at(costbot_tags, 'ownersteam')" in query
    assert "Owner's" not in query
    # Priority order: the first key that the line carries wins.
    assert query.index("'ownersteam'") < query.index("'team')")


def test_names_that_are_not_glue_names_are_refused():
    with pytest.raises(ConfigError):
        quote_name('cur"; DROP TABLE x; --')
    with pytest.raises(ConfigError, match=r"aws\.athena\.table"):
        parse_config(
            {"aws": {"athena": {"database": "cur", "table": "a b", "output": "s3://results/"}}}
        )
    assert quote_name("cur-2") == '"cur-2"'


def test_a_cur2_table_without_commitment_columns_is_summed_at_its_unblended_cost():
    query = build_query(TableShape(CUR2_MINIMAL, ()), "cur2", SETTINGS, PLAN, ("Team",))
    unblended = "sum(CAST(line_item_unblended_cost AS DECIMAL(38, 12)))"
    assert f"{unblended} AS effective_cost" in query
    assert "DiscountedUsage" not in query
    assert "billing_period IN" not in query  # no partition to prune by
    assert "date_format(line_item_usage_start_date, '%Y-%m') AS billing_period" in query
    assert "'Unknown') AS service" in query


def test_a_focus_table_of_text_columns_is_parsed_in_the_query():
    query = build_query(TableShape(FOCUS_CSV, ()), "focus", SETTINGS, PLAN, ("Team",))
    assert "TRY_CAST(nullif(trim(effectivecost), '') AS DECIMAL(38, 12))" in query
    assert (
        "CAST(substr(trim(chargeperiodstart), 1, 10) AS DATE)"
        " BETWEEN DATE '2026-10-01' AND DATE '2026-11-19'" in query
    )
    assert "json_parse(nullif(trim(tags), ''))" in query
    assert "substr(trim(billingperiodstart), 1, 7) AS billing_period" in query


def test_what_a_query_costs():
    mb, tb = 1 << 20, 1 << 40
    assert athena_cost_micros(0) == athena_cost_micros(10 * mb) == 48  # the 10 MB minimum
    assert athena_cost_micros(tb) == 5_000_000
    assert athena_cost_micros(tb + 1) == 5_000_005  # rounded up to the next MB
    assert format_bytes(int(1.2 * (1 << 30))) == "1.2 GB"
    assert format_bytes(0) == "0 B"
    assert format_bytes(3 * tb) == "3.0 TB"


@pytest.mark.parametrize(
    ("columns", "table_format", "partitions"),
    [
        ({**CUR2_COLUMNS, "billing_period": "string"}, "cur2", ("billing_period",)),
        (CUR2_MINIMAL, "cur2", ()),
        ({**FOCUS_COLUMNS, "billing_period": "string"}, "focus", ("billing_period",)),
        (FOCUS_CSV, "focus", ()),
    ],
    ids=["cur2", "cur2-minimal", "focus", "focus-csv"],
)
def test_every_query_parses_as_trino_sql(columns, table_format, partitions):
    """Athena's engine is Trino; no Athena runs offline, so the query is at least parsed by a
    Trino-dialect parser: one SELECT, its lambdas, its GROUP BY of every dimension."""
    query = build_query(
        TableShape(columns, partitions), table_format, SETTINGS, PLAN, ("Team", "owner")
    )
    tree = sqlglot.parse_one(query, read="trino")
    assert isinstance(tree, sqlglot.exp.Select)
    assert len(tree.args["group"].expressions) == len(DIMENSION_COLUMNS)
    assert len(list(tree.find_all(sqlglot.exp.Lambda))) >= 2
    # The sums read only decimals: no cost is summed as a float.
    for total in tree.find_all(sqlglot.exp.Sum):
        assert "DECIMAL(38, 12)" in total.sql(dialect="trino")
