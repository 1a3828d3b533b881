"""Savings Plans coverage and utilization, spot share and forecast for the monthly report:
from FOCUS rows written by hand and loaded through the real ingest, checked to the cent against
Decimal sums of those rows under the definitions of bot/analytics/commitments.py; from the
Cost Explorer figures of the `commitments` table when FOCUS does not cover an account; and
from the demo organisation."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlite_utils
from focus_factory import to_cent
from focus_rows import focus_row, write_rows

from bot.analytics.commitments import commitment_summaries, commitment_summary
from bot.config import Config
from bot.sources.demo_data import generate_demo_files
from bot.sources.focus_ingest import ingest_focus
from bot.store import open_store
from bot.store.schema import daily_row, migrations
from bot.store.writers import SourceLoad, write_commitments, write_source_rows

PAYER = ("111111111111", "Acme Corp")
EUROPE = ("555555555555", "Acme Europe GmbH")
OCTOBER = [date(2026, 10, day) for day in (1, 2, 3, 17, 31)]
SAVINGS_PLAN = {
    "CommitmentDiscountCategory": "Spend",
    "CommitmentDiscountId": "arn:aws:savingsplans::111111111111:savingsplan/sp-1",
    "CommitmentDiscountName": "compute-sp",
    "CommitmentDiscountType": "Savings Plan",
}
RESERVED_INSTANCE = {
    "CommitmentDiscountCategory": "Usage",
    "CommitmentDiscountId": "arn:aws:ec2:us-east-1:111111111111:reserved-instances/ri-1",
    "CommitmentDiscountName": "ri-m6i",
    "CommitmentDiscountType": "Reserved Instance",
}
EC2, FARGATE = "Amazon Elastic Compute Cloud", "Amazon Elastic Container Service"


def charge(
    day: date,
    effective: str,
    *,
    billed: str | None = None,
    listed: str | None = None,
    service: str = EC2,
    category: str = "Compute",
    charge_category: str = "Usage",
    pricing: str = "Standard",
    commitment: dict[str, str] | None = None,
    status: str = "",
    billing_account: tuple[str, str] = PAYER,
    currency: str = "USD",
) -> dict[str, str]:
    row = focus_row(
        day, effective, service=service, team="payments", billing_account=billing_account
    )
    return row | (commitment or {}) | {
        "BilledCost": effective if billed is None else billed,
        "ListCost": effective if listed is None else listed,
        "ServiceCategory": category,
        "ChargeCategory": charge_category,
        "PricingCategory": pricing,
        "CommitmentDiscountStatus": status,
        "BillingCurrency": currency,
    }  # fmt: skip


def october_rows() -> list[dict[str, str]]:
    """A month of an AWS payer with every kind of charge the figures must tell apart, a
    charge in November, and a billing account in EUR."""
    rows = []
    for n, day in enumerate(OCTOBER):
        rows += [
            charge(day, f"{41 + n}.1234567891"),  # on demand, eligible
            charge(day, f"{60 + n}.2500000003", billed="0", listed=f"{83 + n}.6805555560",
                   pricing="Committed", commitment=SAVINGS_PLAN, status="Used"),
            charge(day, "3.9000000001", billed="0", listed="5.4166666668", service=FARGATE,
                   category="Other", pricing="Committed", commitment=SAVINGS_PLAN, status="Used"),
            charge(day, "12.5000000000", billed="0", listed="20.0", pricing="Committed",
                   commitment=RESERVED_INSTANCE, status="Used"),
            charge(day, f"{9 + n}.4400000002", listed=f"{29 + n}.5", pricing="Dynamic"),
            charge(day, "17.3333333333", service="Amazon Simple Storage Service",
                   category="Storage"),
        ]  # fmt: skip
        if day.weekday() >= 5:  # the commitment left over at the weekend
            rows.append(
                charge(day, "6.0000000007", billed="0", listed="6.0000000007", service="Savings"
                       " Plans for AWS Compute usage", pricing="Committed",
                       commitment=SAVINGS_PLAN, status="Unused")
            )  # fmt: skip
    rows += [
        charge(OCTOBER[0], "0", billed="2232.00", listed="2232.00", charge_category="Purchase",
               commitment=SAVINGS_PLAN, service="Savings Plans for AWS Compute usage"),
        charge(OCTOBER[3], "-150.00", charge_category="Credit", pricing=""),
        charge(date(2026, 11, 1), "99.99"),
        charge(OCTOBER[1], "70.7070707071", billing_account=EUROPE, currency="EUR"),
        charge(OCTOBER[1], "5.05", pricing="Dynamic", billing_account=EUROPE, currency="EUR"),
    ]  # fmt: skip
    return rows


def independent(rows: list[dict[str, str]], month: str, currency: str = "USD") -> dict:
    """The figures straight from the rows, in Decimal, by the module's definitions."""
    sums = dict.fromkeys(("covered", "on_demand", "used", "unused", "spot", "compute"), Decimal(0))
    for row in rows:
        if row["ChargePeriodStart"][:7] != month or row["BillingCurrency"] != currency:
            continue
        if row["ChargeCategory"] != "Usage":
            continue
        effective, listed = Decimal(row["EffectiveCost"]), Decimal(row["ListCost"])
        savings_plan = "savings plan" in row.get("CommitmentDiscountType", "").lower()
        compute = row["ServiceCategory"] == "Compute"
        if savings_plan and row["CommitmentDiscountStatus"] == "Used":
            sums["covered"] += listed
            sums["used"] += effective
        if savings_plan and row["CommitmentDiscountStatus"] == "Unused":
            sums["unused"] += effective
        if compute and row["PricingCategory"] == "Standard":
            sums["on_demand"] += listed
        if compute and row["PricingCategory"] == "Dynamic":
            sums["spot"] += effective
        if compute and row.get("CommitmentDiscountStatus") != "Unused":
            sums["compute"] += effective
    return sums


