"""The resource inventory against moto's server over HTTP: two regions, a member account
through an assumed role, tags to teams, terminated instances dropping out, idle instances from
CloudWatch metrics put in the past, and a missing permission answered by a proxy with AWS's
own error."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import time_machine
from aws_deny_proxy import DenyProxy, access_denied, unauthorized_operation

from bot.config import parse_config
from bot.sources.aws.inventory import resource_type_of, sync_inventory
from bot.sources.aws.session import AwsProblem
from bot.store import open_store, queries

HOME = "123456789012"  # moto's default account
MEMBER = "111111111111"
IMAGE = "ami-12c6146b"
TEAMS_CONFIG = {
    "tag_keys": ["Team", "owner"],
    "teams": [
        {"name": "payments", "channel": "#payments"},
        {"name": "platform", "channel": "#platform", "aliases": ["plat-eng"]},
    ],
}


def _config(**aws):
    return parse_config({**TEAMS_CONFIG, "aws": aws}, "test.yml")


def _tags(**tags: str) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _instances(region: str, count: int = 1, session=None, **tags: str) -> list[str]:
    ec2 = (session or boto3).client("ec2", region_name=region)
    extra = {"TagSpecifications": [{"ResourceType": "instance", "Tags": _tags(**tags)}]}
    answer = ec2.run_instances(
        ImageId=IMAGE,
        MinCount=count,
        MaxCount=count,
        InstanceType="t3.micro",
        **(extra if tags else {}),
    )
    return [instance["InstanceId"] for instance in answer["Instances"]]


def _db_instance(region: str, name: str, session=None, **tags: str) -> None:
    (session or boto3).client("rds", region_name=region).create_db_instance(
        DBInstanceIdentifier=name,
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="costbot",
        MasterUserPassword="not-a-secret-1",
        AllocatedStorage=20,
        Tags=_tags(**tags),
    )


def _member_session(account: str = MEMBER) -> boto3.session.Session:
    """What the sync does too: moto maps assumed-role credentials to the role's account."""
    credentials = boto3.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/CostbotReadOnly", RoleSessionName="test-setup"
    )["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def _rows(db, **where) -> dict[str, dict]:
    """Stored resources by id."""
    return {row["resource_id"]: row for row in queries.resources(db, **where)}


@pytest.fixture
def db():
    store = open_store(":memory:")
    yield store
    store.close()


def test_instances_db_instances_and_buckets_in_two_regions(aws, db):
    payments = _instances("us-east-1", 2, team="Payments")  # key and value in another case
    platform = _instances("eu-west-1", 1, owner="Plat-Eng", Name="builder")  # second key, alias
    untagged = _instances("eu-west-1", 1)
    _db_instance("us-east-1", "ledger", Team="payments")
    _db_instance("eu-west-1", "scratch")
    boto3.client("elasticache", region_name="eu-west-1").create_cache_cluster(
        CacheClusterId="sessions",
        Engine="redis",
        CacheNodeType="cache.t3.micro",
        NumCacheNodes=1,
        Tags=_tags(Team="platform"),
    )
    ec2 = boto3.client("ec2", region_name="us-east-1")
    volume = ec2.create_volume(
        AvailabilityZone="us-east-1a",
        Size=10,
        TagSpecifications=[{"ResourceType": "volume", "Tags": _tags(Team="payments")}],
    )["VolumeId"]
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="ledger-exports")
    s3.put_bucket_tagging(Bucket="ledger-exports", Tagging={"TagSet": _tags(Team="payments")})
    boto3.client("s3", region_name="eu-west-1").create_bucket(
        Bucket="eu-logs", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    now = datetime.now(UTC)

    report = sync_inventory(db, _config(regions=["us-east-1", "eu-west-1"]), now)

    rows = _rows(db)
    assert set(rows) == {
        *payments,
        *platform,
        *untagged,
        "ledger",
        "scratch",
        "sessions",
        volume,
        "ledger-exports",
        "eu-logs",
    }
    for instance in payments:
        assert rows[instance]["team"] == "payments"
        assert rows[instance]["region"] == "us-east-1"
        assert rows[instance]["state"] == "running"
        assert rows[instance]["size"] == "t3.micro"
        assert rows[instance]["resource_type"] == "ec2:instance"
        assert rows[instance]["arn"] == f"arn:aws:ec2:us-east-1:{HOME}:instance/{instance}"
        assert json.loads(rows[instance]["tags"]) == {"team": "Payments"}
        assert rows[instance]["launched_at"] <= now.isoformat()
        assert rows[instance]["first_seen"] == now.isoformat(timespec="seconds")
    assert rows[platform[0]]["team"] == "platform"
    assert rows[platform[0]]["name"] == "builder"
    assert rows[untagged[0]]["team"] is None
    assert (rows["ledger"]["team"], rows["ledger"]["size"], rows["ledger"]["state"]) == (
        "payments",
        "db.t3.micro",
        "available",
    )
    assert rows["scratch"]["team"] is None and rows["scratch"]["region"] == "eu-west-1"
    assert rows["sessions"]["resource_type"] == "elasticache:cluster"
    assert rows["sessions"]["team"] == "platform"
    assert rows["sessions"]["size"] == "cache.t3.micro"
    assert rows[volume]["resource_type"] == "ec2:volume"  # from the tagging API alone
    assert rows[volume]["team"] == "payments"
    assert (rows["ledger-exports"]["region"], rows["ledger-exports"]["team"]) == (
        "us-east-1",
        "payments",
    )
    assert (rows["eu-logs"]["region"], rows["eu-logs"]["team"]) == ("eu-west-1", None)
    assert {r["account_id"] for r in rows.values()} == {HOME}

    assert report.warnings == []
    assert report.resources == 10
    assert report.counts[HOME, "eu-west-1", "ec2:instance"] == 2
    assert report.counts[HOME, "global", "s3:bucket"] == 2
    lines = report.lines()
    assert f"  {HOME} eu-west-1: 2 ec2:instance, 1 elasticache:cluster, 1 rds:db" in lines
    assert lines[-1].startswith("Inventory: 10 resources in 1 account and 2 regions")

    counts = {c.name: (c.resources, c.untagged) for c in queries.resource_counts(db, "team")}
    assert counts == {
        "payments": (5, 0),
        "platform": (2, 0),
        queries.UNTAGGED: (3, 3),
    }
    untagged_rows = queries.resources(db, team=queries.UNTAGGED)
    assert {r["resource_id"] for r in untagged_rows} == {*untagged, "scratch", "eu-logs"}
    run = db.execute("SELECT source, status, rows, detail FROM sync_runs").fetchone()
    assert run[:3] == ("inventory", "ok", 10)
    assert json.loads(run[3])["counts"][f"{HOME}/us-east-1"]["ec2:instance"] == 2


def test_a_terminated_instance_drops_out_and_first_seen_is_kept(aws, db):
    kept, terminated = _instances("us-east-1", 2, Team="payments")
    config = _config()
    first = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    sync_inventory(db, config, first)
    assert set(_rows(db)) == {kept, terminated}

    boto3.client("ec2", region_name="us-east-1").terminate_instances(InstanceIds=[terminated])
    second = first + timedelta(days=1)
    report = sync_inventory(db, config, second)

    rows = _rows(db)
    assert set(rows) == {kept}
    assert rows[kept]["first_seen"] == first.isoformat()
    assert rows[kept]["last_seen"] == second.isoformat()
    assert report.counts[HOME, "us-east-1", "ec2:instance"] == 1


def _put_cpu(instance_id: str, daily: dict[datetime, float]) -> None:
    """Four datapoints a day (the day's average is the value given)."""
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    data = [
        {
            "MetricName": "CPUUtilization",
            "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
            "Timestamp": day + timedelta(hours=hour),
            "Value": value + offset,
            "Unit": "Percent",
        }
        for day, value in daily.items()
        for hour, offset in ((1, -1.0), (7, 1.0), (13, -0.5), (19, 0.5))
    ]
    cloudwatch.put_metric_data(Namespace="AWS/EC2", MetricData=data)


def test_idle_instances_from_seven_days_of_cpu(aws, db):
    now = datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    week = [today - timedelta(days=n) for n in range(7, 0, -1)]
    # moto stamps LaunchTime with its clock: launch these "10 days ago" and "3 days ago".
    with time_machine.travel(now - timedelta(days=10), tick=False):
        quiet, busy_one_day, stopped = _instances("us-east-1", 3, Team="payments")
    with time_machine.travel(now - timedelta(days=3), tick=False):
        (young,) = _instances("us-east-1", 1, Team="payments")
    boto3.client("ec2", region_name="us-east-1").stop_instances(InstanceIds=[stopped])
    _put_cpu(quiet, {day: 3.0 for day in week})
    _put_cpu(busy_one_day, {day: (40.0 if day == week[3] else 3.0) for day in week})
    _put_cpu(young, {day: 3.0 for day in week[-3:]})
    _put_cpu(stopped, {day: 1.0 for day in week})

    report = sync_inventory(db, _config(), now)

    rows = _rows(db)
    assert {i for i, row in rows.items() if row["idle"]} == {quiet}
    assert json.loads(rows[quiet]["cpu_daily"]) == {day.date().isoformat(): 3.0 for day in week}
    busy_days = json.loads(rows[busy_one_day]["cpu_daily"])
    assert busy_days[week[3].date().isoformat()] == 40.0 and len(busy_days) == 7
    assert len(json.loads(rows[young]["cpu_daily"])) == 3  # too young to say
    assert rows[stopped]["state"] == "stopped" and rows[stopped]["cpu_daily"] is None
    assert (report.idle, report.running_instances) == (1, 3)
    assert [r["resource_id"] for r in queries.idle_resources(db, team="payments")] == [quiet]
    assert report.lines()[-1].endswith("1 of 3 running EC2 instances idle")

    # The threshold is the config's: under 2%, no day of `quiet` (3%) counts as idle.
    strict = _config(idle_cpu_percent=2)
    assert sync_inventory(db, strict, now).idle == 0
    assert queries.idle_resources(db) == []


def test_member_accounts_are_read_through_the_assumed_role(aws, db):
    (home_instance,) = _instances("us-east-1", 1, Team="payments")
    member = _member_session()
    (member_instance,) = _instances("us-east-1", 1, session=member, Team="platform")
    _db_instance("us-east-1", "member-db", session=member)
    member.client("s3", region_name="us-east-1").create_bucket(Bucket="member-bucket")
    config = _config(accounts=[HOME, MEMBER], assume_role="CostbotReadOnly")

    report = sync_inventory(db, config, datetime.now(UTC))

    assert report.warnings == []
    assert report.accounts == [HOME, MEMBER]
    by_account = {
        account: {r["resource_id"] for r in queries.resources(db, account=account)}
        for account in (HOME, MEMBER)
    }
    assert by_account == {
        HOME: {home_instance},
        MEMBER: {member_instance, "member-db", "member-bucket"},
    }
    row = _rows(db)[member_instance]
    assert row["arn"] == f"arn:aws:ec2:us-east-1:{MEMBER}:instance/{member_instance}"
    assert row["team"] == "platform"
    counts = {c.name: c.resources for c in queries.resource_counts(db, "account")}
    assert counts == {MEMBER: 3, HOME: 1}


def test_access_denied_in_one_account_names_it_and_keeps_that_part(aws, db, monkeypatch):
    (home_instance,) = _instances("us-east-1", 1, Team="payments")
    member = _member_session()
    (member_instance,) = _instances("us-east-1", 1, session=member, Team="platform")
    _db_instance("us-east-1", "member-db", session=member)
    config = _config(accounts=[HOME, MEMBER], assume_role="CostbotReadOnly")
    first = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    with DenyProxy(aws) as proxy:
        # Only EC2 goes through the proxy: the service's own standard variable.
        monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", proxy.url)
        sync_inventory(db, config, first)
        member_before = _rows(db, account=MEMBER)
        assert set(member_before) == {member_instance, "member-db"}

        # Then the member account's instances change, its role loses ec2:DescribeInstances
        # (the caller's own credentials keep it), and home gets a new instance.
        member.client("ec2", region_name="us-east-1").terminate_instances(
            InstanceIds=[member_instance]
        )
        _instances("us-east-1", 1, session=member, Team="platform")
        _db_instance("us-east-1", "member-db-2", session=member)
        (new_home,) = _instances("us-east-1", 1, Team="payments")
        proxy.rules.append(
            lambda call: (
                unauthorized_operation()
                if call.action == "DescribeInstances" and call.access_key != "testing"
                else None
            )
        )
        report = sync_inventory(db, config, first + timedelta(days=1))

    assert report.warnings == [
        f"access denied: ec2:DescribeInstances in account {MEMBER}"
        " (see the IAM policy in README 'Connect AWS')"
    ]
    assert [call.action for call in proxy.denied] == ["DescribeInstances"]
    member_after = _rows(db, account=MEMBER)
    # The instances of the failed read are as they were stored; the DB instances are new.
    assert member_after[member_instance] == member_before[member_instance]
    assert set(member_after) == {member_instance, "member-db", "member-db-2"}
    assert member_after["member-db"]["last_seen"] == (first + timedelta(days=1)).isoformat()
    assert set(_rows(db, account=HOME)) == {home_instance, new_home}
    status, detail = db.execute(
        "SELECT status, detail FROM sync_runs ORDER BY id DESC LIMIT 1"
    ).fetchone()
    assert status == "partial"
    assert json.loads(detail)["warnings"] == report.warnings
    assert f"warning: {report.warnings[0]}" in report.lines()


def test_a_role_that_cannot_be_assumed_skips_that_account(aws, db, monkeypatch):
    other = "222222222222"
    (member_instance,) = _instances("us-east-1", 1, session=_member_session(), Team="platform")
    _instances("us-east-1", 1, session=_member_session(other), Team="search")
    config = _config(accounts=[MEMBER, other], assume_role="CostbotReadOnly")
    with DenyProxy(aws) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", proxy.url)
        proxy.rules.append(
            lambda call: (
                access_denied("sts:AssumeRole")
                if call.action == "AssumeRole" and other in call.body
                else None
            )
        )
        report = sync_inventory(db, config, datetime.now(UTC))

    assert report.warnings == [
        f"skipped account {other}: access denied: sts:AssumeRole in account {other}"
        " (see the IAM policy in README 'Connect AWS')"
    ]
    assert report.accounts == [MEMBER]
    assert set(_rows(db)) == {member_instance}


def test_tagging_api_denied_keeps_the_tags_only_it_can_read(aws, db, monkeypatch):
    (instance,) = _instances("us-east-1", 1, Team="payments")
    boto3.client("elasticache", region_name="us-east-1").create_cache_cluster(
        CacheClusterId="sessions",
        Engine="redis",
        CacheNodeType="cache.t3.micro",
        NumCacheNodes=1,
        Tags=_tags(Team="platform"),
    )
    volume = boto3.client("ec2", region_name="us-east-1").create_volume(
        AvailabilityZone="us-east-1a",
        Size=10,
        TagSpecifications=[{"ResourceType": "volume", "Tags": _tags(Team="search")}],
    )["VolumeId"]
    config = _config()
    with DenyProxy(aws) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API", proxy.url)
        sync_inventory(db, config, datetime(2026, 11, 20, tzinfo=UTC))
        before = _rows(db)
        proxy.rules.append(
            lambda call: (
                (400, "AccessDeniedException", "not authorized")
                if call.action == "GetResources"
                else None
            )
        )
        report = sync_inventory(db, config, datetime(2026, 11, 21, tzinfo=UTC))

    assert report.warnings == [
        f"access denied: tag:GetResources in account {HOME}"
        " (see the IAM policy in README 'Connect AWS')"
    ]
    after = _rows(db)
    assert after[volume] == before[volume]  # only the tagging API lists volumes: kept as is
    assert after["sessions"]["team"] == "platform"  # its tags: the ones stored
    assert after["sessions"]["last_seen"] == "2026-11-21T00:00:00+00:00"
    assert after[instance]["team"] == "payments"  # DescribeInstances carries the tags


def test_expired_credentials_stop_the_sync_with_one_line(aws, db, monkeypatch):
    _instances("us-east-1", 1)
    with DenyProxy(aws) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", proxy.url)
        proxy.rules.append(
            lambda call: (
                (403, "ExpiredToken", "The security token included in the request is expired")
                if call.action == "GetCallerIdentity"
                else None
            )
        )
        with pytest.raises(AwsProblem) as problem:
            sync_inventory(db, _config(), datetime.now(UTC))
    assert str(problem.value) == (
        "AWS credentials expired or invalid (ExpiredToken) calling sts:GetCallerIdentity:"
        " refresh them"
    )
    assert queries.resources(db) == []
    assert db.execute("SELECT status FROM sync_runs").fetchone()[0] == "failed"


@pytest.mark.parametrize(
    ("arn", "kind"),
    [
        ("arn:aws:ec2:us-east-1:123456789012:instance/i-0abc", "ec2:instance"),
        ("arn:aws:rds:eu-west-1:123456789012:db:ledger", "rds:db"),
        ("arn:aws:elasticache:us-east-1:123456789012:cluster:sessions", "elasticache:cluster"),
        ("arn:aws:s3:::ledger-exports", "s3:bucket"),
        ("arn:aws:lambda:us-east-1:123456789012:function:resize:prod", "lambda:function"),
        ("arn:aws:sns:us-east-1:123456789012:alerts", "sns"),
    ],
)
def test_resource_type_from_arn(arn, kind):
    assert resource_type_of(arn) == kind
