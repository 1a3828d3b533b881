"""Sessions find their region as a deployment sets it, and AWS errors read as one line."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from bot.sources.aws.session import base_session, caller_account, describe_aws_error, make_client


def test_aws_region_alone_is_enough(aws, monkeypatch):
    # boto3 reads only AWS_DEFAULT_REGION; containers and the other SDKs set AWS_REGION.
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    session = base_session()
    assert session.region_name == "eu-west-1"
    boto3.client("ec2", region_name="eu-west-1").run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1
    )

    reservations = make_client(session, "ec2").describe_instances()["Reservations"]
    assert len(reservations) == 1
    assert caller_account(session) == "123456789012"


def test_an_explicit_region_wins(aws, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert base_session("ap-south-1").region_name == "ap-south-1"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (
            "UnauthorizedOperation",
            "access denied: ec2:DescribeInstances in account 222222222222"
            " (see the IAM policy in README 'Connect AWS')",
        ),
        (
            "ExpiredToken",
            "AWS credentials expired or invalid (ExpiredToken) calling ec2:DescribeInstances"
            " in account 222222222222: refresh them",
        ),
    ],
)
def test_aws_errors_are_one_line_naming_the_action_and_the_account(code, expected):
    error = ClientError({"Error": {"Code": code, "Message": "secret\ndetail"}}, "DescribeInstances")
    assert describe_aws_error(error, "ec2:DescribeInstances", "222222222222") == expected
