"""`costbot scheduler` as users run it: `--list`, the token check, a clean stop on SIGTERM,
and two schedulers started at once on one database posting a due alert exactly once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fake_slack import BOT_TOKEN, FakeSlack
from focus_factory import Charge, write_focus_csv
from serve_process import COSTBOT, free_port

import jobs
from bot.cli import main
from bot.config import load_config
from bot.sources.focus_ingest import ingest_focus
from bot.store import open_store

TEAMS_CONFIG = """\
teams:
  - name: tokyo
    channel: "#tokyo"
    timezone: Asia/Tokyo
  - name: la
    channel: "#la"
    timezone: America/Los_Angeles
  - name: quiet
schedule:
  grace_hours: 4
  jobs:
    idle: {enabled: false}
"""


@pytest.fixture
def config_file(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "costbot.yml"
    path.write_text(TEAMS_CONFIG)
    monkeypatch.setenv("COSTBOT_CONFIG", str(path))
    monkeypatch.setenv("COSTBOT_DB", str(tmp_path / "costbot.db"))
    return path


def test_list_prints_each_run_with_its_next_time_local_and_utc(config_file, monkeypatch, capsys):
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)  # --list needs no token
    monkeypatch.setitem(jobs.JOBS, "weekly-digest", lambda *a, **k: None)
    monkeypatch.delitem(jobs.JOBS, "champions", raising=False)
    assert main(["scheduler", "--list", "--now", "2026-11-29T16:00:00Z"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {tuple(line.split()[:2]): line for line in lines[1:] if line and line[0] != " "}
    assert lines[0].split()[:2] == ["JOB", "SCOPE"]
    assert "0 6 * * *" in rows[("sync", "-")] and "Mon 2026-11-30 06:00 UTC" in rows[("sync", "-")]
    tokyo = rows[("weekly-digest", "tokyo")]
    assert "Asia/Tokyo" in tokyo
    assert "Mon 2026-11-30 09:00 JST" in tokyo and "Mon 2026-11-30 00:00 UTC" in tokyo
    la = rows[("weekly-digest", "la")]
    assert "Mon 2026-11-30 09:00 PST" in la and "Mon 2026-11-30 17:00 UTC" in la
    assert ("weekly-digest", "quiet") not in rows
    assert "  weekly-digest [quiet]: the team has no channel" in lines
    assert "  idle: disabled (schedule.jobs.idle.enabled: false)" in lines
    assert "  champions: not available in this version of Costbot" in lines
    assert any("within 4 hour(s)" in line for line in lines)


def test_without_a_bot_token_it_exits_2_with_one_line(config_file, monkeypatch, capsys):
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    assert main(["scheduler"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "SLACK_BOT_TOKEN is not set" in err[0]
    assert not (config_file.parent / "costbot.db").exists()  # nothing changed


# ---- the scheduler in its own process ----


def _environment(folder: Path, slack: FakeSlack, config: str) -> dict[str, str]:
    path = folder / "scheduler.yml"
    path.write_text(config)
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "SLACK_", "COSTBOT_"))
    }
    return env | {
        "COSTBOT_DB": str(folder / "costbot.db"),
        "COSTBOT_CONFIG": str(path),
        "SLACK_API_URL": slack.url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        # No AWS account: the daily sync reads none, and runs the anomaly alerts.
        "AWS_SHARED_CREDENTIALS_FILE": str(folder / "no-credentials"),
        "AWS_CONFIG_FILE": str(folder / "no-config"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


class Scheduler:
    def __init__(self, process: subprocess.Popen, log_path: Path) -> None:
        self.process, self.log_path = process, log_path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if self.process.poll() is not None:
                raise AssertionError(f"costbot scheduler exited: {self.log()[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in the log: {self.log()[-2000:]}")
            time.sleep(0.05)


@contextmanager
def costbot_scheduler(
    env: dict[str, str], folder: Path, name: str, *args: str
) -> Iterator[Scheduler]:
    log_path = folder / f"{name}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [str(COSTBOT), "scheduler", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    try:
        yield Scheduler(process, log_path)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_sigterm_stops_it_cleanly_with_exit_0(tmp_path, fake_slack):
    env = _environment(tmp_path, fake_slack, "{}\n")
    # A Sunday 05:00 UTC: nothing due within the grace window.
    with costbot_scheduler(env, tmp_path, "alone", "--now", "2026-11-29T05:00:00Z") as running:
        running.wait_for_log("scheduler started")
        running.wait_for_log("catch-up done: 0 run(s)")
        running.process.send_signal(signal.SIGTERM)
        assert running.process.wait(timeout=30) == 0
    assert "scheduler stopped" in running.log()
    assert "Traceback" not in running.log()
    assert fake_slack.channel_messages() == []


START = date(2026, 3, 1)
SPIKE = date(2026, 7, 14)
EC2 = "Amazon Elastic Compute Cloud"
PROD = "222222222222"
SPIKE_CONFIG = """\
teams:
  - name: payments
    channel: "#payments"
