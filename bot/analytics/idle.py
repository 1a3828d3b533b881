"""Idle EC2 instances, as the idle job reports them: what each costs a month, how long it has
been idle, whether the Stop button may be offered, and when a notice is due again.

Notify first. The inventory marks an instance idle (`resources.idle`: CPU under
`aws.idle_cpu_percent` every day of the last `aws.idle_days`). The job reports it once to its
team; while its notice stays open (nobody pressed Stop or Keep running), it is reported again
only as a weekly reminder, REMIND_AFTER_DAYS after the last notice, and only while the
inventory still finds it idle. Keep running hides it for KEEP_DAYS; after that, if still idle,
it is a new notice. An exempt instance or one in a protected environment is reported (it still
costs money) but never offered a Stop button, and the message says why.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlite_utils

from bot.analytics.savings import monthly_run_rate
from bot.analytics.tag_compliance import is_exempt
from bot.analytics.tag_ladder import ResourceFacts, protection_of
from bot.config import Config
from bot.money import format_money

EC2_INSTANCE = "ec2:instance"
# An open notice (no Stop, no Keep running) is repeated once a week while the instance stays idle.
REMIND_AFTER_DAYS = 7
# Keep running: not reported again for this many days.
KEEP_DAYS = 30

# What the job does with one idle instance this run.
NEW = "new"  # never reported, or reported and then kept, closed or stopped before
REMINDER = "reminder"  # its notice is open and the last one is REMIND_AFTER_DAYS old
ALREADY_OPEN = "open"  # reported recently: nothing to say yet
STILL_KEPT = "kept"  # someone pressed Keep running and that is still in force


@dataclass(frozen=True)
class IdleInstance:
    """One idle running EC2 instance as the job reports it."""

    arn: str
    resource_id: str
    name: str | None
    size: str | None  # the instance type
    account: str
    region: str
    team: str | None
    average_cpu: float | None  # percent, over the days the inventory read
    cpu_days: int  # how many days that average covers
    idle_since: date  # the first day of the idle window when it was first reported
    monthly_micros: int  # run-rate, in the cost store's currency
    basis: str  # how the run-rate was measured ("its cost in October 2026")
    blocked_reason: str | None = None  # why it has no Stop button (exempt, protected)
    reminder_of: date | None = None  # a reminder: the day it was first reported

    @property
    def stoppable(self) -> bool:
        return self.blocked_reason is None

    def days_idle(self, day: date) -> int:
        return max((day - self.idle_since).days, 0)

    def as_json(self, day: date, currency: str) -> dict:
        return {
            "arn": self.arn,
            "resource_id": self.resource_id,
            "name": self.name,
            "size": self.size,
            "account": self.account,
            "region": self.region,
            "team": self.team,
            "average_cpu_percent": None if self.average_cpu is None else round(self.average_cpu, 2),
            "days_idle": self.days_idle(day),
            "idle_since": self.idle_since.isoformat(),
            "monthly_run_rate": format_money(self.monthly_micros, currency),
            "monthly_micros": self.monthly_micros,
            "basis": self.basis,
            "stoppable": self.stoppable,
            "blocked_reason": self.blocked_reason,
            "reminder_of": self.reminder_of.isoformat() if self.reminder_of else None,
        }


def is_idle_candidate(row: Mapping) -> bool:
    """A `resources` row the idle flow reports: a running EC2 instance the inventory marked idle."""
    return (
        row.get("resource_type") == EC2_INSTANCE
        and row.get("state") == "running"
        and bool(row.get("idle"))
    )


def idle_instance(
    db: sqlite_utils.Database,
    config: Config,
    row: Mapping,
    *,
    environment: str | None,
    day: date,
    notice: Mapping | None = None,
) -> IdleInstance:
    """An idle `resources` row as reported on `day`. `environment` is its environment tag's
    value (bot.sources.focus.tag_dimensions, which analytics may not import); `notice` its
    idle_notices row, if any (a reminder keeps the notice's idle_since)."""
    tags = _tags(row.get("tags"))
    daily = _cpu_daily(row.get("cpu_daily"))
    facts = ResourceFacts.from_resource(
        row,
        missing_tags=(),
        exempt=is_exempt(tags, config.tag_policy.exempt_tag),
        environment=environment,
    )
    blocked, reason = protection_of(facts, config.tag_policy)
    rate = monthly_run_rate(
        db,
        config,
        arn=row["arn"],
        resource_id=row.get("resource_id") or row["arn"],
        account=row.get("account_id"),
        day=day,
    )
    window_start = (
        date.fromisoformat(min(daily)) if daily else day - timedelta(days=config.aws.idle_days)
    )
    reminder_of = None
    idle_since = window_start
    if notice is not None and notice.get("status") == "open":
        reminder_of = _day_of(notice.get("first_notified_at"))
        if notice.get("idle_since"):
            idle_since = date.fromisoformat(notice["idle_since"])
    return IdleInstance(
        arn=row["arn"],
        resource_id=row.get("resource_id") or row["arn"],
        name=row.get("name"),
        size=row.get("size"),
        account=row.get("account_id") or "",
        region=row.get("region") or "",
        team=row.get("team"),
        average_cpu=sum(daily.values()) / len(daily) if daily else None,
        cpu_days=len(daily),
        idle_since=idle_since,
        monthly_micros=rate.monthly_micros,
        basis=rate.basis,
        blocked_reason=reason if blocked else None,
        reminder_of=reminder_of,
    )


def disposition(notice: Mapping | None, now: datetime) -> str:
    """What a run at `now` does with an idle instance whose notice is `notice` (None: never
    reported): NEW, REMINDER, ALREADY_OPEN or STILL_KEPT."""
    if notice is None:
        return NEW
    status = notice.get("status")
    if status == "kept":
        until = notice.get("kept_until")
        return STILL_KEPT if until and datetime.fromisoformat(until) > now else NEW
    if status != "open":
        return NEW  # stopped (and running again), closed or gone before: a new story
    last = notice.get("last_notified_at")
    if not last or now - datetime.fromisoformat(last) >= timedelta(days=REMIND_AFTER_DAYS):
        return REMINDER
    return ALREADY_OPEN


def kept_until(now: datetime) -> datetime:
    return now + timedelta(days=KEEP_DAYS)


def _tags(tags: object) -> dict[str, str]:
    if isinstance(tags, str):
        return json.loads(tags) if tags else {}
    return dict(tags or {})  # type: ignore[call-overload]


def _cpu_daily(cpu: object) -> dict[str, float]:
    if isinstance(cpu, str):
        cpu = json.loads(cpu) if cpu else {}
    return {str(day): float(value) for day, value in dict(cpu or {}).items()}  # type: ignore[call-overload]


def _day_of(stamp: str | None) -> date | None:
    return datetime.fromisoformat(stamp).date() if stamp else None
