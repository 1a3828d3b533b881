"""`costbot run anomalies`: FOCUS files through the real ingest, the job replayed day by day
against the fake Slack Web API: what is alerted, what is posted, where, and how often."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fake_slack import FakeSlack
from focus_factory import Charge, write_focus_csv

from bot.analytics.anomalies import SeriesKey
from bot.cli import main
from bot.config import load_config
from bot.context import AppContext
from bot.sources.focus_ingest import ingest_focus
from bot.store import open_store, queries, writers
from jobs import anomalies

START = date(2026, 3, 1)
SPIKE = date(2026, 7, 14)  # a Tuesday
EC2 = "Amazon Elastic Compute Cloud"
RDS = "Amazon Relational Database Service"
S3 = "Amazon Simple Storage Service"
PROD, STAGING = "222222222222", "333333333333"

CONFIG = """
teams:
  - name: payments
    channel: "#payments"
  - name: search
    channel: "#search"
anomalies:
  channel: "#finops"
"""


def _noisy(rng: random.Random, level: str) -> Decimal:
    """`level` +-4%, to 10 decimals as exports write it."""
    factor = Decimal(str(round(rng.uniform(0.96, 1.04), 6)))
    return (Decimal(level) * factor).quantize(Decimal("0.0000000001"))


def _charges(end: date, events: dict[tuple, dict[date, Decimal]] | None = None) -> list[Charge]:
    """Steady daily spend for three series from START to end; `events` overrides a series'
    cost on given days: {(team, service, account): {day: cost}}."""
    rng = random.Random(5)
    levels = {
        ("payments", EC2, PROD): "400",
        ("payments", RDS, PROD): "150",
        ("search", EC2, STAGING): "250",
        (None, S3, STAGING): "120",
    }
    events = events or {}
    charges = []
    day = START
    while day <= end:
        for line, level in levels.items():
            cost = events.get(line, {}).get(day) or _noisy(rng, level)
            charges.append(Charge(day, *line, effective=cost, billed=cost))
        day += timedelta(days=1)
    return charges


@pytest.fixture
def org(tmp_path, monkeypatch):
    config_path = tmp_path / "costbot.yml"
    config_path.write_text(CONFIG)
    monkeypatch.setenv("COSTBOT_CONFIG", str(config_path))
    monkeypatch.setenv("COSTBOT_DB", str(tmp_path / "costbot.db"))
    return tmp_path


def _load(folder: Path, charges: list[Charge], name: str = "focus.csv") -> None:
    path = write_focus_csv(folder / name, charges)
    ingest_focus([str(path)], load_config(), folder / "costbot.db")


def _episodes(folder: Path) -> list[dict]:
    """The anomaly episodes the runs recorded, oldest first."""
    db = open_store(folder / "costbot.db")
    try:
        return list(db.query("SELECT * FROM anomaly_episodes ORDER BY id"))
    finally:
        db.close()


def _run(day: date, *extra: str, capsys) -> tuple[int, dict]:
    code = main(["run", "anomalies", "--date", day.isoformat(), "--json", *extra])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def _spike(days: dict[date, str]) -> dict[tuple, dict[date, Decimal]]:
    return {("payments", EC2, PROD): {d: Decimal(v) for d, v in days.items()}}


def test_a_spike_is_alerted_once_in_the_team_channel(org, fake_slack: FakeSlack, capsys):
    _load(org, _charges(SPIKE + timedelta(days=3), _spike({SPIKE: "1612.3456789"})))

    code, before = _run(SPIKE - timedelta(days=1), capsys=capsys)
    assert code == 0 and before["alerts"] == []

    code, result = _run(SPIKE, capsys=capsys)
    assert code == 0
    assert result["job"] == "anomalies" and result["date"] == SPIKE.isoformat()
    [alert] = result["alerts"]
    assert (alert["team"], alert["service"], alert["account"]) == ("payments", EC2, PROD)
    assert alert["kind"] in ("spike", "new") and alert["start"] == SPIKE.isoformat()
    assert alert["actual_per_day"] == "1612.35"  # the day's cost, to the cent
    assert 370 <= float(alert["expected_per_day"]) <= 430
    assert alert["channel"] == "#payments"
    assert alert["root_cause"][0]["service"] == EC2
    assert alert["root_cause"][0]["account"] == PROD
    assert alert["root_cause"][0]["region"] == "us-east-1"
    posts = fake_slack.channel_messages("#payments")
    assert len(posts) == 1
    assert "$1,612.35" in json.dumps(posts[0].blocks)
    assert fake_slack.channel_messages("#finops") == []
    assert fake_slack.channel_messages("#search") == []

    # A re-run of the day posts nothing; so do the next days (the spike is over).
    for day in (SPIKE, SPIKE + timedelta(days=1), SPIKE + timedelta(days=2)):
        code, again = _run(day, capsys=capsys)
        assert code == 0 and again["alerts"] == []
    assert len(fake_slack.channel_messages()) == 1
    [episode] = _episodes(org)
    assert episode["status"] == "closed" and episode["start"] == SPIKE.isoformat()


def test_the_run_sees_only_data_up_to_its_date(org, fake_slack: FakeSlack, capsys):
    # The store already holds the days after the spike (a backtest loads everything first).
    _load(org, _charges(SPIKE + timedelta(days=20), _spike({SPIKE: "1700"})))
    code, result = _run(SPIKE - timedelta(days=1), capsys=capsys)
    assert code == 0 and result["alerts"] == [] and result["data_through"] == "2026-07-13"
    code, result = _run(SPIKE, capsys=capsys)
    assert [a["start"] for a in result["alerts"]] == [SPIKE.isoformat()]


def test_untagged_spend_goes_to_the_anomalies_channel(org, fake_slack: FakeSlack, capsys):
    events = {(None, S3, STAGING): {SPIKE: Decimal("900")}}
    _load(org, _charges(SPIKE, events))
    code, result = _run(SPIKE, capsys=capsys)
    assert code == 0
    [alert] = result["alerts"]
    assert alert["team"] is None and alert["channel"] == "#finops"
    assert len(fake_slack.channel_messages("#finops")) == 1


def test_several_anomalies_of_a_channel_share_one_message(org, fake_slack: FakeSlack, capsys):
    events = {
        ("payments", EC2, PROD): {SPIKE: Decimal("2000")},
        ("payments", RDS, PROD): {SPIKE: Decimal("900")},
    }
    _load(org, _charges(SPIKE, events))
    code, result = _run(SPIKE, capsys=capsys)
    assert code == 0
    assert sorted(a["service"] for a in result["alerts"]) == [EC2, RDS]
    assert len(fake_slack.channel_messages("#payments")) == 1
    assert [d["channel"] for d in result["deliveries"]] == ["#payments"]


def test_a_level_shift_is_alerted_once(org, fake_slack: FakeSlack, capsys):
    shifted = {SPIKE + timedelta(days=n): "900" for n in range(30)}
    _load(org, _charges(SPIKE + timedelta(days=29), _spike(shifted)))
    posted = []
    for n in range(30):
        code, result = _run(SPIKE + timedelta(days=n), capsys=capsys)
        assert code == 0
        posted += result["alerts"]
    assert len(posted) == 1 and posted[0]["start"] == SPIKE.isoformat()
    assert len(fake_slack.channel_messages("#payments")) == 1


def test_a_follow_up_when_the_impact_grows_a_lot(org, fake_slack: FakeSlack, capsys):
    days = {SPIKE: "800", SPIKE + timedelta(days=1): "4000"}
    _load(org, _charges(SPIKE + timedelta(days=1), _spike(days)))
    _, first = _run(SPIKE, capsys=capsys)
    _, second = _run(SPIKE + timedelta(days=1), capsys=capsys)
    assert len(first["alerts"]) == 1
    [follow_up] = second["alerts"]
    assert follow_up["follow_up"] is True and follow_up["start"] == SPIKE.isoformat()
    assert follow_up["episode_id"] == first["alerts"][0]["episode_id"]


def test_a_muted_series_is_not_alerted(org, fake_slack: FakeSlack, capsys):
    later = SPIKE + timedelta(days=5)
    _load(org, _charges(later, _spike({SPIKE: "1700", later: "1800"})))
    _, first = _run(SPIKE, capsys=capsys)
    db = open_store(org / "costbot.db")
    try:
        writers.record_anomaly_action(
            db, first["alerts"][0]["episode_id"], "mute", "U1", today=SPIKE, mute_days=7
        )
    finally:
        db.close()
    for n in range(1, 6):
        _, result = _run(SPIKE + timedelta(days=n), capsys=capsys)
        assert result["alerts"] == []
        assert result["muted"] == (1 if SPIKE + timedelta(days=n) == later else 0)
    assert len(fake_slack.channel_messages("#payments")) == 1


def test_expected_makes_the_new_level_normal(org, fake_slack: FakeSlack, capsys):
    shifted = {SPIKE + timedelta(days=n): "700" for n in range(20)}
    _load(org, _charges(SPIKE + timedelta(days=19), _spike(shifted)))
    _, first = _run(SPIKE, capsys=capsys)
    db = open_store(org / "costbot.db")
    try:
        episode_id = first["alerts"][0]["episode_id"]
        writers.record_anomaly_action(db, episode_id, "expected", "U1", today=SPIKE)
    finally:
        db.close()
    for n in range(1, 20):
        _, result = _run(SPIKE + timedelta(days=n), capsys=capsys)
        assert result["alerts"] == []
    assert len(fake_slack.channel_messages()) == 1
    [episode] = _episodes(org)
    assert episode["status"] == "expected" and episode["expected_by"] == "U1"


def test_a_message_slack_refuses_is_alerted_again_next_run(org, fake_slack: FakeSlack, capsys):
    _load(org, _charges(SPIKE, _spike({SPIKE: "1700"})))
    fake_slack.error_next("chat.postMessage", "channel_not_found")
    code, failed = _run(SPIKE, capsys=capsys)
    assert code == 1
    assert [d["status"] for d in failed["deliveries"]] == ["failed"]
    assert failed["alerts"] == []
    assert _episodes(org) == []
    code, retried = _run(SPIKE, capsys=capsys)
    assert code == 0 and len(retried["alerts"]) == 1
    assert len(fake_slack.channel_messages("#payments")) == 1


def test_dry_run_posts_and_records_nothing(org, fake_slack: FakeSlack, capsys):
    _load(org, _charges(SPIKE, _spike({SPIKE: "1700"})))
    code, result = _run(SPIKE, "--dry-run", capsys=capsys)
    assert code == 0 and len(result["alerts"]) == 1
    assert result["alerts"][0]["episode_id"] is None
    assert fake_slack.channel_messages() == [] and result["deliveries"] == []
    assert _episodes(org) == []


def test_without_a_bot_token_it_says_so_and_changes_nothing(org, monkeypatch, capsys):
    _load(org, _charges(SPIKE, _spike({SPIKE: "1700"})))
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    code = main(["run", "anomalies", "--date", SPIKE.isoformat()])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("costbot: SLACK_BOT_TOKEN is not set")
    assert _episodes(org) == []


def test_the_alert_shows_a_chart_and_buttons(org, fake_slack: FakeSlack, capsys):
    _load(org, _charges(SPIKE, _spike({SPIKE: "1700"})))
    _run(SPIKE, capsys=capsys)
    [post] = fake_slack.channel_messages("#payments")
    types = [block["type"] for block in post.blocks]
    assert "image" in types and "actions" in types
    [upload] = fake_slack.uploaded_files()
    assert upload.is_private  # shown in the message, shared nowhere else
    db = open_store(org / "costbot.db")
    try:
        [episode] = db["anomaly_episodes"].rows
        sent = queries.delivery(db, episode["delivery_key"])
    finally:
        db.close()
    assert sent["status"] == "sent" and sent["channel"] == "#payments"


def test_the_job_function_and_the_cli_agree(org, fake_slack: FakeSlack, capsys):
    _load(org, _charges(SPIKE, _spike({SPIKE: "1700"})))
    context = AppContext(config=load_config(), db_path=str(org / "costbot.db"))
    dry = anomalies.run(context, SPIKE, dry_run=True)
    _, result = _run(SPIKE, capsys=capsys)
    assert [a.as_json() | {"episode_id": None} for a in dry.alerts] == [
        a | {"episode_id": None} for a in result["alerts"]
    ]


def test_the_first_days_of_the_data_alert_nothing(org, fake_slack: FakeSlack, capsys):
    """A store whose data begins on the first day replayed: every series is new then, and none
    is worth an alert; a spike once there is history is."""
    first = date(2026, 7, 1)
    spike = first + timedelta(days=40)
    charges = [c for c in _charges(spike, _spike({spike: "1700"})) if c.day >= first]
    _load(org, charges)
    alerted = []
    for n in range(41):
        code, result = _run(first + timedelta(days=n), capsys=capsys)
        assert code == 0
        alerted += result["alerts"]
    assert [(a["service"], a["start"]) for a in alerted] == [(EC2, spike.isoformat())]
    assert len(fake_slack.channel_messages()) == 1


def test_a_run_of_an_earlier_date_after_a_later_one(org, fake_slack: FakeSlack, capsys):
    later = SPIKE + timedelta(days=5)
    _load(org, _charges(later, _spike({SPIKE: "1700", later: "1800"})))
    _, second = _run(later, capsys=capsys)
    _, first = _run(SPIKE, capsys=capsys)
    assert [a["start"] for a in second["alerts"]] == [later.isoformat()]
    assert [a["start"] for a in first["alerts"]] == [SPIKE.isoformat()]
    last_days = {row["start"]: row["last_day"] for row in _episodes(org)}
    assert last_days == {SPIKE.isoformat(): SPIKE.isoformat(), later.isoformat(): later.isoformat()}


def test_an_alert_recorded_but_never_posted_is_posted_by_the_next_run(
    org, fake_slack: FakeSlack, capsys
):
    """The process stopped after recording the episode and before Slack took the message (no
    delivery on record): the next run posts it, once."""
    _load(org, _charges(SPIKE, _spike({SPIKE: "1700"})))
    db = open_store(org / "costbot.db")
    try:
        writers.open_episode(
            db,
            series=SeriesKey("payments", EC2, PROD, "USD").text,
            team="payments",
            service=EC2,
            account_id=PROD,
            currency="USD",
            kind="spike",
            start=SPIKE.isoformat(),
            last_day=SPIKE.isoformat(),
            detected_on=SPIKE.isoformat(),
            alerted_excess_micros=1_300_000_000,
            delivery_key=anomalies.delivery_key("#payments", SPIKE),
        )
    finally:
        db.close()
    _, result = _run(SPIKE, capsys=capsys)
    [alert] = result["alerts"]
    assert alert["start"] == SPIKE.isoformat() and alert["episode_id"] == 1
    assert len(fake_slack.channel_messages("#payments")) == 1
    _, again = _run(SPIKE, capsys=capsys)
    assert again["alerts"] == [] and len(fake_slack.channel_messages()) == 1


def test_more_found_later_the_same_day_goes_in_the_thread(org, fake_slack: FakeSlack, capsys):
    """Late data for the day shows a second anomaly after the day's message is out: it is
    posted in that message's thread, never as a second message in the channel."""
    _load(org, _charges(SPIKE, _spike({SPIKE: "1700"})))
    _, first = _run(SPIKE, capsys=capsys)
    events = {
        ("payments", EC2, PROD): {SPIKE: Decimal("1700")},
        ("payments", RDS, PROD): {SPIKE: Decimal("900")},
    }
    _load(org, _charges(SPIKE, events))  # the re-exported month replaces the first one
    _, later = _run(SPIKE, capsys=capsys)
    assert [a["service"] for a in first["alerts"]] == [EC2]
    assert [a["service"] for a in later["alerts"]] == [RDS]
    posts = fake_slack.calls("chat.postMessage")
    assert len(posts) == 2
    assert "thread_ts" not in posts[0].body
    assert posts[1].body["thread_ts"] == fake_slack.channel_messages("#payments")[0].ts
    assert [d["key"] for d in later["deliveries"]] == [
        f"{anomalies.delivery_key('#payments', SPIKE)}:2"
    ]
