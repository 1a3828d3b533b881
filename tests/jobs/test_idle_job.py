"""`costbot run idle`: instances running in moto's server, marked idle by the real inventory
from CPU put into moto's CloudWatch, their last month's cost loaded from a FOCUS file; the
job posts to the fake Slack Web API. What is posted, where, how often, and what is recorded."""

from __future__ import annotations

import json
from datetime import date, timedelta

import boto3
import pytest
import yaml
from fake_slack import FakeSlack
from idle_world import CONFIG, HOSTILE_NAME, World, build_world, dollars, put_cpu, stored

from bot.cli import main
from bot.config import parse_config
from bot.context import AppContext
from bot.periods import format_day
from bot.render.idle import KEEP_ACTION_ID, STOP_ACTION_ID
from bot.sources.aws.inventory import sync_inventory
from bot.store import open_store, writers
from jobs import idle

DAY = date(2026, 11, 29)


@pytest.fixture
def world(aws, tmp_path) -> World:
    return build_world(tmp_path)


def context_of(world: World) -> AppContext:
    return AppContext(config=world.config, db_path=str(world.db_path), today=lambda: world.today)


def buttons_of(blocks: list[dict]) -> dict[str, list[str]]:
    """ARN -> the action ids of its buttons."""
    found: dict[str, list[str]] = {}
    for block in blocks:
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            found.setdefault(element["value"], []).append(element["action_id"])
    return found


def text_of(blocks: list[dict]) -> str:
    return "\n".join(block["text"]["text"] for block in blocks if block["type"] == "section")


def test_each_idle_instance_is_reported_once_to_its_team_with_its_run_rate(
    world: World, fake_slack: FakeSlack
):
    result = idle.run(context_of(world), world.now)

    day = world.today.isoformat()
    assert sorted(
        (d["channel"], d["key"], d["status"]) for d in result.as_json()["deliveries"]
    ) == [
        ("#finops", f"idle:#finops:{day}", "sent"),
        ("#payments", f"idle:#payments:{day}", "sent"),
        ("#search", f"idle:#search:{day}", "sent"),
    ]
    (payments,) = fake_slack.channel_messages("#payments")
    (search,) = fake_slack.channel_messages("#search")
    (finops,) = fake_slack.channel_messages("#finops")
    # busy (40% CPU) is reported nowhere; the untagged one goes to the FinOps channel.
    assert set(buttons_of(payments.blocks)) == {
        world.arn("quiet"),
        world.arn("exempt"),
        world.arn("prod"),
    }
    assert set(buttons_of(search.blocks)) == {world.arn("hostile")}
    assert set(buttons_of(finops.blocks)) == {world.arn("orphan")}
    assert world.arn("busy") not in json.dumps([m.blocks for m in fake_slack.channel_messages()])

    shown = text_of(payments.blocks)
    quiet = world.instance_id("quiet")
    assert f"*{quiet}* batch-runner" in shown
    assert "t3.micro · account 123456789012 · us-east-1 · team payments" in shown
    assert "average CPU 2.0% over 7 days · idle 7 days" in shown
    month = (world.today.replace(day=1) - timedelta(days=1)).strftime("%B %Y")
    assert f"*{dollars(world.last_month_cost['quiet'])}/month* (its cost in {month})" in shown
    # Costliest first: prod ($300.01) before quiet ($124.04) before exempt (no cost).
    order = [shown.index(world.instance_id(n)) for n in ("prod", "quiet", "exempt")]
    assert order == sorted(order)
    total = world.last_month_cost["quiet"] + world.last_month_cost["prod"]
    assert payments.text.startswith(f"3 idle EC2 instances of payments: {dollars(total)}/month")

    # Exempt and protected: reported, no Stop button, and the reason said.
    assert buttons_of(payments.blocks)[world.arn("quiet")] == [STOP_ACTION_ID, KEEP_ACTION_ID]
    assert buttons_of(payments.blocks)[world.arn("exempt")] == [KEEP_ACTION_ID]
    assert buttons_of(payments.blocks)[world.arn("prod")] == [KEEP_ACTION_ID]
    assert "No Stop button: it carries the exemption tag costbot:exempt." in shown
    assert "No Stop button: its environment production is protected." in shown

    # A hostile Name tag is escaped: no broadcast, no formatting injected.
    hostile = text_of(search.blocks)
    assert "<!channel>" not in hostile and "&lt;!channel&gt; *box* &amp; `co`" in hostile
    assert HOSTILE_NAME not in search.text

    notices = stored(world.db_path, "SELECT * FROM idle_notices ORDER BY arn")
    assert {n["arn"] for n in notices} == {
        world.arn(n) for n in ("quiet", "hostile", "exempt", "prod", "orphan")
    }
    assert {n["status"] for n in notices} == {"open"}
    by_arn = {n["arn"]: n for n in notices}
    assert by_arn[world.arn("quiet")]["notified_channel"] == "#payments"
    assert by_arn[world.arn("quiet")]["message_ts"] == payments.ts
    assert by_arn[world.arn("orphan")]["team"] is None
    steps = stored(world.db_path, "SELECT * FROM enforcement_audit ORDER BY id")
    assert {(r["arn"], r["step"], r["actor"], r["dry"]) for r in steps} == {
        (arn, "idle-notify", "costbot", 0) for arn in by_arn
    }
    assert len(steps) == 5


