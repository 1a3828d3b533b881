"""The demo organisation: deterministic, valid FOCUS 1.0, and shaped like a real cloud bill.

Expectations are computed from the generated data (or from what the generator declares, such
as its anomalies), never from hard-coded totals, so tuning the organisation does not break them.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from statistics import mean, median

import pytest
import yaml

from bot.config import Config, parse_config
from bot.sources.demo_data import CONFIG_TEMPLATE, DemoFiles, demo_anomalies, generate_demo_files

END_DATE = date(2026, 11, 26)
START_DATE = date(2025, 11, 1)
FOCUS_1_0_COLUMNS = [
    "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
    "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription",
    "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart", "CommitmentDiscountCategory",
    "CommitmentDiscountId", "CommitmentDiscountName", "CommitmentDiscountStatus",
    "CommitmentDiscountType", "ConsumedQuantity", "ConsumedUnit", "ContractedCost",
    "ContractedUnitPrice", "EffectiveCost", "InvoiceIssuerName", "ListCost", "ListUnitPrice",
    "PricingCategory", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName",
    "RegionId", "RegionName", "ResourceId", "ResourceName", "ResourceType", "ServiceCategory",
    "ServiceName", "SkuId", "SkuPriceId", "SubAccountId", "SubAccountName", "Tags",
]  # fmt: skip
COST_COLUMNS = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T00:00:00Z$")
DECIMAL = re.compile(r"^-?\d+(\.\d{1,10})?$")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoFiles:
    return generate_demo_files(tmp_path_factory.mktemp("demo"), END_DATE, seed=7)


@pytest.fixture(scope="module")
def rows(demo: DemoFiles) -> list[dict[str, str]]:
    result = []
    for path in demo.focus_files:
        with path.open(newline="", encoding="utf-8") as handle:
            result.extend(csv.DictReader(handle))
    return result


@pytest.fixture(scope="module")
def config(demo: DemoFiles) -> Config:
    return parse_config(yaml.safe_load(demo.config_file.read_text(encoding="utf-8")))


def team_of(row: dict[str, str], config: Config) -> str | None:
    """The team a row's tags name, the way Costbot attributes it: configured keys in priority
    order, keys and values case-insensitive, aliases mapped."""
    tags = {key.lower(): value for key, value in json.loads(row["Tags"] or "{}").items()}
    for key in config.tag_keys:
        if key.lower() in tags:
            return config.canonical_team(tags[key.lower()])
    return None


def day_of(row: dict[str, str]) -> date:
    return date.fromisoformat(row["ChargePeriodStart"][:10])


def daily_cost(rows: list[dict[str, str]], config: Config, team: str, service: str) -> dict:
    totals: dict[date, Decimal] = defaultdict(Decimal)
    for row in rows:
        if row["ServiceName"] == service and team_of(row, config) == team:
            totals[day_of(row)] += Decimal(row["EffectiveCost"])
    return totals


def monthly_effective(rows: list[dict[str, str]]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        totals[row["BillingPeriodStart"][:7]] += Decimal(row["EffectiveCost"])
    return totals


def test_same_seed_gives_byte_identical_files(demo: DemoFiles, tmp_path: Path) -> None:
    again = generate_demo_files(tmp_path, END_DATE, seed=7)
    assert [p.name for p in again.focus_files] == [p.name for p in demo.focus_files]
    for first, second in zip(
        [*demo.focus_files, demo.metrics_file, demo.config_file],
        [*again.focus_files, again.metrics_file, again.config_file],
        strict=True,
    ):
        assert first.read_bytes() == second.read_bytes(), first.name


def test_another_seed_gives_other_data(demo: DemoFiles, tmp_path: Path) -> None:
    other = generate_demo_files(tmp_path, END_DATE, seed=8)
    assert demo.focus_files[0].read_bytes() != other.focus_files[0].read_bytes()
    assert demo.metrics_file.read_bytes() != other.metrics_file.read_bytes()


def test_thirteen_months_one_file_per_provider_ending_at_end_date(
    demo: DemoFiles, rows: list[dict[str, str]]
) -> None:
    months = sorted({path.stem.split("-", 1)[1] for path in demo.focus_files})
    assert len(months) == 13
    assert (months[0], months[-1]) == ("2025-11", "2026-11")
    assert {path.stem.split("-", 1)[0] for path in demo.focus_files} == {"aws", "azure", "gcp"}
    assert len(demo.focus_files) == 13 * 3
    days = {day_of(row) for row in rows}
    assert min(days) == START_DATE and max(days) == END_DATE
    assert len(days) == (END_DATE - START_DATE).days + 1  # no day missing
    assert 30_000 <= len(rows) <= 60_000


def test_the_focus_folder_holds_only_focus_files(demo: DemoFiles) -> None:
    """So that `costbot ingest focus <folder>` loads it as it is: metrics and config live
    beside the folder, not in it."""
    focus_dir = demo.focus_files[0].parent
    assert sorted(focus_dir.rglob("*")) == sorted(demo.focus_files)
    assert focus_dir not in demo.metrics_file.parents
    assert focus_dir not in demo.config_file.parents


def test_every_file_is_focus_1_0_with_exactly_the_43_columns(demo: DemoFiles) -> None:
    """AWS's files add its usage type, as AWS's "FOCUS 1.0 with AWS columns" export does."""
    for path in demo.focus_files:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            extra = ["x_UsageType"] if path.name.startswith("aws-") else []
            assert reader.fieldnames == FOCUS_1_0_COLUMNS + extra, path.name
            for row in reader:
                assert None not in row and None not in row.values(), path.name  # every field
                assert row["BillingCurrency"] == "USD"
                assert row["ProviderName"] in {"AWS", "Microsoft", "Google Cloud"}
                for column in ("ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart"):
                    assert TIMESTAMP.match(row[column]), (path.name, column, row[column])


def test_costs_are_exact_decimals_and_list_cost_bounds_effective_cost(
    rows: list[dict[str, str]],
) -> None:
    for row in rows:
        for column in COST_COLUMNS:
            assert DECIMAL.match(row[column]), (column, row[column])
            Decimal(row[column])
        assert Decimal(row["ListCost"]) >= Decimal(row["EffectiveCost"])
        if row["ChargeCategory"] == "Usage":
            assert Decimal(row["EffectiveCost"]) > 0
            quantity, price = Decimal(row["PricingQuantity"]), Decimal(row["ListUnitPrice"])
            assert abs(quantity * price - Decimal(row["ListCost"])) < Decimal("1E-9")


def test_monthly_totals_are_a_mid_size_company_and_grow(rows: list[dict[str, str]]) -> None:
    totals = monthly_effective(rows)
    full_months = sorted(totals)[:-1]  # the last month ends at END_DATE, part way through
    for month in full_months:
        assert Decimal(150_000) <= totals[month] <= Decimal(400_000), (month, totals[month])
    assert totals[full_months[-1]] > totals[full_months[0]] * Decimal("1.2")


def test_amortized_and_billed_differ_per_row_but_agree_for_a_full_month(
    rows: list[dict[str, str]],
) -> None:
    covered = [row for row in rows if row["CommitmentDiscountStatus"] == "Used"]
    assert covered and all(Decimal(row["BilledCost"]) == 0 for row in covered)
    assert all(Decimal(row["EffectiveCost"]) < Decimal(row["ListCost"]) for row in covered)
    october = [row for row in rows if row["BillingPeriodStart"].startswith("2026-10")]
    billed = sum(Decimal(row["BilledCost"]) for row in october)
    assert billed == sum(Decimal(row["EffectiveCost"]) for row in october)


def test_savings_plan_commitment_is_used_or_unused_and_spot_is_dynamic(
    rows: list[dict[str, str]],
) -> None:
    """The plan's fee is its commitment for the month; every day of it is consumed by covered
    usage ("Used") or left over ("Unused", as FOCUS and AWS write it: usage of no resource,
    billed through the fee). Spot fleets are priced Dynamic, below their on-demand ListCost."""
    fee, amortized = defaultdict(Decimal), defaultdict(Decimal)
    unused = []
    for row in rows:
        month = row["BillingPeriodStart"][:7]
        if row["ChargeCategory"] == "Purchase" and row["CommitmentDiscountId"]:
            fee[month] += Decimal(row["BilledCost"])
        elif row["CommitmentDiscountStatus"] in ("Used", "Unused"):
            assert row["PricingCategory"] == "Committed"
            assert row["CommitmentDiscountType"] == "Savings Plan"
            amortized[month] += Decimal(row["EffectiveCost"])
            if row["CommitmentDiscountStatus"] == "Unused":
                unused.append(row)
    full_months = sorted(fee)[:-1]
    assert all(fee[month] == amortized[month] for month in full_months)
    assert unused and all(row["ChargeCategory"] == "Usage" for row in unused)
    assert all(Decimal(r["BilledCost"]) == 0 and not r["ConsumedQuantity"] for r in unused)
    assert all(day_of(row).weekday() >= 5 for row in unused)  # weekday usage fills the plan
    spot = [row for row in rows if row["PricingCategory"] == "Dynamic"]
    assert spot and all(row["ServiceCategory"] == "Compute" for row in spot)
    assert all(Decimal(r["EffectiveCost"]) < Decimal(r["ListCost"]) for r in spot)


def test_month_start_fees_and_credits(rows: list[dict[str, str]]) -> None:
    purchases = [row for row in rows if row["ChargeCategory"] == "Purchase"]
    assert all(row["ChargeFrequency"] == "Recurring" for row in purchases)
    assert all(day_of(row).day == 1 for row in purchases)
    support = [row for row in purchases if row["ServiceName"] == "AWS Support (Business)"]
    plan_fees = [row for row in purchases if row["CommitmentDiscountId"]]
    assert len(support) == len(plan_fees) == 13
    assert all(Decimal(row["EffectiveCost"]) == 0 < Decimal(row["BilledCost"]) for row in plan_fees)
    credits = [row for row in rows if row["ChargeCategory"] == "Credit"]
    assert credits and all(Decimal(row["BilledCost"]) < 0 for row in credits)


def test_tags_are_json_objects_and_name_configured_teams(
    rows: list[dict[str, str]], config: Config
) -> None:
    configured = {team.name for team in config.teams}
    keys, values = set(), set()
    for row in rows:
        if row["Tags"]:
            assert isinstance(json.loads(row["Tags"]), dict)
        team = team_of(row, config)
        assert team is None or team in configured, team
        for key, value in json.loads(row["Tags"] or "{}").items():
            if key.lower() in ("team", "owner-team"):
                keys.add(key)
                values.add(value)
    # Attributing the data needs case-insensitive keys and values, and the config's aliases.
    assert {"Team", "team", "owner-team"} <= keys
    assert {"plat-eng", "Platform Engineering", "Platform"} <= values


def test_untagged_spend_is_a_few_percent(rows: list[dict[str, str]], config: Config) -> None:
    total, untagged = Decimal(0), Decimal(0)
    for row in rows:
        if row["ServiceName"] in config.shared.services:
            continue  # shared by configuration, not untagged
        total += Decimal(row["EffectiveCost"])
        if team_of(row, config) is None:
            untagged += Decimal(row["EffectiveCost"])
    assert Decimal("0.03") <= untagged / total <= Decimal("0.15")


def test_shared_infrastructure_has_its_own_spend(
    rows: list[dict[str, str]], config: Config
) -> None:
    shared = {row["ServiceName"] for row in rows if team_of(row, config) == "shared-infra"}
    assert {"Amazon Elastic Kubernetes Service", "Amazon CloudWatch"} <= shared


def test_spikes_stand_out_from_their_trailing_median(
    rows: list[dict[str, str]], config: Config
) -> None:
    spikes = [a for a in demo_anomalies(END_DATE) if a.last_day is not None]
    assert any(a.last_day >= END_DATE - timedelta(days=10) for a in spikes)  # a recent one
    for anomaly in spikes:
        daily = daily_cost(rows, config, anomaly.team, anomaly.service)
        trailing = [daily[anomaly.first_day - timedelta(days=n)] for n in range(1, 29)]
        day = anomaly.first_day
        while day <= anomaly.last_day:
            assert daily[day] >= 3 * median(trailing), (anomaly, day)
            day += timedelta(days=1)


def test_level_shift_persists(rows: list[dict[str, str]], config: Config) -> None:
    (shift,) = [a for a in demo_anomalies(END_DATE) if a.last_day is None]
    daily = daily_cost(rows, config, shift.team, shift.service)
    before = [daily[shift.first_day - timedelta(days=n)] for n in range(1, 29)]
    after = [daily[day] for day in daily if day >= shift.first_day]
    assert mean(after) >= Decimal("1.3") * mean(before)
    assert min(after[-14:]) > max(before)  # still up at the end: a new level, not a spike


def test_compute_is_lower_at_weekends(rows: list[dict[str, str]]) -> None:
    weekday, weekend = defaultdict(Decimal), defaultdict(Decimal)
    for row in rows:
        if (
            row["ServiceName"] == "Amazon Elastic Compute Cloud"
            and row["ChargeCategory"] == "Usage"
        ):
            day = day_of(row)
            (weekend if day.weekday() >= 5 else weekday)[day] += Decimal(row["EffectiveCost"])
    assert mean(weekday.values()) > Decimal("1.15") * mean(weekend.values())


def test_metrics_cover_every_day_with_whole_numbers(demo: DemoFiles) -> None:
    with demo.metrics_file.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == ["date", "metric", "value", "scope"]
        metrics = list(reader)
    by_day: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
    for row in metrics:
        assert re.fullmatch(r"\d+", row["value"]), row
        by_day[row["date"]][row["metric"], row["scope"]] = int(row["value"])
    expected_days = {
        (START_DATE + timedelta(days=n)).isoformat()
        for n in range((END_DATE - START_DATE).days + 1)
    }
    assert set(by_day) == expected_days
    for values in by_day.values():
        organisation = {("api_requests", ""), ("monthly_active_users", ""), ("orders", "")}
        assert organisation <= set(values)
        per_team = [
            count
            for (metric, scope), count in values.items()
            if metric == "api_requests" and scope != ""
        ]
        assert values["api_requests", ""] == sum(per_team)
    first, last = min(by_day), max(by_day)
    assert by_day[last]["orders", ""] > by_day[first]["orders", ""]


def test_config_is_valid_and_covers_the_organisation(demo: DemoFiles, config: Config) -> None:
    assert demo.config_file.read_bytes() == CONFIG_TEMPLATE.read_bytes()
    assert config.tag_keys == ("Team", "owner-team")
    assert config.cost_metric == "effective"
    assert config.shared.teams == ("shared-infra",)
    assert config.shared.services == ("AWS Support (Business)",)
    for team in config.teams:
        assert team.channel == f"#team-{team.name}"
        assert team.monthly_budget_micros and team.members
    assert config.canonical_team("Platform Engineering") == "platform"
    assert len({team.timezone for team in config.teams}) >= 3


def test_a_couple_of_teams_are_heading_over_budget(
    rows: list[dict[str, str]], config: Config
) -> None:
    """The budgets in demo_config.yml are set for the demo's November 2026."""
    month_to_date: dict[str | None, Decimal] = defaultdict(Decimal)
    for row in rows:
        if row["BillingPeriodStart"].startswith("2026-11"):
            month_to_date[team_of(row, config)] += Decimal(row["EffectiveCost"])
    elapsed = Decimal(END_DATE.day) / 30
    over = {
        team.name
        for team in config.teams
        if month_to_date[team.name] / elapsed * 1_000_000 > team.monthly_budget_micros
    }
    assert 2 <= len(over) <= 3, over


