"""The scheduler's core (jobs/scheduler.py), called with chosen moments: which slots are due
across week, month and quarter boundaries, time zones and DST changes; catch-up within and
outside the grace window; failures recorded and retried without stopping the others; two
schedulers on one database running a slot once and posting once."""

from __future__ import annotations

import copy
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from fake_slack import FakeSlack

import jobs
from bot.config import ConfigError, crontab_for_apscheduler, parse_config
from bot.context import AppContext
from bot.slack.client import build_web_client
from bot.slack.delivery import Delivery
from bot.store import migrate_store, open_store
from jobs import schedule as schedule_of
from jobs import scheduler
from jobs.fanout import delivery_key


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@dataclass
class Ran:
    """A job registered by a test: records each call's `now` and keyword arguments."""

    calls: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)
    fail: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, context: AppContext, now: datetime, **kwargs: Any) -> Any:
        with self.lock:
            self.calls.append((now, kwargs))
        if self.fail:
            raise RuntimeError("the warehouse is on fire")
        return _Result([{"channel": "#x", "status": "sent"}])

    @property
    def nows(self) -> list[datetime]:
        return [now for now, _ in self.calls]


@dataclass
class _Result:
    deliveries: list[dict[str, Any]]


@pytest.fixture
def registered(monkeypatch) -> dict[str, Ran]:
    """Every scheduled job replaced by a recording one (the real ones need AWS or data)."""
    fakes = {name: Ran() for name in ("sync", "tag-policy", "idle", "weekly-digest")}
    fakes |= {name: Ran() for name in ("monthly-report", "quarterly-report", "champions")}
    for name, fake in fakes.items():
        monkeypatch.setitem(jobs.JOBS, name, fake)
    return fakes


def context_for(tmp_path, config: dict) -> AppContext:
    db_path = tmp_path / "costbot.db"
    migrate_store(db_path)
    return AppContext(config=parse_config(config), db_path=str(db_path))


def job_runs(context: AppContext) -> list[dict]:
    db = open_store(context.db_path)
    try:
        return list(db.query("SELECT * FROM job_runs ORDER BY slot, job, scope"))
    finally:
        db.close()


ONLY_DIGESTS = {
    "schedule": {
        "jobs": {
            job: {"enabled": False}
            for job in ("sync", "tag-policy", "idle", "monthly-report", "quarterly-report")
        }
        | {"champions": {"enabled": False}}
    }
}


def digest_config(*teams: dict) -> dict:
    return {"teams": list(teams), **copy.deepcopy(ONLY_DIGESTS)}


# ---- the schedule and its due slots ----


def test_cron_weekdays_are_read_as_crontab_reads_them():
    # APScheduler 3 numbers weekdays from Monday; crontab(5) from Sunday (0 or 7).
    monday = schedule_of.cron_trigger("0 9 * * 1", "UTC").get_next_fire_time(
        None, utc(2026, 10, 21)
    )
    assert monday == utc(2026, 10, 26, 9)
    sunday = schedule_of.cron_trigger("0 9 * * 7", "UTC").get_next_fire_time(
        None, utc(2026, 10, 21)
    )
    assert sunday == utc(2026, 10, 25, 9)
    assert crontab_for_apscheduler("0 9 * * 1-5") == "0 9 * * mon,tue,wed,thu,fri"
    assert crontab_for_apscheduler("0 9 * * */2") == "0 9 * * sun,tue,thu,sat"
    assert crontab_for_apscheduler("0 9 * * 0,6") == "0 9 * * sun,sat"
    assert crontab_for_apscheduler("0 9 * * mon-fri") == "0 9 * * mon-fri"
    # The config accepts Sunday as 7, as crontab does, and names a bad weekday.
    parse_config({"schedule": {"jobs": {"champions": {"cron": "0 10 * * 7"}}}})
    with pytest.raises(ConfigError, match=r"schedule.jobs.sync: cron '0 6 \* \* 9'"):
        parse_config({"schedule": {"jobs": {"sync": {"cron": "0 6 * * 9"}}}})


