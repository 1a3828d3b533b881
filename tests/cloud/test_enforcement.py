"""bot/cloud/enforcement.py over the in-memory cloud: a step is acted on only if the resource,
re-read right before, is as the run read it; every outcome is audited; the run-rate saved is
recorded once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.analytics.tag_ladder import LadderState, next_step
from bot.cloud.aws import CloudActionFailed
from bot.cloud.demo import DemoCloud
from bot.cloud.enforcement import carry_out, facts_of
from bot.config import parse_config
from bot.store import open_store, queries

CONFIG = parse_config(
    {"teams": [{"name": "payments", "channel": "#payments"}], "tag_policy": {"enforce": True}},
    "test.yml",
)
DAY0 = datetime(2026, 12, 7, 9, tzinfo=UTC)


class RefusingCloud(DemoCloud):
    def stop(self, arn: str) -> None:
        raise CloudActionFailed("ec2:StopInstances in account 210987654321 was refused")


@pytest.fixture
def db(tmp_path: Path):
    store = open_store(tmp_path / "costbot.db")
    yield store
    store.close()


def walk_to_stop(db, cloud: DemoCloud, resource_id: str = "i-0abc"):
    """A reported instance, two days later: the facts and the stop step."""
    live = cloud.add("ec2:instance", resource_id, {"Team": "payments"})
    cloud.sync_into(db, CONFIG, DAY0)
    row = queries.inventory_resource(db, live.arn)
    facts = facts_of(row, CONFIG)
    notify = next_step(facts, LadderState(), CONFIG.tag_policy, DAY0)
    assert carry_out(db, CONFIG, cloud, facts, notify, now=DAY0).outcome == "done"
    later = DAY0 + timedelta(days=2)
    state = LadderState.from_row(queries.enforcement_state(db, live.arn))
    return live, facts, next_step(facts, state, CONFIG.tag_policy, later), later


def test_a_stop_is_taken_audited_and_its_run_rate_recorded_once(db):
    cloud = DemoCloud()
    live, facts, stop, later = walk_to_stop(db, cloud)
    carried = carry_out(db, CONFIG, cloud, facts, stop, now=later)
    assert (carried.outcome, carried.acted) == ("done", True)
    assert cloud.read(live.arn).state == "stopped"
    assert queries.enforcement_state(db, live.arn)["stopped_at"] == later.isoformat()
    (saving,) = queries.verified_savings(db, date(2026, 12, 1), date(2026, 12, 31))
    assert (saving["action"], saving["monthly_micros"]) == ("enforcement-stop", 0)


def test_a_refused_stop_is_audited_failed_and_moves_nothing(db):
    cloud = RefusingCloud()
    live, facts, stop, later = walk_to_stop(db, cloud)
    carried = carry_out(db, CONFIG, cloud, facts, stop, now=later)
    assert carried.outcome == "failed"
    assert carried.reason == (
        "Could not stop i-0abc: ec2:StopInstances in account 210987654321 was refused"
    )
    assert queries.enforcement_state(db, live.arn)["stopped_at"] is None
    assert [(r["step"], r["outcome"]) for r in queries.enforcement_audit(db, live.arn)] == [
        ("notify", "done"),
        ("stop", "failed"),
    ]
    assert queries.verified_savings(db, date(2026, 12, 1), date(2026, 12, 31)) == []


@pytest.mark.parametrize(
    ("change", "outcome", "why"),
    [
        (lambda cloud, arn: cloud.tag(arn, {"costbot:exempt": "yes"}), "skipped", "exemption"),
        (lambda cloud, arn: cloud.tag(arn, {"Environment": "prod"}), "skipped", "protected"),
        (lambda cloud, arn: cloud.stop(arn), "skipped", "state changed from running to stopped"),
        (lambda cloud, arn: cloud.resources.pop(arn), "skipped", "no longer exists"),
        (
            lambda cloud, arn: cloud.tag(
                arn, {"Product": "p", "Environment": "dev", "CostCenter": "c"}
            ),
            "done",
            "carries every required tag now",
        ),
    ],
    ids=["exempted", "protected", "stopped-by-someone", "gone", "tagged"],
)
def test_a_resource_changed_since_the_run_read_it_is_not_touched(db, change, outcome, why):
    cloud = DemoCloud()
    live, facts, stop, later = walk_to_stop(db, cloud)
    change(cloud, live.arn)
    carried = carry_out(db, CONFIG, cloud, facts, stop, now=later)
    assert carried.outcome == outcome and why in carried.reason
    assert not carried.acted
    current = cloud.read(live.arn)
    assert current is None or current.state in ("running", "stopped")
    state = queries.enforcement_state(db, live.arn)
    assert state["stopped_at"] is None
    if outcome == "done":  # tagged: the ladder is closed
        assert (state["last_step"], state["first_reported_at"]) == ("closed", None)
    assert queries.verified_savings(db, date(2026, 12, 1), date(2026, 12, 31)) == []
