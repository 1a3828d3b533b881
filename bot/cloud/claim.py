"""Claiming a resource from `/untagged`: write the required tags someone chose through the
cloud's tagging calls, then bring the inventory row and the audit up to date.

The resource is re-read right before tagging (it may be gone, or tagged since the message
was sent); a key the resource already spells differently (`team` for `Team`) is written in
its own spelling, since AWS tag keys are case-sensitive and a second, differently spelled
key would only add confusion. A failure (access denied, resource gone) is one line for the
person who claimed, and leaves the store as it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlite_utils

from bot.cloud.aws import CloudActionFailed, CloudActions
from bot.config import Config, tag_key
from bot.sources.aws.inventory import team_of
from bot.store import writers

# AWS's limits on a tag (EC2, RDS and the tagging API alike).
TAG_KEY_MAX = 128
TAG_VALUE_MAX = 256
RESERVED_PREFIX = "aws:"


def tag_problem(key: str, value: str) -> str | None:
    """Why AWS would refuse this tag (value already trimmed), or None: the message the
    modal shows under the field."""
    if not value:
        return f"{key} is required."
    if len(value) > TAG_VALUE_MAX:
        return f"At most {TAG_VALUE_MAX} characters ({len(value)} given)."
    if value.lower().startswith(RESERVED_PREFIX) or key.lower().startswith(RESERVED_PREFIX):
        return f"Tags starting with `{RESERVED_PREFIX}` are reserved by AWS."
    if len(key) > TAG_KEY_MAX:
        return f"The key {key[:40]} is longer than {TAG_KEY_MAX} characters."
    return None


def claim_problems(values: Mapping[str, str], required: Sequence[str]) -> dict[str, str]:
    """Required key -> what is wrong with its value; empty when the claim can go ahead."""
    problems = {}
    for key in required:
        problem = tag_problem(key, (values.get(key) or "").strip())
        if problem:
            problems[key] = problem
    return problems


@dataclass(frozen=True)
class ClaimResult:
    ok: bool
    arn: str
    resource_id: str
    problem: str = ""  # one line, when not ok
    team: str | None = None  # the team the resource's tags now name
    written: dict[str, str] = field(default_factory=dict)  # as written, keys as spelled


def _spelled_as_on(resource_tags: Mapping[str, str], key: str) -> str:
    wanted = tag_key(key)
    return next((k for k in resource_tags if tag_key(k) == wanted), key)


def claim_resource(
    db: sqlite_utils.Database,
    cloud: CloudActions,
    config: Config,
    arn: str,
    values: Mapping[str, str],
    user_id: str,
    now: datetime,
) -> ClaimResult:
    """Tag `arn` with `values` (required key -> value, as validated by `claim_problems`) on
    behalf of `user_id`, then update its inventory row and record a `claim` audit row."""
    resource_id = arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    problems = claim_problems(values, config.tag_policy.required_tags)
    if problems:
        return ClaimResult(False, arn, resource_id, "; ".join(problems.values()))
    try:
        live = cloud.read(arn)
        if live is None:
            return ClaimResult(
                False, arn, resource_id, f"{resource_id} no longer exists: nothing was tagged."
            )
        written = {
            _spelled_as_on(live.tags, key): values[key].strip()
            for key in config.tag_policy.required_tags
        }
        cloud.tag(arn, written)
    except CloudActionFailed as failure:
        return ClaimResult(False, arn, resource_id, f"Could not tag {resource_id}: {failure}")
    tags = {**live.tags, **written}
    team = team_of(tags, config)
    reason = "claimed: tagged " + ", ".join(f"{k}={v}" for k, v in written.items())
    with db.atomic():
        writers.update_resource_tags(db, arn, tags, team)
        writers.record_audit(
            db,
            at=now,
            arn=arn,
            step="claim",
            outcome="done",
            reason=reason,
            actor=user_id,
            account=live.account,
            region=live.region,
            resource_type=live.resource_type,
        )
    return ClaimResult(True, arn, live.resource_id, team=team, written=written)