def test_teams_get_their_monday_nine_in_their_own_time_zone(tmp_path, registered):
    context = context_for(
        tmp_path,
        digest_config(
            {"name": "tokyo", "channel": "#tokyo", "timezone": "Asia/Tokyo"},
            {"name": "la", "channel": "#la", "timezone": "America/Los_Angeles"},
            {"name": "quiet"},  # no channel: no digest
        ),
    )
    runs = schedule_of.due_runs(context.config, utc(2026, 10, 25), utc(2026, 11, 3))
    assert [(r.scope, r.slot) for r in runs] == [
        ("tokyo", utc(2026, 10, 26, 0)),  # 09:00 JST
        ("la", utc(2026, 10, 26, 16)),  # 09:00 PDT
        ("tokyo", utc(2026, 11, 2, 0)),
        ("la", utc(2026, 11, 2, 17)),  # 09:00 PST: summer time ended on 1 November
    ]
    for run in runs:
        local = run.slot.astimezone(
            ZoneInfo("Asia/Tokyo" if run.scope == "tokyo" else "America/Los_Angeles")
        )
        assert (local.weekday(), local.hour, local.minute) == (0, 9, 0)


@pytest.mark.parametrize(
    ("zone", "before", "after"),
    [
        # Berlin moves to summer time on Sunday 29 March 2026.
        ("Europe/Berlin", utc(2026, 3, 23, 8), utc(2026, 3, 30, 7)),
        # New York on Sunday 8 March 2026.
        ("America/New_York", utc(2026, 3, 2, 14), utc(2026, 3, 9, 13)),
    ],
)
def test_nine_local_stays_nine_local_across_a_dst_change(tmp_path, registered, zone, before, after):
    context = context_for(
        tmp_path, digest_config({"name": "ops", "channel": "#ops", "timezone": zone})
    )
    runs = schedule_of.due_runs(context.config, utc(2026, 3, 1), utc(2026, 3, 31))
    slots = [r.slot for r in runs]
    assert before in slots and after in slots
    assert {s.astimezone(ZoneInfo(zone)).hour for s in slots} == {9}


def test_a_team_digest_cron_and_a_job_time_zone_override_the_defaults(tmp_path, registered):
    config = digest_config(
        {"name": "a", "channel": "#a", "timezone": "Asia/Tokyo", "digest_cron": "30 8 * * 2"},
        {"name": "b", "channel": "#b", "timezone": "Asia/Tokyo"},
    )
    config["schedule"]["jobs"]["weekly-digest"] = {"timezone": "Europe/London"}
    context = context_for(tmp_path, config)
    entries = {e.scope: e for e in schedule_of.schedule(context.config)}
    assert (entries["a"].cron, entries["a"].timezone) == ("30 8 * * 2", "Europe/London")
    assert (entries["b"].cron, entries["b"].timezone) == ("0 9 * * mon", "Europe/London")


def test_month_and_quarter_boundaries_and_the_day_order(tmp_path, registered):
    context = context_for(tmp_path, {"teams": [{"name": "web", "channel": "#web"}]})
    runs = schedule_of.due_runs(context.config, utc(2026, 12, 31, 12), utc(2027, 1, 1, 23))
    # 1 January 2027 is a Friday: no digest; every monthly and quarterly job is due.
    assert [(r.job, r.slot.hour) for r in runs] == [
        ("sync", 6),
        ("tag-policy", 9),
        ("idle", 9),
        ("monthly-report", 9),
        ("quarterly-report", 9),
        ("champions", 10),
    ]
    quarters = schedule_of.due_runs(context.config, utc(2026, 6, 15), utc(2026, 12, 31))
    assert [r.slot.date().isoformat() for r in quarters if r.job == "quarterly-report"] == [
        "2026-07-01",
        "2026-10-01",
    ]
    months = [r.slot for r in quarters if r.job == "monthly-report"]
    assert months == [utc(2026, m, 1, 9) for m in range(7, 13)]


def test_only_jobs_that_exist_and_are_enabled_are_scheduled(tmp_path, monkeypatch):
    monkeypatch.delitem(jobs.JOBS, "champions", raising=False)
    context = context_for(tmp_path, {"schedule": {"jobs": {"idle": {"enabled": False}}}})
    names = [e.job for e in schedule_of.schedule(context.config)]
    assert "idle" not in names and "champions" not in names and names[0] == "sync"
    notes = schedule_of.not_scheduled(context.config)
    assert "idle: disabled (schedule.jobs.idle.enabled: false)" in notes
    assert "champions: not available in this version of Costbot" in notes


# ---- running slots, catching up, retrying ----


def test_a_missed_slot_within_the_grace_window_runs_once_as_at_its_slot(tmp_path, registered):
    context = context_for(tmp_path, digest_config({"name": "web", "channel": "#web"}))
    monday_noon = utc(2026, 10, 26, 12)  # the 09:00 digest was missed: 3 hours ago
    [outcome] = scheduler.catch_up(context, monday_noon)
    assert (outcome.job, outcome.scope, outcome.status) == ("weekly-digest", "web", "done")
    digest = registered["weekly-digest"]
    # The job's now is when it was due, and it is for that team only.
    assert digest.calls == [
        (utc(2026, 10, 26, 9), {"say": digest.calls[0][1]["say"], "teams": ["web"]})
    ]
    assert scheduler.catch_up(context, monday_noon + timedelta(minutes=5)) == []
    assert len(digest.calls) == 1
    [row] = job_runs(context)
    assert (row["status"], row["attempts"], row["slot"]) == ("done", 1, "2026-10-26T09:00:00+00:00")
    assert row["summary"] == "1 sent"


