"""`costbot run weekly-digest`: eight weeks of FOCUS rows through the real ingest, the job run
through the CLI (and with a datetime `now`, as the scheduler calls it) against the fake Slack
Web API: who gets which week, how many times, and the amounts to the cent."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from digest_data import CONFIG_DATA, LAST_DAY, WEEK, config, dollars, load, rows
from fake_slack import FakeSlack

from bot.cli import main
from bot.context import AppContext
from bot.slack.client import build_web_client
from bot.slack.delivery import Delivery
from bot.store import open_store
from jobs import weekly_digest

KEY = "weekly-digest:2026-10-19:#team-payments"


@pytest.fixture
def org(tmp_path, monkeypatch) -> Path:
    (tmp_path / "costbot.yml").write_text(yaml.safe_dump(CONFIG_DATA))
    monkeypatch.setenv("COSTBOT_CONFIG", str(tmp_path / "costbot.yml"))
    monkeypatch.setenv("COSTBOT_DB", str(tmp_path / "costbot.db"))
    load(tmp_path, config())
    return tmp_path


def _run(capsys, *args: str) -> tuple[int, dict]:
    code = main(["run", "weekly-digest", *args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def _deliveries(folder: Path) -> list[dict]:
    db = open_store(folder / "costbot.db")
    try:
        return list(db.query("SELECT * FROM deliveries WHERE job = 'weekly-digest' ORDER BY key"))
    finally:
        db.close()


def test_one_message_per_team_channel_with_its_key_and_a_rerun_posts_nothing(
    org, fake_slack: FakeSlack, capsys
):
    code, result = _run(capsys, "--date", "2026-10-26")
    assert code == 0
    assert result["job"] == "weekly-digest" and result["date"] == "2026-10-26"
    by_channel = {d["channel"]: d for d in result["deliveries"]}
    assert set(by_channel) == {"#team-payments", "#team-search"}
    assert by_channel["#team-payments"]["key"] == KEY
    assert by_channel["#team-search"]["key"] == "weekly-digest:2026-10-19:#team-search"
    assert {d["status"] for d in result["deliveries"]} == {"sent"}
    assert all(set(d) >= {"channel", "key", "text", "status"} for d in result["deliveries"])
    assert any("ml" in note for note in result["notes"])  # no channel: named, not posted

    [posted] = fake_slack.channel_messages("#team-payments")
    assert posted.metadata["event_payload"]["costbot_delivery_key"] == KEY
    all_rows = rows()
    week_total = dollars(all_rows, WEEK, LAST_DAY, team="payments")
    before = dollars(all_rows, WEEK - timedelta(days=7), WEEK - timedelta(days=1), team="payments")
    text = json.dumps(posted.blocks, ensure_ascii=False)
    assert f"${float(week_total):,.2f}" in posted.text and f"${float(before):,.2f}" in text
    assert "Mon 19 – Sun 25 Oct 2026" in text and "Mon 12 – Sun 18 Oct 2026" in text
    # The hostile service name never reaches Slack raw, in the blocks or the fallback text.
    assert "<!channel>" not in text and "<!channel>" not in posted.text
    assert "&lt;!channel&gt;" in text
    assert any(b["type"] == "image" for b in posted.blocks)  # the chart, uploaded
    assert len(fake_slack.channel_messages("#team-search")) == 1

    code, again = _run(capsys, "--date", "2026-10-28")  # Wednesday: the same week
    assert code == 0
    assert {d["status"] for d in again["deliveries"]} == {"duplicate"}
    assert len(fake_slack.channel_messages("#team-payments")) == 1
    assert len(fake_slack.channel_messages("#team-search")) == 1
    assert [d["key"] for d in _deliveries(org)] == [
        KEY,
        "weekly-digest:2026-10-19:#team-search",
    ]


def test_dry_run_posts_nothing_and_records_nothing(org, fake_slack: FakeSlack, capsys):
    code, result = _run(capsys, "--date", "2026-10-26", "--dry-run")
    assert code == 0 and result["dry_run"] is True
    assert {d["status"] for d in result["deliveries"]} == {"dry-run"}
    assert "$" in result["deliveries"][0]["text"]
    assert fake_slack.calls("chat.postMessage") == []
    assert _deliveries(org) == []


def test_without_a_token_exit_2(org, monkeypatch, capsys):
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    assert main(["run", "weekly-digest", "--date", "2026-10-26"]) == 2
    assert "SLACK_BOT_TOKEN" in capsys.readouterr().err


def test_monday_and_wednesday_report_the_week_before(org, capsys):
    # Monday, Wednesday, and the Sunday after: 19-25 October is the last complete week.
    for day in ("2026-10-26", "2026-10-28", "2026-11-01"):
        _code, result = _run(capsys, "--date", day, "--dry-run")
        assert {d["period"] for d in result["deliveries"]} == {"2026-10-19"}, day
    _code, result = _run(capsys, "--date", "2026-10-25", "--dry-run")  # a Sunday
    assert {d["period"] for d in result["deliveries"]} == {"2026-10-12"}


def _context(folder: Path, **changes) -> AppContext:
    return AppContext(config=config(**changes), db_path=str(folder / "costbot.db"))


def test_each_team_at_monday_0900_in_its_own_time_zone(org, fake_slack: FakeSlack):
    teams = [
        {"name": "payments", "channel": "#team-payments", "timezone": "America/Los_Angeles"},
        {"name": "search", "channel": "#team-search", "timezone": "Asia/Tokyo"},
    ]
    context = _context(org, teams=teams)
    delivery = Delivery(build_web_client(), context.open_writer)
    # Monday 26 October 09:00 in Tokyo is Sunday 25 October 17:00 in Los Angeles.
    tokyo = datetime(2026, 10, 26, 0, 0, tzinfo=UTC)
    result = weekly_digest.run(context, tokyo, delivery=delivery, teams=["search"])
    assert [(d["channel"], d["period"]) for d in result.deliveries] == [
        ("#team-search", "2026-10-19")
    ]
    # The same moment, for Los Angeles: its Monday has not come, its last whole week is 12-18.
    early = weekly_digest.run(context, tokyo, dry_run=True, teams=["payments"])
    assert [d["period"] for d in early.deliveries] == ["2026-10-12"]
    # Monday 09:00 in Los Angeles (PDT, UTC-7) is 16:00 UTC.
    la = datetime(2026, 10, 26, 16, 0, tzinfo=UTC)
    result = weekly_digest.run(context, la, delivery=delivery, teams=["payments"])
    assert [(d["channel"], d["period"], d["status"]) for d in result.deliveries] == [
        ("#team-payments", "2026-10-19", "sent")
    ]
    assert len(fake_slack.channel_messages("#team-payments")) == 1
    assert len(fake_slack.channel_messages("#team-search")) == 1


def test_teams_sharing_a_channel_get_one_message_once(org, fake_slack: FakeSlack):
    teams = [
        {"name": "payments", "channel": "#eng", "timezone": "Europe/Berlin"},
        {"name": "search", "channel": "#eng", "timezone": "Europe/Berlin"},
    ]
    context = _context(org, teams=teams)
    delivery = Delivery(build_web_client(), context.open_writer)
    monday = datetime(2026, 10, 26, 8, 0, tzinfo=UTC)  # 09:00 in Berlin (CET since Sunday)
    first = weekly_digest.run(context, monday, delivery=delivery, teams=["payments"])
    second = weekly_digest.run(context, monday, delivery=delivery, teams=["search"])
    assert [d["status"] for d in first.deliveries] == ["sent"]
    assert [d["status"] for d in second.deliveries] == ["duplicate"]
    [posted] = fake_slack.channel_messages("#eng")
    all_rows = rows()
    for team in ("payments", "search"):
        assert f"${float(dollars(all_rows, WEEK, LAST_DAY, team=team)):,.2f}" in posted.text
    assert posted.metadata["event_payload"]["costbot_delivery_key"] == (
        "weekly-digest:2026-10-19:#eng"
    )


def test_an_archived_channel_fails_alone_and_is_reported_once(org, fake_slack: FakeSlack, capsys):
    fake_slack.archived_channels.add("#team-search")
    code, result = _run(capsys, "--date", "2026-10-26")
    assert code == 1
    status = {d["channel"]: d["status"] for d in result["deliveries"]}
    assert status == {"#team-payments": "sent", "#team-search": "failed"}
    assert len(fake_slack.channel_messages("#finops")) == 1
    _run(capsys, "--date", "2026-10-26")
    assert len(fake_slack.channel_messages("#finops")) == 1
    assert len(fake_slack.channel_messages("#team-payments")) == 1


def test_a_week_before_the_data_says_so(org, capsys):
    _code, result = _run(capsys, "--date", date(2026, 9, 1).isoformat(), "--dry-run")
    [payments] = [d for d in result["deliveries"] if d["channel"] == "#team-payments"]
    assert "Mon 24 – Sun 30 Aug 2026" in payments["text"]
    assert (
        "no cost data for this week (the store's data starts Mon 31 Aug 2026)" in payments["text"]
    )


def test_berlin_across_the_spring_dst_change(org):
    """Clocks go forward on Sunday 29 March 2026: Monday 09:00 CEST is 07:00 UTC, and the
    week reported is 23-29 March; an hour earlier (08:00 CEST) it is still that Monday."""
    teams = [{"name": "payments", "channel": "#team-payments", "timezone": "Europe/Berlin"}]
    context = _context(org, teams=teams)
    for hour in (6, 7):
        moment = datetime(2026, 3, 30, hour, 0, tzinfo=UTC)
        result = weekly_digest.run(context, moment, dry_run=True, teams=["payments"])
        assert result.date == date(2026, 3, 30)
        assert [d["period"] for d in result.deliveries] == ["2026-03-23"]
    # Sunday 29 March 23:30 in Berlin (21:30 UTC): the week of 16-22 March.
    late = weekly_digest.run(
        context, datetime(2026, 3, 29, 21, 30, tzinfo=UTC), dry_run=True, teams=["payments"]
    )
    assert [d["period"] for d in late.deliveries] == ["2026-03-16"]


def test_a_post_taken_but_unanswered_is_found_in_history_not_posted_again(
    org, fake_slack: FakeSlack, capsys
):
    """Slack takes the first digest, but the connection closes before its answer: the run
    looks for the key in the channel's history instead of posting it a second time."""
    # The channels as Slack knows them (conversations.list), to read their history by id.
    fake_slack.channel_names.update({"C0PAYMENTS1": "team-payments", "C0SEARCH01": "team-search"})
    fake_slack.drop_post_responses(1)
    code, result = _run(capsys, "--date", "2026-10-26")
    assert code == 0 and {d["status"] for d in result["deliveries"]} == {"sent"}
    _code, again = _run(capsys, "--date", "2026-10-26")
    assert {d["status"] for d in again["deliveries"]} == {"duplicate"}
    for channel in ("#team-payments", "#team-search"):
        [message] = fake_slack.channel_messages(channel)
        assert message.metadata["event_payload"]["costbot_delivery_key"].endswith(channel)