def cents(micros: int) -> Decimal:
    return to_cent(Decimal(micros) / 1_000_000)


@pytest.fixture
def focus_db(tmp_path: Path) -> tuple[sqlite_utils.Database, list[dict[str, str]]]:
    rows = october_rows()
    ingest_focus([str(write_rows(tmp_path / "focus.csv", rows))], Config(), tmp_path / "c.db")
    return open_store(tmp_path / "c.db"), rows


def test_focus_figures_match_the_rows_to_the_cent(focus_db) -> None:
    db, rows = focus_db
    expected = independent(rows, "2026-10")

    summary = commitment_summary(db, "2026-10")

    assert summary.currency == "USD" and summary.sources == {PAYER[0]: "focus"}
    assert cents(summary.covered_micros) == to_cent(expected["covered"])
    assert cents(summary.on_demand_micros) == to_cent(expected["on_demand"])
    assert cents(summary.used_micros) == to_cent(expected["used"])
    assert cents(summary.unused_micros) == to_cent(expected["unused"])
    assert cents(summary.commitment_micros) == to_cent(expected["used"] + expected["unused"])
    assert cents(summary.spot_micros) == to_cent(expected["spot"])
    assert cents(summary.compute_micros) == to_cent(expected["compute"])
    coverage = expected["covered"] / (expected["covered"] + expected["on_demand"])
    utilization = expected["used"] / (expected["used"] + expected["unused"])
    spot = expected["spot"] / expected["compute"]
    for ratio, exact in (
        (summary.coverage, coverage),
        (summary.utilization, utilization),
        (summary.spot_share, spot),
    ):
        assert abs(ratio.fraction - exact) < Decimal("1E-8")
    # What those come to here: 67.9% coverage (below 70-80%), 94.8% utilization (below 95%),
    # 8.8% spot (below 30-50%).
    assert (summary.coverage.percent, summary.coverage.verdict) == (Decimal("67.9"), "below")
    assert (summary.utilization.percent, summary.utilization.verdict) == (Decimal("94.8"), "below")
    assert (summary.spot_share.percent, summary.spot_share.verdict) == (Decimal("8.8"), "below")
    assert summary.forecast is None  # FOCUS holds no forecast
    assert summary.other_currencies == ("EUR",)
    assert summary.notes() == [
        "Figures in USD only; billing accounts in EUR are summarised on their own."
    ]


def test_each_currency_is_summarised_on_its_own(focus_db) -> None:
    db, rows = focus_db
    usd, eur = commitment_summaries(db, "2026-10")
    assert (usd.currency, eur.currency) == ("USD", "EUR")
    expected = independent(rows, "2026-10", "EUR")
    assert eur.sources == {EUROPE[0]: "focus"}
    assert cents(eur.spot_micros) == to_cent(expected["spot"]) == Decimal("5.05")
    assert cents(eur.compute_micros) == to_cent(expected["compute"]) == Decimal("75.76")
    assert not eur.utilization.applies and eur.utilization.percent is None
    assert commitment_summary(db, "2026-10", currency="eur") == eur
    one_account = commitment_summary(db, "2026-10", billing_account=EUROPE[0])
    assert one_account.currency == "EUR" and one_account.other_currencies == ()


def cost_explorer_row(account: str, month: str = "2026-10", **figures: int) -> dict:
    return {
        "provider": "AWS",
        "billing_account_id": account,
        "month": month,
        "source": "cost-explorer",
        "currency": "USD",
        "sp_covered_micros": 7_000_000_000,
        "sp_on_demand_micros": 3_000_000_000,
        "sp_commitment_micros": 5_000_000_000,
        "sp_used_micros": 4_750_000_000,
        "spot_micros": 1_200_000_000,
        "compute_micros": 12_000_000_000,
        "forecast_micros": 50_000_000_000,
        "forecast_low_micros": 45_000_000_000,
        "forecast_high_micros": 55_123_450_000,
    } | figures


