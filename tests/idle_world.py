"""An AWS account (moto over HTTP) with idle and busy EC2 instances, read into a store by the
real inventory (CPU put into moto's CloudWatch for the last seven days), and the resource-level
cost of the idle ones loaded from a FOCUS file through the real ingest: what the idle job and
its buttons are tested on."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import boto3
import time_machine
from focus_rows import focus_row, write_rows

from bot.config import Config, parse_config
from bot.sources.aws.inventory import sync_inventory
from bot.sources.focus_ingest import ingest_focus
from bot.store import open_store

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
IMAGE = "ami-12c6146b"
APPROVER = "U0APPROVER"
GROUP = "S0FINOPS"  # an approver user group
GROUP_MEMBER = "U0GROUPIE"
ALICE = "U0ALICE"  # on the payments team
STRANGER = "U0STRANGER"
HOSTILE_NAME = "<!channel> *box* & `co`"

CONFIG = {
    "tag_keys": ["Team"],
    "teams": [
        {"name": "payments", "channel": "#payments", "members": [ALICE]},
        {"name": "search", "channel": "#search"},
    ],
    "tag_policy": {"notify_channel": "#finops", "approvers": [APPROVER, GROUP]},
}


@dataclass
class World:
    config: Config
    db_path: Path
    now: datetime  # when the inventory was read
    arns: dict[str, str]  # name -> ARN
    # What each billed instance cost last month, summed here from the FOCUS rows (Decimal).
    last_month_cost: dict[str, Decimal]

    @property
    def today(self) -> date:
        return self.now.date()

    def arn(self, name: str) -> str:
        return self.arns[name]

    def instance_id(self, name: str) -> str:
        return self.arns[name].rsplit("/", 1)[1]

    def state(self, name: str) -> str:
        ec2 = boto3.client("ec2", region_name=REGION)
        found = ec2.describe_instances(InstanceIds=[self.instance_id(name)])["Reservations"]
        return found[0]["Instances"][0]["State"]["Name"]


# name -> tags; every instance but `busy` idles at 1-3% CPU.
INSTANCES = {
    "quiet": {"Team": "payments", "Name": "batch-runner"},
    "hostile": {"Team": "search", "Name": HOSTILE_NAME},
    "exempt": {"Team": "payments", "costbot:exempt": "true"},
    "prod": {"Team": "payments", "Environment": "production"},
    "orphan": {},
    "busy": {"Team": "payments"},
}
# Last month's cost of the billed ones, as the export writes it (10 decimals), three rows each.
BILLED = {
    "quiet": ("41.2345678901", "40.0012345678", "42.7600000000"),
    "hostile": ("10.1040000000", "10.0000000000", "9.9999990000"),
    "prod": ("300.0000000000", "0.0050000000", "0.0000000001"),
}


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _launch(tags: dict[str, str]) -> str:
    ec2 = boto3.client("ec2", region_name=REGION)
    extra = {"TagSpecifications": [{"ResourceType": "instance", "Tags": _tags(tags)}]}
    answer = ec2.run_instances(
        ImageId=IMAGE, MinCount=1, MaxCount=1, InstanceType="t3.micro", **(extra if tags else {})
    )
    return answer["Instances"][0]["InstanceId"]


def put_cpu(instance_id: str, days: list[datetime], percent: float) -> None:
    """Four datapoints a day whose average is `percent`."""
    data = [
        {
            "MetricName": "CPUUtilization",
            "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
            "Timestamp": day + timedelta(hours=hour),
            "Value": percent + offset,
            "Unit": "Percent",
        }
        for day in days
        for hour, offset in ((1, -0.5), (7, 0.5), (13, -0.25), (19, 0.25))
    ]
    boto3.client("cloudwatch", region_name=REGION).put_metric_data(
        Namespace="AWS/EC2", MetricData=data
    )


def build_world(tmp_path: Path, config: dict | None = None) -> World:
    """Launch the instances "10 days ago", give them a week of CPU, read the inventory now,
    and load last month's cost of the billed ones."""
    parsed = parse_config(config or CONFIG, "test.yml")
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    week = [midnight - timedelta(days=n) for n in range(7, 0, -1)]
    with time_machine.travel(now - timedelta(days=10), tick=False):
        ids = {name: _launch(tags) for name, tags in INSTANCES.items()}
    for name, instance_id in ids.items():
        put_cpu(instance_id, week, 40.0 if name == "busy" else 2.0)
    arns = {name: f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{i}" for name, i in ids.items()}

    last_month_end = now.date().replace(day=1) - timedelta(days=1)
    rows, cost = [], {}
    for name, amounts in BILLED.items():
        for number, amount in enumerate(amounts):
            day = last_month_end.replace(day=1 + 9 * number)
            rows.append(
                focus_row(day, amount, sub_account=(ACCOUNT, "acme-prod"), resource=arns[name])
            )
        cost[name] = sum((Decimal(a) for a in amounts), Decimal(0))
    db_path = tmp_path / "costbot.db"
    ingest_focus([str(write_rows(tmp_path / "focus.csv", rows))], parsed, db_path)
    db = open_store(db_path)
    try:
        sync_inventory(db, parsed, now)
    finally:
        db.close()
    return World(parsed, db_path, now, arns, cost)


def dollars(amount: Decimal) -> str:
    """`$123.45`, rounded half up like Costbot's money."""
    from decimal import ROUND_HALF_UP

    return f"${amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,.2f}"


def stored(db_path: Path, sql: str, params: list | None = None) -> list[dict]:
    db = open_store(db_path)
    try:
        return [dict(row) for row in db.query(sql, params or [])]
    finally:
        db.close()


def as_json(value: object) -> str:
    return json.dumps(value, sort_keys=True)
