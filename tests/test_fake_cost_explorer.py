"""The fake Cost Explorer answers like Cost Explorer: End exclusive, MONTHLY periods clipped to
the range, Filter expressions, totals without GroupBy, pages bound to their request."""

from __future__ import annotations

from datetime import date

import boto3
import pytest
from botocore.exceptions import ClientError
from fake_cost_explorer import CostRow, FakeCostExplorer

ROWS = [
    CostRow(date(2026, 10, 31), "111111111111", "payments", "Amazon S3", "1.5", "2"),
    CostRow(date(2026, 11, 1), "111111111111", "payments", "Amazon S3", "10.25", "11"),
    CostRow(date(2026, 11, 1), "222222222222", None, "Amazon S3", "0.0000001", "0"),
    CostRow(date(2026, 11, 2), "222222222222", "search", "AWS Lambda", "3", "3.5"),
]


@pytest.fixture
def client(monkeypatch):
    with FakeCostExplorer(ROWS, page_size=2) as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_COST_EXPLORER", fake.url)
        yield (
            boto3.client(
                "ce",
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            ),
            fake,
        )


def test_totals_by_month_with_the_end_exclusive(client):
    ce, _ = client
    answer = ce.get_cost_and_usage(
        TimePeriod={"Start": "2026-10-15", "End": "2026-11-02"},
        Granularity="MONTHLY",
        Metrics=["UnblendedCost"],
    )
    assert [
        (r["TimePeriod"], r["Total"]["UnblendedCost"]["Amount"]) for r in answer["ResultsByTime"]
    ] == [
        ({"Start": "2026-10-15", "End": "2026-11-01"}, "2"),
        ({"Start": "2026-11-01", "End": "2026-11-02"}, "11"),
    ]


def test_filters_and_untagged_groups(client):
    ce, _ = client
    answer = ce.get_cost_and_usage(
        TimePeriod={"Start": "2026-11-01", "End": "2026-11-03"},
        Granularity="DAILY",
        Metrics=["AmortizedCost"],
        GroupBy=[{"Type": "TAG", "Key": "Team"}],
        Filter={
            "And": [
                {"Dimensions": {"Key": "SERVICE", "Values": ["Amazon S3"]}},
                {"Not": {"Tags": {"Key": "Team", "Values": ["payments"]}}},
            ]
        },
    )
    groups = [(r["TimePeriod"]["Start"], g) for r in answer["ResultsByTime"] for g in r["Groups"]]
    assert groups == [
        (
            "2026-11-01",
            {
                "Keys": ["Team$"],
                "Metrics": {"AmortizedCost": {"Amount": "0.0000001", "Unit": "USD"}},
            },
        )
    ]
    absent = ce.get_cost_and_usage(
        TimePeriod={"Start": "2026-11-01", "End": "2026-11-03"},
        Granularity="MONTHLY",
        Metrics=["AmortizedCost"],
        Filter={"Tags": {"Key": "Team", "MatchOptions": ["ABSENT"]}},
    )
    assert absent["ResultsByTime"][0]["Total"]["AmortizedCost"]["Amount"] == "0.0000001"


def test_pages_belong_to_their_request(client):
    ce, fake = client
    request = {
        "TimePeriod": {"Start": "2026-10-01", "End": "2026-12-01"},
        "Granularity": "DAILY",
        "Metrics": ["AmortizedCost"],
        "GroupBy": [
            {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"},
            {"Type": "DIMENSION", "Key": "SERVICE"},
        ],
    }
    first = ce.get_cost_and_usage(**request)
    assert sum(len(r["Groups"]) for r in first["ResultsByTime"]) == 2
    second = ce.get_cost_and_usage(**request, NextPageToken=first["NextPageToken"])
    assert "NextPageToken" not in second
    assert sum(len(r["Groups"]) for r in second["ResultsByTime"]) == 2
    with pytest.raises(ClientError) as error:
        ce.get_cost_and_usage(
            **{**request, "Metrics": ["UnblendedCost"]}, NextPageToken=first["NextPageToken"]
        )
    assert error.value.response["Error"]["Code"] == "RequestChangedException"
    assert fake.answered["GetCostAndUsage"] == 2
    assert fake.received["GetCostAndUsage"] == 3
