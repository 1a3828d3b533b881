"""The AWS resource inventory: every live resource of the configured member accounts and
regions, with its state, launch time, tags, owning team and, for EC2, whether it is idle.

Per account (a role assumed in each member account) and region:

- the Resource Groups Tagging API (`GetResources`) for the tags of everything tagged, which
  also brings the resource types no describe below covers (volumes, Lambda functions, ...);
- `ec2:DescribeInstances`, `rds:DescribeDBInstances`, `elasticache:DescribeCacheClusters` for
  state, launch time and size (and the untagged ones, which the tagging API does not list);
- CloudWatch `GetMetricData` (500 instances a call, one daily average each) for the CPU of
  running instances over the last `aws.idle_days` full days;

and once per account `s3:ListBuckets` with each bucket's region.

A read that fails (a missing permission, say) gives one line naming the action and the
account, and keeps what the store held for that read; the inventory goes on with the rest.
Expired or missing credentials stop it (`AwsProblem`).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import boto3
import sqlite_utils
from botocore.exceptions import BotoCoreError, ClientError

from bot.config import Config
from bot.sources.aws.cpu import METRIC_QUERIES_PER_CALL, IdleWindow, daily_cpu
from bot.sources.aws.session import (
    AwsProblem,
    base_session,
    caller_account,
    describe_aws_error,
    error_code,
    is_credentials_problem,
    make_client,
    member_session,
)
from bot.sources.focus import tag_dimensions
from bot.store.schema import ACCOUNT_WIDE
from bot.store.writers import InventorySnapshot, record_sync_run, write_inventory_snapshot

# The types a describe reads (their rows belong to that read); the tagging API only adds tags.
DESCRIBED_TYPES = {
    "ec2:instance": "ec2",
    "rds:db": "rds",
    "elasticache:cluster": "elasticache",
    "s3:bucket": "s3",
}
# What each read needs, for the one line a failure gives.
ACTIONS = {
    "tagging": "tag:GetResources",
    "ec2": "ec2:DescribeInstances",
    "rds": "rds:DescribeDBInstances",
    "elasticache": "elasticache:DescribeCacheClusters",
    "cloudwatch": "cloudwatch:GetMetricData",
    "s3": "s3:ListAllMyBuckets",
    "s3-location": "s3:GetBucketLocation",
    "s3-tagging": "s3:GetBucketTagging",
}
LIVE_INSTANCE_STATES = ["pending", "running", "shutting-down", "stopping", "stopped"]

T = TypeVar("T")


@dataclass
class InventoryReport:
    accounts: list[str] = field(default_factory=list)  # the accounts read
    regions: list[str] = field(default_factory=list)
    # (account, region, resource type) -> resources found
    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    idle: int = 0
    running_instances: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "partial" if self.warnings else "ok"

    @property
    def resources(self) -> int:
        return sum(self.counts.values())

    def warn(self, line: str) -> None:
        if line not in self.warnings:
            self.warnings.append(line)

    def detail(self) -> dict[str, Any]:
        per_place: dict[str, dict[str, int]] = {}
        for (account, region, kind), count in sorted(self.counts.items()):
            per_place.setdefault(f"{account}/{region}", {})[kind] = count
        return {
            "accounts": self.accounts,
            "regions": self.regions,
            "counts": per_place,
            "idle": self.idle,
            "running_instances": self.running_instances,
            "warnings": self.warnings,
        }

    def lines(self) -> list[str]:
        lines = []
        per_place: dict[tuple[str, str], Counter[str]] = {}
        for (account, region, kind), count in self.counts.items():
            per_place.setdefault((account, region), Counter())[kind] += count
        for (account, region), kinds in sorted(per_place.items()):
            parts = ", ".join(f"{n:,} {kind}" for kind, n in sorted(kinds.items()))
            lines.append(f"  {account} {region}: {parts}")
        lines += [f"warning: {line}" for line in self.warnings]
        accounts, regions = len(self.accounts), len(self.regions)
        lines.append(
            f"Inventory: {self.resources:,} resources in {accounts} account"
            f"{'' if accounts == 1 else 's'} and {regions} region{'' if regions == 1 else 's'};"
            f" {self.idle:,} of {self.running_instances:,} running EC2 instances idle"
            + (f"; {len(self.warnings)} warning(s)" if self.warnings else "")
        )
        return lines


def sync_inventory(
    db: sqlite_utils.Database,
    config: Config,
    now: datetime,
    session: boto3.session.Session | None = None,
) -> InventoryReport:
    """Read the inventory of every configured account and region into the store (one
    transaction per account and region) and record the run in `sync_runs`."""
    now = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    seen_at = now.isoformat(timespec="seconds")
    clock = time.monotonic()
    report = InventoryReport()
    try:
        _sync(db, config, now, seen_at, session or base_session(), report)
    except AwsProblem as problem:
        report.warn(str(problem))
        _record(db, report, now, clock, "failed")
        raise
    _record(db, report, now, clock, report.status)
    return report


def _record(
    db: sqlite_utils.Database, report: InventoryReport, now: datetime, clock: float, status: str
) -> None:
    elapsed = timedelta(seconds=time.monotonic() - clock)
    record_sync_run(
        db,
        source="inventory",
        started_at=now.isoformat(timespec="seconds"),
        finished_at=(now + elapsed).isoformat(timespec="seconds"),
        status=status,
        rows=report.resources,
        paid_requests=0,
        cost_micros=0,
        detail=report.detail(),
    )


def _sync(
    db: sqlite_utils.Database,
    config: Config,
    now: datetime,
    seen_at: str,
    session: boto3.session.Session,
    report: InventoryReport,
) -> None:
    home = caller_account(session)
    regions = list(config.aws.regions) or [session.region_name or ""]
    if not regions[0]:
        raise AwsProblem("no AWS region configured: set AWS_REGION or aws.regions in costbot.yml")
    report.regions = regions
    for account in config.aws.accounts or (home,):
        try:
            member = member_session(session, account, config.aws.assume_role, home)
        except AwsProblem as problem:
            if _stops_sync(problem):
                raise
            report.warn(f"skipped account {account}: {problem}")
            continue
        report.accounts.append(account)
        reader = _AccountReader(member.session, account, config, now, report)
        for region in regions:
            snapshot = reader.read_region(region, seen_at)
            write_inventory_snapshot(db, snapshot)
        write_inventory_snapshot(db, reader.read_buckets(seen_at))


def _stops_sync(problem: AwsProblem) -> bool:
    # The caller's own credentials expired or invalid while assuming a role is not the member
    # account's problem: nothing else would work either. (`from None` hides the AWS error
    # from tracebacks, but it stays the exception's context.)
    cause = problem.__context__
    return cause is not None and is_credentials_problem(cause)


class _AccountReader:
    """The reads of one account; what the tagging API returned is kept per region for the
    S3 buckets, which are listed once per account."""

    def __init__(
        self,
        session: boto3.session.Session,
        account: str,
        config: Config,
        now: datetime,
        report: InventoryReport,
    ) -> None:
        self.session, self.account, self.config = session, account, config
        self.now, self.report = now, report
        self.bucket_tags: dict[str, dict[str, str]] = {}  # bucket ARN -> tags, tagging API
        self.tagged_regions: set[str] = set()  # regions whose tagging read succeeded
        self.seen_arns: set[str] = set()  # a global resource listed in every region: once

    # -- one call, its failure as one line

    def _attempt(self, read: str, call: Callable[[], T]) -> T | None:
        try:
            return call()
        except (ClientError, BotoCoreError) as error:
            line = describe_aws_error(error, ACTIONS[read], self.account)
            if is_credentials_problem(error):
                raise AwsProblem(line) from None
            self.report.warn(line)
            return None

    def _client(self, service: str, region: str):
        return make_client(self.session, service, region)

    def _partition(self, region: str | None) -> str:
        # aws, aws-cn, aws-us-gov: the ARNs built here must match the tagging API's.
        return self.session.get_partition_for_region(region or "us-east-1")

    # -- a region

    def read_region(self, region: str, seen_at: str) -> InventorySnapshot:
        snapshot = InventorySnapshot(self.account, region, seen_at, reads=set())
        tags_by_arn = self._attempt("tagging", lambda: self._tagged_resources(region))
        if tags_by_arn is not None:
            snapshot.reads.add("tagging")
            self.tagged_regions.add(region)

        def tags_of(arn: str) -> dict[str, str] | None:
            # The tagging API lists what is (or was) tagged: not listed means no tags.
            return None if tags_by_arn is None else tags_by_arn.get(arn, {})

        for read, describe in (
            ("ec2", self._instances),
            ("rds", self._db_instances),
            ("elasticache", self._cache_clusters),
        ):
            found = self._attempt(read, lambda describe=describe: describe(region, tags_of))
            if found is not None:
                snapshot.reads.add(read)
                snapshot.resources += found
        running = [
            r
            for r in snapshot.resources
            if r["resource_type"] == "ec2:instance" and r["state"] == "running"
        ]
        self._assess_idle(region, running)
        for arn, tags in (tags_by_arn or {}).items():
            kind = resource_type_of(arn)
            if kind == "s3:bucket":
                self.bucket_tags[arn] = tags
            elif kind not in DESCRIBED_TYPES and arn not in self.seen_arns:
                snapshot.resources.append(self._tagged_only(arn, tags))
        for resource in snapshot.resources:
            self.seen_arns.add(resource["arn"])
            self.report.counts[self.account, region, resource["resource_type"]] += 1
        return snapshot

    def _tagged_resources(self, region: str) -> dict[str, dict[str, str]]:
        pages = self._client("resourcegroupstaggingapi", region).get_paginator("get_resources")
        return {
            item["ResourceARN"]: {t["Key"]: t["Value"] for t in item.get("Tags", [])}
            for page in pages.paginate(ResourcesPerPage=100)
            for item in page.get("ResourceTagMappingList", [])
        }

    def _resource(self, **values: Any) -> dict[str, Any]:
        tags = values.get("tags")
        values["team"] = None if tags is None else team_of(tags, self.config)
        # A running instance is assessed by CloudWatch (None until then: kept as stored if
        # CloudWatch cannot be read); nothing else is ever idle.
        running = values["resource_type"] == "ec2:instance" and values.get("state") == "running"
        values.setdefault("idle", None if running else 0)
        values["account_id"] = self.account
        return values

    def _instances(self, region: str, tags_of) -> list[dict[str, Any]]:
        pages = self._client("ec2", region).get_paginator("describe_instances")
        found = []
        filters = [{"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES}]
        for page in pages.paginate(Filters=filters, PaginationConfig={"PageSize": 1000}):
            for reservation in page.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    state = instance.get("State", {}).get("Name")
                    if state == "terminated":
                        continue
                    instance_id = instance["InstanceId"]
                    tags = _tag_dict(instance.get("Tags", []))
                    found.append(
                        self._resource(
                            arn=f"arn:{self._partition(region)}:ec2:{region}:{self.account}:instance/{instance_id}",
                            resource_id=instance_id,
                            resource_type="ec2:instance",
                            region=region,
                            name=_name_tag(tags) or instance_id,
                            state=state,
                            launched_at=_iso(instance.get("LaunchTime")),
                            tags=tags,
                            size=instance.get("InstanceType"),
                            read_by="ec2",
                        )
                    )
        return found

    def _db_instances(self, region: str, tags_of) -> list[dict[str, Any]]:
        pages = self._client("rds", region).get_paginator("describe_db_instances")
        found = []
        for page in pages.paginate():
            for instance in page.get("DBInstances", []):
                arn = instance["DBInstanceArn"]
                tags = _tag_dict(instance["TagList"]) if "TagList" in instance else tags_of(arn)
                found.append(
                    self._resource(
                        arn=arn,
                        resource_id=instance["DBInstanceIdentifier"],
                        resource_type="rds:db",
                        region=region,
                        name=instance["DBInstanceIdentifier"],
                        state=instance.get("DBInstanceStatus"),
                        launched_at=_iso(instance.get("InstanceCreateTime")),
                        tags=tags,
                        size=instance.get("DBInstanceClass"),
                        read_by="rds",
                    )
                )
        return found

    def _cache_clusters(self, region: str, tags_of) -> list[dict[str, Any]]:
        pages = self._client("elasticache", region).get_paginator("describe_cache_clusters")
        found = []
        for page in pages.paginate():
            for cluster in page.get("CacheClusters", []):
                cluster_id = cluster["CacheClusterId"]
                arn = cluster.get("ARN") or (
                    f"arn:{self._partition(region)}:elasticache:{region}:{self.account}:cluster:{cluster_id}"
                )
                found.append(
                    self._resource(
                        arn=arn,
                        resource_id=cluster_id,
                        resource_type="elasticache:cluster",
                        region=region,
                        name=cluster_id,
                        state=cluster.get("CacheClusterStatus"),
                        launched_at=_iso(cluster.get("CacheClusterCreateTime")),
                        # DescribeCacheClusters carries no tags: the tagging API's, or the
                        # stored ones when it failed (None).
                        tags=tags_of(arn),
                        size=cluster.get("CacheNodeType"),
                        read_by="elasticache",
                    )
                )
        return found

    def _tagged_only(self, arn: str, tags: dict[str, str]) -> dict[str, Any]:
        resource_id = resource_id_of(arn)
        region = arn.split(":")[3] or "global"
        return self._resource(
            arn=arn,
            resource_id=resource_id,
            resource_type=resource_type_of(arn),
            region=region,
            name=_name_tag(tags) or resource_id,
            tags=tags,
            read_by="tagging",
        )

    # -- idle EC2 instances

    def _assess_idle(self, region: str, running: list[dict[str, Any]]) -> None:
        """CPU per day of running instances and whether each is idle (see bot.sources.aws.cpu);
        when CloudWatch cannot be read, `idle` stays None: the stored verdict is kept."""
        settings = self.config.aws
        window = IdleWindow.ending(self.now, settings.idle_days)
        self.report.running_instances += len(running)
        client = self._client("cloudwatch", region)
        for first in range(0, len(running), METRIC_QUERIES_PER_CALL):
            batch = running[first : first + METRIC_QUERIES_PER_CALL]
            ids = [instance["resource_id"] for instance in batch]
            series = self._attempt("cloudwatch", lambda ids=ids: daily_cpu(client, ids, window))
            if series is None:
                return  # one line said why; these instances are not assessed this time
            for instance, daily in zip(batch, series, strict=True):
                instance["cpu_daily"] = {day: round(value, 3) for day, value in daily.items()}
                instance["idle"] = int(
                    window.is_idle(daily, instance["launched_at"], settings.idle_cpu_percent)
                )
                self.report.idle += instance["idle"]

    # -- S3, once per account

    def read_buckets(self, seen_at: str) -> InventorySnapshot:
        snapshot = InventorySnapshot(self.account, ACCOUNT_WIDE, seen_at, reads=set())
        buckets = self._attempt("s3", self._bucket_list)
        if buckets is None:
            return snapshot
        snapshot.reads.add("s3")
        s3 = self._client("s3", self.session.region_name)
        for bucket in buckets:
            name = bucket["Name"]
            arn = f"arn:{self._partition(self.session.region_name)}:s3:::{name}"
            region = bucket.get("BucketRegion") or self._attempt(
                "s3-location", lambda name=name: _bucket_region(s3, name)
            )
            if arn in self.bucket_tags:
                tags = self.bucket_tags[arn]
            elif region in self.tagged_regions:
                tags = {}  # the tagging API of its region lists it only when tagged
            else:
                tags = self._attempt("s3-tagging", lambda name=name: _bucket_tagging(s3, name))
            snapshot.resources.append(
                self._resource(
                    arn=arn,
                    resource_id=name,
                    resource_type="s3:bucket",
                    region=region,
                    name=name,
                    launched_at=_iso(bucket.get("CreationDate")),
                    tags=tags,
                    read_by="s3",
                )
            )
            self.report.counts[self.account, ACCOUNT_WIDE, "s3:bucket"] += 1
        return snapshot

    def _bucket_list(self) -> list[dict[str, Any]]:
        client = self._client("s3", self.session.region_name)
        if client.can_paginate("list_buckets"):
            pages = client.get_paginator("list_buckets").paginate()
            return [bucket for page in pages for bucket in page.get("Buckets", [])]
        return client.list_buckets().get("Buckets", [])


def _bucket_region(s3, name: str) -> str:
    location = s3.get_bucket_location(Bucket=name).get("LocationConstraint")
    # The oldest regions answer with no constraint (us-east-1) or the legacy "EU".
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)


def _bucket_tagging(s3, name: str) -> dict[str, str]:
    try:
        return _tag_dict(s3.get_bucket_tagging(Bucket=name).get("TagSet", []))
    except ClientError as error:
        if error_code(error) == "NoSuchTagSet":
            return {}
        raise


def team_of(tags: dict[str, str], config: Config) -> str | None:
    """The owning team by the config's tag rules: the first of `tag_keys` present (keys
    matched case-insensitively, as for billing data), its value through the aliases."""
    raw = tag_dimensions(json.dumps(tags), config.tag_keys)["team"]
    return config.canonical_team(raw)


def resource_type_of(arn: str) -> str:
    """`service:type` of an ARN: ec2:instance, rds:db, lambda:function, s3:bucket, ..."""
    parts = arn.split(":", 5)
    service, resource = parts[2], parts[5] if len(parts) > 5 else ""
    kind = _split_resource(resource)[0]
    if service == "s3" and not kind:
        return "s3:bucket"
    return f"{service}:{kind}" if kind else service


def resource_id_of(arn: str) -> str:
    parts = arn.split(":", 5)
    return _split_resource(parts[5] if len(parts) > 5 else arn)[1]


def _split_resource(resource: str) -> tuple[str, str]:
    """("instance", "i-0abc") from "instance/i-0abc" or "db:mydb"; ("", name) otherwise."""
    cuts = [i for i in (resource.find("/"), resource.find(":")) if i > 0]
    if not cuts:
        return "", resource
    cut = min(cuts)
    return resource[:cut], resource[cut + 1 :]


def _tag_dict(tags: Iterable[dict[str, str]]) -> dict[str, str]:
    return {tag["Key"]: tag.get("Value", "") for tag in tags}


def _name_tag(tags: dict[str, str]) -> str | None:
    return next((value for key, value in tags.items() if key.lower() == "name" and value), None)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.isoformat(timespec="seconds")
