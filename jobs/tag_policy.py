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
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from bot.analytics.tag_ladder import LadderState, next_step
from bot.cloud.aws import AwsCloud, CloudActions, arn_parts
from bot.cloud.enforcement import ALREADY, carry_out, facts_of
from bot.config import Config
from bot.context import AppContext
from bot.render.tag_policy import Notice, ladder_message
from bot.store import open_store, queries, writers
from jobs.clock import run_moment

log = logging.getLogger(__name__)

Say = Callable[[str], None]

JOB = "tag-policy"
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
    moment = run_moment(now)
    report = TagPolicyRun(moment.date(), dry_run=dry_run)
    config = context.config
    db = open_store(context.db_path)
    try:
        rows = queries.resources(db)
        owners = _owners(db, config, rows)
        # One cloud for the run: its sessions (and assumed roles) are reused across resources.
        cloud = cloud or AwsCloud(config)
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
    cloud: CloudActions,
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
            cloud,
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
        # As code: a team name from a tag may hold `*` or `_`, which would format the note.
        shown = str(team_name).replace("`", "'")
        return fallback, f"Team `{shown}` has no channel in costbot.yml."
    guess = dominant.get(row.get("account_id") or "")
    if guess:
        name, owned, tagged = guess
        team = config.team(name)
        if team and team.channel:
            return team.channel, (
                f"Owner guessed: {owned} of the {tagged} resources with a team tag in account "
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


# ---- the demo's preview

DEMO_APPROVER = "U0DEMOAPPROVER"


class _LedgerOnly:
    """The preview's delivery: records each message in the store's delivery ledger, as a post
    would, and keeps it instead of sending it."""

    def __init__(self, db_path: str) -> None:
        self._db_path = db_path
        self.posted: list[tuple[str, dict[str, Any]]] = []

    def recorded(self, key: str) -> dict[str, Any] | None:
        db = open_store(self._db_path)
        try:
            return queries.delivery(db, key)
        finally:
            db.close()

    def post(self, channel: str, message: dict, chart: Any = None, *, key: str, **extra: Any):
        from bot.slack.delivery import Delivered

        db = open_store(self._db_path)
        try:
            if not writers.claim_delivery(db, key, kind=JOB, channel=channel):
                return Delivered(key, "duplicate")
            ts = f"1700000000.{len(self.posted) + 1:06d}"
            writers.update_delivery(db, key, status="sent", ts=ts)
        finally:
            db.close()
        self.posted.append((channel, message))
        return Delivered(key, "sent", ts=ts)


def preview_ladder(config: Config, today: date, work_dir: Path) -> list[tuple[str, str, dict]]:
    """(title, description, message) of each ladder step for the demo's preview: the real job
    walked over simulated days on a small synthetic inventory in an in-memory cloud
    (bot/cloud/demo.py), with enforcement on (report, stop, awaiting approval, an approver's
    click and the termination) and off ("would stop"). Stores under `work_dir`."""
    from dataclasses import replace

    from bot.cloud.demo import DemoCloud
    from bot.cloud.enforcement import approve_and_terminate
    from bot.render.tag_policy import approval_line, with_approval

    team = next((t for t in config.teams if t.channel), None)
    owner = {"Team": team.name} if team else {}
    previews: list[tuple[str, str, dict]] = []
    day0 = today - timedelta(days=8)
    for enforce in (True, False):
        policy = replace(config.tag_policy, enforce=enforce, approvers=(DEMO_APPROVER,))
        demo_config = replace(config, tag_policy=policy)
        db_path = work_dir / f"ladder-preview-{'on' if enforce else 'off'}.db"
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        context = AppContext(config=demo_config, db_path=str(db_path))
        cloud = DemoCloud()
        complete = {tag: "demo" for tag in policy.required_tags} | owner
        cloud.add("ec2:instance", "i-0a1b2c3d4e5f60718", complete)
        batch = cloud.add("ec2:instance", "i-0f1e2d3c4b5a69788", owner)
        reports = cloud.add("rds:db", "reports-db", owner)
        cloud.add("ec2:instance", "i-0123456789abcdef0")  # no tags: owner guessed
        cloud.add("ec2:instance", "i-0fedcba9876543210", owner | {policy.exempt_tag: "yes"})
        ledger = _LedgerOnly(str(db_path))
        shown = (0, 2, 7) if enforce else (2,)
        for offset in range(8 if enforce else 3):
            moment = run_moment(day0 + timedelta(days=offset))
            db = open_store(db_path)
            try:
                cloud.sync_into(db, demo_config, moment - timedelta(hours=1))
            finally:
                db.close()
            before = len(ledger.posted)
            run(context, moment, delivery=ledger, cloud=cloud)
            if offset in shown:
                for channel, message in ledger.posted[before:]:
                    previews.append(
                        (
                            f"Tag policy in {channel}, day {offset}",
                            _PREVIEW_STEPS[(enforce, offset)],
                            message,
                        )
                    )
        if not enforce or not ledger.posted:
            continue
        # An approver's click on the day-7 request: the instance is terminated.
        clicked = run_moment(day0 + timedelta(days=7)) + timedelta(hours=2)
        db = open_store(db_path)
        try:
            approval = approve_and_terminate(
                db, demo_config, cloud, batch.arn, DEMO_APPROVER, clicked
            )
        finally:
            db.close()
        line = approval_line(
            approval.resource_id,
            DEMO_APPROVER,
            clicked,
            terminated=approval.terminated,
            dry=approval.dry,
            snapshot_id=approval.snapshot_id,
            reason=approval.reason,
        )
        channel, asked = ledger.posted[-1]
        updated = {**asked, "blocks": with_approval(asked["blocks"], batch.arn, line)}
        previews.append(
            (
                f"Tag policy in {channel}, approved",
                "an approver pressed Approve termination: the message updated in place "
                f"(the other request, {reports.resource_id}, still waits)",
                updated,
            )
        )
    return previews


_PREVIEW_STEPS = {
    (True, 0): "`costbot run tag-policy`, day 0: resources missing required tags reported",
    (True, 2): "day 2 (48 hours): stopped, with enforcement on (`tag_policy.enforce: true`)",
    (True, 7): "day 7: termination awaits an approver's click (`tag_policy.approvers`)",
    (False, 2): "day 2 with enforcement off (the default): nothing stopped, only said",
}