def test_no_repeat_the_next_day_a_reminder_after_a_week_and_kept_ones_stay_quiet(
    world: World, fake_slack: FakeSlack
):
    context = context_of(world)
    idle.run(context, world.now)
    first = len(fake_slack.channel_messages())
    assert first == 3

    # The same day again, and the next day: nothing new to say.
    again = idle.run(context, world.now)
    assert again.deliveries == []
    next_day = idle.run(context, world.now + timedelta(days=1))
    assert next_day.deliveries == []
    assert {f["notice"] for f in next_day.as_json()["idle"]} == {"open"}
    assert len(fake_slack.channel_messages()) == first

    # Alice keeps the exempt one running; a week later the others are reminded, it is not.
    db = open_store(world.db_path)
    try:
        moment = world.now + timedelta(days=2)
        assert writers.keep_idle_notice(
            db, world.arn("exempt"), "U0ALICE", moment, moment + timedelta(days=30)
        )
    finally:
        db.close()
    week = idle.run(context, world.now + timedelta(days=7))
    assert sorted(d["channel"] for d in week.deliveries) == ["#finops", "#payments", "#search"]
    reminder = fake_slack.channel_messages("#payments")[-1]
    assert set(buttons_of(reminder.blocks)) == {world.arn("quiet"), world.arn("prod")}
    assert f"_Reminder: first reported on {format_day(world.today)}._" in text_of(reminder.blocks)
    assert "idle 14 days" in text_of(reminder.blocks)
    (quiet,) = stored(
        world.db_path, "SELECT * FROM idle_notices WHERE arn = ?", [world.arn("quiet")]
    )
    assert quiet["reminders"] == 1
    assert quiet["first_notified_at"] == world.now.isoformat(timespec="seconds")

    # 31 days after the Keep: still idle, so reported again as a new notice.
    later = idle.run(context, world.now + timedelta(days=33))
    kept_again = [f for f in later.as_json()["idle"] if f["arn"] == world.arn("exempt")]
    assert kept_again[0]["notice"] == "new"


def test_an_instance_no_longer_idle_or_gone_closes_its_notice(world: World, fake_slack):
    context = context_of(world)
    idle.run(context, world.now)
    # quiet gets busy; orphan is terminated; the inventory reads again a day later.
    midnight = world.now.replace(hour=0, minute=0, second=0, microsecond=0)
    for name in ("hostile", "exempt", "prod"):  # the window's new day: still idle
        put_cpu(world.instance_id(name), [midnight], 1.0)
    put_cpu(world.instance_id("quiet"), [midnight], 60.0)
    boto3.client("ec2", region_name="us-east-1").terminate_instances(
        InstanceIds=[world.instance_id("orphan")]
    )
    later = world.now + timedelta(days=1)
    db = open_store(world.db_path)
    try:
        sync_inventory(db, world.config, later)
    finally:
        db.close()

    result = idle.run(context, later)

    closed = {c["arn"]: c["status"] for c in result.closed}
    assert closed[world.arn("quiet")] == "closed"
    # moto keeps a terminated instance listed for a while: not running, so not idle.
    assert closed[world.arn("orphan")] in ("closed", "gone")
    statuses = dict(
        (row["arn"], row["status"])
        for row in stored(world.db_path, "SELECT arn, status FROM idle_notices")
    )
    assert statuses[world.arn("quiet")] == "closed"
    assert statuses[world.arn("hostile")] == "open"


