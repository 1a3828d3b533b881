"""The enforcement ladder walked over simulated days, against a real store: each run reads the
state, asks `next_step`, re-checks the resource and records the step, as the tag-policy job
will. Nothing exempt, protected, fixed, un-approved or of a type that cannot be stopped is
stopped or terminated; dry runs only say what they would do."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.analytics import tag_ladder
from bot.analytics.tag_ladder import LadderState, ResourceFacts, Step, next_step
from bot.config import TagPolicySettings
from bot.sources.focus import tag_dimensions
from bot.store import open_store, queries
from bot.store.writers import record_approval, record_step

ACCOUNT = "111111111111"
DAY0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)  # the first run that sees the resources
APPROVER = "U0APPROVER"
APPROVER_GROUP = "S0FINOPS"
ENFORCING = TagPolicySettings(enforce=True, approvers=(APPROVER, APPROVER_GROUP))
DRY = TagPolicySettings(approvers=(APPROVER,))


def environment_of(tags: dict[str, str]) -> str | None:
    """As the job reads it: the one key matching of tags (Environment, env, stage, user:...)."""
    return tag_dimensions(json.dumps(tags), ())["environment"]


def with_tags(facts: ResourceFacts, changes: dict) -> ResourceFacts:
    if "tags" in changes and "environment" not in changes:
        changes["environment"] = environment_of(changes["tags"])
    return replace(facts, **changes)


def instance(resource_id: str = "i-0untagged", **changes) -> ResourceFacts:
    facts = ResourceFacts(
        arn=f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/{resource_id}",
        resource_id=resource_id,
        resource_type="ec2:instance",
        account=ACCOUNT,
        region="us-east-1",
        state="running",
        tags={"Name": "batch-worker", "Team": "payments"},
        team="payments",
        missing_tags=("Product", "Environment", "CostCenter"),
    )
    return with_tags(facts, changes)


def database(resource_id: str = "orders-db", **changes) -> ResourceFacts:
    facts = ResourceFacts(
        arn=f"arn:aws:rds:eu-west-1:{ACCOUNT}:db:{resource_id}",
        resource_id=resource_id,
        resource_type="rds:db",
        account=ACCOUNT,
        region="eu-west-1",
        state="available",
        tags={},
        missing_tags=("Team", "Product", "Environment", "CostCenter"),
    )
    return with_tags(facts, changes)


@pytest.fixture
def db():
    store = open_store(":memory:")
    yield store
    store.close()


def state_of(db, facts: ResourceFacts) -> LadderState:
    return LadderState.from_row(queries.enforcement_state(db, facts.arn))


def run(db, facts, policy, now, facts_now=None) -> Step:
    """One run of the job for one resource: decide, re-read, act (here: nothing to call),
    record. `facts_now`: the resource as re-read right before acting (default: unchanged)."""
    step = next_step(facts, state_of(db, facts), policy, now)
    if step.recordable:
        acting = step.action in (tag_ladder.STOP, tag_ladder.TERMINATE) and not step.dry
        if acting and not tag_ladder.recheck(facts, facts_now or facts, policy):
            record_step(db, facts, step, at=now, outcome="skipped")
            return Step(tag_ladder.NONE, "changed since read: " + step.reason)
        record_step(db, facts, step, at=now, snapshot_id=step.snapshot_id)
    return step


def walk(db, facts, policy, days: int, hour: int = 6) -> dict[int, str]:
    """Daily runs from day 0 to `days`: the steps taken (day -> step label), nothing else."""
    taken = {}
    for day in range(days + 1):
        step = run(db, facts, policy, DAY0.replace(hour=hour) + timedelta(days=day))
        if step.recordable:
            taken[day] = step.label
    return taken


def audit_steps(db, facts) -> list[tuple[str, int, str]]:
    return [
        (row["step"], row["dry"], row["outcome"])
        for row in queries.enforcement_audit(db, facts.arn)
    ]


# ---- the ladder's clock


def test_notify_on_day_zero_then_stop_at_48_hours_not_47(db):
    facts = instance()
    first = run(db, facts, ENFORCING, DAY0)
    assert first.action == "notify" and not first.dry and first.blocked_by is None
    assert "Product, Environment, CostCenter" in first.reason
    assert first.due_at == DAY0 + timedelta(hours=48)

    assert run(db, facts, ENFORCING, DAY0 + timedelta(hours=24)).action == "none"
    at_47 = run(db, facts, ENFORCING, DAY0 + timedelta(hours=47, minutes=59))
    assert at_47.action == "none" and at_47.due_at == DAY0 + timedelta(hours=48)
    at_48 = run(db, facts, ENFORCING, DAY0 + timedelta(hours=48))
    assert at_48.action == "stop" and not at_48.dry
    assert at_48.due_at == DAY0 + timedelta(days=7)

    state = state_of(db, facts)
    assert state.first_reported_at == DAY0 and state.notified_at == DAY0
    assert state.stopped_at == DAY0 + timedelta(hours=48) and state.terminated_at is None
    assert audit_steps(db, facts) == [("notify", 0, "done"), ("stop", 0, "done")]


def test_terminate_at_seven_days_only_after_an_approvers_click(db):
    facts = instance()
    assert walk(db, facts, ENFORCING, days=10) == {0: "notify", 2: "stop", 7: "await-approval"}
    assert state_of(db, facts).terminated_at is None  # ten days, no approval: not terminated
    assert [row["arn"] for row in queries.awaiting_approval(db)] == [facts.arn]

    approved_at = DAY0 + timedelta(days=10, hours=3)
    assert tag_ladder.is_approver(APPROVER, [], ENFORCING)
    assert record_approval(db, facts.arn, APPROVER, approved_at)
    assert not record_approval(db, facts.arn, "U0SECOND", approved_at)  # the first one counts

    step = run(db, facts, ENFORCING, approved_at + timedelta(minutes=1))
    assert step.action == "terminate" and not step.dry
    assert f"Approved by {APPROVER}" in step.reason
    assert run(db, facts, ENFORCING, DAY0 + timedelta(days=11)).action == "none"

    audit = queries.enforcement_audit(db, facts.arn)
    assert [(row["step"], row["approved_by"]) for row in audit] == [
        ("notify", None),
        ("stop", None),
        ("await-approval", None),
        ("approve", APPROVER),
        ("terminate", APPROVER),
    ]
    assert audit[3]["actor"] == APPROVER and audit[4]["actor"] == "costbot"
    assert state_of(db, facts).terminated_at == approved_at + timedelta(minutes=1)
    assert queries.awaiting_approval(db) == []


def test_auto_terminate_terminates_at_seven_days_without_a_click(db):
    policy = replace(ENFORCING, auto_terminate=True, approvers=())
    facts = instance()
    assert walk(db, facts, policy, days=9) == {0: "notify", 2: "stop", 7: "terminate"}
    terminate = queries.enforcement_audit(db, facts.arn)[-1]
    assert terminate["step"] == "terminate" and terminate["approved_by"] is None
    assert "no approval is needed" in terminate["reason"]


def test_intervals_come_from_the_policy(db):
    policy = replace(ENFORCING, stop_after_hours=24, terminate_after_days=3, auto_terminate=True)
    assert walk(db, instance(), policy, days=5) == {0: "notify", 1: "stop", 3: "terminate"}


def test_enforce_off_only_says_would_stop_and_would_terminate_once_each(db):
    facts = instance()
    assert walk(db, facts, DRY, days=12) == {0: "notify", 2: "would-stop", 7: "would-terminate"}
    state = state_of(db, facts)
    assert state.stopped_at is None and state.terminated_at is None
    assert audit_steps(db, facts) == [
        ("notify", 0, "done"),
        ("stop", 1, "done"),
        ("terminate", 1, "done"),
    ]
    reasons = [row["reason"] for row in queries.enforcement_audit(db, facts.arn)]
    assert reasons[1].startswith("Would stop i-0untagged") and "nothing is stopped" in reasons[1]
    assert reasons[2].startswith("Would terminate") and "An approver would have to" in reasons[2]


def test_turning_enforcement_on_later_stops_for_real_then_asks_for_approval(db):
    facts = instance()
    walk(db, facts, DRY, days=3)
    step = run(db, facts, ENFORCING, DAY0 + timedelta(days=4))
    assert step.action == "stop" and not step.dry
    assert state_of(db, facts).stopped_at == DAY0 + timedelta(days=4)
    assert run(db, facts, ENFORCING, DAY0 + timedelta(days=7)).action == "await-approval"


def test_missed_runs_skip_no_step(db):
    """The job was down from day 1 to day 8: the next run stops, the one after asks for the
    approval, never both on one day."""
    facts = instance()
    run(db, facts, ENFORCING, DAY0)
    day9 = DAY0 + timedelta(days=9)
    assert run(db, facts, ENFORCING, day9).action == "stop"
    later_that_day = run(db, facts, ENFORCING, day9 + timedelta(hours=5))
    assert later_that_day.action == "none" and "next run" in later_that_day.reason
    assert run(db, facts, ENFORCING, day9 + timedelta(days=1)).action == "await-approval"


def test_missed_runs_skip_no_step_when_dry_either(db):
    facts = instance()
    run(db, facts, DRY, DAY0)
    day9 = DAY0 + timedelta(days=9)
    assert run(db, facts, DRY, day9).label == "would-stop"
    assert run(db, facts, DRY, day9 + timedelta(hours=5)).reason.startswith(
        "Said it would be stopped today"
    )
    assert run(db, facts, DRY, day9 + timedelta(days=1)).label == "would-terminate"


def test_a_re_run_of_the_same_day_writes_no_second_step(db):
    facts = instance()
    for moment in (DAY0, DAY0 + timedelta(days=2), DAY0 + timedelta(days=7)):
        run(db, facts, ENFORCING, moment)
        before = len(queries.enforcement_audit(db, facts.arn))
        again = run(db, facts, ENFORCING, moment + timedelta(hours=1))
        assert not again.recordable
        assert len(queries.enforcement_audit(db, facts.arn)) == before
    assert len(queries.enforcement_audit(db, facts.arn)) == 3


def test_a_restart_between_steps_repeats_no_notification_and_skips_no_step(tmp_path):
    path = tmp_path / "costbot.db"
    facts = instance()
    for day in range(9):
        store = open_store(path)  # a new process every day
        run(store, facts, ENFORCING, DAY0 + timedelta(days=day))
        store.close()
    store = open_store(path)
    assert audit_steps(store, facts) == [
        ("notify", 0, "done"),
        ("stop", 0, "done"),
        ("await-approval", 0, "done"),
    ]
    store.close()


# ---- protections: reported once, never stopped or terminated


@pytest.mark.parametrize(
    ("tags", "exempt", "blocked_by"),
    [
        ({"costbot:exempt": "true"}, True, "exempt"),
        ({"Environment": "prod"}, False, "protected-environment"),
        ({"ENV": " Production "}, False, "protected-environment"),
        ({"user:environment": "PROD"}, False, "protected-environment"),
    ],
)
def test_exempt_and_protected_resources_are_reported_and_never_touched(
    db, tags, exempt, blocked_by
):
    facts = instance(tags=tags, exempt=exempt, missing_tags=("Team", "Product", "CostCenter"))
    assert walk(db, facts, replace(ENFORCING, auto_terminate=True), days=14) == {0: "notify"}
    notify = queries.enforcement_audit(db, facts.arn)[0]
    assert "will not be stopped or terminated" in notify["reason"]
    later = next_step(facts, state_of(db, facts), ENFORCING, DAY0 + timedelta(days=8))
    assert later.action == "none" and later.blocked_by == blocked_by
    state = state_of(db, facts)
    assert state.stopped_at is None and state.terminated_at is None


def test_an_environment_that_is_not_protected_protects_nothing(db):
    facts = instance(tags={"Environment": "production-like"})
    assert walk(db, facts, ENFORCING, days=2) == {0: "notify", 2: "stop"}


def test_protected_environments_come_from_the_policy(db):
    policy = replace(ENFORCING, protected_environments=("Staging",))
    staging = instance(tags={"stage": "staging"})
    assert walk(db, staging, policy, days=3) == {0: "notify"}
    prod = instance("i-0prod", tags={"Environment": "prod"})
    assert walk(db, prod, policy, days=3) == {0: "notify", 2: "stop"}


@pytest.mark.parametrize(
    ("resource_type", "arn"),
    [
        ("s3:bucket", "arn:aws:s3:::logs-bucket"),
        ("ec2:volume", f"arn:aws:ec2:us-east-1:{ACCOUNT}:volume/vol-1"),
        ("elasticache:cluster", f"arn:aws:elasticache:us-east-1:{ACCOUNT}:cluster:c1"),
    ],
)
def test_types_other_than_ec2_and_rds_instances_are_only_reported(db, resource_type, arn):
    facts = instance(arn=arn, resource_type=resource_type, state=None)
    assert walk(db, facts, replace(ENFORCING, auto_terminate=True), days=10) == {0: "notify"}
    later = next_step(facts, state_of(db, facts), ENFORCING, DAY0 + timedelta(days=10))
    assert later.blocked_by == "not-stoppable" and later.action == "none"


def test_a_compliant_resource_is_never_on_the_ladder(db):
    facts = instance(missing_tags=())
    assert walk(db, facts, ENFORCING, days=10) == {}
    assert queries.enforcement_state(db, facts.arn) is None
    assert next_step(facts, LadderState(), ENFORCING, DAY0).blocked_by == "compliant"


def test_tagged_since_the_last_run_closes_the_ladder_and_restarts_nothing(db):
    facts = instance()
    run(db, facts, ENFORCING, DAY0)
    run(db, facts, ENFORCING, DAY0 + timedelta(days=2))  # stopped
    tagged = replace(
        facts,
        tags={**facts.tags, "Product": "pay", "Environment": "dev", "CostCenter": "42"},
        missing_tags=(),
        state="stopped",
    )
    closing = run(db, tagged, ENFORCING, DAY0 + timedelta(days=3))
    assert closing.closes_ladder and closing.blocked_by == "compliant"
    assert walk(db, tagged, ENFORCING, days=12) == {}  # nothing more, ever
    assert audit_steps(db, facts) == [
        ("notify", 0, "done"),
        ("stop", 0, "done"),
        ("closed", 0, "done"),
    ]
    state = state_of(db, facts)
    assert not state.is_open and state.last_step == "closed" and state.terminated_at is None

    # Losing the tags again later starts a new ladder with a new report, not a termination.
    untagged_again = replace(facts, state="running")
    day13 = DAY0 + timedelta(days=13)
    assert run(db, untagged_again, ENFORCING, day13).action == "notify"
    assert run(db, untagged_again, ENFORCING, day13 + timedelta(days=1)).action == "none"
    assert state_of(db, facts).first_reported_at == day13


def test_a_resource_tagged_between_decision_and_action_is_not_touched(db):
    facts = instance()
    run(db, facts, ENFORCING, DAY0)
    tagged = replace(facts, tags={**facts.tags, "Product": "pay"}, missing_tags=("Environment",))
    step = run(db, facts, ENFORCING, DAY0 + timedelta(days=2), facts_now=tagged)
    assert step.action == "none"
    assert state_of(db, facts).stopped_at is None
    assert audit_steps(db, facts)[-1] == ("stop", 0, "skipped")
    # The next run sees the resource as it is now and decides again (still missing one key).
    assert run(db, tagged, ENFORCING, DAY0 + timedelta(days=3)).action == "stop"


def test_recheck_refuses_any_change_since_the_read():
    facts = instance()
    assert tag_ladder.recheck(facts, facts, ENFORCING)
    assert not tag_ladder.recheck(facts, None, ENFORCING)  # gone
    assert not tag_ladder.recheck(facts, replace(facts, state="stopped"), ENFORCING)
    assert not tag_ladder.recheck(facts, replace(facts, tags={**facts.tags, "x": "y"}), ENFORCING)
    assert not tag_ladder.recheck(facts, replace(facts, missing_tags=()), ENFORCING)
    exempted = replace(facts, exempt=True)  # as the exemption tag's new reading says
    assert not tag_ladder.recheck(facts, exempted, ENFORCING)
    assert not tag_ladder.recheck(exempted, exempted, ENFORCING)
    production = instance(tags={"Env": "prod"})
    assert not tag_ladder.recheck(production, production, ENFORCING)


def test_a_resource_stopped_by_its_owner_is_not_stopped_again_but_still_terminated(db):
    facts = instance(state="stopped")
    run(db, facts, ENFORCING, DAY0)
    day3 = next_step(facts, state_of(db, facts), ENFORCING, DAY0 + timedelta(days=3))
    assert day3.action == "none" and day3.blocked_by == "already-stopped"
    assert walk(db, facts, ENFORCING, days=8) == {7: "await-approval"}


def test_a_stop_waits_while_the_resource_is_in_transition(db):
    facts = instance(state="pending")
    run(db, facts, ENFORCING, DAY0)
    step = run(db, facts, ENFORCING, DAY0 + timedelta(days=2))
    assert step.action == "none" and "pending" in step.reason
    assert run(db, replace(facts, state="running"), ENFORCING, DAY0 + timedelta(days=3)).action == (
        "stop"
    )


def test_an_already_terminated_resource_is_left_alone():
    gone = instance(state="terminated")
    step = next_step(gone, LadderState(), ENFORCING, DAY0)
    assert step.action == "none" and step.blocked_by == "terminated"


# ---- RDS: a final snapshot first


def test_rds_termination_takes_a_final_snapshot_first(db):
    facts = database()
    policy = replace(ENFORCING, auto_terminate=True)
    assert walk(db, facts, policy, days=6) == {0: "notify", 2: "stop"}
    day7 = DAY0 + timedelta(days=7)
    step = run(db, facts, policy, day7)
    assert step.action == "terminate" and step.final_snapshot
    assert step.snapshot_id == "costbot-final-orders-db-20261109"
    assert "A final snapshot (costbot-final-orders-db-20261109) is taken first." in step.reason
    assert state_of(db, facts).snapshot_id == "costbot-final-orders-db-20261109"


def test_rds_approval_request_and_dry_run_say_the_snapshot_too(db):
    facts = database()
    walk(db, facts, ENFORCING, days=7)
    asked = queries.enforcement_audit(db, facts.arn)[-1]
    assert asked["step"] == "await-approval" and "final snapshot" in asked["reason"]
    other = database("reports-db")
    walk(db, other, DRY, days=7)
    said = queries.enforcement_audit(db, other.arn)[-1]
    assert said["step"] == "terminate" and said["dry"] == 1 and "final snapshot" in said["reason"]


def test_an_ec2_termination_takes_no_snapshot(db):
    facts = instance()
    assert walk(db, facts, replace(ENFORCING, auto_terminate=True), days=7)[7] == "terminate"
    terminate = queries.enforcement_audit(db, facts.arn)[-1]
    assert terminate["step"] == "terminate" and "snapshot" not in terminate["reason"]
    assert state_of(db, facts).snapshot_id is None


# ---- approvers


def test_approvers_by_user_id_and_by_user_group():
    assert tag_ladder.is_approver(APPROVER, [], ENFORCING)
    assert tag_ladder.is_approver("U0MEMBER", ["S0OTHER", APPROVER_GROUP], ENFORCING)
    assert not tag_ladder.is_approver("U0STRANGER", ["S0OTHER"], ENFORCING)
    assert not tag_ladder.is_approver("U0STRANGER", [], ENFORCING)
    assert not tag_ladder.is_approver(None, [APPROVER_GROUP], ENFORCING)
    assert not tag_ladder.is_approver(APPROVER, [], TagPolicySettings())  # nobody by default
    # A user id is not a group, nor a group id a user.
    assert not tag_ladder.is_approver(APPROVER_GROUP, [], replace(ENFORCING, approvers=(APPROVER,)))


def test_a_strangers_click_is_not_recorded_and_terminates_nothing(db):
    facts = instance()
    walk(db, facts, ENFORCING, days=7)
    stranger = "U0STRANGER"
    if tag_ladder.is_approver(stranger, ["S0OTHER"], ENFORCING):  # what the handler checks
        record_approval(db, facts.arn, stranger, DAY0 + timedelta(days=7, hours=1))
    assert run(db, facts, ENFORCING, DAY0 + timedelta(days=8)).action == "none"
    assert state_of(db, facts).terminated_at is None
    assert [row["step"] for row in queries.enforcement_audit(db, facts.arn)] == [
        "notify",
        "stop",
        "await-approval",
    ]


# ---- facts and times


def test_facts_from_an_inventory_row():
    row = {
        "arn": f"arn:aws:rds:eu-west-1:{ACCOUNT}:db:orders-db",
        "resource_id": "orders-db",
        "resource_type": "rds:db",
        "account_id": ACCOUNT,
        "region": "eu-west-1",
        "state": "available",
        "tags": '{"Team": "payments", "env": "dev"}',
        "team": "payments",
    }
    facts = ResourceFacts.from_resource(
        row, missing_tags=["Product", "CostCenter"], exempt=False, environment="dev"
    )
    assert facts.tags == {"Team": "payments", "env": "dev"}
    assert facts.account == ACCOUNT and facts.missing_tags == ("Product", "CostCenter")
    assert (facts.environment, facts.exempt, facts.state) == ("dev", False, "available")


def test_times_must_be_timezone_aware():
    with pytest.raises(ValueError, match="time zone"):
        next_step(instance(), LadderState(), ENFORCING, datetime(2026, 11, 2, 6, 0))


def test_a_resource_reported_while_protected_gets_a_fresh_report_when_it_no_longer_is():
    # Told "it will not be stopped" while exempt: lifting the exemption must not stop it at
    # once on the old report's clock, but report it again with the date of its stop.
    policy = TagPolicySettings(enforce=True)
    start = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    exempt = ResourceFacts(
        arn="arn:aws:ec2:us-east-1:111111111111:instance/i-0exempt",
        resource_id="i-0exempt",
        resource_type="ec2:instance",
        account="111111111111",
        region="us-east-1",
        state="running",
        missing_tags=("Team",),
        exempt=True,
    )
    first = next_step(exempt, LadderState(), policy, start)
    assert first.action == "notify" and first.blocked_by == "exempt"
    reported = LadderState(notified_at=start, last_step="notify", last_step_at=start)
    later = start + timedelta(days=9)
    assert next_step(exempt, reported, policy, later).action == "none"  # told once
    lifted = next_step(replace(exempt, exempt=False), reported, policy, later)
    assert lifted.action == "notify" and lifted.blocked_by is None
    assert lifted.due_at == later + timedelta(hours=48)
