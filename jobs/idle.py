"""The `idle` job (`costbot run idle [--date D] [--dry-run] [--json]`, daily after the sync):
report idle EC2 instances to their teams, notify first, never stop anything itself.

It reads the inventory the sync left (`resources.idle`, see bot/sources/aws/inventory.py) and
the notices earlier runs left (`idle_notices`). Each idle running instance is reported once
to its team's channel (no team: `tag_policy.notify_channel`), one message per channel per day
(delivery key `idle:<channel>:<date>`), with Stop (approvers only) and Keep running buttons
(handlers/actions/idle.py). An open notice is repeated as a weekly reminder while the
instance stays idle (bot/analytics/idle.py says when); an instance no longer idle, or no longer
there, closes its notice. A dry run says what it would post and records nothing.

Order of writes: the message is posted first, then its instances are recorded as notified.
A message Slack did not take records nothing, so the next run reports them again; a run
whose channel already has today's message (a re-run) posts nothing more that day, and the
instances it would have added follow the next day.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlite_utils

from bot.analytics.idle import (
    ALREADY_OPEN,
    NEW,
    REMINDER,
    STILL_KEPT,
    IdleInstance,
    disposition,
    idle_instance,
    is_idle_candidate,
)
from bot.config import Config
from bot.context import AppContext
from bot.money import format_money
from bot.render.idle import MAX_SHOWN, costliest_first, idle_message
from bot.sources.focus import tag_dimensions
from bot.store import open_store, queries, writers
from jobs.clock import run_moment

log = logging.getLogger(__name__)

Say = Callable[[str], None]
# Found to report, but not posted this run (see _deliver).
DEFERRED = "deferred"
# `costbot run idle --date D` runs as of D at this hour (UTC): a morning post.


@dataclass
class IdleRun:
    """What a run found and did."""

    date: date
    dry_run: bool = False
    currency: str = "USD"
    # (instance, what the run did with it: new | reminder | open | kept | deferred, channel)
    found: list[tuple[IdleInstance, str, str]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    closed: list[dict[str, str]] = field(default_factory=list)  # {"arn", "status"}

    def as_json(self) -> dict[str, Any]:
        return {
            "job": "idle",
            "date": self.date.isoformat(),
            "dry_run": self.dry_run,
            "deliveries": self.deliveries,
            "idle": [
                instance.as_json(self.date, self.currency) | {"notice": what, "channel": channel}
                for instance, what, channel in self.found
            ],
            "closed": self.closed,
        }

    def lines(self) -> list[str]:
        reported = [f for f in self.found if f[1] in (NEW, REMINDER)]
        verb = "would report" if self.dry_run else "reported"
        lines = [
            f"Idle EC2 on {self.date.isoformat()}: {len(self.found)} idle, {verb}"
            f" {len(reported)}, {sum(f[1] == ALREADY_OPEN for f in self.found)} already open,"
            f" {sum(f[1] == STILL_KEPT for f in self.found)} kept running,"
            f" {sum(f[1] == DEFERRED for f in self.found)} left for a later run,"
            f" {len(self.closed)} closed"
        ]
        for instance, what, channel in reported:
            lines.append(
                f"  {what} {instance.resource_id} ({instance.account} {instance.region})"
                f" {format_money(instance.monthly_micros, self.currency)}/month -> {channel}"
                + ("" if instance.stoppable else f" [no Stop: {instance.blocked_reason}]")
            )
        for delivery in self.deliveries:
            lines.append(f"  {delivery['status']}: {delivery['channel']} ({delivery['key']})")
        return lines


def channel_for(config: Config, team: str | None) -> str:
    """The team's channel; no team, or a team without one: the tag policy's channel."""
    return config.team_channel(team) or config.tag_policy.notify_channel


def delivery_key(channel: str, day: date) -> str:
    return f"idle:{channel}:{day.isoformat()}"


def run(
    context: AppContext,
    now: datetime | date,
    *,
    dry_run: bool = False,
    delivery: Any = None,
    say: Say | None = None,
) -> IdleRun:
    """Report the idle instances as of `now`; `delivery` (a bot.slack.delivery Delivery) posts,
    the environment's bot token when None. A dry run needs none and writes nothing."""
    moment = run_moment(now)
    report = IdleRun(moment.date(), dry_run=dry_run, currency=context.config.currency)
    db = open_store(context.db_path)
    try:
        plan = _plan(db, context.config, moment, report)
        if plan and not dry_run:
            _deliver(db, context, plan, moment, report, delivery)
    finally:
        db.close()
    for line in report.lines() if say else ():
        say(line)
    return report


