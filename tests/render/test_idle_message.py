"""The idle EC2 message for any number of instances and any names: Slack's limits hold, data
is escaped everywhere, and a press replaces only the pressed instance's buttons."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from bot.analytics.idle import IdleInstance
from bot.config import parse_config
from bot.render.blocks import (
    BUTTON_TEXT_MAX,
    BUTTON_VALUE_MAX,
    MESSAGE_BLOCKS_MAX,
    SECTION_TEXT_MAX,
)
from bot.render.idle import (
    KEEP_ACTION_ID,
    MAX_SHOWN,
    STOP_ACTION_ID,
    idle_message,
    kept_text,
    preview_idle,
    stopped_text,
    with_status,
)
from bot.sources.focus import tag_dimensions
from bot.store import open_store

DAY = date(2026, 11, 29)
HOSTILE = "<!channel> *x* & `y` " + "z" * 5000


def instance(number: int, **fields) -> IdleInstance:
    values = {
        "arn": f"arn:aws:ec2:us-east-1:123456789012:instance/i-{number:017x}",
        "resource_id": f"i-{number:017x}",
        "name": HOSTILE,
        "size": "t3.micro",
        "account": "123456789012",
        "region": "us-east-1",
        "team": HOSTILE,
        "average_cpu": 1.25,
        "cpu_days": 7,
        "idle_since": DAY - timedelta(days=9),
        "monthly_micros": 1_000_000 * number + 5_000,
        "basis": "its cost in October 2026",
    }
    return IdleInstance(**(values | fields))


def all_mrkdwn(payload: dict) -> list[str]:
    texts = [payload["text"]]
    for block in payload["blocks"]:
        if block["type"] == "section":
            texts.append(block["text"]["text"])
        if block["type"] == "context":
            texts += [e["text"] for e in block["elements"]]
    return texts


def test_sixty_instances_with_hostile_names_stay_within_slacks_limits():
    instances = [instance(n) for n in range(1, 61)]

    payload = idle_message(instances, DAY, currency="USD", cpu_percent=5, idle_days=7, team=HOSTILE)

    assert len(payload["blocks"]) <= MESSAGE_BLOCKS_MAX
    sections = [b for b in payload["blocks"] if b["type"] == "section"]
    assert len(sections) == MAX_SHOWN
    assert all(len(b["text"]["text"]) <= SECTION_TEXT_MAX for b in sections)
    # The costliest first, and the rest counted.
    assert sections[0]["text"]["text"].startswith(f"*i-{60:017x}*")
    assert "_…and 40 more: they follow in the next days' messages_" in all_mrkdwn(payload)
    # Each total to the cent: 60 * 61 / 2 dollars and 60 * half a cent.
    assert "*$1,830.30/month* between them" in all_mrkdwn(payload)[1]
    for text in all_mrkdwn(payload):
        assert "<!channel>" not in text
    assert "&lt;!channel&gt;" in sections[0]["text"]["text"]
    assert "<" not in payload["blocks"][0]["text"]["text"]  # the plain-text header
    for block in payload["blocks"]:
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            assert len(element["text"]["text"]) <= BUTTON_TEXT_MAX
            assert len(element["value"]) <= BUTTON_VALUE_MAX


def test_stop_is_offered_only_where_allowed_and_a_press_replaces_only_its_row():
    free = instance(1)
    exempt = instance(2, blocked_reason="it carries the exemption tag costbot:exempt")
    payload = idle_message([free, exempt], DAY, currency="USD", cpu_percent=5, idle_days=7)
    rows = {
        b["elements"][0]["value"]: [e["action_id"] for e in b["elements"]]
        for b in payload["blocks"]
        if b["type"] == "actions"
    }
    assert rows == {free.arn: [STOP_ACTION_ID, KEEP_ACTION_ID], exempt.arn: [KEEP_ACTION_ID]}

    status = stopped_text("U0APPROVER", free.resource_id, 123_454_999, free.basis, "USD")
    assert status == (
        f"🛑 <@U0APPROVER> stopped {free.resource_id}: saves $123.45/month"
        " (its cost in October 2026)"
    )
    updated = with_status(payload["blocks"], free.arn, status)
    assert len(updated) == len(payload["blocks"])
    assert [b["type"] for b in updated].count("actions") == 1
    assert json.dumps(updated).count(exempt.arn) == 1


def test_a_forged_user_id_is_not_a_mention():
    assert kept_text("<!here>", "i-1", DAY).startswith("✋ &lt;!here&gt; kept i-1 running")
    assert "<@U0ALICE>" in kept_text("U0ALICE", "i-1", DAY)


def test_the_demo_preview_renders_from_resource_level_cost(tmp_path: Path):
    from focus_rows import focus_row, write_rows

    from bot.sources.focus_ingest import ingest_focus

    config = parse_config({"teams": [{"name": "web", "channel": "#web"}]}, "test.yml")
    arn = "arn:aws:ec2:us-east-1:222222222222:instance/i-0abc"
    prod = "arn:aws:ec2:us-east-1:222222222222:instance/i-0prod"
    rows = [focus_row(date(2026, 10, 3), "123.454", team="web", resource=arn)]
    rows.append(focus_row(date(2026, 10, 3), "500", team="web", resource=prod))
    rows[1]["Tags"] = json.dumps({"Team": "web", "Environment": "prod"})
    ingest_focus([str(write_rows(tmp_path / "f.csv", rows))], config, tmp_path / "c.db")
    db = open_store(tmp_path / "c.db")
    try:
        previews = preview_idle(
            db,
            config,
            DAY,
            environment_of=lambda tags: tag_dimensions(tags, config.tag_keys)["environment"],
        )
    finally:
        db.close()

    notice, stopped = previews
    assert notice.title == "Idle EC2 notice in #web"
    text = json.dumps(notice.payload["blocks"], ensure_ascii=False)
    assert "No Stop button: its environment prod is protected." in text
    assert "$623.45/month* between them" in text
    after = json.dumps(stopped.payload["blocks"], ensure_ascii=False)
    assert "stopped i-0abc: saves $123.45/month (its cost in October 2026)" in after
