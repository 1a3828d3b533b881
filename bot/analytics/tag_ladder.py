"""The tag enforcement ladder as plain functions: what to do next about one resource that lacks
required tags (report it, stop it after `stop_after_hours`, terminate it after
`terminate_after_days`), decided from the resource's facts, its ladder state, the policy and
`now`. No clock is read, no tag key is matched here (the facts say what the tags mean, as the
one key matching in bot/sources/focus.py reads them) and nothing is called: the job
(`costbot run tag-policy`) reads the facts, asks `next_step`, re-reads the resource and asks
`recheck` right before acting, acts (or, dry, only says what it would do) and records the step
(`writers.record_step`).

Defaults never surprise:
- nothing is stopped or terminated while `policy.enforce` is false: those steps come back
  `dry` ("would stop", "would terminate") and are recorded as such, once each;
- a resource with the exemption tag, a protected environment, or of a type other than EC2
  instances and RDS DB instances is reported once and never stopped or terminated;
- a resource that carries every required tag again closes its ladder and is not touched;
- termination needs an approver's click unless `auto_terminate`; an RDS instance gets a final
  snapshot first;
- no step is skipped when runs were missed: a resource is stopped (or said to be) before it
  is terminated, and never terminated on the calendar day (UTC) it was stopped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime, timedelta

from bot.config import TagPolicySettings
from bot.periods import format_day

# Steps, as `Step.action`.
NOTIFY = "notify"
STOP = "stop"
TERMINATE = "terminate"
AWAIT_APPROVAL = "await-approval"
NONE = "none"
ACTIONS = (NOTIFY, STOP, TERMINATE, AWAIT_APPROVAL, NONE)

# Why enforcement does not apply, as `Step.blocked_by`.
EXEMPT = "exempt"
PROTECTED_ENVIRONMENT = "protected-environment"
NOT_STOPPABLE = "not-stoppable"
COMPLIANT = "compliant"
ALREADY_STOPPED = "already-stopped"
TERMINATED = "terminated"

# The only types the ladder stops and terminates; every other type is only reported.
STOPPABLE_TYPES = ("ec2:instance", "rds:db")
RDS_DB = "rds:db"
# States (EC2 instance state, RDS DBInstanceStatus) in which a stop can be asked for.
RUNNING_STATES = ("running", "available")
STOPPED_STATES = ("stopped", "stopping")
GONE_STATES = ("terminated", "shutting-down", "deleted", "deleting")

# `LadderState.last_step` (tag_enforcement.last_step): the last step recorded as done.
DRY_LABELS = {STOP: "would-stop", TERMINATE: "would-terminate"}
CLOSED = "closed"


@dataclass(frozen=True)
class ResourceFacts:
    """What the run read about one resource (a `resources` row and the compliance check)."""

    arn: str
    resource_id: str
    resource_type: str  # ec2:instance, rds:db, s3:bucket, ...
    account: str
    region: str
    state: str | None  # running, stopped, available, ... (None: not reported)
    tags: Mapping[str, str] = field(default_factory=dict)
    team: str | None = None  # the likely owner, or None (reported to the FinOps channel)
    missing_tags: tuple[str, ...] = ()  # the required keys it lacks; () = compliant
    # Read from the tags by the one key matching (bot/sources/focus.py), which analytics may
    # not import: the job fills these in (tag_compliance.is_exempt, tag_dimensions).
    exempt: bool = False  # carries the exemption tag
    environment: str | None = None  # the environment tag's value

    @classmethod
    def from_resource(
        cls,
        row: Mapping,
        *,
        missing_tags: Iterable[str],
        exempt: bool,
        environment: str | None,
    ) -> ResourceFacts:
        """Facts from a `resources` row (queries.resources) and what its tags say: the keys it
        lacks (tag_compliance.missing_tags), the exemption (tag_compliance.is_exempt) and the
        environment (focus.tag_dimensions(...)["environment"])."""
        tags = row.get("tags")
        if isinstance(tags, str):
            tags = json.loads(tags) if tags else {}
        return cls(
            arn=row["arn"],
            resource_id=row.get("resource_id") or row["arn"],
            resource_type=row["resource_type"],
            account=row["account_id"],
            region=row["region"],
            state=row.get("state"),
            tags=dict(tags or {}),
            team=row.get("team"),
            missing_tags=tuple(missing_tags),
            exempt=exempt,
            environment=environment,
        )


@dataclass(frozen=True)
class LadderState:
    """Where a resource is on the ladder (a tag_enforcement row); all None: never reported."""

    first_reported_at: datetime | None = None  # the ladder's clock starts here
    notified_at: datetime | None = None
    stopped_at: datetime | None = None
    terminated_at: datetime | None = None
    approved_by: str | None = None
    approved_at: datetime | None = None
    snapshot_id: str | None = None
    last_step: str | None = None  # notify | stop | would-stop | await-approval | ... | closed
    last_step_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Mapping | None) -> LadderState:
        if not row:
            return cls()
        return cls(
            first_reported_at=_parse(row.get("first_reported_at")),
            notified_at=_parse(row.get("notified_at")),
            stopped_at=_parse(row.get("stopped_at")),
            terminated_at=_parse(row.get("terminated_at")),
            approved_by=row.get("approved_by"),
            approved_at=_parse(row.get("approved_at")),
            snapshot_id=row.get("snapshot_id"),
            last_step=row.get("last_step"),
            last_step_at=_parse(row.get("last_step_at")),
        )

    @property
    def is_open(self) -> bool:
        """Reported (the clock started, or reported while protected) and not yet terminated:
        the resource is on the ladder."""
        reported = self.first_reported_at is not None or self.notified_at is not None
        return reported and self.terminated_at is None


@dataclass(frozen=True)
class Step:
    """What to do next about one resource. `dry`: enforcement is off, the step is only said
    ("would stop"). `blocked_by`: why it will not be stopped or terminated (None: nothing
    blocks). `closes_ladder`: the resource is compliant again; recording this step resets its
    state, so that losing the tags later starts a new ladder with a new report."""

    action: str
    reason: str
    _: KW_ONLY
    dry: bool = False
    blocked_by: str | None = None
    due_at: datetime | None = None  # when the next step falls due, when one will
    final_snapshot: bool = False  # RDS termination: a final snapshot is taken first
    snapshot_id: str | None = None  # the final snapshot's identifier
    closes_ladder: bool = False

    @property
    def recordable(self) -> bool:
        """Whether the job records this step (state and audit): every step but "nothing to do"."""
        return self.action != NONE or self.closes_ladder

    @property
    def label(self) -> str:
        """The step as tag_enforcement.last_step says it."""
        if self.closes_ladder:
            return CLOSED
        return DRY_LABELS.get(self.action, self.action) if self.dry else self.action


def next_step(
    facts: ResourceFacts, state: LadderState, policy: TagPolicySettings, now: datetime
) -> Step:
    """The one step the ladder takes now for `facts` (see the module docstring)."""
    now = _utc(now)
    if state.terminated_at is not None or _state(facts) in GONE_STATES:
        return Step(NONE, "Already terminated: nothing to do.", blocked_by=TERMINATED)
    if not facts.missing_tags:
        if state.is_open:
            return Step(
                NONE,
                "Carries every required tag now: the ladder is closed and the resource is not "
                "touched.",
                blocked_by=COMPLIANT,
                closes_ladder=True,
            )
        return Step(NONE, "Carries every required tag.", blocked_by=COMPLIANT)

    blocked_by, protection = protection_of(facts, policy)
    missing = ", ".join(facts.missing_tags)
    if state.first_reported_at is None and blocked_by and state.notified_at is not None:
        # Reported once as never to be stopped; the clock has not started (see writers).
        return Step(
            NONE, f"Reported; never stopped or terminated: {protection}.", blocked_by=blocked_by
        )
    if state.first_reported_at is None:
        if blocked_by:
            then = f"It will not be stopped or terminated: {protection}."
        else:
            stop_at = now + timedelta(hours=policy.stop_after_hours)
            then = (
                f"It {'would be' if not policy.enforce else 'will be'} stopped on "
                f"{_moment(stop_at)} unless it is tagged."
            )
        return Step(
            NOTIFY,
            f"Missing required tags: {missing}. {then}",
            blocked_by=blocked_by,
            due_at=None if blocked_by else now + timedelta(hours=policy.stop_after_hours),
        )
    if blocked_by:
        return Step(
            NONE, f"Reported; never stopped or terminated: {protection}.", blocked_by=blocked_by
        )

    started = state.first_reported_at
    stop_due = started + timedelta(hours=policy.stop_after_hours)
    terminate_due = started + timedelta(days=policy.terminate_after_days)
    if now < stop_due:
        return Step(
            NONE,
            f"Reported on {_moment(started)}; the stop falls due on {_moment(stop_due)}.",
            due_at=stop_due,
        )

    stop = _stop_step(facts, state, policy, now, terminate_due)
    if stop is not None:
        return stop
    if now < terminate_due:
        stopped_by_others = state.stopped_at is None and _state(facts) in STOPPED_STATES
        done = "Said it would be stopped" if state.stopped_at is None else "Stopped"
        if stopped_by_others:
            done = "Already stopped"
        return Step(
            NONE,
            f"{done}; termination falls due on {_moment(terminate_due)}.",
            blocked_by=ALREADY_STOPPED if stopped_by_others else None,
            due_at=terminate_due,
        )
    stopped_on = _stopped_on(state)
    if stopped_on is not None and stopped_on.date() >= now.date():
        next_day = datetime.combine(stopped_on.date() + timedelta(days=1), datetime.min.time(), UTC)
        stopped = "Stopped" if state.stopped_at is not None else "Said it would be stopped"
        return Step(
            NONE,
            f"{stopped} today: termination waits for the next run, so that the owner sees the "
            "stop first.",
            due_at=next_day,
        )
    return _terminate_step(facts, state, policy, now)


def _stop_step(
    facts: ResourceFacts,
    state: LadderState,
    policy: TagPolicySettings,
    now: datetime,
    terminate_due: datetime,
) -> Step | None:
    """The stop, when it is still to be taken (or, dry, still to be said); None when done."""
    if state.stopped_at is not None:
        return None  # stopped by the ladder (restarted since, maybe): never stopped twice
    resource_state = _state(facts)
    if resource_state in STOPPED_STATES:
        return None  # stopped by someone else: the ladder goes on to termination
    if not policy.enforce:
        if state.last_step in (DRY_LABELS[STOP], DRY_LABELS[TERMINATE]):
            return None  # said once already
        return Step(
            STOP,
            f"Would stop {facts.resource_id}: missing required tags "
            f"({', '.join(facts.missing_tags)}) since {_moment(state.first_reported_at)}. "
            "Enforcement is off, so nothing is stopped.",
            dry=True,
            due_at=terminate_due,
        )
    if resource_state not in RUNNING_STATES:
        return Step(
            NONE,
            f"The stop is due but the resource is {resource_state or 'in an unknown state'}: "
            "tried again at the next run.",
            due_at=terminate_due,
        )
    return Step(
        STOP,
        f"Stopping {facts.resource_id}: missing required tags "
        f"({', '.join(facts.missing_tags)}) since {_moment(state.first_reported_at)}. "
        f"Termination falls due on {_moment(terminate_due)}.",
        due_at=terminate_due,
    )


def _terminate_step(
    facts: ResourceFacts, state: LadderState, policy: TagPolicySettings, now: datetime
) -> Step:
    is_rds = facts.resource_type == RDS_DB
    snapshot_id = final_snapshot_id(facts.resource_id, now) if is_rds else None
    snapshot = f" A final snapshot ({snapshot_id}) is taken first." if is_rds else ""
    missing = ", ".join(facts.missing_tags)
    approved = state.approved_by is not None
    if not policy.enforce:
        if state.last_step == DRY_LABELS[TERMINATE]:
            return Step(NONE, "Said once already: it would be terminated.")
        needs = (
            "" if policy.auto_terminate or approved else " An approver would have to approve it."
        )
        return Step(
            TERMINATE,
            f"Would terminate {facts.resource_id}: missing required tags ({missing}) since "
            f"{_moment(state.first_reported_at)}.{needs}{snapshot} Enforcement is off, so "
            "nothing is terminated.",
            dry=True,
            final_snapshot=is_rds,
            snapshot_id=snapshot_id,
        )
    if not policy.auto_terminate and not approved:
        if state.last_step == AWAIT_APPROVAL:
            return Step(
                NONE,
                f"Waiting for an approver since {_moment(state.last_step_at)}.",
            )
        return Step(
            AWAIT_APPROVAL,
            f"{facts.resource_id} has missed required tags ({missing}) since "
            f"{_moment(state.first_reported_at)}: terminating it needs an approver's "
            f"approval.{snapshot}",
            final_snapshot=is_rds,
            snapshot_id=snapshot_id,
        )
    if approved:
        by = f" Approved by {state.approved_by} on {_moment(state.approved_at)}."
    else:
        by = " auto_terminate is on: no approval is needed."
    return Step(
        TERMINATE,
        f"Terminating {facts.resource_id}: missing required tags ({missing}) since "
        f"{_moment(state.first_reported_at)}.{by}{snapshot}",
        final_snapshot=is_rds,
        snapshot_id=snapshot_id,
    )


def protection_of(facts: ResourceFacts, policy: TagPolicySettings) -> tuple[str | None, str]:
    """(blocked_by, the reason in words) when the resource may never be stopped or terminated;
    (None, "") otherwise."""
    if facts.exempt:
        return EXEMPT, f"it carries the exemption tag {policy.exempt_tag}"
    environment = (facts.environment or "").strip()
    protected = {value.strip().casefold() for value in policy.protected_environments}
    if environment and environment.casefold() in protected:
        return PROTECTED_ENVIRONMENT, f"its environment {environment} is protected"
    if facts.resource_type not in STOPPABLE_TYPES:
        return NOT_STOPPABLE, f"a {facts.resource_type} is only reported, never stopped"
    return None, ""


def is_approver(
    user_id: str | None, user_groups_of_user: Iterable[str], policy: TagPolicySettings
) -> bool:
    """Whether a Slack user may approve a termination (or press Stop): their user id (U...,
    W...) or one of their user groups (S...) is among `policy.approvers`."""
    approvers = {approver.strip() for approver in policy.approvers if approver.strip()}
    if not user_id or not approvers:
        return False
    return user_id in approvers or any(group in approvers for group in user_groups_of_user)


def recheck(
    facts_then: ResourceFacts, facts_now: ResourceFacts | None, policy: TagPolicySettings
) -> bool:
    """Right before acting: whether the step decided on `facts_then` still applies to the
    resource as re-read now. Any change to its tags or state since the run read it (tagged,
    exempted, stopped or started by someone, gone) means it is not touched this run."""
    if facts_now is None or facts_now.arn != facts_then.arn:
        return False
    if dict(facts_now.tags) != dict(facts_then.tags) or facts_now.state != facts_then.state:
        return False
    if (facts_now.exempt, facts_now.environment) != (facts_then.exempt, facts_then.environment):
        return False
    if not facts_now.missing_tags or _state(facts_now) in GONE_STATES:
        return False
    return protection_of(facts_now, policy)[0] is None


def final_snapshot_id(db_instance_id: str, now: datetime) -> str:
    """The final snapshot's identifier (letters, digits, single hyphens: RDS's rules, which
    the DB instance identifier already follows)."""
    return f"costbot-final-{db_instance_id}-{_utc(now):%Y%m%d}"


def _stopped_on(state: LadderState) -> datetime | None:
    """When the ladder stopped it (or, dry, said it would)."""
    if state.stopped_at is not None:
        return state.stopped_at
    if state.last_step == DRY_LABELS[STOP]:
        return state.last_step_at
    return None


def _state(facts: ResourceFacts) -> str:
    return (facts.state or "").strip().lower()


def _moment(moment: datetime | None) -> str:
    if moment is None:
        return "an unknown time"
    moment = _utc(moment)
    return f"{format_day(moment.date())} {moment:%H:%M} UTC"


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone: the ladder takes UTC datetimes")
    return moment.astimezone(UTC)


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    return _utc(datetime.fromisoformat(text))