def test_cost_explorer_figures_when_only_cost_explorer_covers_the_month(tmp_path: Path) -> None:
    db = open_store(tmp_path / "c.db")
    write_commitments(db, [cost_explorer_row("999999999999")])

    summary = commitment_summary(db, "2026-10")

    assert summary.sources == {"999999999999": "cost-explorer"}
    assert (summary.covered_micros, summary.on_demand_micros) == (7_000_000_000, 3_000_000_000)
    assert (summary.coverage.percent, summary.coverage.verdict) == (Decimal("70.0"), "within")
    assert (summary.used_micros, summary.unused_micros) == (4_750_000_000, 250_000_000)
    assert (summary.utilization.percent, summary.utilization.verdict) == (Decimal("95.0"), "within")
    assert (summary.spot_share.percent, summary.spot_share.verdict) == (Decimal("10.0"), "below")
    forecast = summary.forecast
    assert forecast is not None and forecast.billing_accounts == ("999999999999",)
    assert (forecast.micros, forecast.low_micros, forecast.high_micros) == (
        50_000_000_000,
        45_000_000_000,
        55_123_450_000,
    )
    assert summary.notes() == []


def test_focus_wins_over_cost_explorer_for_the_same_account_and_month(focus_db) -> None:
    """Both sources for the payer: FOCUS's rows only, never both. Another billing account
    that only Cost Explorer covers adds its figures; the payer's forecast still shows."""
    db, rows = focus_db
    write_commitments(
        db,
        [
            cost_explorer_row(PAYER[0], sp_covered_micros=10**15, forecast_micros=9_000_000_000),
            cost_explorer_row("999999999999"),
        ],
    )
    expected = independent(rows, "2026-10")

    summary = commitment_summary(db, "2026-10")

    assert summary.sources == {PAYER[0]: "focus", "999999999999": "cost-explorer"}
    assert cents(summary.covered_micros) == to_cent(expected["covered"]) + Decimal(7000)
    assert cents(summary.spot_micros) == to_cent(expected["spot"]) + Decimal(1200)
    assert summary.forecast is not None
    assert summary.forecast.micros == 59_000_000_000
    assert summary.forecast.billing_accounts == (PAYER[0], "999999999999")
    only_payer = commitment_summary(db, "2026-10", billing_account=PAYER[0])
    assert only_payer.sources == {PAYER[0]: "focus"}
    assert cents(only_payer.covered_micros) == to_cent(expected["covered"])


def test_a_month_without_compute_says_so(tmp_path: Path) -> None:
    rows = [
        charge(day, "17.3333333333", service="Amazon Simple Storage Service", category="Storage")
        for day in OCTOBER
    ]
    ingest_focus([str(write_rows(tmp_path / "f.csv", rows))], Config(), tmp_path / "c.db")

    summary = commitment_summary(open_store(tmp_path / "c.db"), "2026-10")

    assert summary.has_data and summary.sources == {PAYER[0]: "focus"}
    for ratio in (summary.coverage, summary.utilization, summary.spot_share):
        assert not ratio.applies
        assert (ratio.fraction, ratio.percent, ratio.verdict) == (None, None, None)
    assert summary.notes() == [
        "No Savings Plans-eligible compute spend in 2026-10: coverage does not apply.",
        "No Savings Plans commitment in 2026-10: utilization does not apply.",
        "No compute spend in 2026-10: spot share does not apply.",
    ]


