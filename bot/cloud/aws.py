"""Changing AWS resources: re-read one resource's tags and state right before acting, stop it,
terminate it (an RDS DB instance with a final snapshot), tag it.

Member accounts are reached through the same role as the inventory (`aws.assume_role`), the
clients retry like every AWS client of Costbot (bot/sources/aws/session.py), and a failure is
one line naming the action and the account (`CloudActionFailed`), never a traceback.

`CloudActions` is what callers depend on: `AwsCloud` here, and the demo's in-memory cloud,
which lets `costbot demo` show the ladder without an AWS account.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from bot.config import Config
from bot.sources.aws.inventory import resource_id_of, resource_type_of
from bot.sources.aws.session import (
    AwsProblem,
    base_session,
    caller_account,
    describe_aws_error,
    error_code,
    make_client,
    member_session,
)

T = TypeVar("T")

EC2_INSTANCE = "ec2:instance"
RDS_DB = "rds:db"
# Errors that mean "it is not there (any more)": a re-read returns None.
GONE_CODES = {
    "InvalidInstanceID.NotFound",
    "InvalidInstanceID.Malformed",
    "DBInstanceNotFound",
    "DBInstanceNotFoundFault",
    "CacheClusterNotFound",
    "NoSuchBucket",
}


class CloudActionFailed(Exception):
    """A change (or the re-read before it) failed; the message is one line."""


@dataclass(frozen=True)
class LiveResource:
    """A resource as it is right now, read straight from the cloud."""

    arn: str
    resource_type: str
    resource_id: str
    account: str
    region: str
    state: str | None  # running, stopped, available, ... (None: the type has no state)
    tags: dict[str, str] = field(default_factory=dict)


class CloudActions(Protocol):
    def read(self, arn: str) -> LiveResource | None:
        """The resource now; None when it no longer exists."""

    def stop(self, arn: str) -> None: ...

    def terminate(self, arn: str, *, final_snapshot_id: str | None = None) -> None:
        """Terminate an EC2 instance, delete an RDS DB instance (taking the final snapshot
        `final_snapshot_id` first, which RDS does as part of the delete)."""

    def tag(self, arn: str, tags: Mapping[str, str]) -> None:
        """Add (or overwrite) these tags; other tags are kept."""


def arn_parts(arn: str) -> tuple[str, str, str, str]:
    """(resource type, resource id, account, region) of an ARN."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        raise CloudActionFailed(f"not an ARN: {arn[:200]!r}")
    return resource_type_of(arn), resource_id_of(arn), parts[4], parts[3]


