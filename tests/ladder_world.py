"""A small AWS estate in moto for the tag enforcement ladder's tests, read into the store by the
real inventory sync, and the job run against it and the fake Slack."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import boto3
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from bot.cloud.aws import AwsCloud
from bot.config import Config, parse_config
from bot.context import AppContext
from bot.slack.client import build_web_client
from bot.slack.delivery import Delivery
from bot.sources.aws.inventory import sync_inventory
from bot.store import open_store, queries
from jobs import tag_policy
from jobs.clock import RUN_HOUR_UTC

REGION = "us-east-1"
IMAGE = "ami-12c6146b"
PAYMENTS_CHANNEL = "#payments"
FINOPS_CHANNEL = "#finops"
APPROVER = "U0APPROVER"
STRANGER = "U0STRANGER"
FULL = {"Team": "payments", "Product": "checkout", "Environment": "dev", "CostCenter": "CC-1"}
# Monday 7 December 2026: day 0 of every walk.
DAY0 = date(2026, 12, 7)


def config(**policy: Any) -> Config:
    return parse_config(
        {
            "teams": [{"name": "payments", "channel": PAYMENTS_CHANNEL}],
            "tag_policy": {"notify_channel": FINOPS_CHANNEL, "approvers": [APPROVER], **policy},
        },
        "test.yml",
    )


def instance(tags: dict[str, str] | None = None) -> str:
    """A running EC2 instance; its id."""
    ec2 = boto3.client("ec2", region_name=REGION)
    spec: dict[str, Any] = {"ImageId": IMAGE, "MinCount": 1, "MaxCount": 1}
    spec["InstanceType"] = "t3.micro"
    if tags:
        pairs = [{"Key": k, "Value": v} for k, v in tags.items()]
        spec["TagSpecifications"] = [{"ResourceType": "instance", "Tags": pairs}]
    return ec2.run_instances(**spec)["Instances"][0]["InstanceId"]


def db_instance(name: str, tags: dict[str, str] | None = None) -> str:
    boto3.client("rds", region_name=REGION).create_db_instance(
        DBInstanceIdentifier=name,
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="costbot",
        MasterUserPassword="not-a-secret-1",
        AllocatedStorage=20,
        Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    )
    return name


def instance_state(instance_id: str) -> str:
    ec2 = boto3.client("ec2", region_name=REGION)
    found = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"]
    return found[0]["State"]["Name"]


def db_state(name: str) -> str | None:
    rds = boto3.client("rds", region_name=REGION)
    try:
        return rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0][
            "DBInstanceStatus"
        ]
    except rds.exceptions.DBInstanceNotFoundFault:
        return None


def db_snapshots(name: str) -> list[str]:
    rds = boto3.client("rds", region_name=REGION)
    found = rds.describe_db_snapshots(DBInstanceIdentifier=name)["DBSnapshots"]
    return sorted(s["DBSnapshotIdentifier"] for s in found if s["SnapshotType"] == "manual")


def tag(instance_id: str, tags: dict[str, str]) -> None:
    boto3.client("ec2", region_name=REGION).create_tags(
        Resources=[instance_id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
    )


def at(day: date, hour: int = RUN_HOUR_UTC) -> datetime:
    return datetime.combine(day, time(hour), UTC)


@dataclass
class World:
    """The store, the config and how to reach Slack and AWS for one test."""

    db_path: Path
    config: Config

    @property
    def context(self) -> AppContext:
        return AppContext(config=self.config, db_path=str(self.db_path))

    def delivery(self) -> Delivery:
        client = build_web_client(
            retry_interval=FixedValueRetryIntervalCalculator(0.01), timeout=2, max_retries=0
        )
        return Delivery(client, lambda: open_store(self.db_path))

    def sync(self, day: date) -> None:
        """The daily inventory sync, just before the job (at 08:00 UTC)."""
        db = open_store(self.db_path)
        try:
            sync_inventory(db, self.config, at(day, 8))
        finally:
            db.close()

    def run(self, day: date, *, sync: bool = True, **options: Any) -> tag_policy.TagPolicyRun:
        if sync:
            self.sync(day)
        options.setdefault("delivery", self.delivery())
        options.setdefault("cloud", AwsCloud(self.config))
        return tag_policy.run(self.context, day, **options)

    def query(self, sql: str, params: list | None = None) -> list[dict]:
        db = open_store(self.db_path)
        try:
            return list(db.query(sql, params or []))
        finally:
            db.close()

    def audit(self, resource_id: str) -> list[dict]:
        return self.query(
            "SELECT * FROM enforcement_audit WHERE arn LIKE ? ORDER BY id", [f"%{resource_id}"]
        )

    def state(self, resource_id: str) -> dict | None:
        rows = self.query("SELECT * FROM tag_enforcement WHERE resource_id = ?", [resource_id])
        return rows[0] if rows else None

    def arn(self, resource_id: str) -> str:
        db = open_store(self.db_path)
        try:
            (row,) = [r for r in queries.resources(db) if r["resource_id"] == resource_id]
            return row["arn"]
        finally:
            db.close()