def test_a_slot_older_than_the_grace_window_is_recorded_skipped_and_logged_once(
    tmp_path, registered, caplog
):
    context = context_for(tmp_path, digest_config({"name": "web", "channel": "#web"}))
    # A scheduler ran the digest of 19 October, then was down until Tuesday 27th.
    scheduler.catch_up(context, utc(2026, 10, 19, 9, 1))
    caplog.set_level(logging.WARNING, logger="jobs.scheduler")
    assert scheduler.catch_up(context, utc(2026, 10, 27, 8)) == []
    assert len(registered["weekly-digest"].calls) == 1
    rows = {row["slot"]: row for row in job_runs(context)}
    skipped = rows["2026-10-26T09:00:00+00:00"]
    assert skipped["status"] == "skipped" and "grace" in skipped["error"]
    [line] = [r.getMessage() for r in caplog.records]
    assert "weekly-digest [web]" in line and "2026-10-26T09:00:00+00:00" in line
    assert scheduler.catch_up(context, utc(2026, 10, 27, 8, 5)) == []
    assert len(caplog.records) == 1  # said once


def test_a_failing_job_is_recorded_retried_later_and_never_stops_the_others(
    tmp_path, registered, caplog
):
    context = context_for(
        tmp_path,
        {
            "schedule": {
                "jobs": {"sync": {"enabled": False}},
                "retry_minutes": 30,
                "max_attempts": 2,
            }
        },
    )
    registered["tag-policy"].fail = True
    now = utc(2026, 11, 3, 9, 0, 30)
    outcomes = scheduler.catch_up(context, now)
    assert [(o.job, o.status) for o in outcomes] == [("tag-policy", "failed"), ("idle", "done")]
    assert "RuntimeError: the warehouse is on fire" in outcomes[0].summary
    assert any(
        "tag-policy due 2026-11-03T09:00:00+00:00: failed" in r.getMessage() for r in caplog.records
    )
    failed = next(r for r in job_runs(context) if r["job"] == "tag-policy")
    assert failed["status"] == "failed" and failed["attempts"] == 1
    assert failed["next_attempt_at"] == "2026-11-03T09:30:30+00:00"
    assert failed["error"] == "RuntimeError: the warehouse is on fire"

    # Not before its time; the catch-up does not bypass it either.
    assert scheduler.sweep(context, now + timedelta(minutes=10)) == []
    registered["tag-policy"].fail = False
    [again] = scheduler.sweep(context, now + timedelta(minutes=31))
    assert (again.job, again.status, again.attempt) == ("tag-policy", "done", 2)
    assert registered["tag-policy"].nows == [utc(2026, 11, 3, 9)] * 2  # as at its slot, twice
    assert len(registered["idle"].calls) == 1


def test_attempts_stop_at_max_attempts(tmp_path, registered):
    context = context_for(
        tmp_path, {"schedule": {"jobs": {"idle": {"enabled": False}}, "max_attempts": 2}}
    )
    registered["sync"].fail = True
    start = utc(2026, 11, 3, 6, 1)
    # aws=True: the sync as where AWS credentials are found (the registered one is called).
    scheduler.catch_up(context, start, aws=True)
    scheduler.sweep(context, start + timedelta(minutes=31), aws=True)
    assert scheduler.sweep(context, start + timedelta(hours=2), aws=True) == []
    row = next(r for r in job_runs(context) if r["job"] == "sync")
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == ("failed", 2, None)
    assert len(registered["sync"].calls) == 2


def test_a_run_left_running_by_a_dead_process_is_taken_over(tmp_path, registered):
    context = context_for(tmp_path, digest_config({"name": "web", "channel": "#web"}))
    db = open_store(context.db_path)
    db["job_runs"].insert(
        {
            "job": "weekly-digest",
            "slot": "2026-10-26T09:00:00+00:00",
            "scope": "web",
            "status": "running",
            "attempts": 1,
            "owner": f"{scheduler.writers.socket.gethostname()}:999999999",  # no such pid
            "started_at": "2026-10-26T09:00:01+00:00",
        }
    )
    db.close()
    [outcome] = scheduler.catch_up(context, utc(2026, 10, 26, 9, 10))
    assert (outcome.status, outcome.attempt) == ("done", 2)