def test_dry_run_posts_nothing_and_records_nothing(world: World, fake_slack, capsys):
    lines: list[str] = []
    result = idle.run(context_of(world), world.now, dry_run=True, say=lines.append)

    assert fake_slack.channel_messages() == []
    assert stored(world.db_path, "SELECT * FROM idle_notices") == []
    assert stored(world.db_path, "SELECT * FROM deliveries") == []
    assert result.deliveries == []
    assert lines[0].startswith(f"Idle EC2 on {world.today.isoformat()}: 5 idle, would report 5")
    assert any(world.instance_id("quiet") in line and "-> #payments" in line for line in lines)


def test_the_cli_runs_the_job_for_a_date_and_checks_the_token(
    world: World, fake_slack, monkeypatch, capsys
):
    monkeypatch.setenv("COSTBOT_DB", str(world.db_path))
    config_path = world.db_path.parent / "costbot.yml"
    config_path.write_text(yaml.safe_dump(CONFIG))
    monkeypatch.setenv("COSTBOT_CONFIG", str(config_path))
    day = world.today.isoformat()

    assert main(["run", "idle", "--date", day, "--dry-run", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["job"], shown["date"], shown["deliveries"]) == ("idle", day, [])
    assert len(shown["idle"]) == 5
    assert fake_slack.channel_messages() == []

    monkeypatch.delenv("SLACK_BOT_TOKEN")
    assert main(["run", "idle", "--date", day]) == 2
    assert "SLACK_BOT_TOKEN is not set" in capsys.readouterr().err
    assert stored(world.db_path, "SELECT * FROM idle_notices") == []


def test_more_instances_than_a_message_holds_follow_the_next_day(tmp_path, fake_slack):
    """25 idle instances of one team (written by the inventory's writer): 20 today, 5 the next
    day, and none twice."""
    db_path = tmp_path / "costbot.db"
    db = open_store(db_path)
    seen = "2026-11-29T06:00:00+00:00"
    resources = [
        {
            "arn": f"arn:aws:ec2:eu-west-1:222222222222:instance/i-{n:04d}",
            "resource_id": f"i-{n:04d}",
            "resource_type": "ec2:instance",
            "account_id": "222222222222",
            "region": "eu-west-1",
            "name": f"worker-{n}",
            "state": "running",
            "launched_at": "2026-10-01T00:00:00+00:00",
            "tags": {"Team": "payments"},
            "team": "payments",
            "size": "m5.large",
            "cpu_daily": {f"2026-11-{d:02d}": 1.0 for d in range(22, 29)},
            "idle": 1,
            "read_by": "ec2",
        }
        for n in range(25)
    ]
    try:
        writers.write_inventory_snapshot(
            db, writers.InventorySnapshot("222222222222", "eu-west-1", seen, {"ec2"}, resources)
        )
    finally:
        db.close()
    context = AppContext(
        config=parse_config(CONFIG, "test.yml"), db_path=str(db_path), today=lambda: DAY
    )

    today = idle.run(context, DAY).as_json()["idle"]
    idle.run(context, DAY + timedelta(days=1))

    assert sorted(i["notice"] for i in today).count("deferred") == 5

    first, second = fake_slack.channel_messages("#payments")
    shown = [set(buttons_of(m.blocks)) for m in (first, second)]
    assert (len(shown[0]), len(shown[1])) == (20, 5)
    assert not shown[0] & shown[1]
    assert "_…and 5 more: they follow in the next days' messages_" in json.dumps(
        first.blocks, ensure_ascii=False
    )
    notices = stored(db_path, "SELECT * FROM idle_notices")
    assert len(notices) == 25 and {n["status"] for n in notices} == {"open"}
    # The window's first day: idle 7 days on the 29th, 8 on the 30th.
    assert "idle 8 days" in text_of(second.blocks)
