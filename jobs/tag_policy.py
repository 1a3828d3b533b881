"""The `tag-policy` job (`costbot run tag-policy [--date D] [--dry-run] [--json]`, daily after
the inventory sync): walk every inventory resource missing required tags one step up the
enforcement ladder (report, stop, terminate; bot/analytics/tag_ladder.py decides), carry the
steps out through bot/cloud/enforcement.py, and tell each channel once a day what was done.

Who is told. A resource's team (by the tag rules, `resources.team`) is told in its channel.
A resource without a team tag is told in the channel of the team that owns most tagged
resources of its account, saying so; with no such team, the FinOps channel
(`tag_policy.notify_channel`) is told.

Order of writes, so that a restart repeats no notification and skips no step. Each step is
recorded first (`writers.record_step`: the ladder's state and the audit row, in one
transaction; a re-run of the day records nothing again). Then the steps no message has told
(`queries.untold_ladder_steps`) are handed to the channel's message (`tag_policy_notices`),
and the message is posted once per key through the delivery ledger
(`tag-policy:<channel>:<date>`). A crash before the post, or a post Slack refused, leaves the
steps untold: the next run tells them, without taking them again. A run that finds more
later the same day answers in the thread of the day's message (`<key>:2`, ...). Nothing new
to say: nothing posted.

`--dry-run` decides and prints, and records, posts and changes nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlite_utils

from bot.analytics.tag_ladder import LadderState, next_step
from bot.cloud.aws import AwsCloud, CloudActions, arn_parts
from bot.cloud.enforcement import ALREADY, carry_out, facts_of
from bot.config import Config
from bot.context import AppContext
from bot.render.tag_policy import Notice, ladder_message
from bot.store import open_store, queries, writers

log = logging.getLogger(__name__)

Say = Callable[[str], None]

JOB = "tag-policy"
# `--date D` runs the job as at 09:00 UTC on D: the ladder's intervals are measured from it.
RUN_HOUR_UTC = 9
# Steps recorded this long ago and never told (Slack down for days) are still told.
TELL_WITHIN_DAYS = 14


@dataclass
class TagPolicyRun:
    """What a run decided, did and posted."""

    date: date
    dry_run: bool = False
    steps: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "job": JOB,
            "date": self.date.isoformat(),
            "deliveries": self.deliveries,
            "steps": self.steps,
        }

    @property
    def failed(self) -> bool:
        """A step the cloud refused, or a message Slack did not take."""
        return any(s["outcome"] == "failed" for s in self.steps) or any(
            d["status"] == "failed" for d in self.deliveries
        )

    def lines(self) -> list[str]:
        verb = "would take" if self.dry_run else "took"
        lines = [f"Tag policy on {self.date.isoformat()}: {verb} {len(self.steps):,} step(s)"]
        for step in self.steps:
            action = ("would-" if step["dry"] else "") + step["action"]
            lines.append(
                f"  {step['outcome']}: {action} {step['resource_id']} -> {step['channel']}:"
                f" {step['reason']}"
            )
        for delivery in self.deliveries:
            lines.append(f"  {delivery['status']}: {delivery['channel']} ({delivery['key']})")
        return lines


def run_moment(day: date) -> datetime:
    """The job's clock for `--date D`."""
    return datetime.combine(day, time(RUN_HOUR_UTC), UTC)


def run(
    context: AppContext,
    now: datetime | date,
    *,
    dry_run: bool = False,
    delivery: Any = None,
    cloud: CloudActions | None = None,
    say: Say | None = None,
) -> TagPolicyRun:
    """One run of the ladder at `now` (a date: 09:00 UTC that day). `delivery` (a
    bot.slack.delivery Delivery) posts; `cloud` acts (AwsCloud by default). A dry run needs
    neither and writes nothing."""
    moment = run_moment(now) if not isinstance(now, datetime) else now.astimezone(UTC)
    report = TagPolicyRun(moment.date(), dry_run=dry_run)
    config = context.config
    db = open_store(context.db_path)
    try:
        rows = queries.resources(db)
        owners = _owners(db, config, rows)
        for row in rows:
            _step(db, config, row, moment, owners, report, cloud, dry_run)
        if not dry_run:
            _tell(db, context, moment, owners, report, delivery)
    finally:
        db.close()
    for line in report.lines() if say else ():
        say(line)
    return report