def test_aws_usage_carries_its_usage_type(rows: list[dict[str, str]]) -> None:
    """What root causes name ("78% from USE1-BoxUsage:m6i.xlarge"): every AWS usage row has
    a usage type of its region and instance size; spot fleets run SpotUsage."""
    aws_usage = [r for r in rows if r["ProviderName"] == "AWS" and r["ChargeCategory"] == "Usage"]
    plan = [r for r in aws_usage if r["CommitmentDiscountStatus"] == "Unused"]
    assert plan and {r["x_UsageType"] for r in plan} == {"ComputeSP:1yrNoUpfront"}
    aws_usage = [r for r in aws_usage if r["CommitmentDiscountStatus"] != "Unused"]
    assert aws_usage and all(r["x_UsageType"].startswith("USE1-") for r in aws_usage)
    for row in aws_usage:
        if row["ServiceName"] == "Amazon Elastic Compute Cloud":
            kind = "SpotUsage" if row["PricingCategory"] == "Dynamic" else "BoxUsage"
            assert row["x_UsageType"] == f"USE1-{kind}:{row['ChargeDescription'].split()[-3]}"
    types = {r["x_UsageType"] for r in aws_usage}
    assert {"USE1-WriteRequestUnits", "USE1-TimedStorage-ByteHrs"} <= types
    assert all(r.get("x_UsageType") in (None, "") for r in rows if r["ProviderName"] != "AWS")
