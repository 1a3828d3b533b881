"""The tag-policy job walked over simulated days against moto's server and the fake Slack: what
was posted where (once a day per channel), what was stopped and terminated in moto, and that
nothing exempt, protected, tagged since or un-approved was touched."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from ladder_world import (
    DAY0,
    FINOPS_CHANNEL,
    FULL,
    PAYMENTS_CHANNEL,
    World,
    config,
    db_instance,
    db_state,
    instance,
    instance_state,
    tag,
)

from bot.store import open_store


@pytest.fixture
def world(tmp_path: Path) -> World:
    path = tmp_path / "costbot.db"
    open_store(path).close()
    return World(path, config(enforce=True))


def texts(fake_slack, channel: str) -> list[str]:
    """Every message in the channel as one string of its blocks' text."""
    return [
        "\n".join(str(b.get("text", {}).get("text", "")) for b in message.blocks if "text" in b)
        + "\n"
        + "\n".join(
            str(e.get("text", ""))
            for b in message.blocks
            for e in b.get("elements", [])
            if isinstance(e, dict)
        )
        for message in fake_slack.channel_messages(channel)
    ]


def buttons(message) -> list[str]:
    return [
        b["accessory"]["value"]
        for b in message.blocks
        if b.get("accessory", {}).get("action_id") == "tag_policy_approve"
    ]


def test_the_ladder_over_days_reports_stops_then_asks_for_approval(aws, fake_slack, world):
    compliant = instance(FULL)
    missing = instance({"Team": "payments"})
    untagged = instance()
    exempt = instance({"Team": "payments", "costbot:exempt": "yes"})
    protected = instance({"Team": "payments", "Environment": "prod"})
    database = db_instance("orders-db", {"Team": "payments"})

    # Day 0: every resource missing tags is reported, once, in its team's channel.
    first = world.run(DAY0)
    assert {s["resource_id"] for s in first.steps} == {
        missing,
        untagged,
        exempt,
        protected,
        database,
    }
    assert {s["action"] for s in first.steps} == {"notify"}
    (day0,) = texts(fake_slack, PAYMENTS_CHANNEL)
    assert fake_slack.channel_messages(FINOPS_CHANNEL) == []
    for resource in (missing, untagged, exempt, protected, database):
        assert resource in day0
    assert compliant not in day0
    # The untagged instance's owner was guessed from its account: the message says so.
    (untagged_line,) = [line for line in day0.splitlines() if untagged in line]
    assert "Owner guessed" in untagged_line and "belong to payments" in untagged_line
    assert "stopped on Dec 9, 2026 09:00 UTC unless it is tagged" in day0
    assert first.deliveries == [
        {
            "channel": PAYMENTS_CHANNEL,
            "key": f"tag-policy:{PAYMENTS_CHANNEL}:2026-12-07",
            "text": first.deliveries[0]["text"],
            "status": "sent",
        }
    ]

    # Day 1: nothing is due, nothing new to say: nothing posted, nothing recorded.
    second = world.run(DAY0 + timedelta(days=1))
    assert second.steps == [] and second.deliveries == []
    assert len(fake_slack.channel_messages(PAYMENTS_CHANNEL)) == 1

    # Day 2 (48 hours later): stopped in moto, but never the exempt or the protected one.
    third = world.run(DAY0 + timedelta(days=2))
    assert {(s["resource_id"], s["action"], s["outcome"]) for s in third.steps} == {
        (missing, "stop", "done"),
        (untagged, "stop", "done"),
        (database, "stop", "done"),
    }
    assert instance_state(missing) == "stopped" and instance_state(untagged) == "stopped"
    assert db_state(database) == "stopped"
    assert instance_state(exempt) == "running" and instance_state(protected) == "running"
    assert instance_state(compliant) == "running"
    day2 = texts(fake_slack, PAYMENTS_CHANNEL)[1]
    assert "Stopped" in day2 and "Would stop" not in day2

    # Days 3 to 6: nothing. Day 7: termination needs an approver: asked, nothing terminated.
    for offset in range(3, 7):
        assert world.run(DAY0 + timedelta(days=offset)).steps == []
    seventh = world.run(DAY0 + timedelta(days=7))
    assert {(s["resource_id"], s["action"]) for s in seventh.steps} == {
        (missing, "await-approval"),
        (untagged, "await-approval"),
        (database, "await-approval"),
    }
    messages = fake_slack.channel_messages(PAYMENTS_CHANNEL)
    assert len(messages) == 3
    assert sorted(buttons(messages[2])) == sorted(
        world.arn(r) for r in (missing, untagged, database)
    )
    assert instance_state(missing) == "stopped" and db_state(database) == "stopped"

    # Day 8: still waiting for a click: no new message, nothing touched.
    assert world.run(DAY0 + timedelta(days=8)).steps == []
    assert len(fake_slack.channel_messages(PAYMENTS_CHANNEL)) == 3
    assert instance_state(missing) == "stopped"

    # The audit has every step, once.
    assert [(r["step"], r["outcome"]) for r in world.audit(missing)] == [
        ("notify", "done"),
        ("stop", "done"),
        ("await-approval", "done"),
    ]
    assert [r["step"] for r in world.audit(exempt)] == ["notify"]
    # The stops' run-rate is recorded as verified savings (no billed cost here: zero, said).
    savings = world.query("SELECT resource_id, action, basis FROM verified_savings")
    assert {(s["resource_id"], s["action"]) for s in savings} == {
        (missing, "enforcement-stop"),
        (untagged, "enforcement-stop"),
        (database, "enforcement-stop"),
    }


