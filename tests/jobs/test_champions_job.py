"""The monthly celebration against the fake Slack: October 2026 (tests/champions_world.py)
celebrated on Nov 1 in #finops and the top teams' channels, once per channel across re-runs,
a process killed after Slack took a post, and a second process; a month without wins; a
winning team without a channel; `costbot run champions --dry-run --json`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import yaml
from champions_world import CONFIG, CONFIG_DATA, build

from bot.cli import main
from bot.config import parse_config
from bot.context import AppContext
from bot.store import open_reader
from jobs import champions

NOV_1 = date(2026, 11, 1)
CHANNELS = ("#finops", "#team-payments", "#team-search")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def world(tmp_path) -> Path:
    return build(tmp_path)


def context_of(db_path: Path, config=CONFIG) -> AppContext:
    return AppContext(config=config, db_path=str(db_path))


def key_of(message) -> str:
    return message.metadata["event_payload"]["costbot_delivery_key"]


def text_of(message) -> str:
    return json.dumps(message.blocks, ensure_ascii=False)


def posted(fake_slack, channel: str):
    return [m for m in fake_slack.channel_messages(channel) if m.kind == "message"]


def test_october_is_celebrated_once_in_finops_and_each_winning_teams_channel(world, fake_slack):
    result = champions.run(context_of(world), NOV_1)

    assert [(d["channel"], d["status"]) for d in result.deliveries] == [
        (channel, "sent") for channel in CHANNELS
    ]
    for channel in CHANNELS:
        (message,) = posted(fake_slack, channel)
        assert key_of(message) == f"champions:2026-10:{channel}"
        text = text_of(message)
        # payments $930.00 + $240.00 + $50.00, search $1,234.56 + $100.00 a month.
        assert "$2,554.56 a month is $30,654.72 a year: less than one engineer" in text
        assert "$1,400.00 of anomaly cost avoided once" in text
        assert "*1. payments*: *17,890 points*" in text
        assert "*2. search*: *17,415 points*" in text
        assert "stopped idle ec2:instance i-idle1 by <@U0ALICE>" in text
        assert any(b["type"] == "image" for b in message.blocks)  # the savings chart
    assert "Congratulations, *payments*: #1" in text_of(posted(fake_slack, "#team-payments")[0])
    assert "Congratulations, *search*: #2" in text_of(posted(fake_slack, "#team-search")[0])

    again = champions.run(context_of(world), NOV_1)
    assert {d["status"] for d in again.deliveries} == {"duplicate"}
    assert sum(len(posted(fake_slack, c)) for c in CHANNELS) == 3
    db = open_reader(world)
    try:
        measured = db.execute("SELECT count(*) FROM wins WHERE status = 'measured'").fetchone()
    finally:
        db.close()
    assert measured == (5,)  # recorded once, however often the job runs


def test_a_run_killed_after_slack_took_a_post_is_finished_by_the_next_without_a_repeat(
    world, fake_slack, tmp_path
):
    config_path = tmp_path / "costbot.yml"
    config_path.write_text(yaml.safe_dump(CONFIG_DATA))
    env = {
        **os.environ,
        "COSTBOT_DB": str(world),
        "COSTBOT_CONFIG": str(config_path),
        "PYTHONPATH": str(REPO),
    }
    # The workspace's channels, as conversations.list lists them (where the history is read).
    for channel_id, channel in zip(("C0FINOPS", "C0PAY", "C0SEARCH"), CHANNELS, strict=True):
        fake_slack.channel_names[channel_id] = channel[1:]
    # Slack takes every post of the first process, but answers none: it dies waiting.
    fake_slack.hold_post_responses(3)
    first = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "champions", "--date", "2026-11-01"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        fake_slack.wait_for_count("chat.postMessage", 3, timeout=60)
    finally:
        first.kill()
        first.wait()

    restarted = champions.run(context_of(world), NOV_1)

    assert {d["status"] for d in restarted.deliveries} <= {"sent", "duplicate"}
    for channel in CHANNELS:
        (message,) = posted(fake_slack, channel)
        assert key_of(message) == f"champions:2026-10:{channel}"
    assert len(fake_slack.calls("chat.postMessage")) == 3
    # A second process on the same database later: nothing more.
    champions.run(context_of(world), NOV_1)
    assert len(fake_slack.calls("chat.postMessage")) == 3


def test_a_month_without_wins_gets_an_encouraging_note_not_silence(tmp_path, fake_slack):
    world = build(tmp_path, with_wins=False)

    result = champions.run(context_of(world), date(2026, 9, 1))  # August: no data at all

    assert [(d["channel"], d["status"]) for d in result.deliveries] == [("#finops", "sent")]
    (message,) = posted(fake_slack, "#finops")
    assert "No wins on the board for August 2026 yet" in text_of(message)
    assert "How to get on the board" in message.text
    assert key_of(message) == "champions:2026-08:#finops"


def test_a_winning_team_without_a_channel_is_skipped_and_said(world, fake_slack):
    teams = [t for t in CONFIG_DATA["teams"] if t["name"] != "search"] + [{"name": "search"}]
    config = parse_config({**CONFIG_DATA, "teams": teams})

    result = champions.run(context_of(world, config), NOV_1)

    assert [d["channel"] for d in result.deliveries] == ["#finops", "#team-payments"]
    assert "team search has no channel in the config: not posted" in result.notes


def test_the_cli_dry_run_says_what_it_would_post_and_changes_nothing(
    world, fake_slack, monkeypatch, capsys, tmp_path
):
    config_path = tmp_path / "costbot.yml"
    config_path.write_text(yaml.safe_dump(CONFIG_DATA))
    monkeypatch.setenv("COSTBOT_DB", str(world))
    monkeypatch.setenv("COSTBOT_CONFIG", str(config_path))

    assert main(["run", "champions", "--date", "2026-11-01", "--dry-run", "--json"]) == 0

    shown = json.loads(capsys.readouterr().out)
    assert (shown["job"], shown["date"], shown["dry_run"]) == ("champions", "2026-11-01", True)
    assert [(d["channel"], d["key"], d["status"]) for d in shown["deliveries"]] == [
        (channel, f"champions:2026-10:{channel}", "dry-run") for channel in CHANNELS
    ]
    assert "payments leads with 17,890 points" in shown["deliveries"][0]["text"]
    assert fake_slack.channel_messages() == []
    db = open_reader(world)
    try:
        assert db.execute("SELECT count(*) FROM wins WHERE status = 'measured'").fetchone() == (0,)
    finally:
        db.close()


@pytest.mark.parametrize(
    ("day", "month"),
    [(date(2027, 1, 1), "2026-12"), (date(2026, 11, 30), "2026-10"), (date(2026, 3, 1), "2026-02")],
)
def test_the_job_celebrates_the_month_before_its_day(day, month):
    assert champions.celebrated_month(day) == month
