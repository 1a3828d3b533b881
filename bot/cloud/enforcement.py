"""Carrying out one decided step of the tag enforcement ladder on one resource, for the
scheduled job (`costbot run tag-policy`) and the Approve termination button alike.

`carry_out` is the only path from a ladder decision (bot/analytics/tag_ladder.py) to the cloud:

- a step that changes nothing in the cloud (a report, a dry "would stop", a request for
  approval, a ladder closed because the resource is tagged now) is only recorded;
- a stop or a termination first re-reads the resource (`CloudActions.read`) and asks
  `tag_ladder.recheck` whether the step still applies to the resource as it is now. If it was
  tagged since the run read it, the ladder is closed and nothing is touched; if anything else
  changed (state, exemption, environment, gone), the step is recorded `skipped` with why, and
  the next run decides again;
- else the action is taken (RDS: deleted with the final snapshot the step names) and recorded
  `done`, or `failed` with the cloud's one-line reason. A stop (or a termination the ladder
  did not stop first) also records the monthly run-rate it saves (`verified_savings`).

Every outcome goes to `enforcement_audit` through `writers.record_step`, with the actor: the
job ("costbot") or the approver who pressed the button.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime

import sqlite_utils

from bot.analytics import tag_ladder
from bot.analytics.savings import monthly_run_rate
from bot.analytics.tag_compliance import is_exempt, missing_tags
from bot.analytics.tag_ladder import ResourceFacts, Step
from bot.cloud.aws import CloudActionFailed, CloudActions, LiveResource
from bot.config import Config
from bot.sources.aws.inventory import team_of
from bot.sources.focus import tag_dimensions
from bot.store import writers

# Outcomes of `carry_out` beyond the audit's done | failed | skipped.
NOTHING = "nothing"  # the step records nothing (nothing to do)
ALREADY = "already-recorded"  # the same step was recorded on this run date (a re-run)

CHANGING_ACTIONS = (tag_ladder.STOP, tag_ladder.TERMINATE)


@dataclass(frozen=True)
class Carried:
    """What became of one step: `outcome` done | failed | skipped | already-recorded |
    nothing; `step` the step recorded (a closing step in place of the one decided, when the
    resource turned out to be tagged); `audit_id` the enforcement_audit row written."""

    step: Step
    outcome: str
    reason: str
    audit_id: int | None = None

    @property
    def acted(self) -> bool:
        """Whether the cloud was changed."""
        return self.outcome == "done" and self.step.action in CHANGING_ACTIONS and not self.step.dry


def facts_of(row: Mapping, config: Config) -> ResourceFacts:
    """The ladder's facts about an inventory row (`queries.resources`), its tags read by the
    one key matching rule."""
    tags_text = row.get("tags")
    tags = json.loads(tags_text) if isinstance(tags_text, str) and tags_text else tags_text
    return ResourceFacts.from_resource(
        row,
        missing_tags=missing_tags(tags or {}, config.tag_policy.required_tags),
        exempt=is_exempt(tags or {}, config.tag_policy.exempt_tag),
        environment=_environment(tags or {}, config),
    )


def facts_of_live(live: LiveResource, config: Config, team: str | None) -> ResourceFacts:
    """The facts as re-read from the cloud right before acting."""
    return ResourceFacts(
        arn=live.arn,
        resource_id=live.resource_id,
        resource_type=live.resource_type,
        account=live.account,
        region=live.region,
        state=live.state,
        tags=dict(live.tags),
        team=team,
        missing_tags=missing_tags(live.tags, config.tag_policy.required_tags),
        exempt=is_exempt(live.tags, config.tag_policy.exempt_tag),
        environment=_environment(live.tags, config),
    )


def carry_out(
    db: sqlite_utils.Database,
    config: Config,
    cloud: CloudActions,
    facts: ResourceFacts,
    step: Step,
    *,
    now: datetime,
    run_date: date | None = None,
    actor: str = "costbot",
) -> Carried:
    """Carry out `step`, decided on `facts` at `now`, and record it (module docstring)."""
    if not step.recordable:
        return Carried(step, NOTHING, step.reason)
    if step.action not in CHANGING_ACTIONS or step.dry:
        return _record(db, facts, step, now, run_date, actor, "done", step.reason)

    try:
        live = cloud.read(facts.arn)
    except CloudActionFailed as problem:
        reason = f"Could not re-read {facts.resource_id} before acting: {problem}"
        return _record(db, facts, step, now, run_date, actor, "failed", reason)
    facts_now = facts_of_live(live, config, facts.team) if live is not None else None
    if not tag_ladder.recheck(facts, facts_now, config.tag_policy):
        if live is not None and dict(live.tags) != dict(facts.tags):
            # The stored inventory is older than what was just read: keep the tags seen now,
            # or the next run (before the next inventory sync) would judge the old ones and
            # report a resource tagged since as missing its tags again.
            writers.update_resource_tags(db, facts.arn, dict(live.tags), team_of(live.tags, config))
        if facts_now is not None and not facts_now.missing_tags:
            closing = Step(
                tag_ladder.NONE,
                f"{facts.resource_id} carries every required tag now (tagged since the run "
                "read it): the ladder is closed and the resource is not touched.",
                blocked_by=tag_ladder.COMPLIANT,
                closes_ladder=True,
            )
            return _record(db, facts, closing, now, run_date, actor, "done", closing.reason)
        reason = f"Not {_verb(step)}: {_what_changed(facts, facts_now, config)}"
        return _record(db, facts, step, now, run_date, actor, "skipped", reason)

    try:
        if step.action == tag_ladder.STOP:
            cloud.stop(facts.arn)
        else:
            cloud.terminate(facts.arn, final_snapshot_id=step.snapshot_id)
    except CloudActionFailed as problem:
        reason = f"Could not {step.action} {facts.resource_id}: {problem}"
        return _record(db, facts, step, now, run_date, actor, "failed", reason)
    carried = _record(db, facts, step, now, run_date, actor, "done", step.reason)
    if carried.outcome == "done":
        _record_saving(db, config, facts, step, now, actor)
    return carried


def _record(
    db: sqlite_utils.Database,
    facts: ResourceFacts,
    step: Step,
    now: datetime,
    run_date: date | None,
    actor: str,
    outcome: str,
    reason: str,
) -> Carried:
    recorded = step if reason == step.reason else _with_reason(step, reason)
    written = writers.record_step(
        db,
        facts,
        recorded,
        at=now,
        outcome=outcome,
        actor=actor,
        run_date=run_date,
        snapshot_id=step.snapshot_id if step.action == tag_ladder.TERMINATE else None,
    )
    if not written:
        return Carried(recorded, ALREADY, reason)
    audit_id = db.execute(
        "SELECT max(id) FROM enforcement_audit WHERE arn = ?", [facts.arn]
    ).fetchone()[0]
    return Carried(recorded, outcome, reason, audit_id)


def _with_reason(step: Step, reason: str) -> Step:
    return replace(step, reason=reason)


def _record_saving(
    db: sqlite_utils.Database,
    config: Config,
    facts: ResourceFacts,
    step: Step,
    now: datetime,
    actor: str,
) -> None:
    state = tag_ladder.LadderState.from_row(
        next(iter(db.query("SELECT * FROM tag_enforcement WHERE arn = ?", [facts.arn])), None)
    )
    if step.action == tag_ladder.TERMINATE and state.stopped_at is not None:
        return  # its run-rate was counted when the ladder stopped it: never counted twice
    rate = monthly_run_rate(
        db,
        config,
        arn=facts.arn,
        resource_id=facts.resource_id,
        account=facts.account,
        day=now.date(),
    )
    writers.record_saving(
        db,
        at=now,
        arn=facts.arn,
        action=f"enforcement-{step.action}",
        monthly_micros=rate.monthly_micros,
        currency=config.currency,
        basis=rate.basis,
        actor=actor,
        resource_id=facts.resource_id,
        resource_type=facts.resource_type,
        account=facts.account,
        region=facts.region,
        team=facts.team,
        approved_by=state.approved_by,
    )


def _verb(step: Step) -> str:
    return "stopped" if step.action == tag_ladder.STOP else "terminated"


def _what_changed(then: ResourceFacts, now: ResourceFacts | None, config: Config) -> str:
    """Why a step no longer applies, in words."""
    if now is None or (now.state or "").lower() in tag_ladder.GONE_STATES:
        return f"{then.resource_id} no longer exists (or is being deleted)."
    blocked_by, protection = tag_ladder.protection_of(now, config.tag_policy)
    if blocked_by:
        return f"{protection} now."
    if (now.state or "") != (then.state or ""):
        return (
            f"its state changed from {then.state or 'unknown'} to {now.state or 'unknown'} "
            "since the inventory was read; the next run decides again."
        )
    if dict(now.tags) != dict(then.tags):
        return "its tags changed since the inventory was read; the next run decides again."
    return f"{then.resource_id} changed since the run read it; the next run decides again."


def _environment(tags: Mapping[str, str], config: Config) -> str | None:
    return tag_dimensions(json.dumps(dict(tags)), config.tag_keys)["environment"]


# ---- an approver's click (the Approve termination button; the demo)


@dataclass(frozen=True)
class Approval:
    """What an approver's click did. `recorded`: the approval was taken (the resource was
    awaiting one); `terminated` / `dry`: what the termination came to; `reason`: why it was
    not terminated, when it was not."""

    resource_id: str
    recorded: bool
    terminated: bool = False
    dry: bool = False
    snapshot_id: str | None = None
    reason: str = ""


def approve_and_terminate(
    db: sqlite_utils.Database,
    config: Config,
    cloud: CloudActions,
    arn: str,
    user_id: str,
    now: datetime,
) -> Approval:
    """Record the approval (check the user first: bot.slack.approvers.may_approve), then
    terminate at once through `carry_out`, which re-reads the resource first. With
    enforcement off the termination is only recorded as "would terminate"."""
    row = next(iter(db.query("SELECT * FROM resources WHERE arn = ?", [arn])), None)
    resource_id = row["resource_id"] if row else arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    if not writers.record_approval(db, arn, user_id, now):
        return Approval(resource_id, recorded=False)
    if row is None:
        return Approval(
            resource_id, True, reason="it is no longer in the inventory, so nothing was done."
        )
    facts = facts_of(row, config)
    state = tag_ladder.LadderState.from_row(
        next(iter(db.query("SELECT * FROM tag_enforcement WHERE arn = ?", [arn])), None)
    )
    step = tag_ladder.next_step(facts, state, config.tag_policy, now)
    if step.action != tag_ladder.TERMINATE:
        return Approval(resource_id, True, reason=step.reason)
    carried = carry_out(db, config, cloud, facts, step, now=now, actor=user_id)
    if carried.acted:
        return Approval(resource_id, True, terminated=True, snapshot_id=step.snapshot_id)
    if carried.outcome == "done" and step.dry:
        return Approval(resource_id, True, dry=True)
    return Approval(resource_id, True, reason=carried.reason)
