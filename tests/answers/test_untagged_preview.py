"""What `costbot demo` shows of /untagged: the answers, and the message after a claim; and
the demo's synthetic inventory, read from the resource-level cost of the latest month."""

from __future__ import annotations

import json

import untagged_store as u
from focus_rows import write_rows

from bot.answers.untagged import preview_untagged
from bot.render.untagged import CLAIM_ACTION_ID
from bot.sources.demo_data import write_demo_inventory
from bot.sources.focus_ingest import ingest_focus
from bot.store import open_store, queries


def _buttons(payload: dict) -> list[str]:
    return [
        b["accessory"]["value"]
        for b in payload["blocks"]
        if (b.get("accessory") or {}).get("action_id") == CLAIM_ACTION_ID
    ]


def test_the_preview_shows_the_answers_and_a_claimed_message(tmp_path) -> None:
    db = open_store(u.build_store(tmp_path))
    try:
        shown = preview_untagged(db, u.config(), u.TODAY)
    finally:
        db.close()
    titles = [title for title, _, _ in shown]
    assert titles == [
        "/untagged",
        "/untagged team payments last-month",
        "/untagged team paymnts",
        "/untagged after a claim",
    ]
    before, after = shown[0][2], shown[-1][2]
    claimed = u.arn_of("db-exempt")  # the costliest resource the inventory holds
    assert claimed in _buttons(before) and claimed not in _buttons(after)
    assert len(_buttons(after)) == len(_buttons(before)) - 1
    assert "<@U0DEMO> claimed `db-exempt` for `search`" in json.dumps(after["blocks"])


def test_the_demo_inventory_is_the_billed_ec2_instances_and_databases(tmp_path) -> None:
    rows = [row for _, row in u.charges()]
    db_path = tmp_path / "costbot.db"
    ingest_focus([str(write_rows(tmp_path / "focus.csv", rows))], u.config(), db_path)
    db = open_store(db_path)
    try:
        assert write_demo_inventory(db, u.config(), "2026-11-20T06:00:00+00:00") == 3
        found = {r["resource_id"]: r for r in queries.resources(db)}
        # Billed by ARN in November: those three; bare ids cannot be typed or placed.
        assert set(found) == {"i-full", "db-exempt", "i-hostile"}
        assert json.loads(found["db-exempt"]["tags"]) == u.INVENTORY["db-exempt"][2]
        assert found["db-exempt"]["team"] == "search"
        assert found["db-exempt"]["resource_type"] == "rds:db"
    finally:
        db.close()
