"""The Stop button of an idle EC2 notice, carried out: re-read the instance, stop it, record
the audit row and the run-rate saved, and close the notice.

Stop is an approver's explicit decision about one instance, so it acts even while
`tag_policy.enforce` is false (that switch governs the automatic enforcement ladder, which
nobody clicks). It still never touches what nobody may stop: right before acting, the
instance is re-read, and an instance that carries the exemption tag or sits in a protected
environment, is no longer running, or is not on an open idle notice is left alone. Who may
press it (`bot.slack.approvers.may_approve`) is checked by the caller before calling here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from bot.analytics.idle import EC2_INSTANCE
from bot.analytics.savings import monthly_run_rate
from bot.analytics.tag_ladder import protection_of
from bot.cloud.aws import CloudActionFailed, CloudActions, arn_parts
from bot.cloud.enforcement import facts_of_live
from bot.config import Config
from bot.money import format_money
from bot.store import queries, writers

IDLE_STOP = "idle-stop"


@dataclass(frozen=True)
class IdleStopOutcome:
    """What became of one press: `stopped` with the run-rate saved, or why not (one line)."""

    stopped: bool
    resource_id: str
    note: str  # not stopped: the one line the presser is told; stopped: the audit's reason
    monthly_micros: int = 0
    basis: str = ""


def stop_idle_instance(
    db: sqlite_utils.Database,
    config: Config,
    cloud: CloudActions,
    arn: str,
    user_id: str,
    now: datetime,
) -> IdleStopOutcome:
    """Stop the instance of an open idle notice for the approver `user_id` (see the module
    docstring). Every outcome, done, skipped or failed, is an `idle-stop` audit row."""
    try:
        kind, resource_id, account, region = arn_parts(arn)
    except CloudActionFailed as problem:
        return _not_stopped(db, now, arn, user_id, arn[:80], "skipped", str(problem))
    where = {"account": account, "region": region, "resource_type": kind}

    def refuse(outcome: str, note: str) -> IdleStopOutcome:
        return _not_stopped(db, now, arn, user_id, resource_id, outcome, note, **where)

    notice = queries.idle_notice(db, arn)
    if kind != EC2_INSTANCE or notice is None:
        return refuse("skipped", f"{resource_id} is not on an idle notice: nothing was changed.")
    if notice["status"] != "open":
        return refuse("skipped", f"{resource_id} is already {_said(notice)}: nothing was changed.")
    try:
        live = cloud.read(arn)
    except CloudActionFailed as problem:
        return refuse("failed", f"{resource_id} could not be read: {problem}")
    if live is None:
        writers.close_idle_notice(db, arn, "gone", now)
        return refuse("skipped", f"{resource_id} no longer exists: nothing was changed.")
    if live.state != "running":
        writers.close_idle_notice(db, arn, "closed", now)
        state = live.state or "not running"
        return refuse("skipped", f"{resource_id} is {state}, not running: nothing was changed.")
    blocked, reason = protection_of(facts_of_live(live, config, team=None), config.tag_policy)
    if blocked:
        return refuse("skipped", f"{resource_id} was not stopped: {reason}.")
    try:
        cloud.stop(arn)
    except CloudActionFailed as problem:
        return refuse("failed", f"{resource_id} was not stopped: {problem}")
    rate = monthly_run_rate(
        db, config, arn=arn, resource_id=resource_id, account=account, day=now.date()
    )
    inventory = queries.inventory_resource(db, arn) or {}
    team = notice.get("team") or inventory.get("team")
    saved = format_money(rate.monthly_micros, config.currency)
    note = f"idle for days: stopped by an approver, saves {saved}/month ({rate.basis})"
    writers.record_audit(
        db,
        at=now,
        arn=arn,
        step=IDLE_STOP,
        outcome="done",
        reason=note,
        actor=user_id,
        approved_by=user_id,
        **where,
    )
    writers.record_saving(
        db,
        at=now,
        arn=arn,
        action=IDLE_STOP,
        monthly_micros=rate.monthly_micros,
        currency=config.currency,
        basis=rate.basis,
        actor=user_id,
        approved_by=user_id,
        resource_id=resource_id,
        team=team,
        **where,
    )
    writers.mark_idle_stopped(db, arn, user_id, now)
    return IdleStopOutcome(True, resource_id, note, rate.monthly_micros, rate.basis)


def _said(notice: dict) -> str:
    status = notice["status"]
    if status == "stopped":
        return f"stopped (by {notice.get('stopped_by') or 'someone'})"
    if status == "kept":
        return "kept running"
    return {"closed": "no longer idle", "gone": "gone"}.get(status, status)


def _not_stopped(
    db: sqlite_utils.Database,
    now: datetime,
    arn: str,
    user_id: str,
    resource_id: str,
    outcome: str,
    note: str,
    **where: str,
) -> IdleStopOutcome:
    writers.record_audit(
        db, at=now, arn=arn, step=IDLE_STOP, outcome=outcome, reason=note, actor=user_id, **where
    )
    return IdleStopOutcome(False, resource_id, note)