def test_a_month_nothing_covers_and_focus_rows_without_pricing_say_so(tmp_path: Path) -> None:
    """An export without PricingCategory (or loaded before Costbot kept it) says nothing about
    commitments: the summary names the billing account instead of reporting 0% coverage."""
    rows = [focus_row(day, "41.5") for day in OCTOBER]  # no pricing or commitment columns
    ingest_focus([str(write_rows(tmp_path / "f.csv", rows))], Config(), tmp_path / "c.db")
    db = open_store(tmp_path / "c.db")

    summary = commitment_summary(db, "2026-10")
    assert not summary.has_data and summary.unpriced_billing_accounts == (PAYER[0],)
    assert summary.notes() == [
        "No commitment or spot figures for 2026-10: no FOCUS data with pricing columns and no"
        " Cost Explorer sync cover it.",
        f"FOCUS data of billing account(s) {PAYER[0]} for 2026-10 was loaded without its"
        " PricingCategory column: load it again (costbot ingest focus) to include it.",
    ]
    assert not commitment_summary(db, "2025-01").unpriced_billing_accounts

    write_commitments(db, [cost_explorer_row(PAYER[0])])  # Cost Explorer fills the gap
    summary = commitment_summary(db, "2026-10")
    assert summary.sources == {PAYER[0]: "cost-explorer"}
    assert summary.unpriced_billing_accounts == ()


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "October", ""])
def test_a_month_must_be_yyyy_mm(tmp_path: Path, month: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        commitment_summary(open_store(tmp_path / "c.db"), month)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[sqlite_utils.Database, list[dict[str, str]], list[str]]:
    folder = tmp_path_factory.mktemp("demo")
    end = date(2026, 11, 26)
    files = generate_demo_files(folder, end)
    ingest_focus([str(folder / "data")], Config(), folder / "c.db")
    rows: list[dict[str, str]] = []
    for path in files.focus_files:
        with path.open(newline="", encoding="utf-8") as handle:
            rows += csv.DictReader(handle)
    months, day = [], date(2025, 11, 1)
    while day <= end:
        months.append(f"{day:%Y-%m}")
        day = (day + timedelta(days=32)).replace(day=1)
    return open_store(folder / "c.db"), rows, months


def test_the_demo_has_plausible_commitment_and_spot_figures(demo) -> None:
    """A Savings Plan sized for the weekdays of a year ago: partly unused at weekends at
    first, fully used as the fleet grows, covering less and less of it (below target); a
    quarter of compute on spot (also below target)."""
    db, rows, months = demo
    summaries = [commitment_summary(db, month) for month in months]
    for summary in summaries:
        assert len(summary.sources) == 3  # AWS, Azure and Google Cloud billing accounts
        assert Decimal("0.3") < summary.coverage.fraction < Decimal("0.8")
        assert Decimal("0.9") <= summary.utilization.fraction <= 1
        assert Decimal("0.15") < summary.spot_share.fraction < Decimal("0.35")
        assert summary.notes() == []
    first, last = summaries[0], summaries[-1]
    assert first.unused_micros > 0 and last.unused_micros == 0
    assert first.utilization.verdict == "below" and last.utilization.verdict == "within"
    assert first.coverage.fraction > last.coverage.fraction
    assert last.coverage.verdict == "below"

    expected = independent(rows, months[0])
    assert cents(first.covered_micros) == to_cent(expected["covered"])
    assert cents(first.on_demand_micros) == to_cent(expected["on_demand"])
    assert cents(first.unused_micros) == to_cent(expected["unused"])
    assert cents(first.spot_micros) == to_cent(expected["spot"])
    assert cents(first.compute_micros) == to_cent(expected["compute"])


def test_a_store_from_before_the_commitment_columns_migrates_and_asks_for_a_reload(
    tmp_path: Path,
) -> None:
    """Rows an older Costbot loaded keep their amounts and say nothing about pricing."""
    old = sqlite_utils.Database(tmp_path / "c.db")
    migrations.apply(old, stop_before="m006_commitment_dimensions")
    old["daily_cost"].insert(
        {"date": "2026-10-02", "provider": "AWS", "billing_account_id": PAYER[0],
         "service": EC2, "service_category": "Compute", "charge_category": "Usage",
         "currency": "USD", "billing_period": "2026-10", "effective_micros": 41_500_000,
         "billed_micros": 41_500_000, "list_micros": 41_500_000}
    )  # fmt: skip
    old.close()

    db = open_store(tmp_path / "c.db")

    assert db.execute("SELECT pricing_category, effective_micros FROM daily_cost").fetchall() == [
        (None, 41_500_000)
    ]
    assert commitment_summary(db, "2026-10").unpriced_billing_accounts == (PAYER[0],)


def test_full_grain_rows_of_another_source_count_like_focus(tmp_path: Path) -> None:
    """An Athena aggregate of a FOCUS table carries the same columns: its rows are read, and
    the summary names their source."""
    db = open_store(tmp_path / "c.db")

    def row(micros: int, listed: int, pricing: str, status: str | None = None) -> tuple:
        values = daily_row(
            date="2026-10-05", provider="AWS", billing_account_id="777777777777",
            service=EC2, service_category="Compute", charge_category="Usage", currency="USD",
            billing_period="2026-10", effective_micros=micros, billed_micros=micros,
            list_micros=listed, pricing_category=pricing, commitment_discount_status=status,
            commitment_discount_type="Savings Plan" if status else None,
        )  # fmt: skip
        return (*values, None)  # full grain

    rows = [row(3_000_000, 3_000_000, "Standard"), row(6_000_000, 9_000_000, "Committed", "Used")]
    load = SourceLoad("athena", "test", date(2026, 10, 1), date(2026, 10, 31), rows, "777777777777")
    write_source_rows(db, load)

    summary = commitment_summary(db, "2026-10")

    assert summary.sources == {"777777777777": "athena"}
    assert (summary.covered_micros, summary.on_demand_micros) == (9_000_000, 3_000_000)
    assert summary.coverage.percent == Decimal("75.0")