anomalies:
  channel: "#finops"
"""


def _spiked_store(folder: Path) -> None:
    """Steady spend with one spike on SPIKE, ingested the way users load it."""
    rng = random.Random(5)
    charges = []
    day = START
    while day <= SPIKE:
        level = Decimal("400") * Decimal(str(round(rng.uniform(0.96, 1.04), 6)))
        cost = Decimal("1612.3456789") if day == SPIKE else level.quantize(Decimal("0.000001"))
        charges.append(Charge(day, "payments", EC2, PROD, effective=cost, billed=cost))
        day += timedelta(days=1)
    path = write_focus_csv(folder / "focus.csv", charges)
    os.environ["COSTBOT_CONFIG"] = str(folder / "scheduler.yml")
    try:
        ingest_focus([str(path)], load_config(), folder / "costbot.db")
    finally:
        del os.environ["COSTBOT_CONFIG"]


def test_two_scheduler_processes_on_one_database_post_the_due_alert_once(
    tmp_path, fake_slack: FakeSlack
):
    env = _environment(tmp_path, fake_slack, SPIKE_CONFIG)
    _spiked_store(tmp_path)
    # 07:00 UTC on the spike's day: the 06:00 sync (then anomalies) is due, within the grace.
    now = f"{SPIKE.isoformat()}T07:00:00Z"
    with (
        costbot_scheduler(env, tmp_path, "first", "--now", now) as first,
        costbot_scheduler(env, tmp_path, "second", "--now", now) as second,
    ):
        for running in (first, second):
            running.wait_for_log("catch-up done")
        for running in (first, second):
            running.process.send_signal(signal.SIGTERM)
        assert first.process.wait(timeout=30) == 0 and second.process.wait(timeout=30) == 0

    [alert] = fake_slack.channel_messages("#payments")
    assert "1,612.35" in str(alert.blocks)
    assert fake_slack.channel_messages("#finops") == []
    ran = [s for s in (first, second) if "scheduled run: sync due" in s.log()]
    assert len(ran) == 1
    done = f"sync due {SPIKE.isoformat()}T06:00:00+00:00: done (no AWS credentials: AWS not read;"
    assert f"{done} 1 sent)" in ran[0].log(), ran[0].log()
    db = open_store(tmp_path / "costbot.db")
    try:
        [row] = db.query("SELECT * FROM job_runs WHERE job = 'sync'")
    finally:
        db.close()
    assert (row["slot"], row["status"], row["attempts"]) == (
        f"{SPIKE.isoformat()}T06:00:00+00:00",
        "done",
        1,
    )


def test_serve_runs_the_scheduler_and_stops_it_on_shutdown(tmp_path, fake_slack):
    env = _environment(tmp_path, fake_slack, "{}\n") | {"SLACK_SIGNING_SECRET": "test-secret"}
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [str(COSTBOT), "serve", "--port", str(free_port())],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    running = Scheduler(process, log_path)
    try:
        running.wait_for_log("scheduler started")
        running.wait_for_log("catch-up done")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert "scheduler stopped" in running.log()
    assert "no built-in scheduler" not in running.log()
