"""`costbot run monthly-report` and `costbot run quarterly-report` against the fake Slack over
HTTP: one message per channel and period, with metadata naming its key; a re-run posts
nothing; a dry run posts and records nothing; a channel that fails does not stop the others
and is reported once to the admin channel."""

from __future__ import annotations

import json
from datetime import date

import pytest
import yaml
from fake_slack import FakeSlack
from report_data import TEAMS, build

from bot.cli import main
from bot.config import load_config
from bot.context import AppContext
from bot.store import open_reader
from jobs import JOBS
from jobs import monthly_report as monthly_job

REPORTS = {"finops_channel": "#finops", "quarterly_channel": "#exec"}


def _write_config(folder, teams=TEAMS) -> None:
    data = {
        "teams": teams,
        "shared_costs": {"teams": ["shared-infra"]},
        "reports": REPORTS,
        "slack": {"admin_channel": "#costbot-admin"},
    }
    (folder / "costbot.yml").write_text(yaml.safe_dump(data))


@pytest.fixture
def org(tmp_path, monkeypatch):
    _write_config(tmp_path)
    monkeypatch.setenv("COSTBOT_CONFIG", str(tmp_path / "costbot.yml"))
    monkeypatch.setenv("COSTBOT_DB", str(tmp_path / "costbot.db"))
    build(tmp_path, load_config(tmp_path / "costbot.yml"))
    return tmp_path


def _run(capsys, job: str, day: str, *extra: str) -> tuple[int, dict]:
    code = main(["run", job, "--date", day, "--json", *extra])
    captured = capsys.readouterr()
    assert captured.out.strip(), f"no JSON (exit {code}): {captured.err[-2000:]}"
    return code, json.loads(captured.out)


def _deliveries(folder) -> list[dict]:
    db = open_reader(folder / "costbot.db")
    try:
        return list(db.query("SELECT key, status, job, period FROM deliveries ORDER BY key"))
    finally:
        db.close()


MONTHLY_CHANNELS = ["#finops", "#payments-leads", "#team-search", "#team-shared"]


def test_the_monthly_report_goes_once_to_each_channel(org, fake_slack: FakeSlack, capsys):
    code, result = _run(capsys, "monthly-report", "2026-11-01")
    assert code == 0
    assert set(result) >= {"job", "date", "deliveries"}
    assert (result["job"], result["date"]) == ("monthly-report", "2026-11-01")
    sent = {d["channel"]: d for d in result["deliveries"]}
    assert sorted(sent) == MONTHLY_CHANNELS
    for channel, delivery in sent.items():
        assert delivery["key"] == f"monthly-report:2026-10:{channel}"
        assert delivery["status"] == "sent" and delivery["text"]
        [message] = fake_slack.channel_messages(channel)
        payload = message.metadata["event_payload"]
        assert payload["costbot_delivery_key"] == delivery["key"]
    # ml has no channel: skipped, and the run says so.
    assert any("ml" in note and "skipped" in note for note in result["notes"])
    [leads] = fake_slack.channel_messages("#payments-leads")
    assert "Monthly report for payments, October 2026 (Oct 1 – Oct 31, 2026): $200.00" in leads.text
    assert any(b["type"] == "image" for b in leads.blocks)  # the chart, uploaded
    assert fake_slack.channel_messages("#team-payments") == []  # the leads' channel, not the team's
    [summary] = fake_slack.channel_messages("#finops")
    assert "$320.00" in summary.text

    # Again, and again with another day of November: nothing new.
    code, again = _run(capsys, "monthly-report", "2026-11-01")
    assert code == 0 and {d["status"] for d in again["deliveries"]} == {"duplicate"}
    _run(capsys, "monthly-report", "2026-11-20")
    assert len(fake_slack.channel_messages()) == len(MONTHLY_CHANNELS)


def test_a_dry_run_posts_and_records_nothing(org, fake_slack: FakeSlack, capsys):
    code, result = _run(capsys, "monthly-report", "2026-11-01", "--dry-run")
    assert code == 0 and {d["status"] for d in result["deliveries"]} == {"dry-run"}
    assert sorted(d["channel"] for d in result["deliveries"]) == MONTHLY_CHANNELS
    assert (
        fake_slack.channel_messages() == [] and fake_slack.calls("files.getUploadURLExternal") == []
    )
    assert _deliveries(org) == []