def test_the_sync_without_aws_credentials_is_quiet(tmp_path, monkeypatch, fake_slack):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    context = context_for(tmp_path, {})
    outcome = scheduler.run_slot(context, "sync", utc(2026, 11, 3, 6), "", utc(2026, 11, 3, 6, 1))
    assert outcome.status == "done"
    assert outcome.summary.startswith("no AWS credentials: AWS not read")
    assert fake_slack.channel_messages() == []


# ---- two schedulers on one database ----


def test_two_schedulers_in_two_threads_run_a_slot_once_and_post_once(
    tmp_path, monkeypatch, fake_slack: FakeSlack
):
    context = context_for(tmp_path, digest_config({"name": "web", "channel": "#web"}))
    calls = []
    both_started = threading.Barrier(2)

    def digest(context: AppContext, now: datetime, *, teams, say) -> _Result:
        calls.append(now)
        delivery = Delivery(build_web_client(), context.open_writer)
        key = delivery_key("weekly-digest", now.date().isoformat(), "#web")
        message = {"text": f"Digest of {teams[0]}", "blocks": []}
        done = delivery.post("#web", message, key=key, kind="digest", job="weekly-digest")
        return _Result([{"channel": "#web", "status": done.status}])

    monkeypatch.setitem(jobs.JOBS, "weekly-digest", digest)
    outcomes: list = []

    def one_scheduler() -> None:
        both_started.wait()
        outcomes.extend(scheduler.catch_up(context, utc(2026, 10, 26, 9, 0, 1)))

    threads = [threading.Thread(target=one_scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(outcomes) == 1
    assert len(fake_slack.channel_messages("#web")) == 1
    [row] = job_runs(context)
    assert (row["status"], row["attempts"]) == ("done", 1)


def test_teams_sharing_a_time_zone_get_their_digests_in_one_run(tmp_path, registered):
    config = digest_config(
        {"name": "a", "channel": "#a", "timezone": "Europe/Berlin"},
        {"name": "b", "channel": "#shared", "timezone": "Europe/Berlin"},
        {"name": "c", "channel": "#shared", "timezone": "Europe/Berlin"},
        {"name": "d", "channel": "#d", "timezone": "Asia/Tokyo"},
    )
    config["schedule"]["grace_hours"] = 12
    context = context_for(tmp_path, config)
    # 08:30 UTC: Tokyo's 09:00 was 00:00 UTC, Berlin's 08:00 UTC (winter time since the 25th).
    outcomes = scheduler.catch_up(context, utc(2026, 10, 26, 8, 30))
    digest = registered["weekly-digest"]
    # One call for the three Berlin teams (teams sharing #shared can be merged by the job),
    # one for Tokyo; each team's run recorded on its own.
    assert sorted(kwargs["teams"] for _, kwargs in digest.calls) == [["a", "b", "c"], ["d"]]
    assert sorted(o.scope for o in outcomes) == ["a", "b", "c", "d"]
    assert {row["status"] for row in job_runs(context)} == {"done"}

    built = scheduler.build_scheduler(context, BackgroundScheduler)
    names = sorted(job.name for job in built.get_jobs())
    assert names == [
        "catch-up",
        "sweep",
        "weekly-digest (1 team(s) in Asia/Tokyo)",
        "weekly-digest (3 team(s) in Europe/Berlin)",
    ]


def test_nothing_escapes_into_apschedulers_thread(tmp_path, registered, caplog):
    context = context_for(tmp_path, {})
    broken = AppContext(config=context.config, db_path=str(tmp_path))  # a folder, not a store
    scheduler._wake(broken, "tag-policy", [""], None)  # does not raise
    scheduler._sweep_now(broken, None, "catch-up")
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2 and all("failed" in line for line in errors)


def test_a_team_added_while_the_scheduler_was_down_has_its_missed_digest_reported(
    tmp_path, registered
):
    before = context_for(tmp_path, digest_config({"name": "web", "channel": "#web"}))
    scheduler.catch_up(before, utc(2026, 10, 19, 9, 1))
    after = context_for(
        tmp_path,
        digest_config({"name": "web", "channel": "#web"}, {"name": "new", "channel": "#new"}),
    )
    assert scheduler.catch_up(after, utc(2026, 10, 27, 8)) == []
    skipped = {(r["scope"], r["slot"]) for r in job_runs(after) if r["status"] == "skipped"}
    assert skipped == {("web", "2026-10-26T09:00:00+00:00"), ("new", "2026-10-26T09:00:00+00:00")}