def _plan(
    db: sqlite_utils.Database, config: Config, moment: datetime, report: IdleRun
) -> dict[str, list[IdleInstance]]:
    """The instances to report, by channel; closes the notices of instances no longer idle
    (not in a dry run)."""
    day = moment.date()
    notices = {notice["arn"]: notice for notice in queries.idle_notices(db)}
    idle_arns = set()
    plan: dict[str, list[IdleInstance]] = defaultdict(list)
    for row in queries.idle_resources(db):
        if not is_idle_candidate(row):
            continue
        idle_arns.add(row["arn"])
        notice = notices.get(row["arn"])
        what = disposition(notice, moment)
        environment = tag_dimensions(row.get("tags"), config.tag_keys)["environment"]
        instance = idle_instance(db, config, row, environment=environment, day=day, notice=notice)
        channel = channel_for(config, instance.team)
        report.found.append((instance, what, channel))
        if what in (NEW, REMINDER):
            plan[channel].append(instance)
    for arn, notice in notices.items():
        if notice["status"] != "open" or arn in idle_arns:
            continue
        status = "gone" if queries.inventory_resource(db, arn) is None else "closed"
        report.closed.append({"arn": arn, "status": status})
        if not report.dry_run:
            writers.close_idle_notice(db, arn, status, moment)
    return dict(plan)


def _deliver(
    db: sqlite_utils.Database,
    context: AppContext,
    plan: dict[str, list[IdleInstance]],
    moment: datetime,
    report: IdleRun,
    delivery: Any,
) -> None:
    if delivery is None:  # the bot token of the environment
        from bot.slack.client import build_web_client
        from bot.slack.delivery import Delivery

        delivery = Delivery(build_web_client(), context.open_writer)
    config = context.config
    recorded: set[str] = set()
    for channel, instances in sorted(plan.items()):
        key = delivery_key(channel, report.date)
        message = _message(config, instances, report.date)
        posted = delivery.post(channel, message, None, key=key, kind="idle")
        report.deliveries.append(
            {"channel": channel, "key": key, "text": message["text"], "status": posted.status}
        )
        if not posted.ok:
            continue
        # Only the instances the message shows: the rest are reported on a later day.
        shown = costliest_first(instances)[:MAX_SHOWN]
        recorded.update(instance.arn for instance in shown)
        writers.record_idle_notified(
            db,
            [_notice_fields(instance) for instance in shown],
            at=moment,
            channel=channel,
            delivery_key=key,
            message_ts=posted.ts,
        )
        for instance in shown:
            kind = "a reminder" if instance.reminder_of else "reported"
            writers.record_audit(
                db,
                at=moment,
                arn=instance.arn,
                step="idle-notify",
                outcome="done",
                reason=f"idle: {kind} to {channel}",
                actor="costbot",
                account=instance.account,
                region=instance.region,
                resource_type="ec2:instance",
                run_date=report.date,
            )
    # What was not posted (beyond a message's MAX_SHOWN, or a message Slack did not take, or
    # the channel's message of the day already out) waits for a later run.
    report.found = [
        (
            instance,
            DEFERRED if what in (NEW, REMINDER) and instance.arn not in recorded else what,
            channel,
        )
        for instance, what, channel in report.found
    ]


def _message(config: Config, instances: list[IdleInstance], day: date) -> dict[str, Any]:
    teams = {instance.team for instance in instances}
    return idle_message(
        instances,
        day,
        currency=config.currency,
        cpu_percent=config.aws.idle_cpu_percent,
        idle_days=config.aws.idle_days,
        team=next(iter(teams)) if len(teams) == 1 and None not in teams else None,
    )


def _notice_fields(instance: IdleInstance) -> dict[str, Any]:
    return {
        "arn": instance.arn,
        "resource_id": instance.resource_id,
        "account": instance.account,
        "region": instance.region,
        "team": instance.team,
        "idle_since": instance.idle_since.isoformat(),
        "reminder": instance.reminder_of is not None,
    }


# ---- the demo's preview


def preview(context: AppContext, now: datetime | date) -> list[tuple[str, dict[str, Any]]]:
    """(channel, message) of what a run at `now` would post, without recording anything."""
    moment = run_moment(now)
    report = IdleRun(moment.date(), dry_run=True, currency=context.config.currency)
    db = open_store(context.db_path)
    try:
        plan = _plan(db, context.config, moment, report)
    finally:
        db.close()
    return [
        (channel, _message(context.config, instances, report.date))
        for channel, instances in sorted(plan.items())
    ]
