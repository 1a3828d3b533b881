"""Savings Plans coverage and utilization, spot share and forecast: moto lacks these calls, so
botocore's Stubber answers with the response shapes AWS documents (the Stubber checks every
request and response against the service model)."""

from __future__ import annotations

from datetime import date

import boto3
import pytest
from botocore.stub import Stubber

from bot.config import Config, parse_config
from bot.sources.aws.commitments import commitment_rows, read_commitments
from bot.sources.aws.cost_explorer_api import PaidRequests
from bot.store import open_store
from bot.store.schema import daily_row
from bot.store.writers import SourceLoad, write_source_rows

PAYER = "123456789012"
TODAY = date(2026, 11, 20)
READ = (date(2026, 10, 15), date(2026, 11, 19))  # the days a sync read
PERIOD = {"Start": "2026-10-01", "End": "2026-11-20"}
OCTOBER = {"Start": "2026-10-01", "End": "2026-11-01"}
NOVEMBER = {"Start": "2026-11-01", "End": "2026-11-20"}


@pytest.fixture
def ce():
    client = boto3.client(
        "ce",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def coverage(period, covered, on_demand):
    return {
        "Attributes": {},
        "Coverage": {
            "SpendCoveredBySavingsPlans": covered,
            "OnDemandCost": on_demand,
            "TotalCost": "0",
            "CoveragePercentage": "0",
        },
        "TimePeriod": period,
    }


def utilization(period, total, used):
    return {
        "TimePeriod": period,
        "Utilization": {
            "TotalCommitment": total,
            "UsedCommitment": used,
            "UnusedCommitment": "0",
            "UtilizationPercentage": "0",
        },
        "Savings": {"NetSavings": "210.3", "OnDemandCostEquivalent": "894.8"},
        "AmortizedCommitment": {
            "AmortizedRecurringCommitment": total,
            "AmortizedUpfrontCommitment": "0",
            "TotalAmortizedCommitment": total,
        },
    }


def purchase_types(period, on_demand, spot):
    return {
        "TimePeriod": period,
        "Total": {},
        "Groups": [
            {
                "Keys": ["On Demand Instances"],
                "Metrics": {"AmortizedCost": {"Amount": on_demand, "Unit": "USD"}},
            },
            {
                "Keys": ["Spot Instances"],
                "Metrics": {"AmortizedCost": {"Amount": spot, "Unit": "USD"}},
            },
        ],
        "Estimated": False,
    }


SPOT_REQUEST = {
    "TimePeriod": PERIOD,
    "Granularity": "MONTHLY",
    "Metrics": ["AmortizedCost"],
    "GroupBy": [{"Type": "DIMENSION", "Key": "PURCHASE_TYPE"}],
    "Filter": {
        "Dimensions": {"Key": "SERVICE", "Values": ["Amazon Elastic Compute Cloud - Compute"]}
    },
}
FORECAST_REQUEST = {
    "TimePeriod": {"Start": "2026-11-20", "End": "2026-12-01"},
    "Metric": "AMORTIZED_COST",
    "Granularity": "MONTHLY",
    "PredictionIntervalLevel": 80,
}
FORECAST = {
    "Total": {"Amount": "1100.123456789", "Unit": "USD"},
    "ForecastResultsByTime": [
        {
            "TimePeriod": {"Start": "2026-11-20", "End": "2026-12-01"},
            "MeanValue": "1100.123456789",
            "PredictionIntervalLowerBound": "990.5",
            "PredictionIntervalUpperBound": "1210.75",
        }
    ],
}


def test_every_figure_is_read_and_paged(ce):
    client, stubber = ce
    stubber.add_response(
        "get_savings_plans_coverage",
        {"SavingsPlansCoverages": [coverage(OCTOBER, "158.2", "176.5")], "NextToken": "p2"},
        {"TimePeriod": PERIOD, "Granularity": "MONTHLY"},
    )
    stubber.add_response(
        "get_savings_plans_coverage",
        {"SavingsPlansCoverages": [coverage(NOVEMBER, "100.000001", "50")]},
        {"TimePeriod": PERIOD, "Granularity": "MONTHLY", "NextToken": "p2"},
    )
    stubber.add_response(
        "get_savings_plans_utilization",
        {
            "SavingsPlansUtilizationsByTime": [
                utilization(OCTOBER, "720", "684.5"),
                utilization(NOVEMBER, "456", "400.25"),
            ],
            "Total": {"Utilization": {"TotalCommitment": "1176"}},
        },
        {"TimePeriod": PERIOD, "Granularity": "MONTHLY"},
    )
    stubber.add_response(
        "get_cost_and_usage",
        {
            "ResultsByTime": [
                purchase_types(OCTOBER, "1023.1", "76.9"),
                purchase_types(NOVEMBER, "500", "0.0000004"),
            ]
        },
        SPOT_REQUEST,
    )
    stubber.add_response("get_cost_forecast", FORECAST, FORECAST_REQUEST)
    paid, warnings = PaidRequests(), []

    figures = read_commitments(client, paid, *READ, TODAY, Config(), warnings)

    assert warnings == []
    assert paid.total == 5
    assert dict(paid.by_operation) == {
        "GetSavingsPlansCoverage": 2,
        "GetSavingsPlansUtilization": 1,
        "GetCostAndUsage": 1,
        "GetCostForecast": 1,
    }
    assert figures["months"]["2026-10"] == {
        "sp_covered_micros": 158_200_000,
        "sp_on_demand_micros": 176_500_000,
        "sp_commitment_micros": 720_000_000,
        "sp_used_micros": 684_500_000,
        "spot_micros": 76_900_000,
        "compute_micros": 1_100_000_000,
    }
    assert figures["months"]["2026-11"]["sp_covered_micros"] == 100_000_001
    assert figures["months"]["2026-11"]["spot_micros"] == 0  # 0.4 micro-dollars rounds away
    assert figures["forecast"] == {
        "rest": 1_100_123_457,
        "low": 990_500_000,
        "high": 1_210_750_000,
        "currency": "USD",
    }

    # The forecast of the month: what the store holds for November + the rest, forecast.
    db = open_store(":memory:")
    rows = [
        (
            *daily_row(
                date=f"2026-11-{d:02d}",
                provider="AWS",
                billing_account_id=PAYER,
                team="payments",
                service="AWS Lambda",
                currency="USD",
                billing_period="2026-11",
                effective_micros=10_000_000,
                billed_micros=11_000_000,
            ),
            "team,service",
        )
        for d in range(1, 20)
    ] + [
        (
            *daily_row(
                date="2026-11-01",
                provider="AWS",
                billing_account_id=PAYER,
                team="payments",
                account_id="111111111111",
                currency="USD",
                billing_period="2026-11",
                effective_micros=190_000_000,
                billed_micros=209_000_000,
            ),
            "team,account",
        )
    ]
    write_source_rows(
        db,
        SourceLoad("cost-explorer", "test", date(2026, 11, 1), date(2026, 11, 19), rows, PAYER),
    )
    by_month = {r["month"]: r for r in commitment_rows(db, figures, PAYER, TODAY, Config())}
    assert by_month["2026-11"]["forecast_micros"] == 190_000_000 + 1_100_123_457
    assert by_month["2026-11"]["forecast_low_micros"] == 190_000_000 + 990_500_000
    assert by_month["2026-11"]["forecast_high_micros"] == 190_000_000 + 1_210_750_000
    assert "forecast_micros" not in by_month["2026-10"]


def test_failures_are_warnings_and_no_savings_plans_is_not_one(ce):
    client, stubber = ce
    stubber.add_client_error(
        "get_savings_plans_coverage",
        service_error_code="AccessDeniedException",
        service_message="User is not authorized to perform: ce:GetSavingsPlansCoverage",
        http_status_code=400,
    )
    stubber.add_client_error(
        "get_savings_plans_utilization",
        service_error_code="DataUnavailableException",
        http_status_code=400,
    )
    stubber.add_client_error(
        "get_cost_and_usage", service_error_code="LimitExceededException", http_status_code=400
    )
    stubber.add_response(
        "get_cost_forecast",
        FORECAST,
        {**FORECAST_REQUEST, "Metric": "UNBLENDED_COST"},
    )
    paid, warnings = PaidRequests(), []

    figures = read_commitments(
        client, paid, *READ, TODAY, parse_config({"cost_metric": "billed"}), warnings
    )

    assert warnings == [
        "access denied: ce:GetSavingsPlansCoverage (see the IAM policy in README"
        " 'Connect AWS'); skipped",
        "ce:GetCostAndUsage failed: LimitExceededException; skipped",
    ]
    assert paid.total == 1  # only the forecast answered
    assert figures["months"] == {"2026-10": {}, "2026-11": {}}
    assert figures["forecast"]["rest"] == 1_100_123_457
