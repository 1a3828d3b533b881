"""bot/cloud/aws.py against moto's server: what a re-read sees, and stop, terminate (with the
RDS final snapshot) and tag observed in moto's own state."""

from __future__ import annotations

import boto3
import pytest

from bot.cloud.aws import AwsCloud, CloudActionFailed
from bot.config import Config

REGION = "us-east-1"


def _instance(tags: dict[str, str] | None = None) -> str:
    ec2 = boto3.client("ec2", region_name=REGION)
    image = ec2.describe_images()["Images"][0]["ImageId"]
    spec = {"ImageId": image, "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.micro"}
    if tags:
        spec["TagSpecifications"] = [
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    instance = ec2.run_instances(**spec)["Instances"][0]["InstanceId"]
    account = boto3.client("sts").get_caller_identity()["Account"]
    return f"arn:aws:ec2:{REGION}:{account}:instance/{instance}"


def _db(name: str, tags: dict[str, str] | None = None) -> str:
    rds = boto3.client("rds", region_name=REGION)
    found = rds.create_db_instance(
        DBInstanceIdentifier=name,
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="admin",
        MasterUserPassword="password123",
        AllocatedStorage=20,
        Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    )
    return found["DBInstance"]["DBInstanceArn"]


def test_reads_an_instance_then_stops_tags_and_terminates_it(aws) -> None:
    cloud = AwsCloud(Config())
    arn = _instance({"Team": "payments"})
    live = cloud.read(arn)
    assert live is not None
    assert (live.state, live.tags, live.resource_type) == (
        "running",
        {"Team": "payments"},
        "ec2:instance",
    )

    cloud.stop(arn)
    assert cloud.read(arn).state in ("stopping", "stopped")
    cloud.tag(arn, {"Product": "checkout", "CostCenter": "CC-1"})
    assert cloud.read(arn).tags == {"Team": "payments", "Product": "checkout", "CostCenter": "CC-1"}
    cloud.terminate(arn)
    assert cloud.read(arn).state in ("shutting-down", "terminated")


def test_a_db_instance_is_deleted_only_with_its_final_snapshot(aws) -> None:
    cloud = AwsCloud(Config())
    arn = _db("orders-db", {"Team": "orders"})
    live = cloud.read(arn)
    assert (live.state, live.tags) == ("available", {"Team": "orders"})
    with pytest.raises(CloudActionFailed, match="final snapshot"):
        cloud.terminate(arn)
    cloud.stop(arn)
    assert cloud.read(arn).state == "stopped"
    cloud.tag(arn, {"Environment": "dev"})
    assert cloud.read(arn).tags == {"Team": "orders", "Environment": "dev"}

    cloud.terminate(arn, final_snapshot_id="costbot-final-orders-db-20261129")
    assert cloud.read(arn) is None
    snapshots = boto3.client("rds", region_name=REGION).describe_db_snapshots(
        DBSnapshotIdentifier="costbot-final-orders-db-20261129"
    )["DBSnapshots"]
    assert [s["DBInstanceIdentifier"] for s in snapshots] == ["orders-db"]


def test_a_resource_that_is_gone_reads_as_none_and_a_failure_is_one_line(aws) -> None:
    cloud = AwsCloud(Config())
    account = boto3.client("sts").get_caller_identity()["Account"]
    assert cloud.read(f"arn:aws:rds:{REGION}:{account}:db:never-existed") is None
    with pytest.raises(CloudActionFailed) as failure:
        cloud.stop(f"arn:aws:ec2:{REGION}:{account}:instance/i-0123456789abcdef0")
    assert "ec2:StopInstances" in str(failure.value) and "\n" not in str(failure.value)
    with pytest.raises(CloudActionFailed, match="cannot be stopped"):
        cloud.stop("arn:aws:s3:::some-bucket")


def test_tags_a_bucket_keeping_its_other_tags(aws) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="logs-bucket")
    s3.put_bucket_tagging(
        Bucket="logs-bucket", Tagging={"TagSet": [{"Key": "Team", "Value": "data"}]}
    )
    cloud = AwsCloud(Config())
    cloud.tag("arn:aws:s3:::logs-bucket", {"Product": "lake"})
    tags = s3.get_bucket_tagging(Bucket="logs-bucket")["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == {"Team": "data", "Product": "lake"}