def test_a_team_without_a_channel_is_skipped_and_said(org, fake_slack: FakeSlack):
    context = _context(org)
    result = weekly_digest.run(context, date(2026, 10, 26), teams=["ml"])
    assert result.deliveries == [] and not result.failed
    assert any("ml" in note for note in result.notes)
    assert fake_slack.calls("chat.postMessage") == []


def test_a_digest_run_killed_mid_fan_out_then_restarted_delivers_each_channel_once(
    tmp_path, monkeypatch, fake_slack: FakeSlack, capsys
):
    """`costbot run weekly-digest` in its own process, killed (SIGKILL) while Slack holds the
    answer to a post it took; the restarted run delivers every team channel exactly once: the
    held message found in the channel's history, the channels never reached posted now."""
    import os
    import signal
    import subprocess
    import sys

    extra = [{"name": f"team-{n}", "channel": f"#team-{n}"} for n in range(6)]
    data = {**CONFIG_DATA, "teams": [*CONFIG_DATA["teams"], *extra]}
    (tmp_path / "costbot.yml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("COSTBOT_CONFIG", str(tmp_path / "costbot.yml"))
    monkeypatch.setenv("COSTBOT_DB", str(tmp_path / "costbot.db"))
    load(tmp_path, config())
    channels = sorted({t["channel"] for t in data["teams"] if t.get("channel")})
    # Their ids, as Slack knows them: the history search needs them (conversations.list).
    for number, channel in enumerate(channels):
        fake_slack.channel_names[f"C{number:08d}"] = channel.lstrip("#")
    fake_slack.hold_post_responses(1, after=2)  # the 3rd post is taken, never answered

    env = {**os.environ, "SLACK_API_URL": fake_slack.url, "SLACK_BOT_TOKEN": "xoxb-test"}
    child = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "weekly-digest", "--date", "2026-10-26"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        fake_slack.wait_for_count("chat.postMessage", 3, timeout=120)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    taken = sum(len(fake_slack.channel_messages(c)) for c in channels)
    assert 3 <= taken < len(channels)  # killed mid fan-out, after Slack took the held post
    # Posts run several channels at once: besides the held one, others may have been taken
    # by Slack but not yet recorded when the process died. Each of those is recovered.
    recorded = sum(row["status"] == "sent" for row in _deliveries(tmp_path))
    assert recorded < taken

    code, result = _run(capsys, "--date", "2026-10-26")

    assert code == 0
    for channel in channels:
        assert len(fake_slack.channel_messages(channel)) == 1, channel
    statuses = {d["channel"]: d for d in result["deliveries"]}
    assert set(statuses) == set(channels)
    recovered = [d for d in result["deliveries"] if d.get("recovered")]
    assert len(recovered) == taken - recorded
    assert {d["status"] for d in recovered} == {"duplicate"}
    assert sum(d["status"] == "sent" for d in result["deliveries"]) == len(channels) - taken
    assert {row["status"] for row in _deliveries(tmp_path)} == {"sent"}
    assert len(_deliveries(tmp_path)) == len(channels)