def test_auto_terminate_terminates_and_deletes_the_database_with_a_final_snapshot(
    aws, fake_slack, tmp_path
):
    from ladder_world import db_snapshots

    path = tmp_path / "costbot.db"
    open_store(path).close()
    world = World(path, config(enforce=True, auto_terminate=True))
    missing = instance({"Team": "payments"})
    database = db_instance("orders-db", {"Team": "payments"})
    for offset in (0, 2):
        world.run(DAY0 + timedelta(days=offset))
    seventh = world.run(DAY0 + timedelta(days=7))
    assert {(s["resource_id"], s["action"], s["outcome"]) for s in seventh.steps} == {
        (missing, "terminate", "done"),
        (database, "terminate", "done"),
    }
    assert instance_state(missing) == "terminated"
    assert db_state(database) is None
    assert db_snapshots(database) == ["costbot-final-orders-db-20261214"]
    assert "Terminated" in texts(fake_slack, PAYMENTS_CHANNEL)[-1]
    state = world.state(database)
    assert state["terminated_at"] and state["snapshot_id"] == "costbot-final-orders-db-20261214"


def test_with_enforcement_off_nothing_changes_in_aws_and_every_step_says_would(
    aws, fake_slack, tmp_path
):
    path = tmp_path / "costbot.db"
    open_store(path).close()
    world = World(path, config())  # enforce defaults to false
    missing = instance({"Team": "payments"})
    database = db_instance("orders-db", {"Team": "payments"})
    for offset in range(0, 9):
        world.run(DAY0 + timedelta(days=offset))
    assert instance_state(missing) == "running" and db_state(database) == "available"
    said = texts(fake_slack, PAYMENTS_CHANNEL)
    assert len(said) == 3  # the report, "would stop", "would terminate": each once
    assert "Would stop" in said[1] and "Enforcement is *off*" in said[1]
    assert "Would terminate" in said[2] and "Approve termination" not in said[2]
    assert [(r["step"], r["dry"]) for r in world.audit(missing)] == [
        ("notify", 0),
        ("stop", 1),
        ("terminate", 1),
    ]
    assert world.query("SELECT * FROM verified_savings") == []


def test_a_dry_run_records_posts_and_changes_nothing(aws, fake_slack, world):
    missing = instance({"Team": "payments"})
    world.run(DAY0)
    before = world.query("SELECT * FROM enforcement_audit")
    said: list[str] = []
    planned = world.run(DAY0 + timedelta(days=2), dry_run=True, say=said.append)
    assert [(s["resource_id"], s["action"], s["outcome"]) for s in planned.steps] == [
        (missing, "stop", "planned")
    ]
    assert planned.deliveries == []
    assert any("planned: stop" in line for line in said)
    assert instance_state(missing) == "running"
    assert world.query("SELECT * FROM enforcement_audit") == before
    assert len(fake_slack.channel_messages(PAYMENTS_CHANNEL)) == 1


