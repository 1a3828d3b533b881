"""The enforcement ladder's store (m009): one state row per resource, one audit row per step,
written together in one transaction; a re-run of the same day writes no second step."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.analytics.tag_ladder import LadderState, ResourceFacts, Step
from bot.store import open_store, queries
from bot.store.writers import record_approval, record_step

ACCOUNT = "222222222222"
AT = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
FACTS = ResourceFacts(
    arn=f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/i-0abc",
    resource_id="i-0abc",
    resource_type="ec2:instance",
    account=ACCOUNT,
    region="eu-west-1",
    state="running",
    missing_tags=("Team",),
)
NOTIFY = Step("notify", "Missing required tags: Team.")
STOP = Step("stop", "Stopping i-0abc.")
WOULD_STOP = Step("stop", "Would stop i-0abc.", dry=True)
AWAIT = Step("await-approval", "Terminating it needs an approver's approval.")
TERMINATE = Step("terminate", "Terminating i-0abc.")
CLOSE = Step("none", "Carries every required tag now.", blocked_by="compliant", closes_ladder=True)


@pytest.fixture
def db():
    store = open_store(":memory:")
    yield store
    store.close()


def counts(db) -> tuple[int, int]:
    return db["tag_enforcement"].count, db["enforcement_audit"].count


def test_the_migration_creates_the_state_and_audit_tables(db):
    assert {
        "arn",
        "first_reported_at",
        "notified_at",
        "stopped_at",
        "terminated_at",
        "approved_by",
        "approved_at",
        "snapshot_id",
        "last_step",
        "updated_at",
    } <= set(db["tag_enforcement"].columns_dict)
    assert {
        "id",
        "at",
        "arn",
        "account",
        "region",
        "resource_type",
        "step",
        "dry",
        "outcome",
        "reason",
        "approved_by",
        "actor",
        "run_date",
    } == set(db["enforcement_audit"].columns_dict)


def test_a_step_writes_the_state_and_one_audit_row(db):
    assert record_step(db, FACTS, NOTIFY, at=AT)
    state = queries.enforcement_state(db, FACTS.arn)
    assert state["first_reported_at"] == "2026-11-02T06:00:00+00:00"
    assert state["notified_at"] == state["first_reported_at"]
    assert state["last_step"] == "notify" and state["account"] == ACCOUNT
    [audit] = queries.enforcement_audit(db, FACTS.arn)
    assert audit == {
        "id": audit["id"],
        "at": "2026-11-02T06:00:00+00:00",
        "arn": FACTS.arn,
        "account": ACCOUNT,
        "region": "eu-west-1",
        "resource_type": "ec2:instance",
        "step": "notify",
        "dry": 0,
        "outcome": "done",
        "reason": "Missing required tags: Team.",
        "approved_by": None,
        "actor": "costbot",
        "run_date": "2026-11-02",
    }


def test_a_re_run_of_the_same_day_writes_no_second_step(db):
    assert record_step(db, FACTS, NOTIFY, at=AT)
    assert not record_step(db, FACTS, NOTIFY, at=AT + timedelta(hours=3))
    assert counts(db) == (1, 1)
    later = AT + timedelta(days=2)
    assert record_step(db, FACTS, STOP, at=later)
    assert not record_step(db, FACTS, STOP, at=later + timedelta(minutes=5))
    assert counts(db) == (1, 2)
    assert queries.enforcement_state(db, FACTS.arn)["stopped_at"] == later.isoformat()


def test_the_job_date_is_the_run_date(db):
    """`--date` moves the job's clock; the audit says which run did it."""
    record_step(db, FACTS, NOTIFY, at=AT, run_date=date(2026, 11, 1))
    assert [row["arn"] for row in queries.enforcement_audit_of_run(db, date(2026, 11, 1))] == [
        FACTS.arn
    ]
    assert queries.enforcement_audit_of_run(db, date(2026, 11, 2)) == []


def test_a_failed_or_skipped_step_is_audited_and_moves_nothing(db):
    assert record_step(db, FACTS, NOTIFY, at=AT, outcome="failed")
    assert queries.enforcement_state(db, FACTS.arn) is None  # the next run notifies again
    record_step(db, FACTS, NOTIFY, at=AT + timedelta(minutes=1))
    record_step(db, FACTS, STOP, at=AT + timedelta(days=2), outcome="skipped")
    state = LadderState.from_row(queries.enforcement_state(db, FACTS.arn))
    assert state.stopped_at is None and state.last_step == "notify"
    assert [(r["step"], r["outcome"]) for r in queries.enforcement_audit(db, FACTS.arn)] == [
        ("notify", "failed"),
        ("notify", "done"),
        ("stop", "skipped"),
    ]
    with pytest.raises(ValueError, match="outcome"):
        record_step(db, FACTS, STOP, at=AT, outcome="maybe")