def _step(
    db: sqlite_utils.Database,
    config: Config,
    row: Mapping,
    moment: datetime,
    owners: dict[str, tuple[str, str | None]],
    report: TagPolicyRun,
    cloud: CloudActions | None,
    dry_run: bool,
) -> None:
    facts = facts_of(row, config)
    state = LadderState.from_row(queries.enforcement_state(db, facts.arn))
    step = next_step(facts, state, config.tag_policy, moment)
    if not step.recordable:
        return
    if dry_run:
        outcome, reason, recorded = "planned", step.reason, step
    else:
        carried = carry_out(
            db,
            config,
            cloud or AwsCloud(config),
            facts,
            step,
            now=moment,
            run_date=moment.date(),
        )
        outcome, reason, recorded = carried.outcome, carried.reason, carried.step
        if outcome == ALREADY:
            return  # a re-run of the day: recorded (and told) by the earlier run
    report.steps.append(
        {
            "arn": facts.arn,
            "resource_id": facts.resource_id,
            "action": "closed" if recorded.closes_ladder else recorded.action,
            "dry": recorded.dry,
            "outcome": outcome,
            "reason": reason,
            "channel": owners.get(facts.arn, (config.tag_policy.notify_channel, None))[0],
        }
    )


# ---- who is told


def _owners(
    db: sqlite_utils.Database, config: Config, rows: list[dict]
) -> dict[str, tuple[str, str | None]]:
    """ARN -> (the channel to tell, why that channel when the owner was guessed)."""
    dominant = queries.dominant_teams_by_account(db)
    return {row["arn"]: owner_channel(config, row, dominant) for row in rows}


def owner_channel(
    config: Config, row: Mapping, dominant: Mapping[str, tuple[str, int, int]]
) -> tuple[str, str | None]:
    """The channel of a resource's likely owner, and a note when it was guessed."""
    fallback = config.tag_policy.notify_channel
    team_name = row.get("team")
    if team_name:
        team = config.team(team_name)
        if team and team.channel:
            return team.channel, None
        return fallback, f"Team {team_name} has no channel in costbot.yml."
    guess = dominant.get(row.get("account_id") or "")
    if guess:
        name, owned, tagged = guess
        team = config.team(name)
        if team and team.channel:
            return team.channel, (
                f"Owner guessed: {owned} of the {tagged} tagged resources of account "
                f"{row.get('account_id')} belong to {team.name}."
            )
    return fallback, None


# ---- telling


def delivery_key(channel: str, day: date) -> str:
    """One message per channel per day."""
    return f"{JOB}:{channel}:{day.isoformat()}"


def _tell(
    db: sqlite_utils.Database,
    context: AppContext,
    moment: datetime,
    owners: dict[str, tuple[str, str | None]],
    report: TagPolicyRun,
    delivery: Any,
) -> None:
    config = context.config
    untold = queries.untold_ladder_steps(db, moment.date() - timedelta(days=TELL_WITHIN_DAYS))
    by_channel: dict[str, list[Notice]] = defaultdict(list)
    for row in untold:
        channel, note = owners.get(row["arn"], (config.tag_policy.notify_channel, None))
        by_channel[channel].append(_notice(db, row, note))
    if not by_channel:
        return
    if delivery is None:  # the bot token of the environment
        from bot.slack.client import build_web_client
        from bot.slack.delivery import Delivery

        delivery = Delivery(build_web_client(), context.open_writer)
    for channel, notices in sorted(by_channel.items()):
        key, thread_ts = _free_key(delivery, delivery_key(channel, moment.date()))
        if key is None:
            continue  # the day's message is being posted by another run: told by the next
        message, told = ladder_message(notices, moment.date(), config.tag_policy)
        told_arns = {n.audit_id: n.arn for n in notices}
        writers.record_notices(
            db,
            told,
            arns=[told_arns[i] for i in told],
            channel=channel,
            delivery_key=key,
            at=moment,
        )
        posted = delivery.post(channel, message, key=key, kind=JOB, thread_ts=thread_ts)
        report.deliveries.append(
            {
                "channel": channel,
                "key": posted.key,
                "text": message["text"],
                "status": posted.status,
            }
        )


def _free_key(delivery: Any, key: str) -> tuple[str | None, str | None]:
    """The key of the next message of the day in the channel, and the thread it goes in:
    the day's message, or (once it is out) a reply in its thread. None while the day's
    message is still being posted."""
    first = delivery.recorded(key)
    if first is None or first["status"] == "failed":
        return key, None
    if first["status"] != "sent" or not first["ts"]:
        return None, None
    number = 2
    while (earlier := delivery.recorded(f"{key}:{number}")) and earlier["status"] == "sent":
        number += 1
    return f"{key}:{number}", first["ts"]


def _notice(db: sqlite_utils.Database, row: Mapping, note: str | None) -> Notice:
    ladder = queries.enforcement_state(db, row["arn"]) or {}
    resource_id = ladder.get("resource_id")
    if not resource_id:
        resource_id = arn_parts(row["arn"])[1]
    return Notice(
        audit_id=row["id"],
        arn=row["arn"],
        resource_id=resource_id,
        resource_type=row["resource_type"] or "",
        account=row["account"] or "",
        region=row["region"] or "",
        step=row["step"],
        dry=bool(row["dry"]),
        outcome=row["outcome"],
        reason=row["reason"] or "",
        owner_note=note,
    )
