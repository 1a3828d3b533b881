"""A store and a costbot.yml for the weekly digest of 500 teams, built once and cached.

500 teams (`team-000` ... `team-499`), each with its own channel (`#team-000`), a monthly
budget and a time zone, in a generated costbot.yml. Nine weeks of daily cost (Monday 24 August
to Sunday 25 October 2026, so the digest of Monday 19 - Sunday 25 October has its 8 charted
weeks and the week before them): each team runs 6 of 20 services in 3 of 100 accounts, one
resource per service and account (18 per team, 9,000 in all), one FOCUS 1.0 charge row per
resource and day (567,000 rows, all 43 columns), with a weekly rhythm, a slow rise, daily
noise, and a jump from 19 October for 1 resource in 10; 1 resource in 6 lacks its CostCenter
tag (the digest's "untagged" line). The rows are loaded with the real ingest
(`ingest_focus`, so daily_cost, resource_cost and accounts are what an ingest writes), then an
inventory of the EC2 instances (1 in 8 idle: the digest's "idle" line) through the
inventory's writer, and anomaly episodes for 1 team in 4 as the anomalies job records them.

Why the ingest rather than inserting daily_cost rows as bench/store_data.py does: the digest
also reads resource_cost (untagged resources and their cost, the idle run-rate), which only an
ingest writes the way production has it; for 567,000 rows it takes well under a minute, once.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from datetime import date
from pathlib import Path

import duckdb
import yaml
from focus_data import FOCUS_1_0_COLUMNS, REGIONS, SERVICES

# Bump when the generated data changes, so that cached stores are rebuilt.
STORE_VERSION = 1
TEAMS = 500
FIRST_DAY = date(2026, 8, 24)  # a Monday: 9 weeks to LAST_DAY
LAST_DAY = date(2026, 10, 25)  # the Sunday of the week the digests report
JUMP_DAY = date(2026, 10, 19)
DAYS = (LAST_DAY - FIRST_DAY).days + 1
SERVICES_PER_TEAM = 6
ACCOUNTS = 100
ACCOUNTS_PER_TEAM = 3
BILLING_ACCOUNT = ("999900001111", "Example Corp")
TIMEZONES = ("UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo", "America/Los_Angeles")
SEEN_AT = "2026-10-25T06:00:00+00:00"
ENVIRONMENTS = ("prod", "staging", "shared")


def team_name(index: int) -> str:
    return f"team-{index:03d}"


def channel_name(index: int) -> str:
    return team_name(index)  # the channel is #team-000


def _account(index: int) -> tuple[str, str]:
    return f"{500000000000 + index * 1_000_003:012d}", f"acct-{index:02d}-{ENVIRONMENTS[index % 3]}"


def _resources() -> list[tuple]:
    """(r, team index, service index, account index, base micros a day, jumps, tagged fully)."""
    rng = random.Random(11)
    found = []
    for team in range(TEAMS):
        services = sorted({(team + k * 7) % len(SERVICES) for k in range(SERVICES_PER_TEAM)})
        accounts = [(team * 3 + k) % ACCOUNTS for k in range(ACCOUNTS_PER_TEAM)]
        for service in services:
            for account in accounts:
                r = len(found)
                base = rng.randrange(2_000_000, 120_000_000)  # $2 to $120 a day
                found.append((r, team, service, account, base, rng.random() < 0.1, r % 6 != 5))
    return found


def _budgets(resources: list[tuple]) -> dict[int, int]:
    """A monthly budget in whole dollars per team: its base spend over a month, times 0.85 to
    1.3 (some teams burn past theirs)."""
    rng = random.Random(12)
    daily: dict[int, int] = {}
    for _, team, _, _, base, _, _ in resources:
        daily[team] = daily.get(team, 0) + base
    return {
        team: int(micros * 30.4 * rng.uniform(0.85, 1.3) / 1e6) for team, micros in daily.items()
    }


def config_data(resources: list[tuple]) -> dict:
    budgets = _budgets(resources)
    return {
        "currency": "USD",
        "slack": {"admin_channel": "#finops"},
        "teams": [
            {
                "name": team_name(i),
                "channel": f"#{channel_name(i)}",
                "monthly_budget": budgets[i],
                "timezone": TIMEZONES[i % len(TIMEZONES)],
            }
            for i in range(TEAMS)
        ],
    }


def _values(rows: list[tuple]) -> str:
    def literal(value: object) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return "'" + str(value).replace("'", "''") + "'" if isinstance(value, str) else str(value)

    return ", ".join("(" + ", ".join(map(literal, row)) + ")" for row in rows)


def _focus_sql(resources: list[tuple]) -> str:
    services = _values([(i, *s) for i, s in enumerate(SERVICES)])
    accounts = _values([(i, *_account(i)) for i in range(ACCOUNTS)])
    regions = _values([(i, *r) for i, r in enumerate(REGIONS)])
    money = "printf('%d.%06d', {m} // 1000000, {m} % 1000000)"
    columns = {
        "AvailabilityZone": "NULL",
        "BilledCost": money.format(m="micros"),
        "BillingAccountId": f"'{BILLING_ACCOUNT[0]}'",
        "BillingAccountName": f"'{BILLING_ACCOUNT[1]}'",
        "BillingCurrency": "'USD'",
        "BillingPeriodEnd": "strftime(date_trunc('month', day) + INTERVAL 1 MONTH,"
        " '%Y-%m-%dT%H:%M:%SZ')",
        "BillingPeriodStart": "strftime(date_trunc('month', day), '%Y-%m-%dT%H:%M:%SZ')",
        "ChargeCategory": "'Usage'",
        "ChargeClass": "NULL",
        "ChargeDescription": "service || ' ' || unit || ' in ' || region_name",
        "ChargeFrequency": "'Usage-Based'",
        "ChargePeriodEnd": "strftime(day + INTERVAL 1 DAY, '%Y-%m-%dT%H:%M:%SZ')",
        "ChargePeriodStart": "strftime(day, '%Y-%m-%dT%H:%M:%SZ')",
        "CommitmentDiscountCategory": "NULL",
        "CommitmentDiscountId": "NULL",
        "CommitmentDiscountName": "NULL",
        "CommitmentDiscountStatus": "NULL",
        "CommitmentDiscountType": "NULL",
        "ConsumedQuantity": "printf('%d.000000', 1 + hash(r, day, 'q') % 1000)",
        "ConsumedUnit": "unit",
        "ContractedCost": money.format(m="micros"),
        "ContractedUnitPrice": "printf('0.%06d', (s + 1) * 12345)",
        "EffectiveCost": money.format(m="micros"),
        "InvoiceIssuerName": "'Amazon Web Services, Inc.'",
        "ListCost": money.format(m="(micros * 11 // 10)"),
        "ListUnitPrice": "printf('0.%06d', (s + 1) * 12345)",
        "PricingCategory": "'Standard'",
        "PricingQuantity": "printf('%d.000000', 1 + hash(r, day, 'q') % 1000)",
        "PricingUnit": "unit",
        "ProviderName": "'AWS'",
        "PublisherName": "'Amazon Web Services, Inc.'",
        "RegionId": "region",
        "RegionName": "region_name",
        "ResourceId": "resource_id",
        "ResourceName": "team_name || '-' || arn || '-' || r",
        "ResourceType": "rtype",
        "ServiceCategory": "category",
        "ServiceName": "service",
        "SkuId": "upper(arn) || '-' || printf('%04d', s * 10)",
        "SkuPriceId": "upper(arn) || '-' || printf('%04d', s * 10) || '.OD'",
        "SubAccountId": "account_id",
        "SubAccountName": "account_name",
        "Tags": "tags",
    }
    assert tuple(columns) == FOCUS_1_0_COLUMNS
    select = ",\n        ".join(f"{sql} AS {name}" for name, sql in columns.items())
    # Per day: the base, 75% at weekends, +0.4% a day, noise of +-7%, and x1.6 from JUMP_DAY
    # for the resources that jump.
    return f"""
    WITH services(s, service, category, rtype, unit, arn) AS (VALUES {services}),
    accounts(a, account_id, account_name) AS (VALUES {accounts}),
    regions(g, region, region_name) AS (VALUES {regions}),
    resources(r, t, s, a, base, jumps, tagged) AS (VALUES {_values(resources)}),
    labelled AS (
        SELECT resources.*, services.*, accounts.*, regions.*,
               'team-' || lpad(t::VARCHAR, 3, '0') AS team_name,
               CASE WHEN arn = 'ec2'
                    THEN 'arn:aws:ec2:' || region || ':' || account_id || ':instance/i-'
                         || printf('%08x', r)
                    ELSE 'arn:aws:' || arn || ':' || region || ':' || account_id || ':'
                         || lower(rtype) || '/' || arn || '-' || r END AS resource_id
        FROM resources JOIN services USING (s) JOIN accounts USING (a)
             JOIN regions ON g = r % 4
    ),
    days AS (SELECT DATE '{FIRST_DAY}' + d::INTEGER AS day, d FROM range({DAYS}) t(d))
    SELECT
        {select}
    FROM (
        SELECT labelled.*, day,
               '{{"Team": "' || team_name || '", "Product": "prod-' || (t % 40)
                   || '", "Environment": "' || split_part(account_name, '-', 3) || '"'
                   || CASE WHEN tagged THEN ', "CostCenter": "cc-' || (t % 25) || '"' ELSE '' END
                   || '}}' AS tags,
               (base::BIGINT * (CASE WHEN dayofweek(day) IN (0, 6) THEN 75 ELSE 100 END)
                     * (1000 + 4 * d) * (93 + (hash(r, day) % 15)::BIGINT)
                     * (CASE WHEN jumps AND day >= DATE '{JUMP_DAY}' THEN 16 ELSE 10 END)
                     // 100000000)::BIGINT AS micros
        FROM labelled, days
    )
    ORDER BY day, r
    """


def _inventory(resources: list[tuple]) -> list[dict]:
    """The EC2 instances as the inventory reads them (running; 1 in 8 idle)."""
    ec2 = next(i for i, s in enumerate(SERVICES) if s[4] == "ec2")
    found = []
    for r, team, service, account, _, _, tagged in resources:
        if service != ec2:
            continue
        account_id = _account(account)[0]
        region = REGIONS[r % 4][0]
        tags = {"Team": team_name(team), "Product": f"prod-{team % 40}"}
        tags["Environment"] = ENVIRONMENTS[account % 3]
        if tagged:
            tags["CostCenter"] = f"cc-{team % 25}"
        found.append(
            {
                "arn": f"arn:aws:ec2:{region}:{account_id}:instance/i-{r:08x}",
                "resource_id": f"i-{r:08x}",
                "resource_type": "ec2:instance",
                "account_id": account_id,
                "region": region,
                "name": f"{team_name(team)}-ec2-{r}",
                "state": "running",
                "launched_at": "2026-01-01T00:00:00+00:00",
                "tags": tags,
                "team": team_name(team),
                "size": "m6i.large",
                "idle": 1 if r % 8 == 0 else 0,
                "read_by": "ec2",
            }
        )
    return found


def _episodes(resources: list[tuple]) -> list[dict]:
    """1 team in 4: a spike opened during the week; 1 in 7: one resolved during it."""
    first_service: dict[int, tuple[int, int]] = {}
    for _, team, service, account, _, _, _ in resources:
        first_service.setdefault(team, (service, account))
    found = []
    for team, (service, account) in first_service.items():
        name, account_id = SERVICES[service][0], _account(account)[0]
        series = json.dumps([team_name(team), name, account_id, "USD"])
        common = {"series": series, "team": team_name(team), "service": name}
        common |= {"account_id": account_id, "currency": "USD", "alerts": 1}
        if team % 4 == 0:
            found.append(
                common
                | {"kind": "spike", "status": "open", "start": "2026-10-21"}
                | {"last_day": "2026-10-24", "detected_on": "2026-10-22"}
                | {"expected_micros": 40_000_000, "actual_micros": 95_000_000}
            )
        if team % 7 == 0:
            found.append(
                common
                | {"kind": "shift", "status": "closed", "start": "2026-10-14"}
                | {"last_day": "2026-10-20", "detected_on": "2026-10-15"}
                | {"expected_micros": 30_000_000, "actual_micros": 52_000_000}
            )
    return found


def digest_store(directory: Path) -> tuple[Path, Path]:
    """(costbot.yml, store) for the 500 teams, built once under `directory`."""
    folder = directory / f"digest-store-v{STORE_VERSION}"
    config_path, store_path = folder / "costbot.yml", folder / "costbot.db"
    if config_path.exists() and store_path.exists():
        return config_path, store_path
    from bot.config import load_config
    from bot.sources.focus_ingest import ingest_focus
    from bot.store import open_store, writers
    from bot.store.writers import InventorySnapshot, write_inventory_snapshot

    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    resources = _resources()
    (partial / "costbot.yml").write_text(yaml.safe_dump(config_data(resources), sort_keys=False))
    focus = partial / "focus.parquet"
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    try:
        con.execute(f"COPY ({_focus_sql(resources)}) TO '{focus}' (FORMAT parquet)")
    finally:
        con.close()
    config = load_config(partial / "costbot.yml")
    ingest_focus([str(focus)], config, partial / "costbot.db", show_progress=False)
    focus.unlink()
    db = open_store(partial / "costbot.db")
    try:
        by_place: dict[tuple[str, str], list[dict]] = {}
        for resource in _inventory(resources):
            by_place.setdefault((resource["account_id"], resource["region"]), []).append(resource)
        for (account, region), found in by_place.items():
            write_inventory_snapshot(
                db, InventorySnapshot(account, region, SEEN_AT, {"ec2"}, found)
            )
        for episode in _episodes(resources):
            writers.open_episode(db, **episode)
    finally:
        db.close()
    os.replace(partial, folder)
    return config_path, store_path