def test_a_resource_tagged_between_two_runs_is_left_alone_and_its_ladder_closed(
    aws, fake_slack, world
):
    fixed = instance({"Team": "payments"})
    fixed_late = instance({"Team": "payments"})
    world.run(DAY0)
    # Tagged before the day-2 inventory sync: the run sees it compliant.
    tag(fixed, FULL)
    world.sync(DAY0 + timedelta(days=2))
    # Tagged after the sync, right before the job acts: the re-read sees it.
    tag(fixed_late, FULL)
    third = world.run(DAY0 + timedelta(days=2), sync=False)
    assert {(s["resource_id"], s["action"], s["outcome"]) for s in third.steps} == {
        (fixed, "closed", "done"),
        (fixed_late, "closed", "done"),
    }
    assert instance_state(fixed) == "running" and instance_state(fixed_late) == "running"
    assert world.state(fixed)["first_reported_at"] is None
    assert world.state(fixed_late)["last_step"] == "closed"
    assert len(fake_slack.channel_messages(PAYMENTS_CHANNEL)) == 1  # nothing new to say
    # A re-run before the next inventory sync judges the tags just re-read, not the stored
    # ones: no false "missing required tags" report for what was tagged.
    assert world.run(DAY0 + timedelta(days=2), sync=False).steps == []
    assert world.run(DAY0 + timedelta(days=3), sync=False).steps == []
    assert len(fake_slack.channel_messages(PAYMENTS_CHANNEL)) == 1
    # Later days: nothing more happens to them.
    assert world.run(DAY0 + timedelta(days=7)).steps == []
    assert instance_state(fixed_late) == "running"


def test_resources_with_no_likely_owner_are_reported_to_the_finops_channel(aws, fake_slack, world):
    untagged = instance()
    unknown_team = instance({"Team": "ghosts"})
    report = world.run(DAY0)
    assert {s["channel"] for s in report.steps} == {FINOPS_CHANNEL}
    (message,) = texts(fake_slack, FINOPS_CHANNEL)
    assert untagged in message and unknown_team in message
    assert "Team `ghosts` has no channel" in message
    assert fake_slack.channel_messages(PAYMENTS_CHANNEL) == []


class Crash(Exception):
    """The process dying at a chosen point."""


class CrashBeforePost:
    def __init__(self, delivery):
        self._delivery = delivery

    def recorded(self, key):
        return self._delivery.recorded(key)

    def post(self, *args, **kwargs):
        raise Crash("killed before the post")


class CrashAfterPost(CrashBeforePost):
    def post(self, *args, **kwargs):
        self._delivery.post(*args, **kwargs)
        raise Crash("killed after the post")


@pytest.mark.parametrize("crash", [CrashBeforePost, CrashAfterPost])
def test_a_restart_repeats_no_notification_and_skips_no_step(aws, fake_slack, world, crash):
    missing = instance({"Team": "payments"})
    world.run(DAY0)
    with pytest.raises(Crash):
        world.run(DAY0 + timedelta(days=2), delivery=crash(world.delivery()))
    # The step was recorded and taken before the crash, once.
    assert instance_state(missing) == "stopped"
    rerun = world.run(DAY0 + timedelta(days=2))
    assert rerun.steps == []  # the stop is not taken again
    messages = fake_slack.channel_messages(PAYMENTS_CHANNEL)
    assert len(messages) == 2  # the report, and the stop told exactly once
    assert "Stopped" in texts(fake_slack, PAYMENTS_CHANNEL)[1]
    assert [r["step"] for r in world.audit(missing)] == ["notify", "stop"]
    # And the next day has nothing to repeat either.
    world.run(DAY0 + timedelta(days=3))
    assert len(fake_slack.channel_messages(PAYMENTS_CHANNEL)) == 2


def test_a_post_slack_refused_is_told_by_the_next_run_without_taking_the_step_again(
    aws, fake_slack, world
):
    missing = instance({"Team": "payments"})
    fake_slack.error_next("chat.postMessage", "internal_error")
    first = world.run(DAY0)
    assert [d["status"] for d in first.deliveries] == ["failed"]
    assert first.failed
    assert fake_slack.channel_messages(PAYMENTS_CHANNEL) == []
    second = world.run(DAY0 + timedelta(days=1))
    assert second.steps == []
    assert [d["status"] for d in second.deliveries] == ["sent"]
    (message,) = texts(fake_slack, PAYMENTS_CHANNEL)
    assert missing in message and "Reported" in message
    assert [r["step"] for r in world.audit(missing)] == ["notify"]


def test_a_later_run_of_the_same_day_answers_in_the_thread(aws, fake_slack, world):
    first = instance({"Team": "payments"})
    world.run(DAY0)
    late = instance({"Team": "payments"})  # launched after the morning run
    again = world.run(DAY0)
    assert [(s["resource_id"], s["action"]) for s in again.steps] == [(late, "notify")]
    assert [d["key"] for d in again.deliveries] == [f"tag-policy:{PAYMENTS_CHANNEL}:2026-12-07:2"]
    calls = fake_slack.calls("chat.postMessage")
    assert calls[-1].body.get("thread_ts") == fake_slack.channel_messages(PAYMENTS_CHANNEL)[0].ts
    assert first not in texts(fake_slack, PAYMENTS_CHANNEL)[1]