def test_a_channel_that_fails_does_not_stop_the_others(org, fake_slack: FakeSlack, capsys):
    fake_slack.missing_channels.add("#team-search")
    code, result = _run(capsys, "monthly-report", "2026-11-01")
    assert code == 1
    status = {d["channel"]: d["status"] for d in result["deliveries"]}
    assert status.pop("#team-search") == "failed" and set(status.values()) == {"sent"}
    [problem] = fake_slack.channel_messages("#costbot-admin")
    assert "#team-search" in json.dumps(problem.blocks)
    # Fixed, run again: only the failed channel gets its report.
    fake_slack.missing_channels.clear()
    code, again = _run(capsys, "monthly-report", "2026-11-01")
    assert code == 0
    assert [d["channel"] for d in again["deliveries"] if d["status"] == "sent"] == ["#team-search"]
    for channel in MONTHLY_CHANNELS:
        assert len(fake_slack.channel_messages(channel)) == 1


def test_teams_sharing_a_channel_get_one_message(tmp_path, monkeypatch, fake_slack, capsys):
    teams = [dict(t) for t in TEAMS]
    teams[1]["channel"] = "#payments-leads"  # search's report goes where payments' leads read
    _write_config(tmp_path, teams)
    monkeypatch.setenv("COSTBOT_CONFIG", str(tmp_path / "costbot.yml"))
    monkeypatch.setenv("COSTBOT_DB", str(tmp_path / "costbot.db"))
    build(tmp_path, load_config(tmp_path / "costbot.yml"))
    code, result = _run(capsys, "monthly-report", "2026-11-01")
    assert code == 0 and "#payments-leads: one message for payments, search" in result["notes"]
    [message] = fake_slack.channel_messages("#payments-leads")
    text = json.dumps(message.blocks, ensure_ascii=False)
    assert "Monthly report: payments" in text and "Monthly report: search" in text
    assert len(message.blocks) <= 50
    assert sum(1 for b in message.blocks if b["type"] == "image") == 1


def test_the_quarterly_report_goes_once(org, fake_slack: FakeSlack, capsys):
    code, result = _run(capsys, "quarterly-report", "2026-10-01")
    assert code == 0
    [delivery] = result["deliveries"]
    assert (delivery["channel"], delivery["key"], delivery["status"]) == (
        "#exec",
        "quarterly-report:2026-Q3:#exec",
        "sent",
    )
    [message] = fake_slack.channel_messages("#exec")
    assert message.metadata["event_payload"]["costbot_delivery_key"] == delivery["key"]
    assert "Q3 2026 (Jul 1 – Sep 30, 2026): $470.00" in message.text
    code, again = _run(capsys, "quarterly-report", "2026-11-15")  # still Q3: nothing new
    assert again["deliveries"][0]["status"] == "duplicate"
    assert len(fake_slack.channel_messages()) == 1


def test_a_period_without_cost_sends_nothing(org, fake_slack: FakeSlack, capsys):
    code, result = _run(capsys, "monthly-report", "2026-03-01")
    assert code == 0 and result["deliveries"] == []
    assert result["notes"][-1] == "no cost recorded for February 2026: nothing to report yet"
    code, result = _run(capsys, "quarterly-report", "2027-01-01")  # Q4 2026: only Oct and Nov
    assert result["deliveries"][0]["key"] == "quarterly-report:2026-Q4:#exec"


def test_the_jobs_are_registered_and_take_a_delivery(org, fake_slack: FakeSlack):
    assert JOBS["monthly-report"] is monthly_job.run
    assert "quarterly-report" in JOBS
    context = AppContext(config=load_config(), db_path=str(org / "costbot.db"))
    result = JOBS["monthly-report"](context, date(2026, 11, 1), dry_run=True)
    assert len(result.deliveries) == len(MONTHLY_CHANNELS)