def test_a_dry_stop_is_said_once_and_stops_nothing(db):
    record_step(db, FACTS, NOTIFY, at=AT)
    assert record_step(db, FACTS, WOULD_STOP, at=AT + timedelta(days=2))
    assert not record_step(db, FACTS, WOULD_STOP, at=AT + timedelta(days=2, hours=1))
    state = queries.enforcement_state(db, FACTS.arn)
    assert state["stopped_at"] is None and state["last_step"] == "would-stop"
    assert [r["dry"] for r in queries.enforcement_audit(db, FACTS.arn)] == [0, 1]


def test_an_approval_is_recorded_once_with_its_audit_row_and_carried_to_the_termination(db):
    assert not record_approval(db, FACTS.arn, "U0APPROVER", AT)  # never reported: nothing
    assert counts(db) == (0, 0)
    record_step(db, FACTS, NOTIFY, at=AT)
    record_step(db, FACTS, STOP, at=AT + timedelta(days=2))
    record_step(db, FACTS, AWAIT, at=AT + timedelta(days=7))
    assert [row["arn"] for row in queries.awaiting_approval(db)] == [FACTS.arn]
    clicked = AT + timedelta(days=7, hours=2)
    assert record_approval(db, FACTS.arn, "U0APPROVER", clicked)
    assert not record_approval(db, FACTS.arn, "U0LATE", clicked + timedelta(minutes=1))
    assert queries.awaiting_approval(db) == []
    record_step(db, FACTS, TERMINATE, at=clicked + timedelta(minutes=2), snapshot_id=None)
    state = LadderState.from_row(queries.enforcement_state(db, FACTS.arn))
    assert state.approved_by == "U0APPROVER" and state.approved_at == clicked
    assert state.terminated_at == clicked + timedelta(minutes=2)
    audit = queries.enforcement_audit(db, FACTS.arn)
    assert [(r["step"], r["approved_by"], r["actor"]) for r in audit[-2:]] == [
        ("approve", "U0APPROVER", "U0APPROVER"),
        ("terminate", "U0APPROVER", "costbot"),
    ]
    assert not record_approval(db, FACTS.arn, "U0APPROVER", clicked)  # terminated: nothing


def test_a_closed_ladder_forgets_its_clock_and_takes_no_approval(db):
    record_step(db, FACTS, NOTIFY, at=AT)
    record_step(db, FACTS, STOP, at=AT + timedelta(days=2))
    assert record_step(db, FACTS, CLOSE, at=AT + timedelta(days=3))
    state = LadderState.from_row(queries.enforcement_state(db, FACTS.arn))
    assert state == LadderState(last_step="closed", last_step_at=AT + timedelta(days=3))
    assert not record_approval(db, FACTS.arn, "U0APPROVER", AT + timedelta(days=4))
    assert queries.enforcement_audit(db, FACTS.arn)[-1]["step"] == "closed"


def test_state_and_audit_are_one_transaction(db):
    """When the audit row cannot be written, the state does not move either."""
    record_step(db, FACTS, NOTIFY, at=AT)
    db.execute(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON enforcement_audit"
        " BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
    )
    with pytest.raises(Exception, match="audit refused"):
        record_step(db, FACTS, STOP, at=AT + timedelta(days=2))
    assert queries.enforcement_state(db, FACTS.arn)["stopped_at"] is None
    db.execute("DROP TRIGGER refuse_audit")
    record_step(db, FACTS, AWAIT, at=AT + timedelta(days=7))
    db.execute(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON enforcement_audit"
        " BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
    )
    with pytest.raises(Exception, match="audit refused"):
        record_approval(db, FACTS.arn, "U0APPROVER", AT + timedelta(days=7, hours=1))
    assert queries.enforcement_state(db, FACTS.arn)["approved_by"] is None


def test_times_must_be_timezone_aware(db):
    with pytest.raises(ValueError, match="time zone"):
        record_step(db, FACTS, NOTIFY, at=datetime(2026, 11, 2, 6, 0))


def test_only_a_resource_awaiting_approval_takes_one(db):
    # A click on a resource the ladder never asked about (forged, or early) approves nothing.
    record_step(db, FACTS, NOTIFY, at=AT)
    assert not record_approval(db, FACTS.arn, "U0APPROVER", AT + timedelta(hours=1))
    record_step(db, FACTS, STOP, at=AT + timedelta(days=2))
    assert not record_approval(db, FACTS.arn, "U0APPROVER", AT + timedelta(days=3))
    assert queries.enforcement_state(db, FACTS.arn)["approved_by"] is None
    assert [r["step"] for r in queries.enforcement_audit(db, FACTS.arn)] == ["notify", "stop"]


def test_a_report_while_protected_starts_no_clock(db):
    protected = Step("notify", "Missing required tags: Team.", blocked_by="exempt")
    record_step(db, FACTS, protected, at=AT)
    state = LadderState.from_row(queries.enforcement_state(db, FACTS.arn))
    assert state.notified_at == AT and state.first_reported_at is None and state.is_open