class AwsCloud:
    """`CloudActions` on AWS, through the standard credential chain (and the member role)."""

    def __init__(self, config: Config, session: boto3.session.Session | None = None) -> None:
        self.config = config
        self._base = session
        self._home: str | None = None
        self._sessions: dict[str, boto3.session.Session] = {}

    # -- sessions

    def _session_for(self, account: str) -> boto3.session.Session:
        if account not in self._sessions:
            try:
                if self._base is None:
                    self._base = base_session()
                if self._home is None:
                    self._home = caller_account(self._base)
                member = member_session(
                    self._base, account, self.config.aws.assume_role, self._home
                )
            except AwsProblem as problem:
                raise CloudActionFailed(str(problem)) from None
            self._sessions[account] = member.session
        return self._sessions[account]

    def _client(self, service: str, account: str, region: str):
        return make_client(self._session_for(account), service, region or None)

    def _call(self, action: str, account: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except (ClientError, BotoCoreError) as error:
            raise CloudActionFailed(describe_aws_error(error, action, account)) from None

    # -- CloudActions

    def read(self, arn: str) -> LiveResource | None:
        kind, resource_id, account, region = arn_parts(arn)

        def live(state: str | None, tags: dict[str, str]) -> LiveResource:
            return LiveResource(arn, kind, resource_id, account, region, state, tags)

        try:
            if kind == EC2_INSTANCE:
                ec2 = self._client("ec2", account, region)
                reservations = ec2.describe_instances(InstanceIds=[resource_id])["Reservations"]
                instances = [i for r in reservations for i in r.get("Instances", [])]
                if not instances:
                    return None
                instance = instances[0]
                return live(instance["State"]["Name"], _tag_dict(instance.get("Tags", [])))
            if kind == RDS_DB:
                rds = self._client("rds", account, region)
                found = rds.describe_db_instances(DBInstanceIdentifier=resource_id)["DBInstances"]
                if not found:
                    return None
                db_instance = found[0]
                tags = db_instance.get("TagList")
                if tags is None:  # older APIs: tags only through ListTagsForResource
                    tags = rds.list_tags_for_resource(ResourceName=arn).get("TagList", [])
                return live(db_instance.get("DBInstanceStatus"), _tag_dict(tags))
            tagging = self._client("resourcegroupstaggingapi", account, region)
            mappings = tagging.get_resources(ResourceARNList=[arn]).get(
                "ResourceTagMappingList", []
            )
            tags = mappings[0].get("Tags", []) if mappings else []
            return live(None, _tag_dict(tags))
        except ClientError as error:
            if error_code(error) in GONE_CODES:
                return None
            raise CloudActionFailed(
                describe_aws_error(error, _read_action(kind), account)
            ) from None
        except BotoCoreError as error:
            raise CloudActionFailed(
                describe_aws_error(error, _read_action(kind), account)
            ) from None

    def stop(self, arn: str) -> None:
        kind, resource_id, account, region = arn_parts(arn)
        if kind == EC2_INSTANCE:
            ec2 = self._client("ec2", account, region)
            self._call(
                "ec2:StopInstances", account, lambda: ec2.stop_instances(InstanceIds=[resource_id])
            )
        elif kind == RDS_DB:
            rds = self._client("rds", account, region)
            self._call(
                "rds:StopDBInstance",
                account,
                lambda: rds.stop_db_instance(DBInstanceIdentifier=resource_id),
            )
        else:
            raise CloudActionFailed(f"{kind} cannot be stopped: only EC2 and RDS instances")

    def terminate(self, arn: str, *, final_snapshot_id: str | None = None) -> None:
        kind, resource_id, account, region = arn_parts(arn)
        if kind == EC2_INSTANCE:
            ec2 = self._client("ec2", account, region)
            self._call(
                "ec2:TerminateInstances",
                account,
                lambda: ec2.terminate_instances(InstanceIds=[resource_id]),
            )
        elif kind == RDS_DB:
            if not final_snapshot_id:
                raise CloudActionFailed(
                    f"{resource_id}: an RDS DB instance is never deleted without a final snapshot"
                )
            rds = self._client("rds", account, region)
            self._call(
                "rds:DeleteDBInstance",
                account,
                lambda: rds.delete_db_instance(
                    DBInstanceIdentifier=resource_id,
                    SkipFinalSnapshot=False,
                    FinalDBSnapshotIdentifier=final_snapshot_id,
                    DeleteAutomatedBackups=False,
                ),
            )
        else:
            raise CloudActionFailed(f"{kind} cannot be terminated: only EC2 and RDS instances")

    def tag(self, arn: str, tags: Mapping[str, str]) -> None:
        kind, resource_id, account, region = arn_parts(arn)
        tags = {str(key): str(value) for key, value in tags.items()}
        if not tags:
            return
        pairs = [{"Key": key, "Value": value} for key, value in tags.items()]
        # Each service's own call where it has one (the permissions the IAM policy names),
        # the tagging API for everything else.
        if kind.startswith("ec2:"):
            ec2 = self._client("ec2", account, region)
            self._call(
                "ec2:CreateTags",
                account,
                lambda: ec2.create_tags(Resources=[resource_id], Tags=pairs),
            )
        elif kind.startswith("rds:"):
            rds = self._client("rds", account, region)
            self._call(
                "rds:AddTagsToResource",
                account,
                lambda: rds.add_tags_to_resource(ResourceName=arn, Tags=pairs),
            )
        elif kind == "s3:bucket":
            self._tag_bucket(resource_id, account, tags)
        else:
            tagging = self._client("resourcegroupstaggingapi", account, region)
            answer = self._call(
                "tag:TagResources",
                account,
                lambda: tagging.tag_resources(ResourceARNList=[arn], Tags=tags),
            )
            failed = (answer or {}).get("FailedResourcesMap") or {}
            if failed:
                reason = next(iter(failed.values()))
                raise CloudActionFailed(
                    f"tag:TagResources in account {account} failed: "
                    f"{reason.get('ErrorCode', '')} {str(reason.get('ErrorMessage', ''))[:200]}"
                )

    def _tag_bucket(self, bucket: str, account: str, tags: dict[str, str]) -> None:
        # PutBucketTagging replaces the whole set: merge with what the bucket carries.
        s3 = self._client("s3", account, "")
        try:
            current = _tag_dict(s3.get_bucket_tagging(Bucket=bucket).get("TagSet", []))
        except ClientError as error:
            if error_code(error) != "NoSuchTagSet":
                raise CloudActionFailed(
                    describe_aws_error(error, "s3:GetBucketTagging", account)
                ) from None
            current = {}
        merged = current | tags
        self._call(
            "s3:PutBucketTagging",
            account,
            lambda: s3.put_bucket_tagging(
                Bucket=bucket,
                Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in merged.items()]},
            ),
        )


def _read_action(kind: str) -> str:
    return {EC2_INSTANCE: "ec2:DescribeInstances", RDS_DB: "rds:DescribeDBInstances"}.get(
        kind, "tag:GetResources"
    )


def _tag_dict(tags) -> dict[str, str]:
    return {tag["Key"]: tag.get("Value", "") for tag in tags or []}
