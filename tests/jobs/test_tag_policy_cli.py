"""`costbot run tag-policy [--date D] [--dry-run] [--json]`: the ladder walked over days with
`--date` against moto and the fake Slack, the JSON it prints, and its exit codes."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from ladder_world import (
    DAY0,
    FINOPS_CHANNEL,
    PAYMENTS_CHANNEL,
    World,
    config,
    instance,
    instance_state,
)

from bot.cli import main
from bot.store import open_store


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    settings = {
        "teams": [{"name": "payments", "channel": PAYMENTS_CHANNEL}],
        "tag_policy": {"enforce": True, "notify_channel": FINOPS_CHANNEL},
    }
    config_path = tmp_path / "costbot.yml"
    config_path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    db_path = tmp_path / "costbot.db"
    open_store(db_path).close()
    monkeypatch.setenv("COSTBOT_CONFIG", str(config_path))
    monkeypatch.setenv("COSTBOT_DB", str(db_path))
    return World(db_path, config(enforce=True))


def run_cli(capsys, *args: str) -> tuple[int, dict | str, str]:
    code = main(["run", "tag-policy", *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if "--json" in args else out), err


def test_walking_the_ladder_with_date(aws, fake_slack, world, capsys):
    vm = instance({"Team": "payments"})
    world.sync(DAY0)
    code, first, _ = run_cli(capsys, "--date", DAY0.isoformat(), "--json")
    assert code == 0
    assert first == {
        "job": "tag-policy",
        "date": "2026-12-07",
        "deliveries": [
            {
                "channel": PAYMENTS_CHANNEL,
                "key": f"tag-policy:{PAYMENTS_CHANNEL}:2026-12-07",
                "text": "Tagging policy, Dec 7, 2026: 1 reported",
                "status": "sent",
            }
        ],
        "steps": [
            {
                "arn": world.arn(vm),
                "resource_id": vm,
                "action": "notify",
                "dry": False,
                "outcome": "done",
                "reason": first["steps"][0]["reason"],
                "channel": PAYMENTS_CHANNEL,
            }
        ],
    }
    assert "stopped on Dec 9, 2026 09:00 UTC" in first["steps"][0]["reason"]

    # --dry-run on day 2: says it would stop, touches nothing.
    world.sync(DAY0 + timedelta(days=2))
    code, planned, _ = run_cli(
        capsys, "--date", (DAY0 + timedelta(days=2)).isoformat(), "--dry-run", "--json"
    )
    assert code == 0
    assert [(s["action"], s["outcome"]) for s in planned["steps"]] == [("stop", "planned")]
    assert planned["deliveries"] == []
    assert instance_state(vm) == "running"

    code, stopped, _ = run_cli(capsys, "--date", (DAY0 + timedelta(days=2)).isoformat())
    assert code == 0
    assert f"done: stop {vm} -> {PAYMENTS_CHANNEL}" in stopped
    assert instance_state(vm) == "stopped"
    assert len(fake_slack.channel_messages(PAYMENTS_CHANNEL)) == 2

    # A re-run of the day: nothing again.
    code, again, _ = run_cli(capsys, "--date", (DAY0 + timedelta(days=2)).isoformat(), "--json")
    assert code == 0 and again["steps"] == [] and again["deliveries"] == []


def test_a_step_the_cloud_refuses_exits_1(aws, fake_slack, world, capsys, monkeypatch):
    vm = instance({"Team": "payments"})
    world.sync(DAY0)
    assert run_cli(capsys, "--date", DAY0.isoformat())[0] == 0
    world.sync(DAY0 + timedelta(days=2))
    # Credentials AWS does not know: every call is refused.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "")
    code, result, _ = run_cli(capsys, "--date", (DAY0 + timedelta(days=2)).isoformat(), "--json")
    assert code == 1
    (step,) = result["steps"]
    assert step["outcome"] == "failed" and "\n" not in step["reason"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    assert instance_state(vm) == "running"
    # The failed step moved nothing: the next run takes it.
    code, retried, _ = run_cli(capsys, "--date", (DAY0 + timedelta(days=3)).isoformat(), "--json")
    assert code == 0
    assert [(s["action"], s["outcome"]) for s in retried["steps"]] == [("stop", "done")]
    assert instance_state(vm) == "stopped"


def test_without_a_slack_token_it_exits_2_unless_dry(world, capsys, monkeypatch):
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    code, _, err = run_cli(capsys, "--date", DAY0.isoformat())
    assert code == 2
    assert err.strip().startswith("costbot: SLACK_BOT_TOKEN is not set")
    assert len(err.strip().splitlines()) == 1
    assert run_cli(capsys, "--date", DAY0.isoformat(), "--dry-run")[0] == 0


def test_a_bad_date_is_usage(world, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["run", "tag-policy", "--date", "yesterday"])
    assert exited.value.code == 2
