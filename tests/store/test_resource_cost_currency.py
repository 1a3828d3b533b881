"""resource_cost keeps each row's billing currency (FOCUS BillingCurrency, migration m017);
rows loaded before it have none and count as the config currency."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import currency_store as cs
import sqlite_utils

from bot.analytics.tag_compliance import compliance
from bot.config import parse_config
from bot.store import migrate_store, open_store
from bot.store.schema import RESOURCE_COLUMNS, migrations


def test_the_ingest_stores_each_resource_rows_billing_currency(tmp_path: Path) -> None:
    db = open_store(cs.build_store(tmp_path))
    try:
        found = dict(
            db.execute(
                "SELECT resource_id, group_concat(DISTINCT currency) FROM resource_cost"
                " GROUP BY resource_id"
            ).fetchall()
        )
    finally:
        db.close()
    assert "currency" in RESOURCE_COLUMNS
    assert found == {
        cs.arn_of("i-us-full"): "USD",
        "i-us-partial": "USD",
        "i-us-bare": "USD",
        "i-eu-partial": "EUR",
        cs.arn_of("i-eu-full"): "EUR",
        "nat-eu": "EUR",
    }


def test_m017_adds_the_column_and_older_rows_count_as_the_config_currency(tmp_path: Path) -> None:
    db_path = tmp_path / "old.db"
    old = sqlite_utils.Database(db_path)
    migrations.apply(old, stop_before="m017_resource_cost_currency")  # an older Costbot
    assert "currency" not in old["resource_cost"].columns_dict
    old["resource_cost"].insert(
        {"month": "2026-11", "account_id": "222222222222", "resource_id": "i-old",
         "tags": "", "effective_micros": 12_340_000, "billed_micros": 0, "list_micros": 0}
    )  # fmt: skip
    old.close()

    assert migrate_store(db_path) == ["m017_resource_cost_currency"]
    db = open_store(db_path)
    try:
        assert db.execute("SELECT currency FROM resource_cost").fetchall() == [(None,)]
        for currency in ("USD", "EUR"):
            cfg = parse_config({"currency": currency})
            organisation = compliance(db, cfg, date(2026, 11, 20)).organisation
            # No currency: taken as the config currency, as every figure took it before.
            assert organisation.cost_micros == 12_340_000
            assert organisation.other_costs == ()
    finally:
        db.close()
