"""`costbot run sync` looks for anomalies in what it brought in: a spike in Cost Explorer's
data is alerted in the team's channel by the same run (posted when a bot token is set)."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from decimal import Decimal

import boto3
import pytest
import sqlite_utils
from fake_cost_explorer import CostRow, FakeCostExplorer

from bot.cli import main

TODAY = date(2026, 11, 20)
SPIKE = TODAY - timedelta(days=1)  # Cost Explorer's last complete day
ACCOUNT = "111111111111"
EC2 = "Amazon Elastic Compute Cloud"
S3 = "Amazon Simple Storage Service"
CONFIG = """\
tag_keys: [Team]
teams:
  - name: payments
    channel: "#payments"
"""


def _rows() -> list[CostRow]:
    rng = random.Random(3)
    rows = []
    day = date(2025, 10, 1)
    while day <= SPIKE:
        for team, service, level in (("payments", EC2, 300), ("payments", S3, 80)):
            amount = Decimal(level) * Decimal(str(round(rng.uniform(0.96, 1.04), 4)))
            if day == SPIKE and service == EC2:
                amount = Decimal("1450.123456")
            rows.append(CostRow(day, ACCOUNT, team, service, str(amount), str(amount)))
        day += timedelta(days=1)
    return rows


@pytest.fixture
def fake_ce(aws, monkeypatch, tmp_path):
    with FakeCostExplorer(_rows(), page_size=500, account_names={ACCOUNT: "shop"}) as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_COST_EXPLORER", fake.url)
        config = tmp_path / "costbot.yml"
        config.write_text(CONFIG)
        monkeypatch.setenv("COSTBOT_CONFIG", str(config))
        monkeypatch.setenv("COSTBOT_DB", str(tmp_path / "costbot.db"))
        yield fake


def test_the_sync_posts_the_alert_of_what_it_brought_in(fake_ce, fake_slack, capsys):
    assert main(["run", "sync", "--date", TODAY.isoformat(), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    [alert] = payload["anomalies"]["alerts"]
    # Cost Explorer's rows are exact by team x service: the series has no account.
    assert (alert["team"], alert["service"], alert["account"]) == ("payments", EC2, None)
    assert alert["start"] == SPIKE.isoformat() and alert["actual_per_day"] == "1450.12"
    assert [(d["channel"], d["status"]) for d in payload["deliveries"]] == [("#payments", "sent")]
    assert len(fake_slack.channel_messages("#payments")) == 1

    # The next day's sync finds the same event: nothing new is posted.
    assert main(["run", "sync", "--date", (TODAY + timedelta(days=1)).isoformat(), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["anomalies"]["alerts"] == [] and again["deliveries"] == []
    assert len(fake_slack.channel_messages()) == 1


def test_without_a_bot_token_the_sync_lists_the_alerts_and_records_nothing(
    fake_ce, monkeypatch, tmp_path, capsys
):
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    assert main(["run", "sync", "--date", TODAY.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "would alert 1" in out
    assert "Anomalies: not posted: SLACK_BOT_TOKEN is not set" in out
    db = sqlite_utils.Database(tmp_path / "costbot.db")
    try:
        assert db["anomaly_episodes"].count == 0
    finally:
        db.close()


def test_the_sync_stores_the_days_tagging_compliance(fake_ce, monkeypatch, tmp_path, capsys):
    """After the inventory, the sync judges what it holds against the required tags and stores
    the day (the trend of `/untagged`): one instance with every tag, one with the team only."""
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    ec2 = boto3.client("ec2")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    every = {"Team": "payments", "Product": "api", "Environment": "dev", "CostCenter": "42"}
    for tags in (every, {"team": "payments"}):
        ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.micro",
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                }
            ],
        )
    assert main(["run", "sync", "--date", TODAY.isoformat(), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["tag_compliance"]["resources"] == 2
    assert payload["tag_compliance"]["compliant_resources"] == 1
    db = sqlite_utils.Database(tmp_path / "costbot.db")
    try:
        [org] = db.query("SELECT * FROM tag_compliance WHERE kind = 'org'")
    finally:
        db.close()
    assert (org["day"], org["resources"], org["compliant_resources"]) == (TODAY.isoformat(), 2, 1)
    assert json.loads(org["missing"])["Product"]["resources"] == 1
